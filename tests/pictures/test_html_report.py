"""`yonos-bench report`: a static page, checked in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil

from typer.testing import CliRunner

from tests.pictures.conftest import REPO, run_chromium
from yonos_bench.cli import app
from yonos_bench.core.formatting import format_value
from yonos_bench.report.html import write_report
from yonos_bench.runs.results import load_results, read_per_image

SCREENSHOT = REPO / "build" / "report-screenshot.png"


def _cells(results):
    runs, _ = load_results(results, kind="run")
    return {r.model: r for r in runs}


def _page_data(index) -> list[dict]:
    text = index.read_text()
    m = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_report_renders_tables_and_first_pair_in_chromium(tmp_path, picture_results, chromium):
    results, data = picture_results
    built = write_report(results, tmp_path / "built", data_root=data, compare=("yonos-tiny-x4@1", "bicubic"))
    # The page must not depend on where it was written: open a moved copy, the original gone.
    moved = tmp_path / "moved"
    shutil.copytree(built.index.parent, moved)
    shutil.rmtree(built.index.parent)
    url = (moved / "index.html").as_uri()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    shot = run_chromium(
        chromium, url, tmp_path / "p1", f"--screenshot={SCREENSHOT}", "--window-size=1400,2000"
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert SCREENSHOT.read_bytes()[:4] == b"\x89PNG" and SCREENSHOT.stat().st_size > 50_000

    dump = run_chromium(chromium, url, tmp_path / "p2", "--dump-dom")
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = dump.stdout
    # The tables, as `table --with-paper` builds them: every model's column and its value.
    table = re.search(r'<table class="results">(.*?)</table>', dom, re.S).group(1)
    cells = _cells(results)
    from yonos_bench.report.tables import display_names

    labels = display_names(list(cells))  # column headers: the cards' display names
    for model, r in cells.items():
        assert f"<th>{labels[model]}</th>" in table
        assert format_value(r.data["metrics"]["psnr-y"]["mean"]) in table
    # The browser's first row: the pair where A (yonos-tiny-x4) beats B (bicubic) most on PSNR-Y.
    a = read_per_image(cells["yonos-tiny-x4"].path.parent / "per_image.csv")["psnr-y"]
    b = read_per_image(cells["bicubic"].path.parent / "per_image.csv")["psnr-y"]
    first = max(a, key=lambda k: (a[k] - b[k], k))
    pairs = re.findall(r'<div class="pair" data-id="([^"]+)">', dom)
    assert pairs and pairs[0] == first and len(pairs) == 4
    row = dom[dom.index(f'data-id="{first}"') :].split('<div class="pair"')[0]
    imgs = re.findall(r"<img [^>]*>", row)
    loaded = [i for i in imgs if 'data-loaded="1"' in i]
    assert len(imgs) == 6 and loaded == imgs, imgs  # LR, A, B, HR, and the two wipe layers
    srcs = [re.search(r'src="([^"]+)"', i).group(1) for i in imgs]
    assert srcs[0] == f"img/sample-v1/lr/{first}.png" and srcs[3] == f"img/sample-v1/hr/{first}.png"
    assert "A: YONOS-tiny x4 (1 step)" in row and "B: Bicubic" in row
    assert "4 pairs. On psnr-y, A (YONOS-tiny x4 (1 step)) is better than B (Bicubic)" in dom


def test_report_is_self_contained(tmp_path, picture_results):
    results, data = picture_results
    res = write_report(results, tmp_path / "r", data_root=data)
    page = res.index.read_text()
    assert "http://" not in page and "https://" not in page  # no CDN, nothing fetched
    assert "<script src" not in page and "<link" not in page  # CSS and JS inlined
    folder = res.index.parent
    (proto,) = _page_data(res.index)
    n = 0
    for cell in proto["cells"]:
        for pid in cell["have"]:
            assert (folder / cell["dir"] / f"{pid}.png").is_file()
            n += 1
    for pid in proto["pairs"]:
        assert (folder / proto["lr"] / f"{pid}.png").is_file() and (
            folder / proto["hr"] / f"{pid}.png"
        ).is_file()
    assert n == 3 * 4 and res.n_images == n + 2 * 4
    for src in re.findall(r'(?:src|href)="([^"#]+)"', page):
        assert (folder / src).is_file(), src


def test_cli_report(tmp_path, picture_results):
    results, data = picture_results
    out = tmp_path / "page"
    res = CliRunner().invoke(
        app, ["report", "--results", str(results), "--data-root", str(data), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert f"Wrote {out / 'index.html'} (20 images" in res.output
    empty = CliRunner().invoke(app, ["report", "--results", str(tmp_path / "none"), "--out", str(out)])
    assert empty.exit_code == 1 and "No result files" in empty.output and "Traceback" not in empty.output
    assert CliRunner().invoke(app, ["report", "--help"]).exit_code == 0
    again = CliRunner().invoke(
        app, ["report", "--results", str(results), "--data-root", str(data), "--out", str(out)]
    )
    assert again.exit_code == 0, again.output  # an earlier report is replaced
    other = tmp_path / "mine"
    (other / "img").mkdir(parents=True)
    (other / "img" / "keep.png").write_bytes(b"x")
    refused = CliRunner().invoke(
        app, ["report", "--results", str(results), "--data-root", str(data), "--out", str(other)]
    )
    assert refused.exit_code == 1 and "is not empty and holds no earlier report" in refused.output
    assert (other / "img" / "keep.png").is_file()
