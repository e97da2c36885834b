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

    ``lpips.LPIPS(net='vgg')`` needs torchvision's VGG16 weights in ``$TORCH_HOME/hub/
    checkpoints``; it would download them, so their presence is checked first: absent →
    an error for ``perceptual=lpips-vgg`` (the sd15 recipe), the term off with a message
    for ``auto`` (the tiny recipe)."""
    if cfg.perceptual == "off" or cfg.perceptual_weight <= 0:
        return None
    weights = Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_VGG_FILE
    if not weights.is_file():
        if cfg.perceptual == "lpips-vgg":
            raise WeightsMissingError(
                f"LPIPS-VGG needs torchvision's VGG16 weights, not found at {weights}. Download "
                f"{LPIPS_VGG_URL} to that path (or set TORCH_HOME), or run with --set perceptual=off."
            )
        log(f"LPIPS-VGG weights absent ({weights}): the perceptual term is OFF for this run.")
        return None
    import lpips

    return lpips.LPIPS(net="vgg", verbose=False)


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
    return sample_seeds(cfg.seed, indices.tolist(), purpose)


# --------------------------------------------------------------------------- condition


def lr_condition(vae, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """z_l: the LR bicubic-upsampled ×scale to HR size and encoded — exactly what the pipeline
    does at inference (:func:`yonos_train.pipeline.upsample_lr`, posterior mode)."""
    return encode_images(vae, [(lr, scale)])[0]


def encode_images(vae, items: Sequence[tuple[torch.Tensor, int]]) -> list[torch.Tensor]:
    """Encode several (image batch, upsampling factor) pairs in ONE VAE call (frozen, no grad).

    Each batch is bicubic-upsampled by its factor (1 = as is) like the pipeline does, all
    are concatenated along the batch (the encoder is per-sample: GroupNorm, no batch
    statistics) and split back: fewer, larger convolutions — the encoder dominates the tiny
    preset's step time."""
    from ..pipeline import encode_latents, upsample_lr

    ups = [img if scale == 1 else upsample_lr(img, scale) for img, scale in items]
    with torch.no_grad():
        z = encode_latents(vae, torch.cat(ups)).float()
    return list(z.split([u.shape[0] for u in ups]))


def unet_velocity(unet, z_t: torch.Tensor, z_l: torch.Tensor, t: torch.Tensor, context: torch.Tensor):
    """v̂ = UNet(cat[z_t, z_l], 999·t, null-text context) (channels 0–3 noisy, 4–7 LR)."""
    from ..schedule import timestep_input

    x = torch.cat([z_t, z_l], dim=1)
    return unet(x, timestep_input(t).to(x.device), encoder_hidden_states=context, return_dict=False)[0]


def freeze(*modules: nn.Module) -> None:
    for m in modules:
        m.requires_grad_(False)
        m.eval()
