"""Protocols as the field runs them (issue 16): each real folder layout built in a temp data
root (StableSR's released crops, FFHQ's first 1k, a pinned ImageNet list), source errors
that name the culprit, a separate prepared root for read-only data, umask-honouring folders
and MATLAB ceil-sized x8 LR."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import pathlib
import shutil
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.errors import DataMissingError, FileWriteError, ImageError
from yonos_bench.core.imageio import read_rgb8
from yonos_bench.protocols.pairs import prepare, prepared_digest
from yonos_bench.protocols.sources import names_digest, resolve_sources
from yonos_bench.protocols.spec import load_protocol


def _flat(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------ StableSR's released crops


def _stablesr(root, synth, folder: str, n: int, lr_only: bool = False, ext: str = "png"):
    base = root / "StableSR_testsets" / folder
    for i in range(n):
        name = f"{i:04d}.{ext}"
        lr = synth.coord_image(8, 8, salt=i)
        if lr_only:
            synth.save(base / name, lr)
        else:
            synth.save(base / "test_LR" / name, lr)
            synth.save(base / "test_HR" / name, synth.coord_image(32, 32, salt=i))
    return base


@pytest.mark.parametrize(("name", "folder", "count"), [("realsr", "RealSRVal_crop128", 100),
                                                       ("drealsr", "DrealSRVal_crop128", 93)])  # fmt: skip
def test_released_stablesr_crops_are_used_as_given(tmp_path, synth, name, folder, count):
    spec = load_protocol(name)
    assert spec.source.count == spec.expected_pairs == count  # the shipped spec carries the real count
    root = tmp_path / "data"
    base = _stablesr(root, synth, folder, count)
    pp = prepare(spec, root, progress=False)
    assert len(pp.pairs) == count and pp.pairs[0].crop_box_lr is None
    p = pp.pairs[7]
    assert p.id == "0007"
    np.testing.assert_array_equal(read_rgb8(p.lr_path), read_rgb8(base / "test_LR" / "0007.png"))
    np.testing.assert_array_equal(read_rgb8(p.hr_path), read_rgb8(base / "test_HR" / "0007.png"))


def test_released_dped_crops_are_lr_only_and_whole(tmp_path, synth):
    spec = load_protocol("dped")
    root = tmp_path / "data"
    base = _stablesr(root, synth, "DPEDiphoneValSet_crop128", 113, lr_only=True)
    pp = prepare(spec, root, progress=False)
    assert len(pp.pairs) == 113 and all(p.hr_path is None for p in pp.pairs)
    np.testing.assert_array_equal(read_rgb8(pp.pairs[5].lr_path), read_rgb8(base / "0005.png"))


def test_stablesr_zip_unpacked_one_level_deeper_is_pointed_out(tmp_path, synth):
    root = tmp_path / "data"
    _stablesr(
        root / "StableSR_testsets", synth, "RealSRVal_crop128", 3
    )  # .../StableSR_testsets/StableSR_testsets/
    with pytest.raises(DataMissingError) as e:
        resolve_sources(load_protocol("realsr"), root)
    msg = _flat(str(e.value))
    deeper = root / "StableSR_testsets" / "StableSR_testsets" / "RealSRVal_crop128"
    assert f"It was found one level deeper, at {deeper}" in msg
    assert f"--data-root {root / 'StableSR_testsets'}" in msg


def test_files_one_folder_deeper_inside_the_dataset_are_pointed_out(tmp_path, synth):
    root = tmp_path / "data"
    base = root / "StableSR_testsets" / "DPEDiphoneValSet_crop128"
    for i in range(3):
        synth.save(base / "test_LR" / f"{i}.png", synth.coord_image(8, 8))
    with pytest.raises(DataMissingError) as e:
        resolve_sources(load_protocol("dped"), root)
    msg = _flat(str(e.value))
    assert (
        "found 0 LR images" in msg
        and f"3 files matching *.png were found one level deeper, under {base / 'test_LR'}/" in msg
    )


# ------------------------------------------------------------------ FFHQ and ImageNet


def test_ffhq_x8_is_the_first_1k_images_and_the_60k_variant_is_separate(tmp_path, synth):
    root = tmp_path / "data"
    ffhq = root / "FFHQ" / "images1024x1024"
    for folder, first in (("00000", 0), ("01000", 1000)):
        for i in range(first, first + 14):
            synth.save(ffhq / folder / f"{i:05d}.png", synth.coord_image(64, 64, salt=i))
    spec = load_protocol("ffhq-x8")
    assert (spec.source.hr, spec.source.count, spec.version) == ("00000/*.png", 1000, 2)
    small = dataclasses.replace(  # test-only: 14 images of 64x64 instead of 1,000 of 1024x1024
        spec,
        source=dataclasses.replace(spec.source, count=14),
        pairs=dataclasses.replace(spec.pairs, hr_resize=dataclasses.replace(spec.pairs.hr_resize, size=32)),
        expected_pairs=14,
    )
    pp = prepare(small, root, progress=False)
    assert [p.id for p in pp.pairs] == [f"{i:05d}" for i in range(14)]  # 00000..., never 01000/...
    hr = read_rgb8(pp.pairs[3].hr_path)
    src = synth.coord_image(64, 64, salt=3).astype(np.float64)
    # one Pillow BOX halving (64 -> 32), then 8x8 average pooling: check the pooling exactly
    lr = read_rgb8(pp.pairs[3].lr_path)
    assert hr.shape == (32, 32, 3) and lr.shape == (4, 4, 3)
    pooled = np.floor(hr.astype(np.float64).reshape(4, 8, 4, 8, 3).mean(axis=(1, 3)) + 0.5)
    np.testing.assert_array_equal(lr, pooled.astype(np.uint8))
    assert np.abs(hr.astype(np.float64) - src.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))).max() <= 1
    with pytest.raises(DataMissingError, match=r"FFHQ/images1024x1024/60000/\*\.png"):
        resolve_sources(load_protocol("ffhq-x8-60k"), root)


def _imagenet(root, synth, names):
    base = root / "ImageNet" / "val_10k"
    for i, rel in enumerate(names):
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.fromarray(synth.coord_image(40, 48, salt=i)).save(path, quality=95)
    return base


def test_imagenet_list_is_pinned_and_sorted_by_wnid_then_file(tmp_path, synth):
    spec = load_protocol("imagenet-x8")
    assert spec.source.names_sha256 == "f91e84ef71665e73c648c66f950f18b2e2fbfa8f350f098a6a74528bdda24d50"
    # file names that sort differently from their <wnid>/<file> paths
    names = [f"n{c:08d}/ILSVRC2012_val_{(20 - c) * 100 + k:08d}.JPEG" for c in range(1, 11) for k in range(2)]
    root = tmp_path / "data"
    _imagenet(root, synth, names)
    small = dataclasses.replace(  # test-only: a 20-image list pinned the same way as I2SB's 10k
        spec,
        source=dataclasses.replace(spec.source, count=20, names_sha256=names_digest(names)),
        pairs=dataclasses.replace(spec.pairs, hr_resize=dataclasses.replace(spec.pairs.hr_resize, size=16)),
        expected_pairs=2,
    )
    # the digest is sha256 of the sorted relative paths joined by newlines (independent check)
    assert small.source.names_sha256 == hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()
    pp = prepare(small, root, progress=False)
    ordered = sorted(names)  # sorted by <wnid>/<file>: every 10th is index 0 and 10
    assert [p.source for p in pp.pairs] == [pathlib.Path(ordered[0]).stem, pathlib.Path(ordered[10]).stem]
    # any other list of the same size is refused
    (root / "ImageNet" / "val_10k" / names[3]).rename(
        root / "ImageNet" / "val_10k" / "n00000001" / "other.JPEG"
    )
    with pytest.raises(DataMissingError) as e:
        resolve_sources(small, root)
    msg = _flat(str(e.value))
    assert "are not the file list version 1 of the protocol is defined on" in msg
    assert f"expected {small.source.names_sha256}" in msg


# ------------------------------------------------------------ source errors name the file


@pytest.fixture
def given(tmp_path, write_spec, synth, paired_root):
    root = paired_root(sizes=((32, 32), (32, 32)))
    spec = write_spec(synth.base_spec("culprit", **{"pairs": {"rule": "given"}, "expected_pairs": 2}))
    return root, spec, root / "synth"


def _fails(spec, root) -> str:
    with pytest.raises(DataMissingError) as e:
        prepare(spec, root, progress=False)
    return _flat(str(e.value))


def test_missing_lr_names_the_hr_file(given):
    root, spec, base = given
    (base / "LR" / "img1x4.png").unlink()
    assert (
        f"1 HR image(s) have no LR image (looked for {base}/LR/<name>x4.png): {base / 'HR' / 'img1.png'}."
        in _fails(spec, root)
    )


def test_other_extension_among_pngs_is_named(given, synth):
    root, spec, base = given
    lr = base / "LR" / "img1x4.png"
    synth.save(base / "LR" / "img1x4.jpg", read_rgb8(lr))
    lr.unlink()
    msg = _fails(spec, root)
    assert (
        f"1 LR image(s) have another extension than .png and are not used: {base / 'LR' / 'img1x4.jpg'}."
        in msg
    )


def test_extra_file_is_named(given):
    root, spec, base = given
    extra = base / "HR" / "img7.png"
    extra.write_bytes((base / "HR" / "img0.png").read_bytes())
    msg = _fails(spec, root)
    assert f"1 HR image(s) have no LR image (looked for {base}/LR/<name>x4.png): {extra}." in msg
    assert "found 3 HR images" in msg and "expected 2" in msg


def test_dangling_symlink_is_named(given):
    root, spec, base = given
    lr = base / "LR" / "img1x4.png"
    lr.unlink()
    lr.symlink_to(base / "nowhere.png")
    assert f"1 LR symlink(s) point to nothing: {lr}." in _fails(spec, root)


def test_uppercase_extension_counts_and_dot_files_are_ignored(given):
    root, spec, base = given
    (base / "HR" / "img1.png").rename(base / "HR" / "img1.PNG")
    (base / "HR" / "img0.jpg").write_bytes((base / "HR" / "img0.png").read_bytes())  # stray copy: unused
    (base / "HR" / "._img0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    (base / "LR" / ".DS_Store").write_bytes(b"junk")
    pp = prepare(spec, root, progress=False)
    assert [p.id for p in pp.pairs] == ["img0", "img1"]


# ------------------------------------------------------------ prepared root / read-only data


def test_prepared_root_option_env_and_cli(tmp_path, given, monkeypatch):
    root, spec, _ = given
    pp = prepare(spec, root, prepared_root=tmp_path / "elsewhere", progress=False)
    assert pp.path == tmp_path / "elsewhere" / "culprit-v1" and not (root / "prepared").exists()
    monkeypatch.setenv("YONOS_PREPARED", str(tmp_path / "from-env"))
    assert prepare(spec, root, progress=False).path == tmp_path / "from-env" / "culprit-v1"
    monkeypatch.delenv("YONOS_PREPARED")
    r = CliRunner().invoke(
        app,
        [
            "protocols",
            "prepare",
            spec.file,
            "--data-root",
            str(root),
            "--prepared-root",
            str(tmp_path / "cli"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["path"] == str(tmp_path / "cli" / "culprit-v1")
    assert prepared_digest(spec, root, tmp_path / "cli") == pp.digest
    sample = load_protocol("sample")
    r = CliRunner().invoke(
        app, ["data", "status", "--data-root", str(root), "--prepared-root", str(tmp_path / "cli"), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert (
        next(d for d in json.loads(r.output)["protocols"] if d["protocol"] == sample.name)["prepared_digest"]
        is None
    )


def test_read_only_data_root_gives_one_clear_error(given, monkeypatch):
    root, spec, _ = given
    real_mkdir = pathlib.Path.mkdir

    def read_only(self, *args, **kwargs):  # a read-only mount (chmod does not stop root)
        if str(self).startswith(str(root)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    with pytest.raises(FileWriteError) as e:
        prepare(spec, root, progress=False)
    msg = str(e.value)
    assert f"Cannot write prepared pairs under {root / 'prepared'}: Read-only file system." in msg
    assert "--prepared-root (or $YONOS_PREPARED)" in msg
    r = CliRunner().invoke(app, ["protocols", "prepare", spec.file, "--data-root", str(root)])
    assert r.exit_code == 1 and "Traceback" not in r.output and "--prepared-root" in r.output


def test_prepared_folders_honour_the_umask(given):
    root, spec, _ = given
    old = os.umask(0o022)
    try:
        pp = prepare(spec, root, progress=False)
    finally:
        os.umask(old)
    for folder in (pp.path, pp.path / "lr", pp.path / "hr"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder  # mkdtemp would give 0700
    assert stat.S_IMODE((pp.path / "lr" / "img0.png").stat().st_mode) == 0o644


# ------------------------------------------------------------------ x8 LR sizes


def test_x8_lr_may_be_matlab_ceil_sized(tmp_path, write_spec, synth):
    root = tmp_path / "data"
    hr = synth.coord_image(100, 90)
    synth.save(root / "synth" / "HR" / "img0.png", hr)
    synth.save(root / "synth" / "LR" / "img0x8.png", synth.coord_image(13, 12))  # ceil(100/8), ceil(90/8)
    spec = write_spec(synth.base_spec("ceil", scale=8, **{"source.lr_suffix": "x8", "source.count": 1,
                                                           "pairs": {"rule": "random_patches", "lr_size": 4,
                                                                     "per_image": 3}, "expected_pairs": 3}))  # fmt: skip
    pp = prepare(spec, root, progress=False)
    for p in pp.pairs:  # boxes on the floor grid (12 x 11): every HR box inside the HR image
        top, left, h, w = p.crop_box_hr
        assert top + h <= 100 and left + w <= 90 and p.crop_box_lr[0] + 4 <= 12 and p.crop_box_lr[1] + 4 <= 11
        np.testing.assert_array_equal(read_rgb8(p.hr_path), hr[top : top + h, left : left + w])
    shutil.rmtree(pp.path)
    synth.save(root / "synth" / "LR" / "img0x8.png", synth.coord_image(14, 12))
    with pytest.raises(ImageError) as e:
        prepare(spec, root, progress=False)
    assert (
        "the rule 'random_patches' needs each LR side to be the HR side / 8 rounded down or up (11 or 12 wide, 12 or 13 high)."
        in str(e.value)
    )


def test_run_passes_the_prepared_root_to_prepare(tmp_path, monkeypatch):
    """`run --prepared-root` reaches prepare() (stopped there: the run itself is tested in tests/runner)."""
    import yonos_bench.protocols.pairs as pairs
    from yonos_bench.core.errors import YonosError

    def fake_prepare(spec, data_root, *, prepared_root=None, progress=True):
        raise YonosError(f"prepare called with data_root={data_root} prepared_root={prepared_root}")

    monkeypatch.setattr(pairs, "prepare", fake_prepare)  # the runner imports it inside run_benchmark
    data, prep = tmp_path / "data", tmp_path / "prep"
    args = ["run", "sample", "-m", "bicubic", "--metrics", "psnr-y", "--device", "cpu", "--quiet"]
    args += ["--data-root", str(data), "--prepared-root", str(prep), "--results", str(tmp_path / "results")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and f"prepare called with data_root={data} prepared_root={prep}" in _flat(
        r.output
    )
