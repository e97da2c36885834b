"""``YonosSRPipeline``: one-step (or N-step) Stable-Diffusion super-resolution, a diffusers pipeline.

Inference for LR images ``x_l`` (B, 3, h, w) in [0, 1] at the trained scale ``s``:

1. **Upsample** ``x_l`` to (s·h, s·w) with :func:`yonos_bench.degradations.bicubic_resize`
   (MATLAB ``imresize`` bicubic, Keys a = −0.5 — the project's one bicubic, also the kernel
   of the bicubic protocols), clamped to [0, 1] like an 8-bit image would be. Training
   conditions on exactly the same image (:func:`upsample_lr`), so the UNet never sees a
   different interpolation at test time. (torch's bicubic uses a = −0.75 and replicated
   borders: a different image.)
2. **Pad** the upsampled image on the bottom/right, by reflection, to a multiple of the
   VAE factor (8) when s·h or s·w is not one; the output is cropped back to (s·h, s·w).
   Reflection (not zeros) keeps the padded border's statistics image-like.
3. **Encode** with the frozen VAE, taking the posterior **mode** (its mean) times the
   latent scaling factor: the conditioning latent ``z_l`` is deterministic, so an output
   depends only on the image and its noise seed (:func:`encode_latents`).
4. **Denoise**: ``z_1 ~ N(0, I)`` drawn from the image's own generator (one per image:
   a result never depends on batch composition), then N DDIM (η = 0) steps of
   :mod:`yonos_train.schedule` with the UNet fed ``cat([z_t, z_l])`` (channels 0–3 the
   noisy HR latent, 4–7 the LR latent), the timestep ``999·t`` and the stored null-text
   embedding. N = 1 is the closed form ``x̂ = −v̂(z_1, 1)``.
5. **Decode** and map [−1, 1] → [0, 1], clamped.

Tiling: every stage runs on overlapping tiles (:mod:`yonos_train.tiling`) of
``tile_size`` latents (default: the UNet's native ``sample_size``, 64 for SD) with
``tile_overlap`` latents of overlap (default ``tile_size // 4``); an image whose latent fits
in one tile is processed whole, identically to ``tiled=False``.

Precision: the pipeline runs in the dtype of its modules (fp32 by default; on CUDA
``pipe.to("cuda", torch.bfloat16)`` or float16). Noise is always drawn in float32 and the
DDIM arithmetic is float32, so seeds give the same noise in every precision.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet2DConditionModel

from yonos_bench.degradations import bicubic_resize

from . import schedule
from .null_embedding import NullTextEmbedding
from .tiling import tiled_apply, tiled_decode, tiled_encode
from .timing import StageTimer

#: Smallest LR side accepted (the reflection padding and the VAE need a few pixels).
MIN_LR_SIZE = 8

#: The scheduler configuration METHOD.md §1 prescribes ("One DDIM step — the pitfall").
SCHEDULER_CONFIG = {
    "num_train_timesteps": schedule.NUM_TRAIN_TIMESTEPS,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "v_prediction",
    "timestep_spacing": "trailing",
    "set_alpha_to_one": True,
    "clip_sample": False,
}


def make_scheduler() -> DDIMScheduler:
    """The DDIM scheduler stored with every YONOS pipeline (see :mod:`yonos_train.schedule`)."""
    return DDIMScheduler(**SCHEDULER_CONFIG)


def upsample_lr(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """LR (B, 3, h, w) in [0, 1] → MATLAB-bicubic ×``scale`` (B, 3, s·h, s·w), clamped to [0, 1]."""
    size = (lr.shape[-2] * scale, lr.shape[-1] * scale)
    return bicubic_resize(lr.float(), size=size).clamp_(0.0, 1.0)


def vae_factor(vae: AutoencoderKL) -> int:
    """Spatial downsampling factor of an AutoencoderKL (8 for SD: one per down block but the last)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def encode_latents(vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] (H, W multiples of the VAE factor) → scaled latents.

    Posterior mode (mean), then ``(z − shift) · scaling_factor`` as in diffusers' SD pipelines.
    """
    x = images.to(vae.dtype) * 2.0 - 1.0
    z = vae.encode(x).latent_dist.mode()
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (z - shift) * vae.config.scaling_factor


def decode_latents(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents → images in the VAE's pixel range [−1, 1] (not clamped; for losses)."""
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    z = latents.to(vae.dtype) / vae.config.scaling_factor + shift
    return vae.decode(z).sample


