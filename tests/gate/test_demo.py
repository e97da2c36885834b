"""`yonos-bench demo` end to end on a small --limit (the shipped tiny models, offline)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.demo import ABLATION, BASELINES, SWEEP_MODELS, SWEEP_STEPS, TINY_MODELS
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
    for m in (*BASELINES, *TINY_MODELS):
        assert f"| {m} " in header + " " and m in out
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
