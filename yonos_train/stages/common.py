"""Pieces shared by the training stages: loading inputs (checked before compute), per-sample
randomness, the LR condition, LPIPS, and writing the result pipeline."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from yonos_bench.core.errors import DataMissingError, SpecError, WeightsMissingError

from ..config import TrainConfig, _AutoencoderLossConfig
from ..data import ImageSource, open_source, sample_seeds

LPIPS_VGG_FILE = "vgg16-397923af.pth"
LPIPS_VGG_URL = f"https://download.pytorch.org/models/{LPIPS_VGG_FILE}"
LPIPS_VGG_SHA256_PREFIX = "397923af"  # torch.hub convention (as the catalog's torchvision-vgg16)


def default_log(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(msg, highlight=False)


# --------------------------------------------------------------------------- inputs


def check_vae_factor(cfg: TrainConfig, factor: int) -> None:
    """The HR crop must be a multiple of the VAE factor (and of the scale, by config)."""
    if cfg.crop % factor:
        raise SpecError(f"Config key 'crop' = {cfg.crop}: must be a multiple of the VAE factor {factor}.")


def open_data(cfg: TrainConfig, log: Callable[[str], None]) -> ImageSource:
    source = open_source(
        cfg.data, crop=cfg.crop, procedural_images=cfg.procedural_images,
        procedural_size=cfg.procedural_size, seed=cfg.seed, on_skip=log,
    )  # fmt: skip
    log(f"Training data: {source.describe()}.")
    return source


def is_yonos_pipeline(path: str) -> bool:
    """Whether ``path`` (or its ``pipeline/`` subfolder: a run folder) is a saved YonosSRPipeline."""
    for folder in (Path(path), Path(path) / "pipeline"):
        index = folder / "model_index.json"
        if index.is_file():
            try:
                return json.loads(index.read_text()).get("_class_name") == "YonosSRPipeline"
            except ValueError:
                return False
    return False


def load_yonos_pipeline(path: str, what: str):
    """A saved :class:`YonosSRPipeline` folder, or a clear error naming ``what`` and ``path``."""
    from ..pipeline import YonosSRPipeline

    if not path:
        raise SpecError(f"{what}: a YonosSRPipeline folder is required.")
    folder = Path(path)
    if (folder / "pipeline" / "model_index.json").is_file():  # a run folder: use its result
        folder = folder / "pipeline"
    if not folder.is_dir():
        raise DataMissingError(f"{what} {path}: no such folder.")
    index = folder / "model_index.json"
    if not index.is_file():
        raise SpecError(f"{what} {path} is not a YonosSRPipeline folder (no model_index.json).")
    class_name = json.loads(index.read_text()).get("_class_name")
    if class_name != YonosSRPipeline.__name__:
        raise SpecError(f"{what} {path} holds a {class_name!r} pipeline, not a YonosSRPipeline.")
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()  # no "Loading pipeline components" bar in training logs
    return YonosSRPipeline.from_pretrained(str(folder))


def load_vae(path: str):
    """An AutoencoderKL folder, or an ``autoencoder`` run folder (its ``vae/``)."""
    from diffusers import AutoencoderKL

    folder = Path(path)
    if (folder / "vae" / "config.json").is_file():
        folder = folder / "vae"
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise DataMissingError(
            f"--vae {path}: not an AutoencoderKL folder (no config.json) nor an autoencoder run."
        )
    if json.loads(cfg_file.read_text()).get("_class_name") != "AutoencoderKL":
        raise SpecError(f"--vae {path}: config.json does not describe an AutoencoderKL.")
    return AutoencoderKL.from_pretrained(str(folder))


def with_components(pipe, *, vae=None, unet=None, scale: int | None = None, lineage: str | None = None):
    """A new pipeline sharing ``pipe``'s other components (scheduler, null embedding, preset)."""
    from ..pipeline import YonosSRPipeline

    return YonosSRPipeline(
        vae=vae if vae is not None else pipe.vae,
        unet=unet if unet is not None else pipe.unet,
        scheduler=pipe.scheduler,
        null_embedding=pipe.null_embedding,
        scale=int(scale if scale is not None else pipe.scale_factor),
        lineage=lineage if lineage is not None else pipe.config.lineage,
        preset=pipe.config.preset,
    )


def copy_module(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module)


def lpips_vgg(cfg: _AutoencoderLossConfig, log: Callable[[str], None]) -> nn.Module | None:
    """LPIPS-VGG for the perceptual term, or None when it is off.

    ``lpips.LPIPS(net='vgg')`` needs torchvision's VGG16 weights (:func:`vgg16_locations`);
    it would download them, so their presence is checked first: absent →
    an error for ``perceptual=lpips-vgg`` (the sd15 recipe), the term off with a message
    for ``auto`` (the tiny recipe)."""
    if cfg.perceptual == "off" or cfg.perceptual_weight <= 0:
        return None
    candidates = vgg16_locations()
    weights = next((p for p in candidates if p.is_file()), None)
    if weights is None:
        where = " or ".join(str(p) for p in candidates)
        if cfg.perceptual == "lpips-vgg":
            raise WeightsMissingError(
                f"LPIPS-VGG needs torchvision's VGG16 weights, not found at {where}. Run `yonos-bench "
                f"weights fetch torchvision-vgg16` (or download {LPIPS_VGG_URL} to one of those paths), "
                "or run with --set perceptual=off."
            )
        log(f"LPIPS-VGG weights absent ({where}): the perceptual term is OFF for this run.")
        return None
    from yonos_bench.core.weights import sha256_of

    if not sha256_of(weights).startswith(LPIPS_VGG_SHA256_PREFIX):
        raise WeightsMissingError(
            f"{weights} is not torchvision's VGG16 (sha256 does not start with {LPIPS_VGG_SHA256_PREFIX}); "
            f"delete it and run `yonos-bench weights fetch torchvision-vgg16`."
        )
    import lpips

    # lpips builds torchvision's vgg16(pretrained) through torch.hub's cache: point the hub at
    # the folder holding the file, for this construction only.
    hub_before = torch.hub.get_dir()
    torch.hub.set_dir(str(weights.parent.parent))
    try:
        return lpips.LPIPS(net="vgg", verbose=False)
    finally:
        torch.hub.set_dir(hub_before)


