"""Builders for :class:`~yonos_train.pipeline.YonosSRPipeline`: ``tiny``, ``small``, ``sd15``, ``from_sd15``.

* ``tiny`` — a small random-init UNet (block_out_channels (32, 64), cross-attention dim
  32) and VAE (latent factor 8, like SD, so padding and tiling take the same code paths)
  that run in a few tens of milliseconds per 128² output on 2 CPU cores; for tests, CI
  and the embedded demo.
* ``small`` — Miniature v2 (docs/MINIATURE.md): a factor-4 VAE (:data:`SMALL_VAE`) and a
  UNet 1.5× the tiny widths, still CPU-trainable; the task it poses (×4/×8 LR latents far
  from z_h) is no longer close to an identity map.
* ``sd15`` — exactly the SD v1.5 architecture (UNet 859,520,964 parameters with
  ``in_channels=4``; ours has 8, i.e. 4·320·9 = 11,520 more weights in ``conv_in``; VAE
  83,653,863) with random weights, built on ``device="meta"`` when only the structure
  matters. The null-text embedding is random N(0, 1) here (there is no CLIP without
  weights) and says so in its config (``source``).
* :func:`from_sd15` — the real initialisation of the paper: load an SD v1.5 diffusers
  folder, compute the empty-prompt CLIP embedding once, widen ``conv_in`` 4→8.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from yonos_bench.core.errors import WeightsMissingError, did_you_mean

from .null_embedding import NullTextEmbedding
from .pipeline import YonosSRPipeline, make_scheduler
from .unet_surgery import widen_conv_in

SD15_HUB_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD15_URL = f"https://huggingface.co/{SD15_HUB_ID}"
SD15_SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer")

#: SD v1.5 UNet: diffusers defaults plus these (LIBRARIES.md "diffusers").
SD15_UNET = {"cross_attention_dim": 768, "sample_size": 64}
#: SD v1.5 VAE: every value (LIBRARIES.md "diffusers").
SD15_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

TINY_UNET = {
    "sample_size": 32,  # native tile: 32 latents = 256 px
    "in_channels": 4,  # widened to 8 like SD's
    "out_channels": 4,
    "layers_per_block": 1,
    "block_out_channels": (32, 64),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
TINY_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,  # 3 downsamplings: factor 8 like SD
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (16, 32, 32, 32),
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,
    "sample_size": 256,
    # At random init (seed 0) the posterior mean has std 0.27-0.31 on natural photos
    # (skimage's astronaut, chelsea, coffee, rocket); 3.5 brings latents to unit variance,
    # the role SD's 0.18215 plays for its VAE.
    "scaling_factor": 3.5,
}
#: ``small`` (Miniature v2, docs/MINIATURE.md): a factor-4 VAE — at factor 8 the tiny VAE
#: reconstructed photos 5 dB below bicubic and the ×4 LR latent was within 0.3% of the
#: latent variance of z_h (an identity-map task). Factor 4 keeps 4 channels (SD's latent
#: width), so the UNet keeps SD's 8-channel input; twice the tiny widths.
SMALL_VAE = {
    **TINY_VAE,
    "down_block_types": ("DownEncoderBlock2D",) * 3,  # 2 downsamplings: factor 4
    "up_block_types": ("UpDecoderBlock2D",) * 3,
    "block_out_channels": (32, 64, 64),
    "scaling_factor": 1.0,  # replaced by 1/std of the trained posterior means (autoencoder stage)
}
SMALL_UNET = {
    **TINY_UNET,
    "sample_size": 64,  # native tile: 64 latents = 256 px at factor 4
    "block_out_channels": (48, 96),
    "attention_head_dim": 8,
}
ARCHITECTURES = {"tiny": (TINY_UNET, TINY_VAE), "small": (SMALL_UNET, SMALL_VAE), "sd15": (SD15_UNET, SD15_VAE)}
PRESETS = ("tiny", "small", "sd15")


def _null_embedding(seq_len: int, dim: int, seed: int, source: str) -> NullTextEmbedding:
    g = torch.Generator().manual_seed(seed)
    return NullTextEmbedding.from_tensor(torch.randn(1, seq_len, dim, generator=g), source=source)


def build_pipeline(
    preset: str = "tiny", scale: int = 4, *, seed: int = 0, device: str | torch.device = "cpu"
) -> YonosSRPipeline:
    """A random-init pipeline of the given architecture (``"tiny"``, ``"small"`` or ``"sd15"``).

    Weights are drawn under ``torch.manual_seed(seed)`` inside a forked RNG (the caller's
    global RNG is untouched), so the same seed gives the same weights. ``device="meta"``
    builds the structure only (instant, no memory), for shape checks of the full model.
    """
    if preset not in PRESETS:
        raise did_you_mean("preset", preset, list(PRESETS))
    unet_cfg, vae_cfg = ARCHITECTURES[preset]
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with device:
            unet = UNet2DConditionModel(**unet_cfg)
            vae = AutoencoderKL(**vae_cfg)
        widen_conv_in(unet, 2 * vae.config.latent_channels)
        source = f"random N(0,1) (preset {preset}, seed {seed}; not a CLIP embedding)"
        null = _null_embedding(77, unet.config.cross_attention_dim, seed, source)
    if device.type == "meta":
        null = null.to("meta")
    else:
        unet, vae, null = unet.to(device), vae.to(device), null.to(device)
    unet.eval()
    vae.eval()
    return YonosSRPipeline(
        vae=vae,
        unet=unet,
        scheduler=make_scheduler(),
        null_embedding=null,
        scale=scale,
        lineage=f"random init ({preset} preset, seed {seed}); untrained",
        preset=preset,
    )


def _sd15_missing(where: str, detail: str) -> WeightsMissingError:
    return WeightsMissingError(
        f"Stable Diffusion v1.5 weights not found: {where} ({detail}). "
        f"Needed: the diffusers folders {', '.join(SD15_SUBFOLDERS)} of {SD15_HUB_ID} ({SD15_URL}). "
        f"On a connected machine run: hf download {SD15_HUB_ID} --include 'unet/*' 'vae/*' "
        f"'text_encoder/*' 'tokenizer/*' model_index.json --local-dir <folder>, "
        "then pass that folder (or the hub id, once it is in the Hugging Face cache)."
    )


def empty_prompt_embedding(tokenizer, text_encoder) -> torch.Tensor:
    """CLIP embedding of ``""`` padded to the tokenizer's max length (77): (1, 77, dim), as SD's
    pipelines compute the unconditional embedding."""
    tokens = tokenizer(
        [""],
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return text_encoder(tokens.input_ids.to(text_encoder.device))[0].float().cpu()


def from_sd15(
    path_or_repo_id: str | Path = SD15_HUB_ID,
    scale: int = 4,
    *,
    device: str | torch.device = "cpu",
    torch_dtype: torch.dtype = torch.float32,
) -> YonosSRPipeline:
    """The paper's initialisation: SD v1.5's UNet (``conv_in`` widened 4→8) and VAE, and the
    empty-prompt CLIP embedding computed once; the text encoder is not kept."""
    from transformers import CLIPTextModel, CLIPTokenizer

    source = str(path_or_repo_id)
    root = Path(source).expanduser()
    if root.exists():
        if not root.is_dir():
            raise _sd15_missing(f"'{root}'", "a file, expected a diffusers folder")
        absent = [sub for sub in SD15_SUBFOLDERS if not (root / sub).is_dir()]
        if absent:
            raise _sd15_missing(f"'{root}'", f"missing subfolders: {', '.join(absent)}")
        load_from = str(root)
    elif source.count("/") == 1 and not source.startswith((".", "/", "~")):
        load_from = source  # a hub id: resolved through the Hugging Face cache / network
    else:
        raise _sd15_missing(f"'{root}'", "no such folder")
    try:
        unet = UNet2DConditionModel.from_pretrained(load_from, subfolder="unet", torch_dtype=torch_dtype)
        vae = AutoencoderKL.from_pretrained(load_from, subfolder="vae", torch_dtype=torch_dtype)
        tokenizer = CLIPTokenizer.from_pretrained(load_from, subfolder="tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(load_from, subfolder="text_encoder")
    except OSError as exc:  # missing files, offline hub, gated repo: all OSError subclasses
        raise _sd15_missing(f"'{load_from}'", f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if unet.config.in_channels != vae.config.latent_channels:
        raise ValueError(
            f"path_or_repo_id: {load_from}'s UNet has in_channels={unet.config.in_channels}; expected a "
            f"text-to-image UNet with {vae.config.latent_channels} (is it already a YONOS/inpainting model?)"
        )
    embedding = empty_prompt_embedding(tokenizer, text_encoder)
    del text_encoder
    widen_conv_in(unet, 2 * vae.config.latent_channels)
    null = NullTextEmbedding.from_tensor(embedding, source=f"CLIP empty prompt of {source}")
    pipe = YonosSRPipeline(
        vae=vae.eval(),
        unet=unet.eval(),
        scheduler=make_scheduler(),
        null_embedding=null,
        scale=scale,
        lineage=f"initialised from {source} (conv_in widened 4->8); untrained",
        preset="sd15",
    )
    return pipe.to(device)


__all__ = ["PRESETS", "SD15_HUB_ID", "build_pipeline", "empty_prompt_embedding", "from_sd15"]
