"""Issue 14, read-only side: ``check``, ``table`` and ``plot`` never report a wrong number,
a passing gate or a ranking in silence (gate that compared nothing, rankings across
different pair sets, unclustered intervals, unmeasured s/img, edited or corrupt result
files, paper numbers of folder baselines)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.errors import YonosError
from yonos_bench.metrics.stats import bootstrap_ci, paired_bootstrap
from yonos_bench.report.check import check_results, format_report, read_baseline, write_baseline
from yonos_bench.report.tables import build_table

runner = CliRunner()


def _bicubic(root, write_run, **kw):
    return write_run(root, model="bicubic", values={"psnr-y": [25.0, 27.0], "ssim-y": [0.7, 0.8]}, **kw)


# ------------------------------------------------------------------ 1. check compares something


def test_i01_check_filter_with_unknown_name_is_a_did_you_mean(results_root, write_run, tmp_path):
    _bicubic(results_root, write_run)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    for flag, bad, good in (("-m", "bicubc", "bicubic"), ("-p", "sampel", "sample")):
        res = runner.invoke(
            app, ["check", "--baseline", str(base), "--results", str(results_root), flag, bad]
        )
        assert res.exit_code == 1, res.output
        assert bad in res.output and good in res.output and "PASSED" not in res.output


def test_i01_check_of_an_empty_baseline_fails(results_root, write_run, tmp_path):
    _bicubic(results_root, write_run)
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps({"schema": "yonos-bench/baseline/v1", "tolerances": {}, "entries": []}))
    res = runner.invoke(app, ["check", "--baseline", str(base), "--results", str(results_root)])
    assert res.exit_code == 1, res.output
    assert "compared nothing" in res.output and "PASSED" not in res.output


def test_i01_missing_rows_say_why(results_root, write_run, tmp_path):
    _bicubic(results_root, write_run, limit=16)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    shutil.rmtree(results_root)
    _bicubic(results_root, write_run, limit=20)
    report = check_results(results_root, base)
    assert report.failed and {r.status for r in report.rows} == {"MISSING"}
    text = format_report(report)
    assert "--limit 20" in text and "--limit 16" in text
    shutil.rmtree(results_root)
    report = check_results(results_root, base)  # no results at all
    assert report.failed and "no result" in format_report(report)


# ------------------------------------------------------------------ 5. rank only like with like


def test_i05_table_ranks_only_results_on_the_same_pairs(results_root, write_run):
    write_run(results_root, model="bicubic", values={"psnr-y": list(np.linspace(24, 26, 10))})
    write_run(results_root, model="lanczos", values={"psnr-y": list(np.linspace(25, 27, 10))})
    write_run(results_root, model="yonos-x4", values={"psnr-y": [40.0, 41.0, 42.0]}, limit=3)
    t = build_table(results_root)
    row = t.rows[0]
    by = {c.model: v for c, v in zip(t.columns, row.values, strict=True)}
    assert by["lanczos"].rank == 1 and by["bicubic"].rank == 2
    assert by["yonos-x4"].rank is None and not by["yonos-x4"].not_significant
    assert any("not ranked" in n and "yonos-x4" in n for n in t.notes)


# ------------------------------------------------------------------ 6. clustered intervals


def test_i06_cluster_bootstrap_equals_bootstrap_of_cluster_means_for_equal_clusters():
    rng = np.random.default_rng(3)
    means = rng.normal(28, 2, size=7)
    values = np.repeat(means, 30)  # 30 identical patches per source image
    clusters = np.repeat([f"img{k}" for k in range(7)], 30)
    ci = bootstrap_ci(values, clusters=clusters, n_boot=500, seed=0)
    ref = bootstrap_ci(means, n_boot=500, seed=0)  # independent: 7 values, plain bootstrap
    assert ci.n == 210 and ci.n_clusters == 7
    assert ci.ci_low == pytest.approx(ref.ci_low, abs=1e-12) and ci.ci_high == pytest.approx(
        ref.ci_high, abs=1e-12
    )
    naive = bootstrap_ci(values, n_boot=500, seed=0)
    assert (ci.ci_high - ci.ci_low) > 2 * (naive.ci_high - naive.ci_low)


def test_i06_paired_test_resamples_source_images():
    # Within each source image the difference is consistent, across images it changes sign:
    # 4 images, patches as independent → "significant"; images as the unit → not.
    d = np.repeat([1.0, -0.6, 0.8, -0.5], 30) + np.tile(np.linspace(-0.01, 0.01, 30), 4)
    clusters = np.repeat(list("abcd"), 30)
    b = np.full(120, 20.0)
    assert paired_bootstrap(b + d, b, seed=0).significant
    assert not paired_bootstrap(b + d, b, clusters=clusters, seed=0).significant


def test_i06_table_dagger_and_note_use_source_images(results_root, write_run):
    srcs = [s for s in "abcd" for _ in range(30)]
    d = np.repeat([1.0, -0.6, 0.8, -0.5], 30) + np.tile(np.linspace(-0.01, 0.01, 30), 4)
    write_run(results_root, model="bicubic", values={"psnr-y": list(20 + d)}, sources=srcs)
    write_run(results_root, model="lanczos", values={"psnr-y": [20.0] * 120}, sources=srcs)
    t = build_table(results_root)
    by = {c.model: v for c, v in zip(t.columns, t.rows[0].values, strict=True)}
    assert by["bicubic"].rank == 1 and by["lanczos"].not_significant
    assert any("source image" in n for n in t.notes)


# ------------------------------------------------------------------ 7. s/img of models we did not run


def test_i07_folder_results_have_no_measured_s_per_img(results_root, write_run):
    write_run(results_root, model="bicubic", values={"psnr-y": [25.0, 27.0]}, seconds=0.01)
    write_run(
        results_root,
        model="seesr",
        values={"psnr-y": [24.0, 26.0]},
        seconds=0.004,
        info={"adapter": "folder"},
    )  # fmt: skip  (an old result: file-read time was recorded)
    t = build_table(results_root)
    s = {c.model: v for c, v in zip(t.columns, t.s_per_img, strict=True)}
    assert s["bicubic"] == pytest.approx(0.01) and s["seesr"] is None
    assert any("seesr" in n and "not run by us" in n for n in t.notes)


# ------------------------------------------------------------------ 8. the baseline keeps tolerances


def test_i08_write_baseline_records_default_tolerances(results_root, write_run, tmp_path):
    _bicubic(results_root, write_run)
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    tol = read_baseline(base)["tolerances"]
    assert set(tol) == {"psnr-y", "ssim-y"} and all(float(v.rstrip("%")) > 0 for v in tol.values())
    shutil.rmtree(results_root)
    _bicubic(results_root, write_run)  # a rerun one LSB away would move PSNR by ~1e-3 dB
    assert not check_results(results_root, base).failed


# ------------------------------------------------------------------ 9. result.json is checked


def _edit_mean(path, metric, value):
    data = json.loads(path.read_text())
    data["metrics"][metric]["mean"] = value
    path.write_text(json.dumps(data))


def test_i09_a_hand_edited_mean_is_refused(results_root, write_run, tmp_path):
    good = _bicubic(results_root, write_run)
    edited = write_run(results_root, model="lanczos", values={"psnr-y": [25.0, 26.0], "ssim-y": [0.7, 0.8]})
    _edit_mean(edited, "psnr-y", 31.0)
    res = runner.invoke(app, ["table", "--results", str(results_root)])
    assert res.exit_code == 1, res.output
    assert str(edited) in res.output and "per_image.csv" in res.output
    assert good.exists()
    res = runner.invoke(app, ["table", "--results", str(results_root), "--skip-bad"])
    assert res.exit_code == 0, res.output
    assert "31.00" not in res.output and str(edited) in res.output


# ------------------------------------------------------------------ 11. a corrupt result.json


@pytest.mark.parametrize("command", ["table", "check", "plot"])
def test_i11_a_corrupt_result_json_fails_table_check_plot(results_root, write_run, tmp_path, command):
    _bicubic(results_root, write_run)
    other = write_run(results_root, model="lanczos", values={"psnr-y": [26.0, 28.0], "ssim-y": [0.7, 0.8]})
    base = tmp_path / "baseline.json"
    write_baseline(results_root, base)
    other.write_text(other.read_text()[:50])  # torn
    args = {
        "table": ["table"],
        "check": ["check", "--baseline", str(base)],
        "plot": ["plot", "--metric", "psnr-y", "--x", "seconds", "--out", str(tmp_path / "p")],
    }[command] + ["--results", str(results_root)]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert str(other) in res.output and "--skip-bad" in res.output
    res = runner.invoke(app, [*args, "--skip-bad"])
    assert str(other) in res.output  # still named, as a warning
    if command != "check":  # check then reports the lanczos entry MISSING (exit 1), as it should
        assert res.exit_code == 0, res.output


# ------------------------------------------------------------------ 12. paper numbers of folder models


def test_i12_with_paper_matches_the_steps_a_folder_card_declares(results_root, write_run):
    vals = {"psnr-y": [23.0, 23.5], "lpips-alex": [0.3, 0.32]}
    write_run(results_root, model="seesr", protocol="div2k-real", values=vals,
              info={"adapter": "folder", "outputs_steps": 50})  # fmt: skip
    t = build_table(results_root, with_paper=True)
    paper = {r.metric: r.values[0].paper for r in t.rows}
    assert paper == {"psnr-y": pytest.approx(23.68), "lpips-alex": pytest.approx(0.3194)}
    shutil.rmtree(results_root)
    write_run(results_root, model="seesr", protocol="div2k-real", values=vals,
              info={"adapter": "folder", "outputs_steps": 20})  # fmt: skip
    t = build_table(results_root, with_paper=True)
    assert all(r.values[0].paper is None for r in t.rows)  # made with other steps: no match


def test_i12_folder_and_command_cards_accept_outputs_steps(tmp_path):
    from yonos_bench.models import load_model
    from yonos_bench.models.registry import parse_card

    (tmp_path / "out").mkdir()
    from yonos_bench.core.imageio import write_png

    write_png(tmp_path / "out" / "a.png", np.zeros((8, 8, 3), np.uint8))
    card = parse_card(
        "name: f\nadapter: folder\nscale: 4\nsteps: null\ndescription: d\ncitation: c\nlicense: l\n"
        f"options: {{outputs: '{tmp_path / 'out'}', outputs_steps: 200}}\n",
        "f.yaml",
        protocols=set(),
    )
    m = load_model(card)
    assert m.info["outputs_steps"] == 200
    with pytest.raises(YonosError, match="outputs_steps"):
        parse_card(
            "name: f\nadapter: folder\nscale: 4\nsteps: null\ndescription: d\ncitation: c\nlicense: l\n"
            "options: {outputs_steps: 0}\n",
            "f.yaml",
            protocols=set(),
        )


def test_i01_junit_of_a_gate_that_compared_nothing_is_red(results_root, write_run, tmp_path):
    """The JUnit export (issue 19) follows the gate's verdict (issue 14): zero comparisons fail."""
    import json as _json

    from yonos_bench.report.check import check_results
    from yonos_bench.report.check_export import report_json, report_junit

    write_run(results_root, model="bicubic", values={"psnr-y": [28.0, 29.0]})
    empty = tmp_path / "empty.json"
    empty.write_text(_json.dumps({"schema": "yonos-bench/baseline/v1", "tolerances": {}, "entries": []}))
    report = check_results(results_root, empty)
    assert report.failed and not report.rows
    assert _json.loads(report_json(report))["passed"] is False
    xml = report_junit(report)
    assert 'failures="1"' in xml and "compared nothing" in xml
