"""`yonos-bench figure`: paper-style grids from real result folders."""

from __future__ import annotations

import os
import re
import zlib

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.errors import YonosError
from yonos_bench.report.figure import auto_inset, make_figure, pick_pairs, zoom_crop
from yonos_bench.runs.results import load_results, read_per_image

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "figure_reference.png")
MODELS = ["bicubic", "lanczos", "yonos-tiny-x4@1"]


def _cell(results, model):
    runs, _ = load_results(results, kind="run")
    return next(r for r in runs if r.model == model).path.parent


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_zoom_crop_is_the_source_pixels(tmp_path, picture_results):
    results, data = picture_results
    box = (37, 52, 24, 16)
    res = make_figure(results, MODELS, tmp_path / "fig", pairs=["astronaut_p01"], inset=box, lr="nearest",
                      data_root=data, dpi=72)  # fmt: skip
    (row,) = res.rows
    assert row.box == box and res.columns[0] == "LR (nearest)" and res.columns[-1] == "HR"
    x, y, w, h = box
    factor = 128 // w  # zoom drawn at the tile's width, integer nearest-neighbour
    sources = [_png(_cell(results, m.split("@")[0]) / "sr" / "astronaut_p01.png") for m in MODELS]
    sources.append(_png(data / "prepared" / "sample-v1" / "hr" / "astronaut_p01.png"))
    for tile, src in zip(row.tiles[1:], sources, strict=True):
        crop = src[y : y + h, x : x + w]
        assert tile.zoom.shape == (h * factor, w * factor, 3)
        assert np.array_equal(tile.zoom[::factor, ::factor], crop)
        assert np.array_equal(tile.zoom, zoom_crop(src, box, factor))
        assert np.array_equal(tile.image, src)
    # The nearest LR tile repeats each LR pixel 4x4: its zoom shows LR pixels, not resampled ones.
    lr = row.tiles[0]
    assert np.array_equal(lr.image[::4, ::4].repeat(4, 0).repeat(4, 1), lr.image)


def test_labels_come_from_model_cards_with_steps(tmp_path, picture_results):
    results, data = picture_results
    res = make_figure(results, MODELS, tmp_path / "fig", pick="spread", n=1, data_root=data, dpi=72)
    assert res.columns == ["LR (bicubic)", "Bicubic", "Lanczos", "YONOS-tiny x4 (1 step)", "HR"]


def test_pick_by_metric_difference_uses_per_image_values(tmp_path, picture_results):
    results, data = picture_results
    a = read_per_image(_cell(results, "yonos-tiny-x4") / "per_image.csv")["psnr-y"]
    b = read_per_image(_cell(results, "bicubic") / "per_image.csv")["psnr-y"]
    diff = {k: a[k] - b[k] for k in a}  # PSNR: higher is better, so positive = A better
    best, worst = max(diff, key=diff.get), min(diff, key=diff.get)
    res = make_figure(results, MODELS, tmp_path / "fig", pick="gain-loss", n=2, metric="psnr-y",
                      versus=("yonos-tiny-x4", "bicubic"), data_root=data, dpi=72)  # fmt: skip
    assert [r.pair_id for r in res.rows] == [best, worst]
    assert res.rows[0].delta == pytest.approx(diff[best]) and res.rows[1].delta == pytest.approx(diff[worst])


def test_pick_pairs_rules():
    deltas = {"a": 0.5, "b": -2.0, "c": 3.0, "d": 0.0, "e": -1.0}
    assert pick_pairs(list(deltas), deltas, "gain", 2) == ["c", "a"]
    assert pick_pairs(list(deltas), deltas, "loss", 2) == ["b", "e"]
    assert pick_pairs(list(deltas), deltas, "gain-loss", 3) == ["c", "a", "b"]
    assert pick_pairs(list("edcba"), None, "spread", 3) == ["a", "c", "e"]


def test_auto_inset_is_where_the_models_differ():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    other = base.copy()
    other[40:50, 8:18] = 255 - other[40:50, 8:18]
    x, y, w, h = auto_inset([base, other, base], 16)
    assert (w, h) == (16, 16) and x <= 8 and x + w >= 18 and y <= 40 and y + h >= 50


