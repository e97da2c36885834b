"""Calibration of psnr-y / ssim-y against references written here from the published
formulas (not against pyiqa): BT.601 Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 on
8-bit RGB; PSNR on the float Y; SSIM (Wang et al. 2004) with the 11x11 Gaussian window,
sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, on the Y rounded to integers
(MATLAB's rgb2ycbcr for uint8 input)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d

from yonos_bench.core.imageio import read_rgb8
from yonos_bench.metrics.engine import evaluate
from yonos_bench.metrics.presets import PSNR_CAP_DB


def y_bt601(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float64)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def psnr_ref(a: np.ndarray, b: np.ndarray, crop: int = 0) -> float:
    ya, yb = y_bt601(a) / 255.0, y_bt601(b) / 255.0
    if crop:
        ya, yb = ya[crop:-crop, crop:-crop], yb[crop:-crop, crop:-crop]
    return float(10.0 * np.log10(1.0 / np.mean((ya - yb) ** 2)))


def ssim_ref(a: np.ndarray, b: np.ndarray, crop: int = 0) -> float:
    ya, yb = np.round(y_bt601(a)), np.round(y_bt601(b))
    if crop:
        ya, yb = ya[crop:-crop, crop:-crop], yb[crop:-crop, crop:-crop]
    ax = np.arange(11) - 5.0
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def filt(z):
        return convolve2d(z, w, mode="valid")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m1, m2 = filt(ya), filt(yb)
    s1, s2, s12 = filt(ya * ya) - m1**2, filt(yb * yb) - m2**2, filt(ya * yb) - m1 * m2
    return float((((2 * m1 * m2 + c1) * (2 * s12 + c2)) / ((m1**2 + m2**2 + c1) * (s1 + s2 + c2))).mean())


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, make_pairs):
    return make_pairs(tmp_path_factory.mktemp("pairs"), n=6, size=96)


def test_psnr_y_and_ssim_y_match_the_published_formulas(pairs):
    sr, hr = pairs
    ev = evaluate(sr, hr, ["psnr-y", "ssim-y", "psnr-y-crop4", "ssim-y-crop4"], batch_size=4, n_boot=200)
    assert ev.unavailable == {}
    for i, (s, h) in enumerate(zip(sr, hr, strict=True)):
        a, b = read_rgb8(s), read_rgb8(h)
        assert 25.0 < psnr_ref(a, b) < 40.0  # a real degradation, not a trivial pair
        assert ev.per_image["psnr-y"][i] == pytest.approx(psnr_ref(a, b), abs=1e-3)
        assert ev.per_image["ssim-y"][i] == pytest.approx(ssim_ref(a, b), abs=1e-5)
        assert ev.per_image["psnr-y-crop4"][i] == pytest.approx(psnr_ref(a, b, 4), abs=1e-3)
        assert ev.per_image["ssim-y-crop4"][i] == pytest.approx(ssim_ref(a, b, 4), abs=1e-5)
    means = np.mean([psnr_ref(read_rgb8(s), read_rgb8(h)) for s, h in zip(sr, hr, strict=True)])
    assert ev.summary["psnr-y"].mean == pytest.approx(means, abs=1e-3)


def test_conventions_differ_so_ids_matter(pairs):
    """psnr-rgb and the crop variants give different numbers than psnr-y (the trap the IDs
    exist for); psnr-rgb matches the RGB formula."""
    sr, hr = pairs
    ev = evaluate(sr[:2], hr[:2], ["psnr-y", "psnr-rgb"], n_boot=50)
    a, b = read_rgb8(sr[0]).astype(np.float64) / 255, read_rgb8(hr[0]).astype(np.float64) / 255
    rgb = 10 * np.log10(1 / np.mean((a - b) ** 2))
    assert ev.per_image["psnr-rgb"][0] == pytest.approx(rgb, abs=1e-3)
    assert abs(ev.per_image["psnr-rgb"][0] - ev.per_image["psnr-y"][0]) > 0.1


def test_identical_images_hit_the_documented_psnr_cap(pairs):
    _, hr = pairs
    ev = evaluate(hr[:3], hr[:3], ["psnr-y", "ssim-y"], n_boot=50)
    assert ev.per_image["psnr-y"] == pytest.approx([PSNR_CAP_DB] * 3, abs=1e-6)
    assert ev.summary["psnr-y"].n_capped == 3
    assert "3 identical pairs at the 80 dB cap" in ev.summary["psnr-y"].note
    assert ev.per_image["ssim-y"] == pytest.approx([1.0] * 3, abs=1e-6)
    assert ev.summary["ssim-y"].n_capped == 0
