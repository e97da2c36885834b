"""Determinism, idempotency, atomicity and the issue's bad-input cases."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import yonos_bench.protocols.pairs as pairs_mod
from yonos_bench.core.errors import DataMissingError, ImageError, SpecError
from yonos_bench.core.imageio import read_rgb8, sha256_file
from yonos_bench.protocols.pairs import load_prepared, prepare, prepared_dir


def _files(pp):
    return {
        p.relative_to(pp.path).as_posix(): sha256_file(p) for p in sorted(pp.path.rglob("*")) if p.is_file()
    }


def test_same_spec_same_bytes_other_seed_other_digest(paired_root, write_spec, synth):
    spec = write_spec(synth.base_spec("det"))
    a = prepare(spec, paired_root(root_name="a"), progress=False)
    b = prepare(spec, paired_root(root_name="b"), progress=False)
    assert a.digest == b.digest
    assert _files(a) == _files(b)  # byte-identical PNGs and manifest
    other = write_spec(synth.base_spec("det", seed=1))
    c = prepare(other, paired_root(root_name="c"), progress=False)
    assert c.digest != a.digest
    assert [p.crop_box_lr for p in c.pairs] != [p.crop_box_lr for p in a.pairs]


def test_workers_do_not_change_the_result(paired_root, write_spec, synth):
    spec = write_spec(synth.base_spec("wk"))
    one = prepare(spec, paired_root(root_name="one"), progress=False, workers=1)
    two = prepare(spec, paired_root(root_name="two"), progress=False, workers=2)
    assert one.digest == two.digest and _files(one) == _files(two)


def test_second_prepare_verifies_and_does_nothing(paired_root, write_spec, synth):
    root = paired_root()
    spec = write_spec(synth.base_spec("idem"))
    first = prepare(spec, root, progress=False)
    mtimes = {p: p.stat().st_mtime_ns for p in first.path.rglob("*")}
    second = prepare(spec, root, progress=False)
    assert second.action == "verified" and second.digest == first.digest
    assert {p: p.stat().st_mtime_ns for p in first.path.rglob("*")} == mtimes
    assert load_prepared(spec, root).digest == first.digest


def test_corrupted_file_is_detected_and_regenerated(paired_root, write_spec, synth):
    root = paired_root()
    spec = write_spec(synth.base_spec("corrupt"))
    first = prepare(spec, root, progress=False)
    good = _files(first)
    victim = first.pairs[2].hr_path
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert load_prepared(spec, root).action == "loaded"  # fast path only checks presence
    assert load_prepared(spec, root, verify=True).action == "regenerated"
    assert _files(first) == good
    first.pairs[0].lr_path.unlink()
    again = prepare(spec, root, progress=False)
    assert again.action == "regenerated" and again.digest == first.digest and _files(again) == good


def test_interrupted_prepare_leaves_nothing_that_looks_prepared(paired_root, write_spec, synth, monkeypatch):
    root = paired_root()
    spec = write_spec(synth.base_spec("crash"))
    real = pairs_mod.make_source_pairs
    calls = []

    def dies_on_second_image(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-way
        return real(*args)

    monkeypatch.setattr(pairs_mod, "make_source_pairs", dies_on_second_image)
    with pytest.raises(KeyboardInterrupt):
        prepare(spec, root, progress=False)
    parent = root / "prepared"
    assert not prepared_dir(spec, root).exists() and list(parent.iterdir()) == []
    # SIGKILL leaves its temporary folder behind: it is never taken for a prepared copy and
    # the next prepare removes it (its process is gone).
    stale = parent / ".crash-v1.tmp-999999999-abcdefgh"
    (stale / "lr").mkdir(parents=True)
    (stale / "manifest.json").write_text("{}")
    monkeypatch.setattr(pairs_mod, "make_source_pairs", real)
    pp = prepare(spec, root, progress=False)
    assert pp.action == "prepared" and sorted(p.name for p in parent.iterdir()) == ["crash-v1"]


def test_missing_source_folder_names_layout_and_url(tmp_path, write_spec, synth):
    spec = write_spec(synth.base_spec("miss"))
    with pytest.raises(DataMissingError) as e:
        prepare(spec, tmp_path / "empty", progress=False)
    msg = str(e.value)
    assert f"the folder {tmp_path / 'empty' / 'synth'} does not exist" in msg
    assert "synth/HR/*.png (2 HR images); synth/LR/*.png (2 LR images)" in msg
    assert "https://example.org/synthetic" in msg and "\n" not in msg
    with pytest.raises(DataMissingError):
        load_prepared(spec, tmp_path / "empty")


def test_wrong_image_count_gives_both_counts(paired_root, write_spec, synth):
    root = paired_root(sizes=((32, 32), (32, 32), (32, 32)))
    spec = write_spec(synth.base_spec("count"))
    with pytest.raises(
        DataMissingError, match=r"found 3 HR images matching \S+/synth/HR/\*\.png, expected 2\."
    ):
        prepare(spec, root, progress=False)
    (root / "synth" / "HR" / "img2.png").unlink()
    (root / "synth" / "LR" / "img1x4.png").unlink()
    (root / "synth" / "LR" / "img2x4.png").unlink()
    with pytest.raises(
        DataMissingError,
        match=r"1 HR image\(s\) have no LR image \(looked for \S+/synth/LR/<name>x4\.png\): \S+/img1\.png\.",
    ):
        prepare(spec, root, progress=False)
    (root / "synth" / "LR" / "other.png").write_bytes((root / "synth" / "LR" / "img0x4.png").read_bytes())
    with pytest.raises(
        DataMissingError, match=r"1 LR image\(s\) have no HR image: \S+/synth/LR/other\.png\."
    ):
        prepare(spec, root, progress=False)


@pytest.mark.parametrize("damage", ["truncated", "empty", "not-an-image"])
def test_corrupt_image_names_the_file(paired_root, write_spec, synth, damage):
    root = paired_root()
    bad = root / "synth" / "HR" / "img1.png"
    data = bad.read_bytes()
    bad.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "not-an-image": b"hello"}[damage])
    spec = write_spec(synth.base_spec("bad"))
    with pytest.raises(ImageError, match=str(bad)):
        prepare(spec, root, progress=False)
    assert not prepared_dir(spec, root).exists()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_non_rgb_sources_are_converted_by_the_imageio_rule(tmp_path, write_spec, synth, mode):
    root = tmp_path / "data"
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (32, 40, 3), np.uint8)
    if mode == "L":
        im = Image.fromarray(rgb[..., 0], "L")
        expected = np.repeat(rgb[..., :1], 3, axis=2)
    elif mode == "RGBA":
        im = Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (32, 40), np.uint8)]), "RGBA")
        expected = rgb  # alpha dropped, colours kept
    elif mode == "P":
        im = Image.fromarray(rgb).quantize(16)
        expected = np.asarray(im.convert("RGB"))
    else:
        v16 = rng.integers(0, 65536, (32, 40), dtype=np.uint16)
        im = Image.fromarray(v16)
        assert im.mode == "I;16"
        g = np.clip(np.round(v16 / 257.0), 0, 255).astype(np.uint8)
        expected = np.repeat(g[..., None], 3, axis=2)
    path = root / "c" / "img.png"
    path.parent.mkdir(parents=True)
    im.save(path)
    spec = write_spec(
        synth.base_spec(
            "conv",
            expected_pairs=1,
            source={
                "dataset": "synthetic",
                "url": "https://example.org",
                "root": "c",
                "hr": "*.png",
                "count": 1,
            },
            pairs={"rule": "center_crop", "lr_from": "degrade", "degradation": "avgpool", "lr_size": 4},
        )
    )
    pp = prepare(spec, root, progress=False)
    top, left, h, w = pp.pairs[0].crop_box_hr
    np.testing.assert_array_equal(read_rgb8(pp.pairs[0].hr_path), expected[top : top + h, left : left + w])


def test_image_smaller_than_crop_error_or_skip(paired_root, write_spec, synth):
    root = paired_root(sizes=((96, 80), (28, 40)))  # the second LR is 7x10 < 8x8
    spec = write_spec(synth.base_spec("small"))
    with pytest.raises(ImageError) as e:
        prepare(spec, root, progress=False)
    assert "img1x4.png: LR grid 10x7 is smaller than the 8x8 LR crop" in str(e.value)
    assert "too_small is 'error'" in str(e.value)
    spec = write_spec(synth.base_spec("small", **{"pairs.too_small": "skip"}))
    pp = prepare(spec, root, progress=False)
    assert len(pp.pairs) == 3 and {p.source for p in pp.pairs} == {"img0"}
    assert pp.skipped == ({"source": "img1", "reason": "LR grid 10x7 is smaller than the 8x8 LR crop"},)
    assert json.loads(pp.manifest_path.read_text())["skipped"] == [dict(pp.skipped[0])]


def test_sample_prepares_from_installed_packages(tmp_path):
    from yonos_bench.protocols.spec import load_protocol

    spec = load_protocol("sample")
    pp = prepare(spec, tmp_path / "d", progress=False)
    assert len(pp.pairs) == 210 and len({p.source for p in pp.pairs}) == 7
    lr, hr = read_rgb8(pp.pairs[0].lr_path), read_rgb8(pp.pairs[0].hr_path)
    assert lr.shape == (32, 32, 3) and hr.shape == (128, 128, 3)
    assert pp.pairs[0].degradation["name"] == "bicubic"
    # Pinned: the same on every machine (the digest hashes pixels, not PNG bytes). A change
    # here means protocol `sample` changed and its version must be bumped.
    assert pp.digest == "304bc3ab41bc1ad7d74ed9c831c594d740932e578d8965b69c4b870e947c6020"
    # Whole-image MATLAB bicubic, then aligned crops: the LR patch is close to the bicubic
    # downsampling of its own HR patch away from the patch border.
    import torch

    from yonos_bench.degradations import bicubic_resize

    for p in pp.pairs[:30:7]:
        hr = torch.from_numpy(read_rgb8(p.hr_path).copy()).permute(2, 0, 1)[None].double()
        own = np.clip(bicubic_resize(hr, size=(32, 32))[0].permute(1, 2, 0).numpy(), 0, 255)
        inner = np.abs(own - read_rgb8(p.lr_path).astype(np.float64))[3:-3, 3:-3]
        assert inner.max() <= 0.5 + 1e-6  # equal up to the final rounding


def test_sample_changed_package_file_is_reported(tmp_path, monkeypatch):
    import dataclasses

    from yonos_bench.protocols.spec import load_protocol

    spec = load_protocol("sample")
    src = dataclasses.replace(spec.source, sha256={**spec.source.sha256, "chelsea": "0" * 64})
    with pytest.raises(
        DataMissingError, match=r"chelsea.png has sha256 596aa1e7\S+, but version 1 of the protocol"
    ):
        prepare(dataclasses.replace(spec, source=src), tmp_path, progress=False)


def test_env_and_default_data_root(paired_root, write_spec, synth, monkeypatch):
    root = paired_root()
    monkeypatch.setenv("YONOS_DATA", str(root))
    pp = prepare(write_spec(synth.base_spec("env")), progress=False)
    assert pp.path == root / "prepared" / "env-v1"
    assert os.path.isdir(pp.path)
    shutil.rmtree(pp.path)


def test_sigkill_mid_prepare_never_looks_prepared(paired_root, write_spec, synth):
    import signal
    import subprocess
    import sys
    import textwrap

    root = paired_root(sizes=[(32, 32)] * 6)
    spec = write_spec(synth.base_spec("killed", expected_pairs=18, **{"source.count": 6}))
    script = textwrap.dedent(
        f"""
        import sys, time
        import yonos_bench.protocols.pairs as m
        from yonos_bench.protocols.spec import load_spec_file
        real = m.make_source_pairs
        def slow(*a):
            out = real(*a)
            print("one image done", flush=True)
            time.sleep(30)
            return out
        m.make_source_pairs = slow
        m.prepare(load_spec_file({str(spec.file)!r}), {str(root)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "one image done"  # files are being written now
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    final = prepared_dir(spec, root)
    leftovers = list(final.parent.iterdir())
    assert not final.exists() and len(leftovers) == 1 and leftovers[0].name.startswith(".killed-v1.tmp-")
    pp = load_prepared(spec, root)  # not taken for prepared: prepares afresh, cleans the leftover
    assert pp.action == "prepared" and len(pp.pairs) == 18
    assert [p.name for p in final.parent.iterdir()] == ["killed-v1"]


def test_pinned_source_hash_mismatch_names_the_file(paired_root, write_spec, synth):
    root = paired_root()
    good = sha256_file(root / "synth" / "HR" / "img0.png")
    spec = write_spec(synth.base_spec("pin", **{"source.sha256": {"img0": good, "img1": "1" * 64}}))
    with pytest.raises(
        DataMissingError, match=r"source file \S+/synth/HR/img1.png has sha256 [0-9a-f]{64}, but"
    ):
        prepare(spec, root, progress=False)
    with pytest.raises(SpecError, match=r"key 'source.sha256.img0' must be 64 lowercase hex digits"):
        write_spec(synth.base_spec("pin", **{"source.sha256": {"img0": "abc"}}))
