"""The Miniature v2 analysis rule (scripts/miniature_analysis.py) on hand-made result cells."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import evaluate_miniature  # noqa: E402
import miniature_analysis as ma  # noqa: E402


def test_t_interval_matches_the_textbook_formula():
    d = [0.30, 0.10, 0.20]
    est = ma.t_interval(d)
    # n = 3: t_{0.975, 2} = 4.302652729911275 (tables); sd = 0.1
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert est["mean"] == pytest.approx(0.2) and est["sd"] == pytest.approx(0.1)
    assert (est["low"], est["high"]) == pytest.approx((0.2 - half, 0.2 + half))
    assert ma.t_interval([0.4])["low"] is None  # one seed: no interval, never a fake one


def test_verdict_follows_the_preregistered_rule():
    assert ma.verdict({"mean": 0.3, "low": 0.1, "high": 0.5}, "psnr-y") == "wins"
    assert ma.verdict({"mean": -0.3, "low": -0.5, "high": -0.1}, "psnr-y") == "loses"
    assert ma.verdict({"mean": 0.1, "low": -0.1, "high": 0.3}, "psnr-y") == "inconclusive"
    assert ma.verdict({"mean": 0.02, "low": 0.01, "high": 0.03}, "psnr-y") == "wins (negligible)"
    # lower is better for KID: a negative difference is a win
    assert ma.verdict({"mean": -0.01, "low": -0.02, "high": -0.005}, "kid-clean") == "wins"
    assert ma.verdict({"mean": 0.01, "low": 0.005, "high": 0.02}, "swd") == "loses"
    assert ma.verdict({"mean": 0.1, "low": None, "high": None}, "psnr-y").startswith("no interval")


def test_two_level_bootstrap_brackets_the_mean_and_collapses_without_spread():
    flat = [{"a": [1.0, 1.0], "b": [1.0]}, {"a": [1.0], "b": [1.0, 1.0]}]
    b = ma.two_level_bootstrap(flat, n_boot=200)
    assert b["low"] == pytest.approx(1.0) and b["high"] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    noisy = [{p: list(rng.normal(0.5, 1.0, 30)) for p in "abcdefg"} for _ in range(3)]
    b = ma.two_level_bootstrap(noisy, n_boot=500)
    assert b["low"] < 0.5 < b["high"]


def _cell(root: Path, protocol: str, model: str, steps, psnr: dict[str, float], kid: float, supports_steps=True):
    d = root / f"{protocol}-v1" / model / f"steps{steps}-seed0-fp32"
    d.mkdir(parents=True)
    with (d / "per_image.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "source", "seed", "sr_sha256", "psnr-y"])
        for pid, v in psnr.items():
            w.writerow([pid, pid.split("_")[0], 0, "x", v])
    (d / "result.json").write_text(json.dumps({
        "cell": {"protocol": protocol, "model": model, "steps": steps}, "model": {"supports_steps": supports_steps},
        "metrics": {"psnr-y": {"mean": float(np.mean(list(psnr.values())))}, "kid-clean": {"mean": kid}},
        "reportable": True, "n": len(psnr)}))  # fmt: skip


def test_analysis_end_to_end_on_hand_made_cells(tmp_path):
    res = tmp_path / "results"
    pairs = [f"{photo}_p{i:02d}" for photo in ("astro", "cat") for i in range(3)]
    offsets = {0: 0.30, 1: 0.20, 2: 0.25}  # (b) − (c) per seed, on every pair
    for s, off in offsets.items():
        base = {p: 20.0 + i * 0.1 + s for i, p in enumerate(pairs)}
        _cell(res, "sample", f"control-x4-s{s}", 1, base, 0.05)
        _cell(res, "sample", f"distill-x4-s{s}", 1, {p: v + off for p, v in base.items()}, 0.04)
        _cell(res, "sample", f"direct-x4-s{s}", 1, {p: v - 1.0 for p, v in base.items()}, 0.07)
        _cell(res, "sample", f"control-x4-s{s}", 2, {p: v + 1.0 for p, v in base.items()}, 0.05)  # gap closes at 2 steps
        _cell(res, "sample", f"distill-x4-s{s}", 2, {p: v + 1.0 + off / 10 for p, v in base.items()}, 0.04)
    _cell(res, "sample", "bicubic", None, {p: 25.0 for p in pairs}, 0.01, supports_steps=False)
    proc = subprocess.run([sys.executable, str(SCRIPTS / "miniature_analysis.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    primary = next(c for c in summary["comparisons"] if (c["scale"], c["x"], c["y"], c["metric"])
                   == (4, "distill", "control", "psnr-y"))  # fmt: skip
    assert primary["mean"] == pytest.approx(0.25) and primary["per_seed"] == pytest.approx(
        {"0": 0.30, "1": 0.20, "2": 0.25}
    )
    assert primary["verdict"] == "wins" and primary["low"] > 0
    kid = next(c for c in summary["comparisons"] if (c["x"], c["y"], c["metric"]) == ("distill", "control", "kid-clean"))
    assert kid["mean"] == pytest.approx(-0.01) and kid["verdict"].startswith(("wins", "inconclusive"))
    direct = next(c for c in summary["comparisons"] if (c["x"], c["y"], c["metric"]) == ("distill", "direct", "psnr-y"))
    assert direct["mean"] == pytest.approx(1.25)
    md = (tmp_path / "RESULTS.md").read_text()
    assert "| ×4 | distill − control | psnr-y | +0.25 |" in md and "n = 210 < 1,000" in md
    gaps = {(c["x"], c["y"], c["steps"]): c for c in summary["fig3_differences"] if c["metric"] == "psnr-y"}
    assert gaps[("distill", "control", 1)]["mean"] == pytest.approx(0.25)
    assert gaps[("distill", "control", 2)]["mean"] == pytest.approx(0.025)
    assert gaps[("distill", "control", 2)]["per_seed"] == pytest.approx({"0": 0.03, "1": 0.02, "2": 0.025})
    assert ("distill", "direct", 2) not in gaps  # no 2-step cell of (a): nothing to compare, nothing made up
    assert "| ×4 | distill − control | 2 | psnr-y | +0.0" in md and "| ×4 | distill − control | 1 | psnr-y | +0.25 |" in md


def test_mismatched_pair_sets_are_never_compared(tmp_path):
    res = tmp_path / "results"
    _cell(res, "sample", "distill-x4-s0", 1, {"a_p00": 21.0, "a_p01": 22.0}, 0.1)
    _cell(res, "sample", "control-x4-s0", 1, {"a_p00": 20.0}, 0.1)
    cells = ma.load_cells(res)
    d, photos = ma.seed_difference(cells, "sample", "distill-x4-s0", "control-x4-s0", 1, "psnr-y")
    assert d is None and photos is None


def test_analysis_and_evaluation_refuse_an_empty_folder(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPTS / "miniature_analysis.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "no results/ folder" in proc.stderr
    (tmp_path / "results").mkdir()
    proc = subprocess.run([sys.executable, str(SCRIPTS / "miniature_analysis.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "nothing to analyse" in proc.stderr
    proc = subprocess.run([sys.executable, str(SCRIPTS / "evaluate_miniature.py"), str(tmp_path), "--out",
                           str(tmp_path / "ev")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "no LOG.json" in proc.stderr


def test_evaluation_finds_models_and_their_teachers(tmp_path):
    log = {"stages": {}}
    for name in ("teacher-x2-p80-s0", "teacher-x2-s0", "distill-x4-s0", "decoder-distill-x4-s0", "distill-x8-s0",
                 "control-x4-s0", "autoencoder"):  # fmt: skip
        (tmp_path / name / "pipeline").mkdir(parents=True)
        (tmp_path / name / "pipeline" / "model_index.json").write_text("{}")
        log["stages"][name] = {"status": "done"}
    log["stages"]["control-x4-s0"]["status"] = "failed"
    (tmp_path / "LOG.json").write_text(json.dumps(log))
    models = {m.name: m for m in evaluate_miniature.finished_models(tmp_path)}
    assert set(models) == {"teacher-x2-p80-s0", "teacher-x2-s0", "distill-x4-s0", "decoder-distill-x4-s0",
                           "distill-x8-s0"}  # fmt: skip
    assert models["teacher-x2-p80-s0"].snapshot and not models["teacher-x2-s0"].snapshot
    assert models["distill-x4-s0"].teacher_name == "teacher-x2-s0"
    assert models["distill-x8-s0"].teacher_name == "distill-x4-s0"
    assert models["decoder-distill-x4-s0"].decoder and models["decoder-distill-x4-s0"].teacher_name is None


def _sweep_models(tmp_path: Path) -> list:
    M = evaluate_miniature.Model
    out = []
    for s in (0, 1, 2):
        out.append(M(f"teacher-x2-s{s}", tmp_path, "teacher", 2, s, False))
        for n in (4, 8):
            for arm in ("direct", "distill", "control"):
                out.append(M(f"{arm}-x{n}-s{s}", tmp_path, arm, n, s, False))
            for arm in ("direct", "distill"):
                out.append(M(f"decoder-{arm}-x{n}-s{s}", tmp_path, arm, n, s, True))
    return out


def _planned_cells(monkeypatch, tmp_path: Path, what: set[str]) -> list[tuple[str, tuple[str, ...], int | None]]:
    calls = []
    monkeypatch.setattr(evaluate_miniature, "run_cell", lambda protocol, ms, steps, mets, results, logs: calls.append(
        (protocol, tuple(m if isinstance(m, str) else m.name for m in ms), steps)) or {"ok": True})
    for job in evaluate_miniature.jobs_for(_sweep_models(tmp_path), ["psnr-y", "ssim-y"], tmp_path, tmp_path, what):
        job()
    return calls


def test_fig3_seed_cells_cover_every_seed_of_the_three_arms_at_x4_and_x8(monkeypatch, tmp_path):
    calls = _planned_cells(monkeypatch, tmp_path, {"fig3", "fig3-seeds"})
    covered = {(p, name, k) for p, names, k in calls for name in names}
    for s in (0, 1, 2):
        for arm in ("direct", "distill", "control"):
            for k in (2, 4, 8):
                assert ("sample", f"{arm}-x4-s{s}", k) in covered
            assert ("sample-x8", f"{arm}-x8-s{s}", 4) in covered
    assert not any(name.startswith("decoder-") for _, names, _ in calls for name in names)  # original decoder only
    x8_more = _planned_cells(monkeypatch, tmp_path, {"fig3-x8"})
    assert sorted({k for _, _, k in x8_more}) == [2, 8] and all(p == "sample-x8" for p, _, _ in x8_more)
    assert sum(len(names) for _, names, _ in x8_more) == 2 * 9  # 3 arms x 3 seeds at each of 2 step counts
