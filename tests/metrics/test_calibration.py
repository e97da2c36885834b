"""Golden calibration (pyiqa's own method): our presets on pyiqa's 5 calibration pairs
(``ResultsCalibra`` from its source archive) against the official values in
``results_official.csv``. Tolerances and the reasons: docs/CALIBRATION.md.

Offline after ``make test``'s asset step (``offline_weights`` fixture); never skipped there.
"""

from __future__ import annotations

import numpy as np
import pytest

from yonos_bench.metrics.calibration import (  # tolerances and why: docs/CALIBRATION.md
    IMAGES,
    NIQE_VS_MATLAB,
    NIQE_VS_PYIQA,
    SSIM_OFFICIAL_CONVENTION,
    TOLERANCE,
    calibration_dir,
    read_official,
    score_official,
)


@pytest.fixture(scope="module")
def scored(offline_weights):
    ev = score_official(["psnr-rgb", "psnr-y", "ssim-y", "niqe"], offline_weights, n_boot=10)
    assert not ev.unavailable, ev.unavailable
    return ev, read_official(offline_weights), read_official(offline_weights, "calibration_summary.csv")


def test_calibration_files_are_the_pinned_ones(offline_weights):
    root = calibration_dir(offline_weights)
    assert sorted(p.stem for p in (root / "ref_dir").glob("*.bmp")) == list(IMAGES)
    assert sorted(p.stem for p in (root / "dist_dir").glob("*.bmp")) == list(IMAGES)


@pytest.mark.parametrize("metric_id", sorted(TOLERANCE))
def test_preset_matches_official(scored, metric_id):
    ev, official, _ = scored
    method, tol = TOLERANCE[metric_id]
    ours = np.array(ev.per_image[metric_id])
    ref = np.array([official[method][i] for i in IMAGES])
    assert np.abs(ours - ref).max() <= tol, (metric_id, ours, ref)


def test_niqe_close_to_matlab_and_equal_to_pyiqa_own(scored):
    ev, official, summary = scored
    ours = np.array(ev.per_image["niqe"])
    matlab = np.array([official["niqe"][i] for i in IMAGES])
    pyiqa_own = np.array([summary["niqe(ours)"][i] for i in IMAGES])
    assert np.abs(ours - matlab).max() <= NIQE_VS_MATLAB, (ours, matlab)
    assert np.abs(ours - pyiqa_own).max() <= NIQE_VS_PYIQA, (ours, pyiqa_own)
    # same ranking of the five images as MATLAB's
    assert list(np.argsort(ours)) == list(np.argsort(matlab))


def test_niqe_params_give_what_pyiqa_gives_with_its_own_loader(offline_weights, tmp_path):
    """Our NIQE = pyiqa's create_metric('niqe') given the same parameters as its .mat file:
    only the loading of the pristine model is ours."""
    import scipy.io
    import torch

    from yonos_bench.core.imageio import read_rgb8
    from yonos_bench.core.weights import configure_backends
    from yonos_bench.metrics.backends import build_scorer
    from yonos_bench.metrics.presets import NIQE_PARAMS, get_preset

    with np.load(NIQE_PARAMS.path(offline_weights)) as z:
        mat = tmp_path / "params.mat"
        scipy.io.savemat(mat, {"mu_prisparam": z["mu_pris_param"], "cov_prisparam": z["cov_pris_param"]})
    configure_backends(offline_weights)
    import pyiqa

    theirs = pyiqa.create_metric("niqe", device=torch.device("cpu"), pretrained_model_path=str(mat))
    ours = build_scorer(get_preset("niqe"), "cpu", offline_weights)
    img = read_rgb8(calibration_dir(offline_weights) / "dist_dir" / "I19.bmp")
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        assert float(ours(x)) == pytest.approx(float(theirs(x)), abs=1e-5)


def test_ssim_backend_in_official_convention_matches_official(offline_weights):
    """ssim-y (BT.601 YCbCr Y, no downsampling: the SR convention) is not what the official
    column measures; the same backend builder with pyiqa's default `ssim` (official convention)
    must reproduce it."""
    from yonos_bench.metrics.backends import build_scorer
    from yonos_bench.metrics.presets import MetricPreset

    preset = MetricPreset("ssim-official", "fr", False, "pyiqa", {"metric_name": "ssim"})
    ev = score_official(["psnr-y"], offline_weights, backends={"psnr-y": build_scorer(preset, "cpu", offline_weights)}, n_boot=10)
    ours = np.array(ev.per_image["psnr-y"])
    ref = np.array([read_official(offline_weights)["ssim"][i] for i in IMAGES])
    assert np.abs(ours - ref).max() <= SSIM_OFFICIAL_CONVENTION, (ours, ref)


def test_y_channel_presets_see_colour_only_distortions_as_small(scored):
    """I04 / I06 are colour distortions: the Y-channel presets score them near-identical while
    RGB PSNR sees ~21-27 dB (shows which channel each preset measures)."""
    ev, _, _ = scored
    y = dict(zip(IMAGES, ev.per_image["psnr-y"], strict=True))
    rgb = dict(zip(IMAGES, ev.per_image["psnr-rgb"], strict=True))
    s = dict(zip(IMAGES, ev.per_image["ssim-y"], strict=True))
    for i in ("I04", "I06"):
        assert y[i] > 50 and rgb[i] < 30 and s[i] > 0.999


def test_fid_kid_on_calibration_sets(offline_weights, tmp_path):
    """No official FID/KID exists for 5 images (FID(X, X) = 0 and the blur ordering are tested
    on real photos in test_fid_inception.py); here: the distorted set is farther from the
    references than the references are from themselves. (KID's unbiased estimator is negative
    for a set against itself at this n: -(2/m²)·Σ k(x_i, x_i) is not cancelled.)"""
    from yonos_bench.metrics.features import FeatureCache
    from yonos_bench.metrics.fid import fid_from_features, kid_from_features

    cache = FeatureCache(tmp_path, "calibration", sr_file=tmp_path / "sr.npz")
    ev = score_official(["fid-clean", "kid-clean"], offline_weights, feature_cache=cache, n_boot=10)
    with np.load(ev.feature_files["hr"]) as z:
        hr = z["feats"]
    kid_self = kid_from_features(hr, hr)
    assert fid_from_features(hr, hr) == pytest.approx(0.0, abs=1e-6)
    assert ev.summary["fid-clean"].mean > 1.0 and ev.summary["kid-clean"].mean > kid_self
