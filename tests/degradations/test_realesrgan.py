"""Real-ESRGAN pipeline on images: shapes, 8-bit levels, determinism, batch independence, replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from yonos_bench.core.errors import UnknownNameError
from yonos_bench.degradations import RealESRGANDegradation, bicubic_resize, degrade
from yonos_bench.degradations.kernels import build_kernel
from yonos_bench.degradations.ops import (
    USM_SIGMA,
    add_gaussian_noise,
    add_poisson_noise,
    filter_per_sample,
    jpeg,
    quantize8,
    usm_sharpen,
)


def _hr(b: int, size: int = 128, seed: int = 0) -> torch.Tensor:
    """Structured test images (gradients, edges, texture) on 8-bit levels."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    base = 0.5 + 0.25 * torch.sin(xx / 5.0) * torch.cos(yy / 7.0) + 0.2 * (((xx + yy) // 16) % 2)
    imgs = base[None, None] * torch.rand(b, 3, 1, 1, generator=g) + 0.1 * torch.rand(
        b, 3, size, size, generator=g
    )
    return quantize8(imgs)


def _seeds_covering(preset: str, n: int) -> list[int]:
    """Seeds whose draws cover both final orders, both noise types, up/down/keep and sinc/no sinc."""
    deg = RealESRGANDegradation(preset)
    want = {("order", "resize_sinc_jpeg"), ("order", "jpeg_resize_sinc"), ("n", "gaussian"), ("n", "poisson")}
    want |= {("r", "up"), ("r", "down"), ("r", "keep"), ("sinc", True), ("sinc", False), ("gray", True)}
    seeds, seen = [], set()
    for s in range(10_000):
        p = deg.sample_params(s)
        feats = {("order", p["final_order"]), ("n", p["noise1"]["type"]), ("n", p["noise2"]["type"])}
        feats |= {("r", p["resize1"]["type"]), ("r", p["resize2"]["type"]), ("sinc", p["sinc"] is not None)}
        feats |= {("gray", p["noise1"]["gray"] or p["noise2"]["gray"])}
        if feats - seen:
            seeds.append(s)
            seen |= feats
        if seen >= want and len(seeds) >= n:
            break
    return seeds[:n] if seen >= want else pytest.fail("could not cover the parameter space")


@pytest.mark.parametrize("preset", ["realesrgan", "realesrgan-stablesr"])
def test_shapes_levels_determinism_and_batch_independence(preset):
    seeds = _seeds_covering(preset, 6)
    hr = _hr(len(seeds))
    deg = RealESRGANDegradation(preset)
    res = deg(hr, 4, seeds)
    lr = res.lr
    assert lr.shape == (len(seeds), 3, 32, 32) and lr.dtype == torch.float32
    assert lr.min() >= 0 and lr.max() <= 1
    torch.testing.assert_close(lr * 255, (lr * 255).round(), rtol=0, atol=1e-4)  # 8-bit levels
    assert all(lr[i].std() > 0 for i in range(len(seeds)))
    # same seeds -> identical bytes; each image alone == inside the batch
    assert torch.equal(deg(hr, 4, seeds).lr, lr)
    for i, s in enumerate(seeds):
        assert torch.equal(deg(hr[i : i + 1], 4, [s]).lr[0], lr[i]), f"image {i} depends on its batch"
    # reversed batch order: same per-image results
    rev = deg(hr.flip(0), 4, seeds[::-1]).lr
    assert torch.equal(rev.flip(0), lr)
    # another seed -> another LR
    assert not torch.equal(deg(hr[:1], 4, [seeds[0] + 10_001]).lr[0], lr[0])


def test_result_independent_of_thread_count():
    """Same bytes with 1 and 2 intra-op threads (so pairs do not depend on the machine's cores)."""
    seeds = _seeds_covering("realesrgan", 4)
    hr = _hr(len(seeds), size=256, seed=5)
    deg = RealESRGANDegradation("realesrgan")
    one = deg(hr, (4, 2), seeds).lr
    torch.set_num_threads(2)  # the autouse fixture restores the count
    two = deg(hr, (4, 2), seeds).lr
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_replay_from_recorded_json_params():
    seeds = [3, 17]
    hr = _hr(2, seed=1)
    deg = RealESRGANDegradation("realesrgan")
    res = deg(hr, 4, seeds)
    recorded = json.loads(json.dumps(res.params))
    assert torch.equal(deg.apply(hr, recorded, 4).lr, res.lr)
    # sharing one image's parameters with another image works (and is what apply is for)
    shared = deg.apply(hr, [recorded[0], recorded[0]], 4).lr
    assert torch.equal(shared[0], res.lr[0])