def vgg16_locations() -> list[Path]:
    """Where VGG16 is looked for: the yonos weight store (where ``weights fetch
    torchvision-vgg16`` puts it), then torch.hub's own cache (``$TORCH_HOME``)."""
    from yonos_bench.core.paths import weights_dir

    store = weights_dir() / "hub" / "checkpoints" / LPIPS_VGG_FILE
    hub = Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_VGG_FILE
    return [store] if store == hub else [store, hub]


# --------------------------------------------------------------------------- randomness


def randn_per_sample(
    shape: Sequence[int], seeds: Sequence[int], device: torch.device, dtype=torch.float32
) -> torch.Tensor:
    """(B, *shape) standard normal noise, sample i drawn from its own generator (seed i).

    Drawn on CPU so the values are the same on every device type."""
    draws = [torch.randn(tuple(shape), generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(draws).to(device=device, dtype=dtype)


def uniform_per_sample(seeds: Sequence[int], device: torch.device) -> torch.Tensor:
    """(B,) float64 times t ~ U[0, 1), one generator per sample."""
    draws = [torch.rand((), generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in seeds]
    return torch.stack(draws).to(device)


def seeds_for(cfg: TrainConfig, indices: torch.Tensor, purpose: int) -> list[int]:
    """Per-sample seeds of the stage's stream (``cfg.stream_seed``: the seed and the stage salt)."""
    return sample_seeds(cfg.stream_seed, indices.tolist(), purpose)


# --------------------------------------------------------------------------- targets, memory


def training_target(cfg: TrainConfig, hr: torch.Tensor) -> torch.Tensor:
    """What the HR-side losses aim at: the USM-sharpened HR when ``cfg.uses_usm_target``
    (Real-ESRGAN's ``l1_gt_usm``/``percep_gt_usm``, StableSR's ``use_usm``), else ``hr``."""
    if not cfg.uses_usm_target:
        return hr
    from yonos_bench.degradations.ops import usm_sharpen

    return usm_sharpen(hr)


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class FrozenCast:
    """Cast frozen networks to ``frozen_dtype`` for the run (memory: the teacher UNet is 1.7 GB
    in bf16 instead of 3.4 GB) and put their exact fp32 weights back before they are saved."""

    def __init__(self, dtype: str):
        self.dtype = _DTYPES[dtype]
        self._saved: list[tuple[nn.Module, dict[str, torch.Tensor]]] = []

    def cast(self, *modules: nn.Module | None, keep: bool = True) -> None:
        """``keep``: remember the fp32 weights (for modules that end up in the saved result)."""
        if self.dtype == torch.float32:
            return
        for m in modules:
            if m is None:
                continue
            if keep:
                self._saved.append(
                    (m, {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()})
                )
            m.to(self.dtype)

    def restore(self) -> None:
        for m, state in self._saved:
            m.to(torch.float32)
            m.load_state_dict(state)
        self._saved.clear()


# --------------------------------------------------------------------------- condition


def lr_condition(vae, lr: torch.Tensor, scale: int, chunk: int = 0) -> torch.Tensor:
    """z_l: the LR bicubic-upsampled ×scale to HR size and encoded — exactly what the pipeline
    does at inference (:func:`yonos_train.pipeline.upsample_lr`, posterior mode)."""
    return encode_images(vae, [(lr, scale)], chunk)[0]


def encode_images(vae, items: Sequence[tuple[torch.Tensor, int]], chunk: int = 0) -> list[torch.Tensor]:
    """Encode several (image batch, upsampling factor) pairs in ONE VAE call (frozen, no grad).

    Each batch is bicubic-upsampled by its factor (1 = as is) like the pipeline does, all
    are concatenated along the batch (the encoder is per-sample: GroupNorm, no batch
    statistics) and split back: fewer, larger convolutions — the encoder dominates the tiny
    preset's step time. ``chunk`` > 0 encodes at most that many images per call (memory: the
    sd15 distill step encodes 3 × 15 images of 512²)."""
    from ..pipeline import encode_latents, upsample_lr

    ups = [img if scale == 1 else upsample_lr(img, scale) for img, scale in items]
    with torch.no_grad():
        x = torch.cat(ups)
        parts = [x] if chunk <= 0 or chunk >= x.shape[0] else list(x.split(chunk))
        z = torch.cat([encode_latents(vae, part).float() for part in parts])
    return list(z.split([u.shape[0] for u in ups]))


def unet_velocity(unet, z_t: torch.Tensor, z_l: torch.Tensor, t: torch.Tensor, context: torch.Tensor):
    """v̂ = UNet(cat[z_t, z_l], 999·t, null-text context) (channels 0–3 noisy, 4–7 LR)."""
    from ..schedule import timestep_input

    dtype = next(unet.parameters()).dtype  # a frozen UNet may be in bf16 (frozen_dtype)
    x = torch.cat([z_t, z_l], dim=1).to(dtype)
    return unet(
        x, timestep_input(t).to(x.device), encoder_hidden_states=context.to(dtype), return_dict=False
    )[0]


def freeze(*modules: nn.Module) -> None:
    for m in modules:
        m.requires_grad_(False)
        m.eval()
