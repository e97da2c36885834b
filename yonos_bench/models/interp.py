"""Interpolation baselines: ``bicubic`` and ``lanczos`` (no weights, any integer scale).

* ``bicubic`` — :func:`yonos_bench.degradations.bicubic_resize`, the MATLAB ``imresize``
  convention the protocols' bicubic LR were made with (Keys a = -0.5, mirrored borders),
  so bicubic-down then bicubic-up is the classical SR floor.
* ``lanczos`` — Lanczos-3 with Pillow's conventions (``Image.resize(..., LANCZOS)``):
  output pixel ``x`` samples input coordinate ``(x + 0.5)/s``, taps that fall outside the
  image are dropped and the remaining weights renormalised. Computed as two float64
  matrix products, so unlike Pillow on 8-bit images nothing is rounded in between.

Outputs are clamped to [0, 1] (cubic and Lanczos kernels overshoot near edges).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from yonos_bench.models.base import SRModelBase

LANCZOS_A = 3


def _sinc(x: np.ndarray) -> np.ndarray:
    return np.sinc(x)  # numpy's normalised sinc: sin(pi x) / (pi x), 1 at 0


@lru_cache(maxsize=64)
def lanczos_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) weights of Pillow's Lanczos-3 resampling along one axis
    (Pillow ``Resample.c`` ``precompute_coeffs``: centre ``(x + 0.5) * in/out``, support
    ``3 * max(in/out, 1)``, taps ``int(centre ± support + 0.5)`` clipped to the image)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = LANCZOS_A * filterscale
    mat = np.zeros((out_size, in_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        taps = np.arange(xmin, xmax)
        t = (taps - center + 0.5) / filterscale
        w = np.where((t >= -LANCZOS_A) & (t < LANCZOS_A), _sinc(t) * _sinc(t / LANCZOS_A), 0.0)
        total = w.sum()
        mat[xx, xmin:xmax] = w / total if total != 0 else w
    return mat


def lanczos_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float (B, C, H, W) to ``size`` = (h, w) with Pillow-convention Lanczos-3."""
    h_in, w_in = x.shape[-2:]
    mh = torch.from_numpy(lanczos_matrix(int(h_in), int(size[0])))
    mw = torch.from_numpy(lanczos_matrix(int(w_in), int(size[1])))
    compute = torch.float64 if x.device.type == "cpu" else torch.float32
    y = x.to(compute)
    # Pillow resamples horizontally first; both passes are linear, so the order only
    # matters for rounding, which float64 makes negligible.
    y = torch.matmul(y, mw.to(device=x.device, dtype=compute).T)
    y = torch.matmul(mh.to(device=x.device, dtype=compute), y)
    return y.to(x.dtype)


class InterpModel(SRModelBase):
    """Deterministic interpolation: seeds are accepted (one per image) and unused."""

    def __init__(self, name: str, method: str, scale: int, device: torch.device):
        if method not in ("bicubic", "lanczos"):
            raise ValueError(f"method: expected 'bicubic' or 'lanczos', got {method!r}")
        self.name = name
        self.method = method
        self.scale = int(scale)
        self.device = device
        self.supports_steps = False
        self.default_steps = None
        self.weights_digest = "none"
        self.info = {"adapter": "interp", "method": method}

    # Image by image: interpolation is cheap, and this makes every output independent of the
    # batch it was computed in by construction (not only for the BLAS paths we tried).
    batch_invariant = True

    def _upscale(self, lr, steps, seeds, names):
        x = lr.to(self.device, torch.float32)
        size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        if self.method == "bicubic":
            from yonos_bench.degradations import bicubic_resize

            ys = [bicubic_resize(x[i : i + 1], size=size) for i in range(x.shape[0])]
        else:
            ys = [lanczos_resize(x[i : i + 1], size) for i in range(x.shape[0])]
        return torch.cat(ys).clamp_(0.0, 1.0)


def build(card, *, device, dtype, weights_dir, options, scale, path) -> InterpModel:
    del dtype, weights_dir, path  # interpolation runs in float32/float64 and has no weights
    s = scale if scale is not None else card.scale
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise ValueError(f"scale: must be a positive integer, got {s!r}")
    method: Any = options.get("method", card.name)
    return InterpModel(card.name, method, s, device)
