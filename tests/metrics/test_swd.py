"""``swd`` (metrics/swd.py): against an independent implementation of the pre-registered
definition (SciPy's ``ndimage.convolve`` pyramid, explicit patch loops, per-direction
``scipy.stats.wasserstein_distance``), a closed form, its ordering on real photo crops,
determinism, errors, and the engine path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter
from scipy import ndimage, stats

from yonos_bench.core.errors import ImageError, YonosError
from yonos_bench.core.imageio import write_png
from yonos_bench.metrics.swd import (
    SWDConfig,
    SWDError,
    directions,
    image_descriptors,
    patch_corners,
    sliced_wasserstein,
    swd,
)

SMALL = SWDConfig(patches_per_level=16, dir_repeats=2, dirs_per_repeat=8)  # reference test size


def _crops(n: int, size: int = 128, seed: int = 0) -> list[np.ndarray]:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        img = photos[k % len(photos)]
        top, left = int(rng.integers(0, img.shape[0] - size)), int(rng.integers(0, img.shape[1] - size))
        out.append(np.ascontiguousarray(img[top : top + size, left : left + size, :3]))
    return out


def _blur(imgs, radius):
    return [np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(radius))) for x in imgs]


def _noise(imgs, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return [np.clip(np.round(x + rng.normal(0, sigma, x.shape)), 0, 255).astype(np.uint8) for x in imgs]


# ------------------------------------------------------------------ independent reference

_K1 = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
_K2 = np.outer(_K1, _K1) / 256.0  # the 5x5 Gaussian, applied as one 2-D convolution


def _ref_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """(H, W, 3) float → Laplacian levels (H_k, W_k, 3), by scipy.ndimage per channel."""

    def conv(x, k):
        return np.stack([ndimage.convolve(x[:, :, c], k, mode="mirror") for c in range(3)], axis=2)

    g = [img.astype(np.float64)]
    for _ in range(levels - 1):
        g.append(conv(g[-1], _K2)[::2, ::2])
    lap = []
    for k in range(levels - 1):
        z = np.zeros((2 * g[k + 1].shape[0], 2 * g[k + 1].shape[1], 3))
        z[::2, ::2] = g[k + 1]
        lap.append(g[k] - conv(z, 4 * _K2)[: g[k].shape[0], : g[k].shape[1]])
    return [*lap, g[-1]]


def _ref_descriptors(imgs, cfg):
    """Per level, (n·P, 3, p, p) patches cut in Python loops at the module's corners."""
    per_level = [[] for _ in range(cfg.levels)]
    for i, img in enumerate(imgs):
        pyr = _ref_pyramid(img, cfg.levels)
        corners = patch_corners(i, [lv.shape[:2] for lv in pyr], cfg)
        for lv, level in enumerate(pyr):
            for r, c in corners[lv]:
                patch = level[r : r + cfg.patch_size, c : c + cfg.patch_size, :]
                per_level[lv].append(patch.transpose(2, 0, 1))
    return [np.array(x) for x in per_level]


def _ref_swd(a_imgs, b_imgs, cfg) -> list[float]:
    out = []
    for lv, (a, b) in enumerate(
        zip(_ref_descriptors(a_imgs, cfg), _ref_descriptors(b_imgs, cfg), strict=True)
    ):
        both = np.concatenate([a, b])
        for c in range(3):  # pooled per-channel statistics
            m, s = both[:, c].mean(), both[:, c].std()
            a[:, c], b[:, c] = (a[:, c] - m) / s, (b[:, c] - m) / s
        a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        dirs = directions(lv, a.shape[1], cfg)
        w = [
            stats.wasserstein_distance(a @ dirs[r, :, j], b @ dirs[r, :, j])
            for r in range(dirs.shape[0])
            for j in range(dirs.shape[2])
        ]
        out.append(1000.0 * float(np.mean(w)))
    return out


def test_equals_an_independent_scipy_implementation():
    hr = _crops(3)
    sr = _blur(hr, 1.0)
    sr[1] = _noise([hr[1]], 6.0)[0]
    got = swd(sr, hr, SMALL)
    want = _ref_swd(sr, hr, SMALL)
    assert got.level_names == ("1/1", "1/2", "1/4", "1/8")
    np.testing.assert_allclose(got.per_level, want, rtol=1e-6)
    assert got.mean == pytest.approx(np.mean(want), rel=1e-6) and min(want) > 0