def test_two_scales_share_parameters():
    seeds = _seeds_covering("realesrgan", 4)
    hr = _hr(len(seeds), seed=2)
    deg = RealESRGANDegradation("realesrgan")
    both = deg(hr, (4, 2), seeds)
    assert isinstance(both.lr, list) and [t.shape[-1] for t in both.lr] == [32, 64]
    assert both.params == deg(hr, 2, seeds).params
    # each scale equals a single-scale run with the same seeds: same stage 1, same draws
    assert torch.equal(both.lr[0], deg(hr, 4, seeds).lr)
    assert torch.equal(both.lr[1], deg(hr, 2, seeds).lr)
    # and the x2 LR is the less-downsampled view of the same corruption: its x2 average pool is
    # closer to the x4 LR than the x4 LR of another seed is
    pooled = torch.nn.functional.avg_pool2d(both.lr[1], 2)
    other = deg(hr, 4, [s + 10_001 for s in seeds]).lr
    assert (pooled - both.lr[0]).abs().mean() < (other - both.lr[0]).abs().mean()


def test_no_degradation_branch_is_bicubic_of_sharpened_gt():
    deg = RealESRGANDegradation("realesrgan-stablesr")
    hr = _hr(1, seed=3)
    p = deg.sample_params(5)
    p["no_degradation"] = True
    lr = deg.apply(hr, [p], 4).lr
    assert torch.equal(lr, quantize8(bicubic_resize(usm_sharpen(hr), size=(32, 32))))


def test_bad_inputs():
    deg = RealESRGANDegradation("realesrgan")
    hr = _hr(2)
    with pytest.raises(ValueError, match="HR size 130x128 is not divisible by scale 4"):
        deg(torch.zeros(1, 3, 130, 128), 4, [0])
    with pytest.raises(ValueError, match="seeds has 1 entries but the batch has 2 images"):
        deg(hr, 4, [0])
    with pytest.raises(ValueError, match="sequence of 2 integers"):
        deg(hr, 4, None)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        deg(hr[:, :1], 4, [0, 1])
    with pytest.raises(ValueError, match="positive integer"):
        deg(hr, 2.5, [0, 1])
    bad = hr.clone()
    bad[0, 0, 0, 0] = -0.5
    with pytest.raises(ValueError, match=r"hr must be in \[0, 1\], got values in \[-0.5, "):
        deg(bad, 4, [0, 1])
    with pytest.raises(ValueError, match="too small"):
        deg(torch.rand(1, 3, 24, 24), 4, [0])