class YonosSRPipeline(DiffusionPipeline):
    """YONOS-SR: SD v1.5 UNet with an 8-channel ``conv_in`` (noisy HR latent ‖ LR latent).

    Components: ``vae`` (AutoencoderKL), ``unet`` (UNet2DConditionModel, ``in_channels``
    = 2 × latent channels), ``scheduler`` (DDIMScheduler as METHOD.md prescribes; sampling
    itself uses :mod:`yonos_train.schedule`), ``null_embedding`` (the stored empty-prompt
    text embedding). Metadata in the pipeline config (``model_index.json``): ``scale``
    (the magnification it was trained for), ``lineage`` (how it was trained, e.g.
    ``"x2 -> x4 scale distillation, decoder fine-tuned"``), ``preset``.
    """

    model_cpu_offload_seq = "unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        unet: UNet2DConditionModel,
        scheduler: DDIMScheduler,
        null_embedding: NullTextEmbedding,
        scale: int = 4,
        lineage: str = "",
        preset: str = "custom",
    ):
        super().__init__()
        _check_components(vae, unet, scheduler, null_embedding, scale)
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, null_embedding=null_embedding)
        self.register_to_config(scale=int(scale), lineage=str(lineage), preset=str(preset))

    # ------------------------------------------------------------------ metadata
    @property
    def scale_factor(self) -> int:
        """The magnification this pipeline was trained for (output side = scale × input side)."""
        return int(self.config.scale)

    @property
    def latent_factor(self) -> int:
        return vae_factor(self.vae)

    @property
    def native_tile(self) -> int:
        """The UNet's native latent size (64 for SD v1.5: 512 px), the default tile."""
        return int(self.unet.config.sample_size)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> YonosSRPipeline:
        """Load a saved YONOS pipeline folder; a folder of another pipeline class is refused.

        A plain Stable Diffusion folder must be converted first with
        :func:`yonos_train.presets.from_sd15`.
        """
        path = Path(pretrained_model_name_or_path)
        index = path / "model_index.json"
        if path.is_dir():
            if not index.is_file():
                raise ValueError(
                    f"pretrained_model_name_or_path: {path} has no model_index.json; "
                    "expected a folder written by YonosSRPipeline.save_pretrained"
                )
            class_name = json.loads(index.read_text()).get("_class_name")
            if class_name != cls.__name__:
                hint = (
                    " It looks like a Stable Diffusion checkpoint: build a YONOS pipeline from it with "
                    "yonos_train.presets.from_sd15(path, scale) (and train it) first."
                    if class_name and "StableDiffusion" in class_name
                    else ""
                )
                raise ValueError(
                    f"pretrained_model_name_or_path: {path} holds a {class_name!r} pipeline, "
                    f"not a {cls.__name__}.{hint}"
                )
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # ------------------------------------------------------------------ inference
    def check_inputs(
        self,
        images: Any,
        num_inference_steps: Any,
        generator: Any,
        scale: Any,
        tile_size: Any,
        tile_overlap: Any,
    ) -> list[torch.Generator] | None:
        """Validate the call's arguments (diffusers style: raise ``ValueError`` naming the argument)."""
        if not isinstance(images, torch.Tensor):
            raise ValueError(
                f"images: expected a torch.Tensor (B, 3, h, w) in [0, 1], got {type(images).__name__}"
            )
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images: expected shape (B, 3, h, w) with 3 RGB channels, got {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise ValueError(
                f"images: expected a floating-point tensor in [0, 1], got dtype {images.dtype} "
                "(convert 8-bit images with yonos_bench.core.imageio.to_tensor)"
            )
        if images.shape[0] < 1:
            raise ValueError("images: the batch is empty")
        if not bool(torch.isfinite(images).all()):
            raise ValueError("images: contains NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"images: expected values in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
        h, w = images.shape[-2:]
        if min(h, w) < MIN_LR_SIZE:
            raise ValueError(f"images: each side must be at least {MIN_LR_SIZE} pixels, got {h}x{w}")
        if (
            isinstance(num_inference_steps, bool)
            or not isinstance(num_inference_steps, int)
            or num_inference_steps < 1
        ):
            raise ValueError(f"num_inference_steps: expected an integer >= 1, got {num_inference_steps!r}")
        if scale is not None and scale != self.scale_factor:
            raise ValueError(
                f"scale: this pipeline was trained for x{self.scale_factor} ({self.config.lineage or 'no lineage'}), "
                f"got x{scale}; use a checkpoint trained for x{scale}"
            )
        if tile_size is not None and (
            isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 1
        ):
            raise ValueError(f"tile_size: expected a positive number of latents, got {tile_size!r}")
        if tile_overlap is not None and (
            isinstance(tile_overlap, bool) or not isinstance(tile_overlap, int) or tile_overlap < 0
        ):
            raise ValueError(f"tile_overlap: expected a non-negative number of latents, got {tile_overlap!r}")
        batch = images.shape[0]
        if generator is None:
            return None
        if isinstance(generator, torch.Generator):
            if batch != 1:
                raise ValueError(
                    f"generator: pass a list of {batch} torch.Generator (one per image) so results do not "
                    "depend on batch composition; a single generator is accepted only for one image"
                )
            return [generator]
        if not isinstance(generator, (list, tuple)) or not all(
            isinstance(g, torch.Generator) for g in generator
        ):
            raise ValueError(f"generator: expected a list of torch.Generator, got {type(generator).__name__}")
        if len(generator) != batch:
            raise ValueError(f"generator: expected {batch} generators (one per image), got {len(generator)}")
        return list(generator)

    def initial_noise(
        self, batch: int, latent_hw: tuple[int, int], generators: list[torch.Generator] | None
    ) -> torch.Tensor:
        """``z_1 ~ N(0, I)`` in float32, one draw per image from its own generator (on the generator's device)."""
        shape = (1, self.vae.config.latent_channels, *latent_hw)
        device = self._execution_device
        draws = []
        for i in range(batch):
            g = generators[i] if generators is not None else None
            noise = torch.randn(
                shape, generator=g, device=g.device if g is not None else "cpu", dtype=torch.float32
            )
            draws.append(noise.to(device))
        return torch.cat(draws)

    @torch.no_grad()
    def __call__(
        self,
        images: torch.Tensor,
        num_inference_steps: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        *,
        scale: int | None = None,
        tiled: bool = True,
        tile_size: int | None = None,
        tile_overlap: int | None = None,
        timer: StageTimer | None = None,
        output_type: str = "pt",
    ) -> torch.Tensor:
        """Super-resolve ``images`` (B, 3, h, w) float in [0, 1] → (B, 3, s·h, s·w) float32 in [0, 1].

        Args:
            num_inference_steps: DDIM steps from pure noise (1 = the paper's one-step setting).
            generator: one ``torch.Generator`` per image (a single one for a single image);
                ``None`` draws from torch's global RNG.
            scale: optional check that the checkpoint was trained for this magnification.
            tiled: process stages in latent tiles when the image exceeds one tile.
            tile_size: latent tile side (default: the UNet's ``sample_size``; 64 = 512 px for SD).
            tile_overlap: latents shared by neighbouring tiles (default ``tile_size // 4``).
            timer: a :class:`~yonos_train.timing.StageTimer` to fill with per-stage seconds.
            output_type: ``"pt"`` (the only supported value: a tensor on the pipeline's device).
        """
        generators = self.check_inputs(images, num_inference_steps, generator, scale, tile_size, tile_overlap)
        if output_type != "pt":
            raise ValueError(f"output_type: only 'pt' is supported, got {output_type!r}")
        device, dtype = self._execution_device, self.unet.dtype
        timer = timer if timer is not None else StageTimer()
        timer.device = device
        timer.begin()

        factor = self.latent_factor
        tile = tile_size if tile_size is not None else self.native_tile
        overlap = tile_overlap if tile_overlap is not None else tile // 4
        if overlap >= tile:
            raise ValueError(f"tile_overlap: must be smaller than tile_size ({tile}), got {overlap}")
        if not tiled:
            tile = 1 << 30  # one tile always covers

        batch = images.shape[0]
        out_h, out_w = images.shape[-2] * self.scale_factor, images.shape[-1] * self.scale_factor
        up = upsample_lr(images.to(device), self.scale_factor)
        pad_h, pad_w = (-out_h) % factor, (-out_w) % factor
        if pad_h or pad_w:  # bottom/right reflection padding to a multiple of the VAE factor; cropped below
            up = F.pad(up, (0, pad_w, 0, pad_h), mode="reflect")

        with timer.stage("encode"):
            z_lr = tiled_encode(
                lambda x: encode_latents(self.vae, x), up, tile=tile, overlap=overlap, factor=factor
            ).float()
        del up

        z = self.initial_noise(batch, z_lr.shape[-2:], generators)
        context = self.null_embedding(batch).to(device=device, dtype=dtype)

        def velocity(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            timesteps = schedule.timestep_input(t).to(device)

            def unet_tile(x: torch.Tensor) -> torch.Tensor:
                return self.unet(x.to(dtype), timesteps, encoder_hidden_states=context, return_dict=False)[0]

            with timer.stage("unet"):
                return tiled_apply(
                    unet_tile, torch.cat([z_t, z_lr], dim=1), tile=tile, overlap=overlap
                ).float()

        latents = schedule.ddim_sample(velocity, z, num_inference_steps)

        with timer.stage("decode"):
            pixels = tiled_decode(
                lambda lat: decode_latents(self.vae, lat), latents, tile=tile, overlap=overlap, factor=factor
            )
        # [-1, 1] -> [0, 1] in place: ``pixels`` is the decoder's (or the blend's) own fresh
        # tensor, so no further image-sized buffers (3 of them at 2048² used to set the peak).
        out = pixels.float().add_(1.0).div_(2.0).clamp_(0.0, 1.0)[:, :, :out_h, :out_w].contiguous()
        timer.end()
        return out


def _check_components(vae: Any, unet: Any, scheduler: Any, null_embedding: Any, scale: Any) -> None:
    """Refuse component sets that cannot work together (clear messages, at build and at load)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale: expected a positive integer magnification, got {scale!r}")
    latent = vae.config.latent_channels
    if unet.config.in_channels != 2 * latent or unet.config.out_channels != latent:
        raise ValueError(
            f"unet: expected in_channels={2 * latent} (noisy latent + LR latent) and out_channels={latent}, "
            f"got {unet.config.in_channels} and {unet.config.out_channels}; widen conv_in with "
            "yonos_train.unet_surgery.widen_conv_in"
        )
    if null_embedding.config.dim != unet.config.cross_attention_dim:
        raise ValueError(
            f"null_embedding: dim {null_embedding.config.dim} does not match the UNet's "
            f"cross_attention_dim {unet.config.cross_attention_dim}"
        )
    wrong = {k: scheduler.config.get(k) for k, v in SCHEDULER_CONFIG.items() if scheduler.config.get(k) != v}
    if wrong:
        raise ValueError(f"scheduler: expected {SCHEDULER_CONFIG}, these differ: {wrong}")
    if not math.isfinite(float(vae.config.scaling_factor)):
        raise ValueError("vae: scaling_factor must be finite")
