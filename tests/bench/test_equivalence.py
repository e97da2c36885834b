"""Each optimisation made for issue 9 gives the outputs it replaced (tolerance stated per test).

* bicubic_resize in plane chunks (memory of large upsamplings): bit-identical.
* tiled_apply's separable normaliser and in-place division: equal to the naive 2-D blend
  within float rounding (1e-12 in float64, 2e-6 relative in float32).
* the pipeline's in-place [-1, 1] -> [0, 1] mapping: bit-identical to the out-of-place one.
* pyiqa SSIM scored image by image on CPU: equal to the batched call within 1e-7.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from yonos_bench.degradations import bicubic
from yonos_train import pipeline as pipeline_mod
from yonos_train.presets import build_pipeline
from yonos_train.tiling import ramp, tile_starts, tiled_apply


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 37, 53), {"scale": 4}),  # upsample, odd sizes
        ((1, 3, 40, 40), {"size": (160, 160)}),  # the pipeline's x4
        ((3, 3, 96, 80), {"scale": 1 / 3}),  # antialiased downsampling
        ((2, 3, 64, 64), {"size": (64, 100)}),  # one dimension is the identity
        ((2, 3, 30, 30), {"scale": 0.5, "antialias": False}),
    ],
)
def test_chunked_bicubic_is_bit_identical(monkeypatch, shape, kwargs):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(bicubic, "CHUNK_BYTES", 1 << 40)  # one chunk: the unchunked computation
    whole = bicubic.bicubic_resize(x, **kwargs)
    monkeypatch.setattr(bicubic, "CHUNK_BYTES", 1)  # one plane per chunk
    chunked = bicubic.bicubic_resize(x, **kwargs)
    assert chunked.shape == whole.shape and chunked.dtype == x.dtype
    assert torch.equal(chunked, whole)


def test_chunking_kicks_in_for_large_images_only(monkeypatch):
    calls = []
    real = bicubic._resize_planes
    monkeypatch.setattr(bicubic, "_resize_planes", lambda p, *a: calls.append(p.shape[0]) or real(p, *a))
    bicubic.bicubic_resize(torch.rand(8, 3, 64, 64), scale=0.25)  # degradation-sized: one call
    assert calls == [24]
    calls.clear()
    bicubic.bicubic_resize(torch.rand(1, 3, 512, 512), scale=4)  # 512 -> 2048: ~42 MiB float64 per plane
    assert calls == [1, 1, 1]


def naive_blend(fn, x, tile, overlap, out_scale=1.0):
    """The blend as first written: a 2-D normaliser accumulated tile by tile, then divided."""
    _, _, h, w = x.shape
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    o = lambda n: int(round(n * out_scale))  # noqa: E731
    wgt = ramp(o(th), o(overlap))[:, None] * ramp(o(tw), o(overlap))[None, :]
    wgt = wgt.to(torch.promote_types(x.dtype, torch.float32))
    acc, norm = None, torch.zeros(o(h), o(w), dtype=wgt.dtype)
    for y0 in ys:
        for x0 in xs:
            y = fn(x[:, :, y0 : y0 + th, x0 : x0 + tw]).to(wgt.dtype)
            acc = torch.zeros(*y.shape[:2], o(h), o(w), dtype=wgt.dtype) if acc is None else acc
            acc[:, :, o(y0) : o(y0) + y.shape[-2], o(x0) : o(x0) + y.shape[-1]] += y * wgt
            norm[o(y0) : o(y0) + y.shape[-2], o(x0) : o(x0) + y.shape[-1]] += wgt
    return (acc / norm).to(x.dtype)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("tile, overlap", [(16, 4), (24, 8), (16, 0)])
def test_separable_normaliser_equals_the_naive_blend(dtype, tol, tile, overlap):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 50, 37, generator=g, dtype=dtype)
    w = torch.randn(3, 4, 3, 3, generator=g, dtype=dtype)
    conv = lambda t: F.conv2d(t, w, padding=1)  # noqa: E731  (not local: tiles disagree at their edges)
    got = tiled_apply(conv, x, tile=tile, overlap=overlap)
    ref = naive_blend(conv, x, tile, overlap)
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol)
    assert not torch.allclose(got, conv(x), atol=1e-3)  # the tiles really were blended (seams differ)
    # a decoder-like tile function (x2 output) through out_scale
    up = lambda t: F.interpolate(conv(t), scale_factor=2.0, mode="nearest")  # noqa: E731
    torch.testing.assert_close(
        tiled_apply(up, x, tile=tile, overlap=overlap, out_scale=2.0),
        naive_blend(up, x, tile, overlap, out_scale=2.0),
        rtol=tol,
        atol=tol,
    )


def test_pipeline_output_mapping_in_place_is_bit_identical(monkeypatch):
    pipe = build_pipeline("tiny", scale=4, seed=0)
    decoded = []
    real = pipeline_mod.tiled_decode

    def capture(*args, **kwargs):
        out = real(*args, **kwargs)
        decoded.append(out.clone())
        return out

    monkeypatch.setattr(pipeline_mod, "tiled_decode", capture)
    lr = torch.rand(2, 3, 20, 26, generator=torch.Generator().manual_seed(2))  # 80x104: padded, 3 tiles
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    out = pipe(lr, 2, gens, tile_size=8, tile_overlap=2)
    (pixels,) = decoded
    ref = ((pixels.float() + 1.0) / 2.0).clamp_(0.0, 1.0)[:, :, :80, :104].contiguous()
    assert out.shape == (2, 3, 80, 104)
    assert torch.equal(out, ref)


def test_pipeline_with_chunked_upsampling_is_bit_identical(monkeypatch):
    pipe = build_pipeline("tiny", scale=4, seed=0)
    lr = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(5))
    monkeypatch.setattr(bicubic, "CHUNK_BYTES", 1 << 40)
    whole = pipe(lr, 1, [torch.Generator().manual_seed(6)], tile_size=8)
    monkeypatch.setattr(bicubic, "CHUNK_BYTES", 1)
    chunked = pipe(lr, 1, [torch.Generator().manual_seed(6)], tile_size=8)
    assert torch.equal(whole, chunked)


def test_ssim_scored_image_by_image_on_cpu_equals_the_batched_call(tmp_path, monkeypatch):
    from yonos_bench.metrics import backends
    from yonos_bench.metrics.presets import get_preset

    g = torch.Generator().manual_seed(7)
    hr = torch.rand(5, 3, 48, 40, generator=g)
    sr = (hr + 0.1 * torch.randn(5, 3, 48, 40, generator=g)).clamp(0, 1)
    preset = get_preset("ssim-y")
    per_image = backends.build_pyiqa(preset, "cpu", tmp_path)(sr, hr)
    monkeypatch.setattr(backends, "PER_IMAGE_ON_CPU", frozenset())
    batched_scorer = backends.build_pyiqa(preset, "cpu", tmp_path)
    batched = batched_scorer(sr, hr)
    assert per_image.shape == batched.shape == (5,) and per_image.dtype == torch.float32
    torch.testing.assert_close(per_image, batched, rtol=0, atol=1e-7)
    assert len(set(per_image.tolist())) == 5  # five different images, five different scores
