"""MATLAB ``imresize``-compatible bicubic resizing (the kernel DIV2K's X4/X8 LR were made with).

MATLAB's ``imresize(A, scale)`` (method ``'bicubic'``, ``'Antialiasing'`` on by default when
shrinking) resizes each dimension separately with the weights of Keys' cubic kernel,
``a = -0.5``::

    cubic(t) = 1.5|t|^3 - 2.5|t|^2 + 1                 for |t| <= 1
             = -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2         for 1 < |t| <= 2
             = 0                                         otherwise

For output pixel ``x`` (1-based) the input coordinate is ``u = x/s + 0.5(1 - 1/s)``, where ``s``
is the scale factor (output/input). When shrinking with antialiasing the kernel is
stretched by ``1/s``: ``h(t) = s * cubic(s t)`` with width ``4/s``. The taps are
``left + 0 .. P-1`` with ``left = floor(u - width/2)`` and ``P = ceil(width) + 2``; the weights
are normalised to sum to one per output pixel, and indices outside ``1..n`` are mirrored
symmetrically (``... 2 1 | 1 2 ... n | n n-1 ...``). MATLAB resizes the dimension with the
smaller scale factor first (rows first on ties); we keep that order.

Difference with ``torch.nn.functional.interpolate(mode="bicubic", antialias=True)``: torch
uses Keys' kernel with ``a = -0.75`` (OpenCV's convention) and clamps (replicates) at the
border instead of mirroring, so its outputs differ by up to several 8-bit levels on
natural images. It is deliberately not used here.

Precision: on CPU the weights are applied in float64 (results cast back to the input dtype),
so an image's result does not depend on the other images of the batch; on CUDA the input
dtype (at least float32) is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch


def cubic(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``)."""
    at = np.abs(t)
    at2 = at * at
    at3 = at2 * at
    inner = (1.5 * at3 - 2.5 * at2 + 1.0) * (at <= 1)
    outer = (-0.5 * at3 + 2.5 * at2 - 4.0 * at + 2.0) * ((at > 1) & (at <= 2))
    return inner + outer


def _contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: (weights, 0-based mirrored indices), both (out_len, P)."""
    shrink_aa = antialias and scale < 1
    width = 4.0 / scale if shrink_aa else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink_aa else cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric mirroring: the sequence 1..n, n..1 repeated (MATLAB's ``aux`` trick).
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    mirrored = aux[np.mod(idx.astype(np.int64) - 1, aux.size)]
    return weights, mirrored


@lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """Dense (out_len, in_len) float64 CPU matrix applying MATLAB's 1-D bicubic resize."""
    weights, indices = _contributions(in_len, out_len, scale, antialias)
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), weights.shape[1])
    np.add.at(mat, (rows, indices.ravel()), weights.ravel())  # mirrored taps may repeat
    return torch.from_numpy(mat)  # cached: callers must not modify it in place


def _pair(value, name: str) -> tuple:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a pair (h, w), got {value!r}")
        return tuple(value)
    return (value, value)


def _plan(in_hw: tuple[int, int], scale, size) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output size and per-dimension scale factor, as MATLAB derives them."""
    if (scale is None) == (size is None):
        raise ValueError("bicubic_resize: give exactly one of scale= (output/input factor) or size= (h, w)")
    if scale is not None:
        scales = tuple(float(s) for s in _pair(scale, "scale"))
        if any(not math.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        # MATLAB: ceil(scale * size). The rounding to 10 decimals keeps e.g. 96 * (1/3) at 32
        # instead of 33 after floating-point error.
        out = tuple(int(math.ceil(round(n * s, 10))) for n, s in zip(in_hw, scales, strict=True))
        return out, scales  # type: ignore[return-value]
    out = tuple(int(v) for v in _pair(size, "size"))
    if any(v < 1 for v in out):
        raise ValueError(f"size must be positive, got {size!r}")
    scales = tuple(o / n for o, n in zip(out, in_hw, strict=True))
    return out, scales  # type: ignore[return-value]


def bicubic_resize(
    x: torch.Tensor,
    scale: float | tuple[float, float] | None = None,
    size: int | tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize float (B, C, H, W) ``x`` like MATLAB ``imresize(x, scale | [h w], 'bicubic')``.

    ``scale`` is MATLAB's factor (output/input: 0.25 shrinks by 4); the output size is then
    ``ceil(scale * input)``. With ``size`` the factor per dimension is ``size / input``.
    No clamping is applied (bicubic overshoots slightly outside the input range).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x))}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    if min(in_hw) < 1:
        raise ValueError(f"x has an empty spatial size {in_hw}")
    out_hw, scales = _plan(in_hw, scale, size)
    compute = torch.float64 if x.device.type == "cpu" else torch.promote_types(x.dtype, torch.float32)
    # MATLAB order: the dimension with the smaller scale first (rows first on ties).
    dims = [
        d
        for d in ((0, 1) if scales[0] <= scales[1] else (1, 0))
        if not (out_hw[d] == in_hw[d] and scales[d] == 1.0)
    ]
    # (a dimension kept at its size with factor 1 is the identity: MATLAB's weights are [0 1 0 0 ...])
    mats = {
        d: resize_matrix(in_hw[d], out_hw[d], scales[d], antialias).to(device=x.device, dtype=compute)
        for d in dims
    }
    planes = x.reshape(-1, *in_hw)
    # Bytes of the compute-precision intermediates of one plane (its input copy, both passes).
    mid_hw = (out_hw[0], in_hw[1]) if dims[:1] == [0] else (in_hw[0], out_hw[1])
    per_plane = (in_hw[0] * in_hw[1] + mid_hw[0] * mid_hw[1] + out_hw[0] * out_hw[1]) * compute.itemsize
    step = max(1, CHUNK_BYTES // per_plane)
    if step >= planes.shape[0]:
        return _resize_planes(planes, dims, mats, compute).to(x.dtype).reshape(*x.shape[:-2], *out_hw)
    # Large images (e.g. the pipeline's 512->2048 upsampling: 168 MiB of float64 at once):
    # resize a few planes at a time into the output, so the float64 intermediates stay
    # under CHUNK_BYTES. Each plane is computed by the same matmuls as unchunked.
    out = torch.empty(planes.shape[0], *out_hw, dtype=x.dtype, device=x.device)
    for i in range(0, planes.shape[0], step):
        out[i : i + step] = _resize_planes(planes[i : i + step], dims, mats, compute)
    return out.reshape(*x.shape[:-2], *out_hw)


#: Above this many bytes of compute-precision intermediates, planes are resized in chunks.
CHUNK_BYTES = 64 * 2**20


def _resize_planes(planes: torch.Tensor, dims: list[int], mats: dict, compute: torch.dtype) -> torch.Tensor:
    """(N, H, W) planes -> resized (N, H', W') in ``compute`` precision, dimension by dimension."""
    y = planes.to(compute)
    for d in dims:
        y = torch.matmul(mats[d], y) if d == 0 else torch.matmul(y, mats[d].T)
    return y