def test_filter_and_usm_match_scipy_reference():
    """Per-sample correlation with reflect-101 borders == scipy.ndimage.correlate(mode='mirror')."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((3, 3, 40, 33))).float()
    specs = [
        {"type": "aniso", "size": 13, "sigma_x": 2.0, "sigma_y": 0.7, "theta": 0.9},
        {"type": "sinc", "size": 9, "omega_c": 1.3},
        None,
    ]
    k = np.stack([build_kernel(s) for s in specs])
    out = filter_per_sample(x, torch.from_numpy(k).float()).double().numpy()
    for i in range(3):
        for c in range(3):
            ref = ndimage.correlate(x[i, c].double().numpy(), k[i], mode="mirror")
            np.testing.assert_allclose(out[i, c], ref, atol=2e-6)
    assert np.array_equal(out[2], x[2].double().numpy())  # pulse kernel: exact identity
    # USM: 2-D 51x51 Gaussian (sigma 8, OpenCV's rule for ksize 51) as one full correlation
    img = x[:1, :, :, :].clone()
    img[..., 10:20, 5:25] += 0.3  # an edge the mask catches
    img = img.clamp(0, 1)
    t = np.arange(51) - 25
    g = np.exp(-(t**2) / (2 * USM_SIGMA**2))
    g2 = np.outer(g, g) / g.sum() ** 2
    ours = usm_sharpen(img.float())[0].double().numpy()
    for c in range(3):
        i0 = img[0, c].double().numpy()
        blur = ndimage.correlate(i0, g2, mode="mirror")
        mask = (np.abs(i0 - blur) * 255 > 10).astype(np.float64)
        soft = ndimage.correlate(mask, g2, mode="mirror")
        sharp = np.clip(i0 + 0.5 * (i0 - blur), 0, 1)
        np.testing.assert_allclose(ours[c], soft * sharp + (1 - soft) * i0, atol=2e-5)
    assert USM_SIGMA == pytest.approx(8.0)


def test_noise_statistics():
    x = torch.full((1, 3, 256, 256), 0.5)
    n = add_gaussian_noise(x, 10.0, gray=False, seed=1) - x
    assert n.std().item() == pytest.approx(10 / 255, rel=0.03)
    assert abs(n.mean().item()) < 1e-3
    assert not torch.equal(n[:, 0], n[:, 1])
    ng = add_gaussian_noise(x, 10.0, gray=True, seed=1) - x
    assert torch.equal(ng[:, 0], ng[:, 1]) and torch.equal(ng[:, 1], ng[:, 2])
    assert torch.equal(add_gaussian_noise(x, 10.0, False, 7), add_gaussian_noise(x, 10.0, False, 7))
    # Poisson: 256 distinct levels -> vals = 256; noise = scale * (Poisson(256 v) / 256 - v)
    img = torch.full((1, 3, 200, 256), 128 / 255)
    img[..., 0, :] = torch.arange(256) / 255  # one row holding every 8-bit level
    pn = (add_poisson_noise(img, 1.0, gray=False, seed=3) - img)[..., 1:, :]
    counts = (pn + 128 / 255) * 256  # Poisson draws: integers, mean and variance 256 * 128/255
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-3)
    assert counts.mean().item() == pytest.approx(256 * 128 / 255, abs=0.1)
    assert counts.var().item() == pytest.approx(256 * 128 / 255, rel=0.03)
    half = (add_poisson_noise(img, 0.5, gray=False, seed=3) - img)[..., 1:, :]
    torch.testing.assert_close(half, pn * 0.5, rtol=0, atol=1e-6)  # same field, scaled
    pg = add_poisson_noise(img, 1.0, gray=True, seed=3) - img
    assert torch.equal(pg[:, 0], pg[:, 2]) and not torch.equal(pn[:, 0], pn[:, 2])
    black = torch.zeros(1, 3, 16, 16)
    assert torch.equal(add_poisson_noise(black, 2.0, gray=False, seed=0), black)  # no photons, no noise


def test_jpeg_is_a_real_codec_roundtrip():
    x = _hr(1, size=64, seed=4)
    hi, lo = jpeg(x, 95), jpeg(x, 30)
    for y in (hi, lo):
        assert y.shape == x.shape
        torch.testing.assert_close(y * 255, (y * 255).round(), rtol=0, atol=1e-4)
    assert 0 < (hi - x).pow(2).mean() < (lo - x).pow(2).mean()
    assert torch.equal(jpeg(x, 57), jpeg(x, 57))


def test_degrade_dispatch():
    hr = _hr(2, size=64)
    b = degrade("bicubic", hr, 4)
    assert torch.equal(b.lr, quantize8(bicubic_resize(hr, scale=0.25)))
    assert b.params[0] == {"name": "bicubic", "scale": 4}
    a = degrade("avgpool", hr, (8, 4))
    assert [t.shape[-1] for t in a.lr] == [8, 16]
    assert torch.equal(a.lr[0], quantize8(torch.nn.functional.avg_pool2d(hr.double(), 8).float()))
    r = degrade("realesrgan", _hr(1), 4, [11])
    assert torch.equal(r.lr, RealESRGANDegradation("realesrgan")(_hr(1), 4, [11]).lr)
    with pytest.raises(UnknownNameError, match=r"Unknown degradation 'bicubc'. Did you mean: bicubic\?"):
        degrade("bicubc", hr, 4)
    with pytest.raises(ValueError, match="seeds must be"):
        degrade("realesrgan-stablesr", hr, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pipeline():
    seeds = _seeds_covering("realesrgan", 4)
    hr = _hr(len(seeds)).cuda()
    deg = RealESRGANDegradation("realesrgan")
    res = deg(hr, (4, 2), seeds)
    assert res.lr[0].device.type == "cuda" and res.lr[0].shape == (4, 3, 32, 32)
    assert res.params == deg(hr.cpu(), 4, seeds).params
    assert torch.equal(deg(hr, (4, 2), seeds).lr[0], res.lr[0])
    for i, s in enumerate(seeds):
        assert torch.equal(deg(hr[i : i + 1], 4, [s]).lr[0], res.lr[0][i])
    x = torch.rand(2, 3, 37, 29, device="cuda")
    torch.testing.assert_close(
        bicubic_resize(x, scale=0.25).cpu(), bicubic_resize(x.cpu(), scale=0.25), atol=1e-5, rtol=0
    )
