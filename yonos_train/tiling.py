"""Overlapping tiles with smooth blending: tiled UNet (latent tiles) and tiled VAE encode/decode.

The paper (Sec. 1) runs SD-based SR on large images as 64×64-latent patches. Here every
stage that scales with the image — VAE encode, each UNet step, VAE decode — runs on
overlapping tiles, so peak activation memory is set by the tile size, not the image
size (only the input, the latents and the output image are held whole).

Blending. Each tile's output is multiplied by a separable weight ``w(y)·w(x)`` that is 1
in the tile's interior and rises as ``sin²`` over ``overlap`` elements at each edge; the
blended result is ``Σ wᵢ·tileᵢ / Σ wᵢ``. The ``sin²``/``cos²`` ramps of two neighbours
sum to 1 over an overlap of exactly ``overlap`` elements (a partition of unity), and the
weights are never 0, so image borders covered by a single tile get that tile's output
unchanged. With ``overlap = 0`` the weights are all 1 and tiles are simply pasted (hard
seams; used as the negative control of the seam test).

When a single tile covers the input, the function is called once on the whole input, so
tiled and untiled results are identical. Tiles are not bit-identical to untiled results
in general: convolutions see zero padding at tile edges and the VAE's GroupNorm
normalises each tile with its own statistics — the overlap hides both.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable

import torch

#: Per-tile progress (a 4000×3000 LR into a ×4 model is hundreds of tiles and minutes with
#: no sign of life otherwise): ``tile_progress(callback)`` makes every tiled pass of this
#: thread report ``callback(done, total)`` after each tile. Only passes of 2+ tiles report.
_TILE_LISTENER: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar(
    "yonos_tile_listener", default=None
)


@contextlib.contextmanager
def tile_progress(callback: Callable[[int, int], None] | None):
    token = _TILE_LISTENER.set(callback)
    try:
        yield
    finally:
        _TILE_LISTENER.reset(token)


def report_tile(done: int, total: int) -> None:
    """Tell the current listener (if any) that ``done`` of ``total`` tiles of a pass are done."""
    listener = _TILE_LISTENER.get()
    if listener is not None and total > 1:
        listener(done, total)


def tile_starts(length: int, tile: int, overlap: int, *, multiple: int = 1) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap`` shared.

    The stride is ``tile − overlap``; the last tile is moved back to end exactly at
    ``length`` (so it may overlap its neighbour by more). All starts are multiples of
    ``multiple`` when ``length``, ``tile`` and ``overlap`` are.
    """
    if tile < 1:
        raise ValueError(f"tile: expected a positive size, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap: expected 0 <= overlap < tile ({tile}), got {overlap}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    if any(s % multiple for s in starts):
        raise ValueError(
            f"tile, overlap: starts {starts} are not multiples of {multiple}; "
            f"use tile/overlap/length that are multiples of {multiple}"
        )
    return starts


def ramp(size: int, overlap: int) -> torch.Tensor:
    """1-D blending weight of one tile: ``sin²(π/2 · (i + ½)/overlap)`` rising at both ends, 1 inside."""
    i = torch.arange(size, dtype=torch.float64)
    if overlap <= 0:
        return torch.ones(size, dtype=torch.float64)
    dist = torch.minimum(i, size - 1 - i) + 0.5  # distance to the nearer edge
    return torch.sin(0.5 * math.pi * torch.clamp(dist / overlap, max=1.0)) ** 2


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    out_scale: float = 1.0,
    multiple: int = 1,
) -> torch.Tensor:
    """Apply ``fn`` to overlapping spatial tiles of ``x`` (B, C, H, W) and blend the outputs.

    ``fn`` maps a (B, C, h, w) tile to (B, C', h·out_scale, w·out_scale): ``out_scale`` is
    1 for the UNet, 1/8 for an SD-like VAE encoder and 8 for its decoder. ``tile`` and
    ``overlap`` are in input elements; ``multiple`` is the granularity tile starts must
    respect (8 for the encoder, so each tile maps to whole latents). Outputs are
    accumulated in float32 (float64 for float64 input) and returned in ``x``'s dtype.
    """
    _, _, h, w = x.shape
    tile_h, tile_w = min(tile, h), min(tile, w)
    if tile_h == h and tile_w == w:
        return fn(x)  # one tile covers: exactly the untiled computation
    # A side shorter than the tile is covered by one tile, whatever the overlap.
    ys = tile_starts(h, tile_h, min(overlap, max(0, tile_h - multiple)), multiple=multiple)
    xs = tile_starts(w, tile_w, min(overlap, max(0, tile_w - multiple)), multiple=multiple)

    def out(n: float) -> int:
        value = n * out_scale
        if abs(value - round(value)) > 1e-9:
            raise ValueError(f"out_scale: {out_scale} does not map tile offset {n} to a whole element")
        return int(round(value))

    acc_dtype = torch.promote_types(x.dtype, torch.float32)  # float32, or float64 for float64 input
    weight_h = ramp(out(tile_h), out(overlap)).to(device=x.device, dtype=acc_dtype)
    weight_w = ramp(out(tile_w), out(overlap)).to(device=x.device, dtype=acc_dtype)
    weight = weight_h[:, None] * weight_w[None, :]

    # The weights are separable and the tiles form a grid (ys × xs), so the blend's
    # normaliser Σ wᵢ is the outer product of two 1-D sums: no image-sized buffer while
    # the tiles run (16 MiB at 2048² for a decoder), materialised once at the end.
    norm_h = torch.zeros(out(h), device=x.device, dtype=acc_dtype)
    norm_w = torch.zeros(out(w), device=x.device, dtype=acc_dtype)
    for y0 in ys:
        norm_h[out(y0) : out(y0) + weight_h.numel()] += weight_h
    for x0 in xs:
        norm_w[out(x0) : out(x0) + weight_w.numel()] += weight_w
    acc: torch.Tensor | None = None
    done = 0
    for y0 in ys:
        for x0 in xs:
            y = fn(x[:, :, y0 : y0 + tile_h, x0 : x0 + tile_w])
            if y.shape[-2:] != (out(tile_h), out(tile_w)):
                raise ValueError(
                    f"fn: expected a tile output of spatial size {(out(tile_h), out(tile_w))}, got {tuple(y.shape[-2:])}"
                )
            if acc is None:
                acc = torch.zeros(*y.shape[:2], out(h), out(w), device=x.device, dtype=acc_dtype)
            oy, ox = out(y0), out(x0)
            acc[:, :, oy : oy + y.shape[-2], ox : ox + y.shape[-1]] += y.to(acc_dtype) * weight
            del y
            done += 1
            report_tile(done, len(ys) * len(xs))
    return acc.div_(norm_h[:, None] * norm_w[None, :]).to(x.dtype)  # in place: no second image buffer


def tiled_encode(
    encode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    factor: int = 8,
) -> torch.Tensor:
    """Encode (B, 3, H, W) images (H, W multiples of ``factor``) in pixel tiles of ``tile·factor``.

    ``tile`` and ``overlap`` are in latent elements, so the latent tiles line up with the
    UNet's.
    """
    return tiled_apply(
        encode, images, tile=tile * factor, overlap=overlap * factor, out_scale=1.0 / factor, multiple=factor
    )


def tiled_decode(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    factor: int = 8,
) -> torch.Tensor:
    """Decode (B, 4, h, w) latents in latent tiles of ``tile`` (pixel output ``factor`` times larger)."""
    return tiled_apply(decode, latents, tile=tile, overlap=overlap, out_scale=float(factor))