def test_figure_matches_the_stored_reference(tmp_path, picture_results):
    """Layout, labels, inset and zoom as committed (regenerate with YONOS_UPDATE_REFERENCE=1
    after an intended change, and look at the new image)."""
    results, data = picture_results
    res = make_figure(results, MODELS, tmp_path / "ref", pick="spread", n=2, inset=(56, 40, 32, 32),
                      width="column", dpi=100, tile_metric="psnr-y", data_root=data)  # fmt: skip
    got = _png(res.png).astype(np.int16)
    if os.environ.get("YONOS_UPDATE_REFERENCE"):
        Image.open(res.png).save(REFERENCE, optimize=True)
    want = _png(REFERENCE).astype(np.int16)
    assert got.shape == want.shape
    diff = np.abs(got - want)
    # Tolerance: anti-aliased text and float-level model differences across machines.
    assert diff.mean() < 1.5 and (diff.max(axis=2) > 64).mean() < 0.005, (diff.mean(), (diff > 64).mean())


def test_same_inputs_same_bytes_and_pdf_text_is_text(tmp_path, picture_results):
    results, data = picture_results
    kw = dict(pick="spread", n=2, data_root=data, dpi=72, width="column")
    one = make_figure(results, MODELS, tmp_path / "one", **kw)
    two = make_figure(results, MODELS, tmp_path / "two", **kw)
    assert one.png.read_bytes() == two.png.read_bytes() and one.pdf.read_bytes() == two.pdf.read_bytes()
    pdf = one.pdf.read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/ToUnicode" in pdf  # embedded TrueType
    streams = [zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S)
               if m[:1] == b"x"]  # fmt: skip
    text_objects = sum(s.count(b"BT\n") + s.count(b"BT ") for s in streams)
    assert text_objects >= len(one.columns)  # every label is a text object, not outlines
    # Figure width: LaTeX \columnwidth (3.25 in) at the asked dpi.
    assert Image.open(one.png).size[0] == round(3.25 * 72)


def test_cli_figure_writes_png_and_pdf_and_reports_errors(tmp_path, picture_results):
    results, data = picture_results
    base = ["figure", "--results", str(results), "--data-root", str(data), "--dpi", "72"]
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, [*base, "-m", "bicubic", "-m", "yonos-tiny-x4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"Wrote {out}.png and {out}.pdf" in res.output and "inset" in res.output
    assert (out.with_suffix(".png")).read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(app, [*base, "-m", "bicubc", "-m", "lanczos"])
    assert bad.exit_code == 1 and "Did you mean: bicubic" in bad.output and "Traceback" not in bad.output
    bad = CliRunner().invoke(app, [*base, "-m", "bicubic", "-m", "lanczos", "--inset", "120,120,32,32"])
    assert bad.exit_code == 1 and "does not fit in the 128x128" in bad.output
    bad = CliRunner().invoke(app, [*base, "-m", "bicubic", "-m", "yonos-tiny-x4@4"])
    assert bad.exit_code == 1 and "no results at 4 steps (it has: 1)" in bad.output
    bad = CliRunner().invoke(app, [*base, "-m", "bicubic", "--pair", "nope"])
    assert bad.exit_code == 1 and "Unknown pair id" in bad.output


def test_lr_hr_must_be_the_pairs_the_runs_saw(tmp_path, picture_results):
    import json
    import shutil

    results, data = picture_results
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    for f in copy.rglob("result.json"):  # as if computed on another instance of the protocol
        obj = json.loads(f.read_text())
        obj["protocol"]["digest"] = "e" * 64
        f.write_text(json.dumps(obj))
    with pytest.raises(YonosError, match="are not the ones these results were computed on"):
        make_figure(copy, MODELS, tmp_path / "fig", data_root=data)


def test_figure_help_is_instant():
    res = CliRunner().invoke(app, ["figure", "--help"])
    assert res.exit_code == 0 and "--inset" in res.output and "--pick" in res.output
