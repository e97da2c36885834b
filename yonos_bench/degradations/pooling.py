"""x N average pooling (the x8 protocols: ImageNet and FFHQ 512 -> 64)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def avgpool_downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of each non-overlapping ``factor x factor`` block of float (B, C, H, W) ``x``.

    H and W must be divisible by ``factor`` (no silent cropping). On CPU the sums are done in
    float64 and cast back, so the result is the exactly rounded block mean for float32 input.
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x))}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % factor or w % factor:
        raise ValueError(f"avgpool_downsample: image size {h}x{w} is not divisible by factor {factor}")
    if factor == 1:
        return x.clone()
    compute = torch.float64 if x.device.type == "cpu" else torch.promote_types(x.dtype, torch.float32)
    return F.avg_pool2d(x.to(compute), kernel_size=factor, stride=factor).to(x.dtype)
