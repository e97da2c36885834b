"""`plot`: metric vs steps (Fig. 3) and vs s/img, from synthetic result files."""

from __future__ import annotations

import pytest
from PIL import Image

from yonos_bench.core.errors import YonosError
from yonos_bench.report.plot import plot_results


@pytest.fixture
def sweep(results_root, write_run):
    for model, base in (("yonos", 20.0), ("sd-sr", 15.0)):
        for i, steps in enumerate((1, 2, 4)):
            write_run(
                results_root,
                model=model,
                values={"psnr-y": [base + i, base + i + 1, base + i + 0.5]},
                steps=steps,
                seconds=0.1 * steps,
            )
    write_run(results_root, model="bicubic", values={"psnr-y": [18.0, 19.0]})
    return results_root


def test_steps_plot_one_line_per_model(sweep, tmp_path):
    out = plot_results(sweep, "psnr-y", tmp_path / "fig3")
    assert out.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.pdf.read_bytes()[:5] == b"%PDF-"
    with Image.open(out.png) as im:
        im.verify()
    assert out.n_lines == 3
    by = {s.label: s for s in out.series}
    assert sorted(by) == ["bicubic", "sd-sr", "yonos"]
    assert [p.x for p in by["yonos"].points] == [1.0, 2.0, 4.0]
    assert [p.y for p in by["yonos"].points] == pytest.approx([20.5, 21.5, 22.5])
    assert by["bicubic"].horizontal and not by["yonos"].horizontal
    assert all(p.lo < p.y < p.hi for p in by["sd-sr"].points)
    assert all(s.reportable for s in out.series)


def test_limit_runs_are_flagged(results_root, write_run, tmp_path):
    write_run(results_root, model="yonos", values={"psnr-y": [20.0, 21.0]}, steps=1, limit=2)
    out = plot_results(results_root, "psnr-y", tmp_path / "x")
    assert out.series[0].reportable is False


def test_frontier_plot_uses_seconds(sweep, tmp_path):
    out = plot_results(sweep, "psnr-y", tmp_path / "frontier.png", x="seconds", models=["yonos"])
    assert out.png.name == "frontier.png" and out.pdf.is_file()
    assert [p.x for p in out.series[0].points] == pytest.approx([0.1, 0.2, 0.4])


def test_plot_errors(sweep, tmp_path):
    with pytest.raises(YonosError, match="Did you mean: psnr-y"):
        plot_results(sweep, "psnr", tmp_path / "x")
    with pytest.raises(YonosError, match="Did you mean: yonos"):
        plot_results(sweep, "psnr-y", tmp_path / "x", models=["yonso"])