def test_pyramid_levels_and_descriptors_match_the_reference():
    img = _crops(1, size=136)[0][:, :131]  # odd width: the upsampled level is cropped back
    cfg = SWDConfig(patches_per_level=5)
    d = image_descriptors([img], [0], cfg)
    ref = _ref_descriptors([img], cfg)
    for lv in range(cfg.levels):
        np.testing.assert_allclose(d[0, lv], ref[lv].reshape(5, -1), rtol=1e-6, atol=1e-4)


def test_sliced_wasserstein_closed_form_for_a_scaled_set():
    """Sorting commutes with x ↦ s·x (s > 0), so W1(Pa, s·Pa) = |1 - s|·mean|Pa| exactly per
    direction; for Gaussian descriptors that tends to |1 - s|·√(2/π)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((20000, 12))
    dirs = directions(0, 12, SMALL)
    exact = np.mean([np.abs(a @ dirs[r, :, j]).mean() for r in range(2) for j in range(8)])
    assert sliced_wasserstein(a, 1.5 * a, dirs) == pytest.approx(0.5 * exact, rel=1e-12)
    assert sliced_wasserstein(a, 1.5 * a, dirs) == pytest.approx(0.5 * np.sqrt(2 / np.pi), rel=0.02)


# ------------------------------------------------------------------ behaviour


def test_identical_sets_give_zero_and_blur_is_farther_than_light_noise():
    hr = _crops(6)
    assert swd(hr, hr).per_level == (0.0, 0.0, 0.0, 0.0)
    noisy = swd(_noise(hr, 2.0), hr).mean
    blurred = [swd(_blur(hr, r), hr).mean for r in (0.5, 1.0, 2.0)]
    assert 0 < noisy < blurred[0] < blurred[1] < blurred[2], (noisy, blurred)


def test_deterministic_and_independent_of_batching():
    hr, sr = _crops(4), _blur(_crops(4), 1.0)
    first, second = swd(sr, hr), swd(sr, hr)
    assert first == second
    whole = image_descriptors(sr, [0, 1, 2, 3], SWDConfig())
    one_by_one = np.concatenate([image_descriptors([sr[i]], [i], SWDConfig()) for i in range(4)])
    assert np.array_equal(whole, one_by_one)
    assert swd(sr, hr, SWDConfig(seed=1)) != first  # the seed is what fixes positions and directions


def test_errors_name_the_culprit():
    ok = _crops(2)
    small = [ok[0], np.zeros((128, 100, 3), np.uint8)]
    with pytest.raises(SWDError, match=r"SR image 1 is 100x128.*at least 128 px"):
        swd(small, ok)
    with pytest.raises(SWDError, match="the SR set is empty"):
        swd([], ok)
    with pytest.raises(SWDError, match="the SR and HR sets are empty"):
        swd([], [])
    with pytest.raises(SWDError, match="equal size: 2 SR vs 1 HR"):
        swd(ok, ok[:1])
    with pytest.raises(SWDError, match=r"HR image 0 has shape \(128, 128\)"):
        swd(ok[:1], [ok[0][:, :, 0]])


# ------------------------------------------------------------------ engine


def _folders(tmp_path, sr_imgs, hr_imgs):
    paths = {"sr": [], "hr": []}
    for side, imgs in (("sr", sr_imgs), ("hr", hr_imgs)):
        (tmp_path / side).mkdir()
        for i, img in enumerate(imgs):
            paths[side].append(tmp_path / side / f"p{i:02d}.png")
            write_png(paths[side][-1], img)
    return paths["sr"], paths["hr"]


def test_engine_value_equals_the_function_and_sharding_does_not_change_it(tmp_path):
    from yonos_bench.metrics.engine import evaluate, score_pairs

    hr = _crops(5)
    sr = _blur(hr, 1.0)
    sr_p, hr_p = _folders(tmp_path, sr, hr)
    ev = evaluate(sr_p, hr_p, ["swd"], batch_size=2, weights_dir=tmp_path / "w")
    want = swd(sr, hr)
    s = ev.summary["swd"]
    assert s.mean == pytest.approx(want.mean, rel=1e-12) and s.components == want.components()
    assert s.kind == "set" and s.lower_better and s.n == 5 and ev.backend_versions["swd"] == "swd-v1"
    assert ev.preset_args["swd"]["patches_per_level"] == 128
    shards = [score_pairs(sr_p, hr_p, ["swd"], shard=(r, 2), weights_dir=tmp_path / "w") for r in (0, 1)]
    shards[0].merge(shards[1])
    assert shards[0].compute().summary["swd"].mean == s.mean


def test_engine_too_small_image_names_file_and_metric(tmp_path):
    from yonos_bench.metrics.engine import evaluate

    imgs = [np.zeros((96, 96, 3), np.uint8)] * 2
    sr_p, hr_p = _folders(tmp_path, imgs, imgs)
    with pytest.raises(
        ImageError, match=r"p00\.png is 96x96.*swd \(a 4-level pyramid down to 16 px\) needs at least 128"
    ):
        evaluate(sr_p, hr_p, ["swd"], weights_dir=tmp_path / "w")
    ev = evaluate(sr_p, None, ["swd", "niqe"], weights_dir=tmp_path / "w")  # no HR: unavailable, said why
    assert "swd" in ev.unavailable and "HR" in ev.unavailable["swd"]


def test_run_cli_with_limit_records_levels_and_rescoring(tmp_path):
    """`yonos-bench run sample -m bicubic --metrics swd --limit 6` through CliRunner (`sample`:
    the same photos and 128² HR crops as `sample-dist-x4`, which takes 5x longer to prepare):
    result.json holds the mean and the four levels, equal to swd() of the cell's own images; a
    second run is served from the cache; a stored swd of another implementation is recomputed."""
    import json

    from typer.testing import CliRunner

    from yonos_bench.cli import app
    from yonos_bench.core.imageio import read_rgb8

    runner = CliRunner()
    cmd = ["run", "sample", "-m", "bicubic", "--metrics", "swd", "--limit", "6", "--device", "cpu",
           "--data-root", str(tmp_path / "data"), "--results", str(tmp_path / "res"),
           "--weights-dir", str(tmp_path / "w")]  # fmt: skip
    res = runner.invoke(app, cmd)
    assert res.exit_code == 0, res.output
    (path,) = (tmp_path / "res").rglob("result.json")
    data = json.loads(path.read_text())
    m = data["metrics"]["swd"]
    assert set(m["components"]) == {"1/1", "1/2", "1/4", "1/8"}
    assert m["mean"] == pytest.approx(np.mean(list(m["components"].values())), rel=1e-12)
    assert m["n"] == 6 and m["lower_better"] and m["preset"]["impl"] == "swd-v1"
    ids = list(data["sr_images"])  # the pairs in protocol order
    sr = [read_rgb8(path.parent / "sr" / f"{i}.png") for i in ids]
    hr = [read_rgb8(tmp_path / "data" / "prepared" / "sample-v1" / "hr" / f"{i}.png") for i in ids]
    assert m["mean"] == pytest.approx(swd(sr, hr).mean, rel=1e-12)
    again = runner.invoke(app, cmd)
    assert again.exit_code == 0 and "cached" in again.output
    data["metrics"]["swd"]["preset"]["impl"] = "swd-v0"
    path.write_text(json.dumps(data))
    third = runner.invoke(app, cmd)
    assert third.exit_code == 0 and "rescored" in third.output, third.output
    assert json.loads(path.read_text())["metrics"]["swd"]["preset"]["impl"] == "swd-v1"


def test_metric_listed_without_weights_and_in_the_distribution_protocols():
    from yonos_bench.metrics.presets import get_preset
    from yonos_bench.protocols.spec import load_protocol

    p = get_preset("swd")
    assert p.weights == () and p.kind == "set" and p.backend == "swd"
    assert all("swd" in load_protocol(name).metrics for name in ("sample-dist-x4", "sample-dist-x8"))
    with pytest.raises(YonosError):
        get_preset("swdd")
