"""``degrade(name, hr, scale, seeds)``: one entry point for every named degradation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from yonos_bench.core.errors import did_you_mean
from yonos_bench.degradations.bicubic import bicubic_resize
from yonos_bench.degradations.ops import quantize8
from yonos_bench.degradations.pooling import avgpool_downsample
from yonos_bench.degradations.presets import PRESETS
from yonos_bench.degradations.realesrgan import (
    DegradationResult,
    RealESRGANDegradation,
    check_hr,
    check_scales,
)

#: name -> one-line description (the names protocols and training configs may use)
DEGRADATIONS: dict[str, str] = {
    "bicubic": "MATLAB imresize bicubic with antialiasing (DIV2K's bicubic LR), rounded to 8 bits",
    "avgpool": "average pooling over scale x scale blocks, rounded to 8 bits",
    "realesrgan": "Real-ESRGAN x4plus second-order degradation (per-image seeded)",
    "realesrgan-stablesr": "StableSR's milder Real-ESRGAN variant (per-image seeded)",
}


def degrade(
    name: str,
    hr: torch.Tensor,
    scale: int | Sequence[int],
    seeds: Sequence[int] | None = None,
    *,
    jpeg_codec: str = "auto",
) -> DegradationResult:
    """Degrade HR (B, 3, H, W) in [0, 1] to LR (B, 3, H/s, W/s) on 8-bit levels.

    ``bicubic`` and ``avgpool`` are deterministic (``seeds`` is ignored and may be None); the
    Real-ESRGAN presets need one seed per image. Like MATLAB's ``imresize`` on uint8 images,
    every result is rounded to 8-bit levels (use :func:`bicubic_resize` /
    :func:`avgpool_downsample` directly for unrounded floats). With a sequence of scales,
    ``lr`` is a list (one tensor per scale). ``jpeg_codec`` (Real-ESRGAN presets): ``auto`` =
    Pillow on CPU, torchvision/nvJPEG on CUDA (:func:`yonos_bench.degradations.ops.jpeg`).
    """
    if name not in DEGRADATIONS:
        raise did_you_mean("degradation", name, list(DEGRADATIONS))
    if name in PRESETS:
        return RealESRGANDegradation(name, jpeg_codec=jpeg_codec)(hr, scale, seeds)  # type: ignore[arg-type]
    check_hr(hr)
    scales, single = check_scales(hr, scale)
    h, w = int(hr.shape[-2]), int(hr.shape[-1])
    lrs = []
    for s in scales:
        if name == "bicubic":
            lr = bicubic_resize(hr, size=(h // s, w // s))
        else:
            lr = avgpool_downsample(hr, s)
        lrs.append(quantize8(lr))
    params = [{"name": name, "scale": scales[0] if single else scales} for _ in range(hr.shape[0])]
    return DegradationResult(lr=lrs[0] if single else lrs, params=params)
