"""Bad and unusual images through the three doors images come in by: ``protocols prepare``
(protocol sources), ``metrics compute`` (SR/HR folders) and the ``folder`` adapter
(outputs of another codebase, read by ``run``).

Unreadable files (zero bytes, truncated PNG/JPEG, not an image, decompression bomb) stop
the command with exit 1 and one message naming the file, and leave no result behind.
Unusual but valid files (grayscale, 16-bit, RGBA, palette, CMYK, EXIF-rotated) are
converted by the one documented rule of ``yonos_bench.core.imageio`` — checked here against
pixels computed independently (numpy palette lookup, numpy rotation, round(v/257)).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from yonos_bench.core.imageio import read_rgb8

BROKEN_KINDS = ("zero-byte", "truncated-png", "truncated-jpeg", "not-an-image", "bomb")
UNUSUAL_KINDS = ("gray", "gray16", "rgb16", "rgba", "palette", "cmyk-jpeg", "exif-rotated-jpeg")


def _hr_only_data(rel, root: Path, second: tuple[bytes, str] | None = None) -> Path:
    return rel.hr_only_data(root, second)


def _nothing_prepared(root: Path) -> bool:
    prepared = root / "prepared"
    return not prepared.exists() or list(prepared.iterdir()) == []


# ------------------------------------------------------------------ protocols prepare


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_prepare_refuses_an_unreadable_source_naming_it(rel, tmp_path, kind):
    suffix, fragment = rel.BROKEN[kind]
    root = tmp_path / "data"
    bad = _hr_only_data(rel, root, (rel.broken_bytes(kind), suffix))
    spec = rel.write_spec(tmp_path / "specs", rel.spec_dict("broken"))
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root)
    rel.assert_fails(res, str(bad), fragment)
    assert _nothing_prepared(root)  # no folder that looks prepared, no temporary leftovers


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_prepare_converts_unusual_sources_by_the_documented_rule(rel, tmp_path, kind):
    data, suffix, expected, tol = rel.unusual_image(kind, 24, 20)
    root = tmp_path / "data"
    _hr_only_data(rel, root, (data, suffix))
    spec = rel.write_spec(tmp_path / "specs", rel.spec_dict("unusual"))
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root, "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    hr = read_rgb8(Path(info["path"]) / "hr" / "img1.png")
    assert hr.shape == expected.shape == (24, 20, 3)  # EXIF applied: the displayed orientation
    assert np.abs(hr.astype(int) - expected.astype(int)).max() <= tol


def test_prepare_crops_hr_not_divisible_by_the_scale(rel, tmp_path):
    """HR-only protocols crop HR top-left to a multiple of the scale before degrading;
    released pairs whose HR is not exactly scale x LR are refused (rule 'given')."""
    root = tmp_path / "data"
    rel.save(root / "synth" / "HR" / "img0.png", rel.coord_image(25, 21, 0))
    rel.save(root / "synth" / "HR" / "img1.png", rel.coord_image(16, 18, 1))
    spec = rel.write_spec(tmp_path / "specs", rel.spec_dict("odd"))
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root, "--json")
    assert res.exit_code == 0, res.output
    folder = Path(json.loads(res.output)["path"])
    hr, lr = read_rgb8(folder / "hr" / "img0.png"), read_rgb8(folder / "lr" / "img0.png")
    assert hr.shape == (24, 20, 3) and lr.shape == (12, 10, 3)
    np.testing.assert_array_equal(hr, rel.coord_image(25, 21, 0)[:24, :20])
    # avgpool x2 of the cropped HR, independently: mean of each 2x2 block, round half up
    blocks = hr.astype(np.float64).reshape(12, 2, 10, 2, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(lr, np.floor(blocks + 0.5).astype(np.uint8))

    given = tmp_path / "given"
    rel.paired_data(given, sizes=((24, 20), (16, 18)))
    rel.save(given / "synth" / "HR" / "img0.png", rel.coord_image(25, 20, 0))  # one row too many
    spec = rel.write_spec(tmp_path / "specs", rel.given_spec("givenodd"))
    res = rel.invoke("protocols", "prepare", spec, "--data-root", given)
    rel.assert_fails(
        res,
        f"HR {given / 'synth' / 'HR' / 'img0.png'} is 20x25 and LR {given / 'synth' / 'LR' / 'img0x2.png'} "
        "is 10x12; the rule 'given' needs the HR size to be exactly 2 x the LR size (20x24).",
    )
    assert _nothing_prepared(given)


def test_prepare_refuses_hr_lr_count_and_name_mismatch(rel, tmp_path):
    root = rel.paired_data(tmp_path / "data")
    spec = rel.write_spec(tmp_path / "specs", rel.given_spec("mismatch"))
    lr_dir = root / "synth" / "LR"
    extra = lr_dir / "img9x2.png"
    extra.write_bytes((lr_dir / "img0x2.png").read_bytes())
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root)
    rel.assert_fails(  # the extra file is named, not just counted
        res, f"1 LR image(s) have no HR image: {extra}.", "https://example.org/synth"
    )
    (lr_dir / "img1x2.png").rename(lr_dir / "img1_x2.png")  # right count, wrong name
    extra.unlink()
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root)
    rel.assert_fails(
        res,
        f"1 HR image(s) have no LR image (looked for {root / 'synth'}/LR/<name>x2): {root / 'synth' / 'HR' / 'img1.png'}.",
        f"1 LR image(s) have no HR image: {lr_dir / 'img1_x2.png'}.",
    )
    (root / "synth" / "HR" / "img1.png").unlink()
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root)
    rel.assert_fails(res, f"1 LR image(s) have no HR image: {lr_dir / 'img1_x2.png'}.")
    assert _nothing_prepared(root)


# ------------------------------------------------------------------ metrics compute


def _sr_hr(rel, tmp_path, h=16, w=16):
    sr, hr = tmp_path / "sr", tmp_path / "hr"
    for i in range(2):
        img = rel.coord_image(h, w, i)
        rel.save(hr / f"p{i}.png", img)
        rel.save(sr / f"p{i}.png", img[::-1].copy())
    return sr, hr


@pytest.mark.parametrize("side", ["sr", "hr"])
@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_metrics_compute_refuses_an_unreadable_image_naming_it(rel, tmp_path, kind, side):
    suffix, fragment = rel.BROKEN[kind]
    sr, hr = _sr_hr(rel, tmp_path)
    folder = sr if side == "sr" else hr
    (folder / "p1.png").unlink()
    bad = folder / f"p1{suffix}"
    bad.write_bytes(rel.broken_bytes(kind))
    out = tmp_path / "scores.csv"
    res = rel.invoke("metrics", "compute", "--sr", sr, "--hr", hr, "--metrics", "psnr-y", "--out", out)
    rel.assert_fails(res, str(bad), fragment)
    assert not out.exists()


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_metrics_compute_reads_unusual_images_by_the_documented_rule(rel, tmp_path, kind):
    """The unusual file as SR, the pixels the rule must give (a plain PNG) as HR: exact
    kinds score the identical-pair cap (80 dB), lossy JPEG kinds stay close (> 30 dB).
    A missed rotation would be a size mismatch, a wrong colour conversion a low PSNR."""
    data, suffix, expected, tol = rel.unusual_image(kind, 24, 20)
    sr, hr = tmp_path / "sr", tmp_path / "hr"
    sr.mkdir()
    (sr / f"x{suffix}").write_bytes(data)
    rel.save(hr / "x.png", expected)
    for folder in (sr, hr):  # a second, plain pair
        rel.save(folder / "y.png", rel.coord_image(8, 8))
    out = tmp_path / "scores.csv"
    res = rel.invoke(
        "metrics", "compute", "--sr", sr, "--hr", hr, "--metrics", "psnr-y", "--out", out, "--json"
    )
    assert res.exit_code == 0, res.output
    with open(out, newline="") as f:
        rows = {r["pair_id"]: float(r["psnr-y"]) for r in csv.DictReader(f)}
    value = rows["x"]
    assert value == 80.0 if tol == 0 else 30.0 < value <= 80.0


def test_metrics_compute_refuses_name_count_and_size_mismatch(rel, tmp_path):
    sr, hr = _sr_hr(rel, tmp_path)
    out = tmp_path / "scores.csv"
    args = ("metrics", "compute", "--sr", sr, "--hr", hr, "--metrics", "psnr-y", "--out", out)
    (sr / "p1.png").rename(sr / "q1.png")
    rel.save(sr / "p2.png", rel.coord_image(16, 16))
    rel.assert_fails(
        rel.invoke(*args),
        f"SR folder {sr} and HR folder {hr} do not match by file name: "
        "2 SR image(s) without HR: p2, q1; 1 HR image(s) without SR: p1",
    )
    (sr / "q1.png").unlink()
    (sr / "p2.png").unlink()
    rel.save(sr / "p1.png", rel.coord_image(16, 18))  # one column too many
    rel.assert_fails(
        rel.invoke(*args),
        f"SR/HR size mismatch for pair p1.png: SR {sr / 'p1.png'} is 18x16, HR {hr / 'p1.png'} is 16x16.",
    )
    assert not out.exists()


# ------------------------------------------------------------------ the folder adapter (run)


def _run_folder(rel, tmp_path, spec, root, outputs):
    results = tmp_path / "results"
    res = rel.invoke(
        "run", spec, "-m", outputs, "--metrics", "psnr-y", "--data-root", root, "--results", results,
        "--device", "cpu", "--quiet",
    )  # fmt: skip
    return res, results


def _outputs(rel, tmp_path) -> Path:
    out = tmp_path / "outputs"
    rel.save(out / "img0.png", rel.coord_image(24, 20, 0))
    rel.save(out / "img1.png", rel.coord_image(16, 18, 1))
    return out


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_folder_outputs_unreadable_file_stops_the_run_naming_it(rel, tmp_path, prepared, kind):
    spec, root = prepared
    suffix, fragment = rel.BROKEN[kind]
    out = _outputs(rel, tmp_path)
    (out / "img1.png").unlink()
    bad = out / f"img1{suffix}"
    bad.write_bytes(rel.broken_bytes(kind))
    res, results = _run_folder(rel, tmp_path, spec, root, out)
    rel.assert_fails(res, str(bad), fragment)
    assert list(results.rglob("result.json")) == [] and list(results.rglob("per_image.csv")) == []


@pytest.mark.parametrize("kind", UNUSUAL_KINDS)
def test_folder_outputs_unusual_files_are_converted_by_the_documented_rule(rel, tmp_path, prepared, kind):
    spec, root = prepared
    data, suffix, expected, tol = rel.unusual_image(kind, 16, 18)  # img1's HR size
    out = _outputs(rel, tmp_path)
    (out / "img1.png").unlink()
    (out / f"img1{suffix}").write_bytes(data)
    res, results = _run_folder(rel, tmp_path, spec, root, out)
    assert res.exit_code == 0, res.output
    (result,) = results.rglob("result.json")
    sr = read_rgb8(result.parent / "sr" / "img1.png")  # what was scored
    assert sr.shape == expected.shape and np.abs(sr.astype(int) - expected.astype(int)).max() <= tol
    assert json.loads(result.read_text())["metrics"]["psnr-y"]["n"] == 2


def test_folder_outputs_wrong_size_missing_and_extra_files(rel, tmp_path, prepared):
    spec, root = prepared
    out = _outputs(rel, tmp_path)
    rel.save(out / "img1.png", rel.coord_image(17, 18, 1))  # not 2 x its 8x9 LR
    res, results = _run_folder(rel, tmp_path, spec, root, out)
    rel.assert_fails(
        res,
        f"Output {out / 'img1.png'} is 18x17 (WxH) but x2 of its 9x8 LR must be 18x16; outputs are never resized",
    )
    (out / "img1.png").rename(out / "img7.png")
    res, results = _run_folder(rel, tmp_path, spec, root, out)
    rel.assert_fails(res, f"Outputs folder {out} lacks 1 of 2 outputs: img1")
    rel.save(out / "img1.png", rel.coord_image(16, 18, 1))
    res, results = _run_folder(rel, tmp_path, spec, root, out)
    rel.assert_fails(res, f"Outputs folder {out} holds 1 image(s) that match no pair: img7.png")
    assert list(results.rglob("result.json")) == []
