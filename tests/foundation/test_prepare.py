"""Pair preparation on synthetic images in temp data roots: each rule, alignment on pixels,
determinism, idempotency, atomicity, and every bad-input case of the issue."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from yonos_bench.core.errors import ImageError
from yonos_bench.core.imageio import read_rgb8, sha256_file
from yonos_bench.protocols.pairs import compute_digest, prepare

CONTRACT_PAIR_KEYS = {
    "id", "lr", "hr", "source", "crop_box_hr", "crop_box_lr", "seed", "degradation",
    "lr_sha256", "hr_sha256", "lr_pixels_sha256", "hr_pixels_sha256",
}  # fmt: skip


def _src(root, *parts):
    return read_rgb8(root.joinpath("synth", *parts))


def test_random_patches_align_pixel_exactly(paired_root, write_spec, synth):
    root = paired_root()
    spec = write_spec(synth.base_spec("rp"))
    pp = prepare(spec, root, progress=False)
    assert pp.action == "prepared" and len(pp.pairs) == 6
    assert pp.path == root / "prepared" / "rp-v1"
    for pair in pp.pairs:
        lr, hr = read_rgb8(pair.lr_path), read_rgb8(pair.hr_path)
        assert lr.shape == (8, 8, 3) and hr.shape == (32, 32, 3)
        top, left, h, w = pair.crop_box_lr
        assert pair.crop_box_hr == (4 * top, 4 * left, 4 * h, 4 * w)  # HR box = LR box x scale
        i = int(pair.source[3:])
        src_lr = _src(root, "LR", f"img{i}x4.png")
        src_hr = _src(root, "HR", f"img{i}.png")
        np.testing.assert_array_equal(lr, src_lr[top : top + h, left : left + w])
        np.testing.assert_array_equal(hr, src_hr[4 * top : 4 * top + 32, 4 * left : 4 * left + 32])
        np.testing.assert_array_equal(lr, hr[::4, ::4])  # the coordinate image lines up exactly
    assert [p.id for p in pp.pairs] == [
        "img0_p00",
        "img0_p01",
        "img0_p02",
        "img1_p00",
        "img1_p01",
        "img1_p02",
    ]
    manifest = json.loads(pp.manifest_path.read_text())
    assert {"protocol", "version", "scale", "seed", "spec_sha256", "digest", "pairs"} <= set(manifest)
    assert all(set(r) == CONTRACT_PAIR_KEYS for r in manifest["pairs"])
    assert manifest["digest"] == pp.digest == compute_digest("rp", 1, 4, manifest["pairs"])
    for r in manifest["pairs"]:
        assert sha256_file(pp.path / r["lr"]) == r["lr_sha256"]


def test_center_crop_geometry_nested_layout(tmp_path, write_spec, synth):
    root = tmp_path / "data"
    sizes = {"Canon/Test/4/Canon_001": (150, 170), "Nikon/Test/4/Nikon_001": (140, 141)}
    for stem, (h, w) in sizes.items():
        hr = synth.coord_image(4 * h, 4 * w)
        synth.save(root / "rs" / f"{stem}_HR.png", hr)
        synth.save(root / "rs" / f"{stem}_LR4.png", np.ascontiguousarray(hr[::4, ::4]))
    spec = write_spec(
        synth.base_spec(
            "cc",
            expected_pairs=2,
            source={
                "dataset": "synthetic RealSR-like",
                "url": "https://example.org/rs",
                "root": "rs",
                "hr": "*/Test/4/*_HR.png",
                "lr": "*/Test/4/*_LR4.png",
                "hr_suffix": "_HR",
                "lr_suffix": "_LR4",
                "count": 2,
            },
            pairs={"rule": "center_crop", "lr_size": 128},
        )
    )
    pp = prepare(spec, root, progress=False)
    boxes = {p.source: p.crop_box_lr for p in pp.pairs}
    assert boxes == {"Canon_001": (11, 21, 128, 128), "Nikon_001": (6, 6, 128, 128)}
    for p in pp.pairs:
        top, left, _, _ = p.crop_box_lr
        hr = read_rgb8(p.hr_path)
        assert hr.shape == (512, 512, 3) and p.crop_box_hr == (4 * top, 4 * left, 512, 512)
        np.testing.assert_array_equal(
            hr[0, 0], [(4 * top) % 256, (4 * left) % 256, (4 * top // 256) * 16 + 4 * left // 256]
        )
        np.testing.assert_array_equal(read_rgb8(p.lr_path), hr[::4, ::4])


def test_subset_sorted_every_10th_with_avgpool_whole(tmp_path, write_spec, synth):
    root = tmp_path / "data"
    rng = np.random.default_rng(1)
    for i in range(30):  # ImageFolder layout: sorted by relative path across class folders
        synth.save(
            root / "inet" / f"n{i % 3:02d}" / f"val_{i:03d}.png", rng.integers(0, 256, (20, 24, 3), np.uint8)
        )
    spec = write_spec(
        synth.base_spec(
            "sub",
            scale=8,
            expected_pairs=3,
            source={
                "dataset": "synthetic",
                "url": "https://example.org",
                "root": "inet",
                "hr": "*/*.png",
                "count": 30,
            },
            pairs={
                "rule": "whole",
                "lr_from": "degrade",
                "degradation": "avgpool",
                "hr_resize": {"method": "adm-center-crop", "size": 16},
                "subset": {"every": 10},
            },
        )
    )
    pp = prepare(spec, root, progress=False)
    ordered = sorted(p.relative_to(root / "inet").as_posix() for p in (root / "inet").glob("*/*.png"))
    assert [p.source for p in pp.pairs] == [ordered[i].split("/")[1][:-4] for i in (0, 10, 20)]
    for p in pp.pairs:
        hr, lr = read_rgb8(p.hr_path).astype(np.int64), read_rgb8(p.lr_path)
        assert hr.shape == (16, 16, 3) and lr.shape == (2, 2, 3)
        s = hr.reshape(2, 8, 2, 8, 3).sum(axis=(1, 3))
        np.testing.assert_array_equal(lr, (2 * s + 64) // 128)  # 8x8 mean, rounded half up
        assert p.degradation["name"] == "avgpool" and p.degradation["hr_resize"]["size"] == 16


def test_lr_only_center_crop(tmp_path, write_spec, synth):
    root = tmp_path / "data"
    for i in range(3):
        synth.save(root / "dp" / f"ph{i}.jpg", synth.coord_image(40 + i, 50))
    spec = write_spec(
        synth.base_spec(
            "lro",
            lr_only=True,
            expected_pairs=3,
            source={
                "dataset": "synthetic",
                "url": "https://example.org",
                "root": "dp",
                "lr": "*.jpg",
                "count": 3,
            },
            pairs={"rule": "center_crop", "lr_size": 32},
        )
    )
    pp = prepare(spec, root, progress=False)
    assert all(p.hr_path is None and p.crop_box_hr is None for p in pp.pairs)
    assert not (pp.path / "hr").exists()
    assert [p.crop_box_lr for p in pp.pairs] == [(4, 9, 32, 32), (4, 9, 32, 32), (5, 9, 32, 32)]


def test_given_pairs_and_size_mismatch(tmp_path, write_spec, synth):
    root = tmp_path / "data"
    for i in range(2):
        hr = synth.coord_image(32, 32, salt=i)
        synth.save(root / "g" / "test_HR" / f"{i:04d}.png", hr)
        synth.save(root / "g" / "test_LR" / f"{i:04d}.png", np.ascontiguousarray(hr[::4, ::4]))
    src = {
        "dataset": "synthetic",
        "url": "https://example.org",
        "root": "g",
        "hr": "test_HR/*.png",
        "lr": "test_LR/*.png",
        "count": 2,
    }
    spec = write_spec(synth.base_spec("given", expected_pairs=2, source=src, pairs={"rule": "given"}))
    pp = prepare(spec, root, progress=False)
    assert [p.id for p in pp.pairs] == ["0000", "0001"] and pp.pairs[0].crop_box_lr is None
    np.testing.assert_array_equal(read_rgb8(pp.pairs[1].hr_path), synth.coord_image(32, 32, salt=1))
    synth.save(root / "g" / "test_HR" / "0001.png", synth.coord_image(36, 32))
    assert prepare(spec, root, progress=False).action == "verified"  # sources are not re-read
    import shutil

    shutil.rmtree(pp.path)
    with pytest.raises(
        ImageError,
        match=r"HR \S+0001.png is 32x36 and LR \S+0001.png is 8x8; the rule 'given' needs the HR size to be exactly 4 x the LR size \(32x32\)",
    ):
        prepare(spec, root, progress=False)


def test_realesrgan_regeneration_per_crop_seeds(tmp_path, write_spec, synth):
    rng = np.random.default_rng(0)
    for i in range(2):
        synth.save(tmp_path / "a" / "rg" / "HR" / f"im{i}.png", rng.integers(0, 256, (100, 90, 3), np.uint8))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    spec = write_spec(
        synth.base_spec(
            "regen",
            expected_pairs=4,
            source={
                "dataset": "synthetic",
                "url": "https://example.org",
                "root": "rg",
                "hr": "HR/*.png",
                "count": 2,
            },
            pairs={
                "rule": "random_patches",
                "lr_from": "degrade",
                "degradation": "realesrgan",
                "lr_size": 16,
                "per_image": 2,
            },
        )
    )
    a = prepare(spec, tmp_path / "a", progress=False)
    b = prepare(spec, tmp_path / "b", progress=False)
    assert a.digest == b.digest
    for p in a.pairs:
        top, left, h, w = p.crop_box_lr
        assert p.crop_box_hr == (4 * top, 4 * left, 64, 64)
        assert read_rgb8(p.lr_path).shape == (16, 16, 3) and read_rgb8(p.hr_path).shape == (64, 64, 3)
        assert p.degradation["name"] == "realesrgan" and p.degradation["applied_to"] == "HR crop"
        assert isinstance(p.degradation["params"], dict)  # the sampled parameters, recorded
    assert len({p.seed for p in a.pairs}) == 4
    assert len({p.lr_pixels_sha256 for p in a.pairs}) == 4
