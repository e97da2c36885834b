"""Property-based checks (hypothesis): invariants that must hold for every input, not just
the ones a person thought of — crop boxes, metric axioms, degradation seeding, the
manifest digest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from yonos_bench.core.imageio import pixel_sha256
from yonos_bench.protocols.pair_rules import center_box, crop, derive_seed, modcrop, random_boxes, scale_box
from yonos_bench.protocols.pairs import compute_digest

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _inside(box, h, w) -> bool:
    top, left, bh, bw = box
    return top >= 0 and left >= 0 and top + bh <= h and left + bw <= w


# ------------------------------------------------------------------ crop boxes


@st.composite
def grids(draw):
    h = draw(st.integers(1, 120))
    w = draw(st.integers(1, 120))
    size = draw(st.integers(1, min(h, w)))
    return h, w, size


@FAST
@given(grids(), st.integers(1, 6), st.integers(0, 2**63 - 1), st.integers(1, 8))
def test_crop_boxes_inside_the_image_and_aligned_across_scales(grid, count, seed, scale):
    h, w, size = grid
    rng = np.random.default_rng(seed % 2**32)
    hr = rng.integers(0, 256, (h * scale, w * scale, 3), dtype=np.uint8)
    lr = hr[::scale, ::scale]  # LR pixel (i, j) is HR pixel (i*s, j*s): any misalignment shows
    boxes = random_boxes(h, w, size, count, seed)
    assert boxes == random_boxes(h, w, size, count, seed)  # a pure function of its arguments
    for box in [*boxes, center_box(h, w, size)]:
        assert box[2:] == (size, size) and _inside(box, h, w)
        hbox = scale_box(box, scale)
        assert _inside(hbox, h * scale, w * scale) and hbox[2:] == (size * scale, size * scale)
        np.testing.assert_array_equal(crop(lr, box), crop(hr, hbox)[::scale, ::scale])


@FAST
@given(st.integers(1, 90), st.integers(1, 90), st.integers(1, 8))
def test_modcrop_is_the_largest_top_left_multiple(h, w, scale):
    arr = np.zeros((h, w, 3), np.uint8)
    out = modcrop(arr, scale)
    assert out.shape == (h - h % scale, w - w % scale, 3)


@SLOW
@given(
    sizes=st.lists(st.tuples(st.integers(12, 40), st.integers(12, 40)), min_size=1, max_size=2),
    lr_size=st.integers(2, 6),
    per_image=st.integers(1, 3),
    seed=st.integers(0, 10**6),
)
def test_prepared_pairs_are_aligned_crops_of_the_source(
    rel, tmp_path_factory, sizes, lr_size, per_image, seed
):
    """Through the real prepare: every recorded HR box is the LR box x scale, inside the
    image, and the HR file holds exactly those source pixels."""
    from yonos_bench.core.imageio import read_rgb8
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_spec_file

    tmp = tmp_path_factory.mktemp("prop")
    root = tmp / "data"
    sources = {}
    for i, (h, w) in enumerate(sizes):
        sources[f"img{i}"] = rel.save(
            root / "synth" / "HR" / f"img{i}.png", rel.coord_image(h, w, i + seed % 7)
        )
    spec = rel.spec_dict(
        "prop",
        seed=seed,
        expected_pairs=len(sizes) * per_image,
        source={"count": len(sizes)},
        pairs={"rule": "random_patches", "lr_size": lr_size, "per_image": per_image},
    )
    pp = prepare(load_spec_file(rel.write_spec(tmp / "specs", spec)), root, progress=False)
    assert len(pp.pairs) == len(sizes) * per_image
    for p in pp.pairs:
        src = read_rgb8(sources[p.source])
        h2, w2 = (src.shape[0] // 2) * 2, (src.shape[1] // 2) * 2
        assert tuple(p.crop_box_hr) == scale_box(p.crop_box_lr, 2) and _inside(p.crop_box_hr, h2, w2)
        np.testing.assert_array_equal(read_rgb8(p.hr_path), crop(src, p.crop_box_hr))
        assert read_rgb8(p.lr_path).shape == (lr_size, lr_size, 3)


# ------------------------------------------------------------------ metrics


@pytest.fixture(scope="module")
def scorers(tmp_path_factory):
    from yonos_bench.metrics.backends import build_scorer
    from yonos_bench.metrics.presets import get_preset

    wdir = tmp_path_factory.mktemp("w")
    return {m: build_scorer(get_preset(m), "cpu", wdir) for m in ("psnr-y", "ssim-y")}


def _images(seed: int, h: int, w: int, n: int = 2) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(rng.integers(0, 256, (1, 3, h, w)).astype(np.float32) / 255.0) for _ in range(n)]


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(11, 40), st.integers(11, 40), st.floats(0.0, 1.0))
def test_psnr_symmetric_and_ssim_at_most_one(scorers, seed, h, w, mix):
    a, b = _images(seed, h, w)
    b = (mix * a + (1 - mix) * b).mul(255).round().div(255)  # anything from identical to unrelated
    psnr, ssim = scorers["psnr-y"], scorers["ssim-y"]
    assert float(psnr(a, b)) == float(psnr(b, a))
    assert float(psnr(a, a)) == 80.0  # the documented cap for identical images
    assert float(ssim(a, b)) <= 1.0 + 1e-6
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)


@st.composite
def feature_sets(draw):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(2, 64))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, d, scale, seed


def _features(n, d, scale, seed):
    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(size=(n, d))) * scale, np.abs(rng.normal(size=(n, d))) * scale


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@FAST
@example((3, 64, 10.0, 0))
@example((28, 44, 10.0, 169))  # clean-fid raised "Imaginary component 0.0058" here (found by hypothesis)
@given(feature_sets())
def test_fid_is_non_negative_and_zero_for_identical_sets(fs):
    from yonos_bench.metrics.fid import fid_from_features

    a, b = _features(*fs)
    assert fid_from_features(a, b) >= 0.0
    assert abs(fid_from_features(a, a)) <= 1e-6 * fs[2] ** 2


def test_fid_fallback_equals_clean_fid_where_clean_fid_succeeds():
    """The PSD fallback is the same quantity as clean-fid's frechet_distance (full-rank case)."""
    import numpy as np
    from cleanfid.fid import fid_from_feats

    from yonos_bench.metrics.fid import _frechet_psd

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 16)), rng.normal(0.3, 1.2, size=(150, 16))
    assert _frechet_psd(a, b) == pytest.approx(float(fid_from_feats(a, b)), rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------ degradations


@SLOW
@given(st.lists(st.integers(0, 2**62), min_size=2, max_size=2, unique=True), st.integers(0, 2**32 - 1))
def test_random_degradation_depends_only_on_each_image_and_its_seed(seeds, data_seed):
    from yonos_bench.degradations import degrade

    g = torch.Generator().manual_seed(data_seed)
    hr = torch.rand(2, 3, 96, 96, generator=g)
    both = degrade("realesrgan", hr, 4, seeds)
    again = degrade("realesrgan", hr, 4, seeds)
    alone = degrade("realesrgan", hr[1:], 4, seeds[1:])  # without its batch neighbour
    assert torch.equal(both.lr, again.lr) and both.params == again.params
    assert torch.equal(both.lr[1:], alone.lr) and both.params[1] == alone.params[0]
    assert both.lr.shape == (2, 3, 24, 24)


# ------------------------------------------------------------------ manifest digest

_hex = st.text("0123456789abcdef", min_size=64, max_size=64)
_pair = st.tuples(st.text("abcdefghij_0123456789", min_size=1, max_size=8), _hex, st.one_of(st.none(), _hex))


def _records(pairs, extra: int = 0):
    return [
        {
            "id": i,
            "lr_pixels_sha256": lr,
            "hr_pixels_sha256": hr,
            "lr_sha256": f"{extra}",
            "crop_box_lr": [extra],
        }
        for i, lr, hr in pairs
    ]


@FAST
@given(st.lists(_pair, min_size=1, max_size=6), st.lists(_pair, min_size=1, max_size=6), st.integers(0, 9))
def test_manifest_digest_changes_iff_a_pair_changes(a, b, extra):
    """Equal iff same ids and pixel hashes in the same order; file hashes and crop records
    (which follow from the pixels) do not enter it."""
    da = compute_digest("p", 1, 4, _records(a))
    assert da == compute_digest("p", 1, 4, _records(a, extra))
    assert (da == compute_digest("p", 1, 4, _records(b))) == (a == b)
    assert da != compute_digest("p", 2, 4, _records(a)) and da != compute_digest("p", 1, 2, _records(a))


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 12))
def test_pixel_digest_changes_iff_a_pixel_changes(seed, h, w):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    other = arr.copy()
    y, x, c = rng.integers(h), rng.integers(w), rng.integers(3)
    other[y, x, c] ^= 1 + rng.integers(255)
    assert pixel_sha256(arr) == pixel_sha256(arr.copy()) != pixel_sha256(other)
    if h != w:
        assert pixel_sha256(arr) != pixel_sha256(arr.reshape(w, h, 3))  # the shape is part of it


def test_derived_seeds_differ_per_image_and_patch():
    seeds = {derive_seed(0, f"img{i}", k) for i in range(50) for k in range(5)}
    assert len(seeds) == 250 and all(0 <= s < 2**63 for s in seeds)
