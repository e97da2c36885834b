"""MATLAB-compatible bicubic and average pooling against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from yonos_bench.degradations import avgpool_downsample, bicubic_resize


# ---- an independent, loop-based transcription of MATLAB imresize (bicubic) ----------------
def _keys(t: float) -> float:
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t <= 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def _mirror(i: int, n: int) -> int:
    """0-based symmetric reflection: -1 -> 0, -2 -> 1, n -> n-1, n+1 -> n-2."""
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - 1 - i
    return i


def _ref_resize_1d(vec: np.ndarray, out_len: int, s: float, antialias: bool = True) -> np.ndarray:
    n = len(vec)
    aa = antialias and s < 1
    width = 4 / s if aa else 4
    out = np.zeros(out_len)
    for o in range(out_len):
        u = (o + 1) / s + 0.5 * (1 - 1 / s)  # 1-based input coordinate
        left = math.floor(u - width / 2)
        acc = wsum = 0.0
        for j in range(math.ceil(width) + 2):
            idx = left + j
            w = s * _keys(s * (u - idx)) if aa else _keys(u - idx)
            acc += w * vec[_mirror(idx - 1, n)]
            wsum += w
        out[o] = acc / wsum
    return out


def _ref_imresize(img: np.ndarray, out_hw, scales, antialias=True) -> np.ndarray:
    """img (H, W) float64 -> rows first, then columns."""
    tmp = np.stack(
        [_ref_resize_1d(img[:, c], out_hw[0], scales[0], antialias) for c in range(img.shape[1])], 1
    )
    return np.stack([_ref_resize_1d(tmp[r], out_hw[1], scales[1], antialias) for r in range(out_hw[0])], 0)


def _natural_like(h: int, w: int, seed: int) -> np.ndarray:
    """A non-trivial test image: smooth gradients + edges + 8-bit noise, values on 8-bit levels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = 0.5 + 0.3 * np.sin(xx / 3.1) * np.cos(yy / 4.7) + 0.2 * ((xx + 2 * yy) % 17 < 6)
    img = img + rng.normal(0, 0.05, (h, w))
    return np.round(np.clip(img, 0, 1) * 255) / 255


@pytest.mark.parametrize(
    ("hw", "kwargs", "out_hw", "scales"),
    [
        ((37, 29), {"scale": 0.25}, (10, 8), (0.25, 0.25)),  # odd sizes, ceil(37/4)=10
        ((64, 48), {"size": (16, 12)}, (16, 12), (0.25, 0.25)),
        ((40, 40), {"scale": 0.125}, (5, 5), (0.125, 0.125)),
        ((33, 45), {"size": (20, 13)}, (20, 13), (20 / 33, 13 / 45)),  # unequal factors
        ((11, 7), {"scale": 3}, (33, 21), (3.0, 3.0)),  # upscaling: no antialias widening
        ((23, 31), {"scale": 2.5}, (58, 78), (2.5, 2.5)),
    ],
)
def test_bicubic_matches_loop_reference(hw, kwargs, out_hw, scales):
    img = _natural_like(*hw, seed=sum(hw))
    ours = bicubic_resize(torch.from_numpy(img).float()[None, None], **kwargs)[0, 0].double().numpy()
    ref = _ref_imresize(img.astype(np.float32).astype(np.float64), out_hw, scales)
    assert ours.shape == out_hw
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_bicubic_no_antialias_matches_reference():
    img = _natural_like(30, 26, seed=3)
    ours = bicubic_resize(torch.from_numpy(img)[None, None], scale=0.5, antialias=False)[0, 0].numpy()
    np.testing.assert_allclose(ours, _ref_imresize(img, (15, 13), (0.5, 0.5), antialias=False), atol=1e-12)


def test_bicubic_interior_matches_pillow_float_resize():
    """Pillow's BICUBIC is also Keys a=-0.5 with antialias widening (but clips at borders):
    an independent implementation that must agree away from the border."""
    img = _natural_like(96, 80, seed=11).astype(np.float32)
    pil = np.asarray(Image.fromarray(img, mode="F").resize((20, 24), Image.Resampling.BICUBIC))
    ours = bicubic_resize(torch.from_numpy(img)[None, None], scale=0.25)[0, 0].numpy()
    np.testing.assert_allclose(ours[2:-2, 2:-2], pil[2:-2, 2:-2], atol=2e-6)
    # at the border MATLAB mirrors and Pillow renormalises, so they differ
    assert np.abs(ours - pil).max() > 1e-4


def test_bicubic_known_values_and_invariants():
    # constant image stays constant (weights sum to one), batch/channels independent
    x = torch.full((2, 3, 17, 13), 0.37)
    torch.testing.assert_close(bicubic_resize(x, scale=0.5), torch.full((2, 3, 9, 7), 0.37))
    # a linear ramp is reproduced exactly in the interior (cubic kernels reproduce linear functions)
    ramp = torch.arange(40, dtype=torch.float64).repeat(8, 1)[None, None]
    out = bicubic_resize(ramp, size=(8, 10))[0, 0, 0]
    torch.testing.assert_close(out[2:-2], torch.arange(10, dtype=torch.float64)[2:-2] * 4 + 1.5)
    # no clamping: overshoot on a step edge survives
    step = torch.zeros(1, 1, 8, 32)
    step[..., 16:] = 1.0
    up = bicubic_resize(step, scale=2)
    assert up.min() < 0 and up.max() > 1
    # identity
    img = torch.rand(1, 3, 9, 11)
    torch.testing.assert_close(bicubic_resize(img, scale=1), img, rtol=0, atol=0)


def test_bicubic_batch_independent_and_dtype():
    x = torch.rand(5, 3, 40, 36)
    full = bicubic_resize(x, scale=0.25)
    assert full.dtype == torch.float32 and full.shape == (5, 3, 10, 9)
    for i in range(5):
        assert torch.equal(bicubic_resize(x[i : i + 1], scale=0.25), full[i : i + 1])


def test_bicubic_bad_input():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="exactly one of scale"):
        bicubic_resize(x)
    with pytest.raises(ValueError, match="exactly one of scale"):
        bicubic_resize(x, scale=0.5, size=4)
    with pytest.raises(ValueError, match="scale must be positive"):
        bicubic_resize(x, scale=-1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        bicubic_resize(x[0], scale=0.5)
    with pytest.raises(ValueError, match="floating-point"):
        bicubic_resize((x * 255).to(torch.uint8), scale=0.5)


def test_avgpool_exact():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, size=(2, 3, 24, 16))
    x = torch.from_numpy(levels / 255.0).float()
    out = avgpool_downsample(x, 8)
    assert out.shape == (2, 3, 3, 2) and out.dtype == torch.float32
    # exact reference: the float64 sum of 64 float32 values is exact, /64 is exact, then one
    # rounding to float32
    sums = x.double().numpy().reshape(2, 3, 3, 8, 2, 8).sum(axis=(3, 5))
    ref = torch.from_numpy((sums / 64).astype(np.float32))
    assert torch.equal(out, ref)
    with pytest.raises(ValueError, match="not divisible by factor 8"):
        avgpool_downsample(torch.rand(1, 3, 20, 16), 8)
    with pytest.raises(ValueError, match="positive integer"):
        avgpool_downsample(x, 0)
