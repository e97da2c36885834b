"""Tiles, blending weights, tiled == untiled when one tile covers, and the seam test."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from yonos_train.presets import build_pipeline
from yonos_train.tiling import ramp, tile_starts, tiled_apply, tiled_decode, tiled_encode


def test_tile_starts_cover_and_end_flush():
    assert tile_starts(100, 32, 8) == [0, 24, 48, 68]
    assert tile_starts(32, 32, 8) == [0]
    assert tile_starts(20, 32, 8) == [0]
    assert tile_starts(64, 32, 0) == [0, 32]
    for length, tile, overlap in [(100, 32, 8), (257, 64, 16), (33, 16, 15)]:
        starts = tile_starts(length, tile, overlap)
        covered = torch.zeros(length, dtype=torch.bool)
        for s in starts:
            covered[s : s + tile] = True
        assert bool(covered.all()) and starts[-1] + tile == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))
    with pytest.raises(ValueError, match=r"^overlap: expected 0 <= overlap < tile \(16\), got 16"):
        tile_starts(100, 16, 16)
    with pytest.raises(ValueError, match=r"^tile, overlap: starts .* not multiples of 8"):
        tile_starts(100, 32, 8, multiple=8)  # 100 - 32 = 68 is not a multiple of 8


def test_ramps_are_a_partition_of_unity_over_the_overlap():
    tile, overlap = 32, 8
    w = ramp(tile, overlap)
    assert float(w.min()) > 0 and w[overlap:-overlap].eq(1).all()
    total = torch.zeros(tile * 3 - 2 * overlap, dtype=torch.float64)
    for s in (0, tile - overlap, 2 * (tile - overlap)):
        total[s : s + tile] += w
    torch.testing.assert_close(
        total[overlap:-overlap], torch.ones_like(total[overlap:-overlap]), rtol=0, atol=1e-12
    )
    assert ramp(5, 0).eq(1).all()


def _smooth(batch=1, channels=3, h=96, w=80, dtype=torch.float64):
    yy, xx = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    img = torch.sin(2 * math.pi * (0.7 * xx + 0.4 * yy) / h * 1.3) + xx / w + 0.5 * (yy / h) ** 2
    return img[None, None].repeat(batch, channels, 1, 1)


def test_local_functions_are_reproduced_exactly_by_tiling():
    x = _smooth()
    # pointwise: every tile computes the same values, blending changes nothing
    torch.testing.assert_close(
        tiled_apply(torch.tanh, x, tile=32, overlap=8), torch.tanh(x), rtol=0, atol=1e-12
    )
    # 8×8 average pooling / nearest ×8 upsampling: exact with 8-aligned tiles
    pool = tiled_encode(lambda t: F.avg_pool2d(t, 8), x, tile=4, overlap=1, factor=8)
    torch.testing.assert_close(pool, F.avg_pool2d(x, 8), rtol=0, atol=1e-12)
    lat = F.avg_pool2d(x, 8)
    up = tiled_decode(lambda t: F.interpolate(t, scale_factor=8.0, mode="nearest"), lat, tile=4, overlap=1)
    torch.testing.assert_close(up, F.interpolate(lat, scale_factor=8.0, mode="nearest"), rtol=0, atol=1e-12)


def test_one_covering_tile_calls_fn_once_on_the_whole_input():
    x = _smooth(h=32, w=24)
    calls = []

    def fn(t):
        calls.append(tuple(t.shape))
        return t * 2

    assert torch.equal(tiled_apply(fn, x, tile=32, overlap=8), x * 2)
    assert calls == [(1, 3, 32, 24)]


def _tile_sensitive(x: torch.Tensor) -> torch.Tensor:
    """What makes SD tiles disagree: per-tile normalisation (GroupNorm with one group) and
    zero padding at tile edges (a 5×5 blur) — on a smooth image its untiled output is smooth."""
    y = (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), keepdim=True) + 1e-3)
    k = torch.ones(x.shape[1], 1, 5, 5, dtype=x.dtype) / 25
    return F.conv2d(y, k, padding=2, groups=x.shape[1])


def seam_ratio(img: torch.Tensor, borders: list[int], margin: int = 4) -> float:
    """Worst (over tile borders, both axes) squared step across a border divided by the median
    squared step between neighbouring lines inside tiles (lines within ``margin`` of a border or
    the image edge excluded)."""
    worst = 0.0
    for dim in (3, 2):
        length = img.shape[dim]
        energy = (img.diff(dim=dim) ** 2).mean(dim=tuple(d for d in range(4) if d != dim))
        inside = [
            j for j in range(margin, length - 1 - margin) if all(abs(j - (b - 1)) > margin for b in borders)
        ]
        base = energy[inside].median()
        worst = max(worst, max(float(energy[b - 1] / base) for b in borders))
    return worst


SEAM_THRESHOLD = 2.0  # the untiled output itself reaches ≈1.6 at these lines; pasted tiles ≈430


@pytest.mark.parametrize("tile,overlap", [(48, 8), (48, 16), (64, 24)])
def test_blended_tiles_have_no_seam_and_pasted_tiles_do(tile, overlap):
    x = _smooth(h=160, w=160)
    starts = tile_starts(160, tile, overlap)
    borders = sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < 160})
    blended = tiled_apply(_tile_sensitive, x, tile=tile, overlap=overlap)
    assert seam_ratio(blended, borders) <= SEAM_THRESHOLD
    pasted_starts = tile_starts(160, tile, 0)
    pasted_borders = sorted({s for s in pasted_starts if s > 0})
    pasted = tiled_apply(_tile_sensitive, x, tile=tile, overlap=0)
    assert seam_ratio(pasted, pasted_borders) > 20 * SEAM_THRESHOLD  # the statistic does see seams


def _pipe():
    torch.set_num_threads(2)
    return build_pipeline("tiny", scale=4, seed=0)


def test_pipeline_tiled_equals_untiled_when_one_tile_covers():
    pipe = _pipe()
    lr = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # 16×16 latents
    ref = pipe(lr, 2, [torch.Generator().manual_seed(1)], tiled=False)
    for tile in (None, 16):  # default native 32, and a tile exactly the latent size
        out = pipe(lr, 2, [torch.Generator().manual_seed(1)], tile_size=tile)
        assert torch.equal(out, ref)


def test_pipeline_tiles_every_stage_and_has_no_decoder_seam():
    """Pipeline-level seam check on the tiny model with a spatially constant v̂ (conv_out
    weight zeroed): the latent is then the same in every tile and any seam can only come from
    the tiled decode (GroupNorm statistics and zero padding per tile). Pasted tiles
    (overlap 0) show a seam; the default overlap does not."""
    pipe = _pipe()
    with torch.no_grad():
        pipe.unet.conv_out.weight.zero_()
        pipe.unet.conv_out.bias.copy_(torch.tensor([0.05, -0.03, 0.02, -0.01]))
    calls = []
    handle = pipe.unet.register_forward_pre_hook(lambda m, args: calls.append(tuple(args[0].shape)))
    lr = torch.full((1, 3, 64, 64), 0.5)  # 256² output: 32×32 latents, tiles of 24 → 2×2 tiles
    try:
        blended = pipe(lr, 1, [torch.Generator().manual_seed(0)], tile_size=24)  # default overlap 6
    finally:
        handle.remove()
    assert calls == [(1, 8, 24, 24)] * 4
    pasted = pipe(lr, 1, [torch.Generator().manual_seed(0)], tile_size=24, tile_overlap=0)
    borders = [8 * 8, 8 * 24]  # tile starts [0, 8] latents: the second tile's start, the first's end
    # measured: blended 0.40, pasted 53
    assert seam_ratio(blended, borders, margin=32) <= SEAM_THRESHOLD
    assert seam_ratio(pasted, borders, margin=32) > 10 * SEAM_THRESHOLD
