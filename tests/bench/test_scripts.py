"""The benchmark scripts run (reduced sizes) and report what they measured; no timing is asserted.

* ``benchmarks/gpu.sh --cpu-reduced``: the GPU script's code paths on CPU (tiny preset,
  every variant incl. ``torch.compile`` with the eager backend), JSON in ``$OUT``.
* ``gpu_speed``'s budget and interrupt handling.
* ``run_all.py``: the table/JSON plumbing with stand-in benchmark modules (a good one and
  a crashing one), and the pure ratio arithmetic of ``bench_steps`` / ``bench_tiling``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_tiling  # noqa: E402
import gpu_speed  # noqa: E402
import run_all  # noqa: E402


def test_gpu_sh_cpu_reduced_writes_every_variant_and_the_peer_table(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PY": sys.executable}
    args = [
        "--batches",
        "1",
        "2",
        "--steps",
        "1",
        "2",
        "--repeats",
        "1",
        "--warmup",
        "1",
        "--metric-pairs",
        "4",
        "--threads",
        "1",
    ]
    proc = subprocess.run(
        ["bash", str(BENCH / "gpu.sh"), "--cpu-reduced", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "gpu_speed.json").read_text())
    assert doc["device"].startswith("cpu") and doc["config"]["preset"] == "tiny"
    assert set(doc["runs"]) == {f"{v}@b{b}" for v in gpu_speed.VARIANTS for b in (1, 2)}
    for key, rec in doc["runs"].items():
        assert "error" not in rec, key
        for steps in (1, 2):
            assert rec[f"steps{steps}"]["s_per_image"] > 0, key
        stages = rec["steps1"]["stages_per_image"]
        assert stages["steps"] == 1 and stages["unet"] > 0 and stages["decode"] > 0
    assert doc["best_one_step_b8"]["batch"] == 2
    assert doc["metrics"]["n_scored"] == 4 and doc["metrics"]["images_per_s"] > 0
    out = proc.stdout
    assert "device: cpu" in out and "sdpa+cl+compile" in out
    assert "StableSR" in out and "11.50 s/img" in out and "OSEDiff (own script)" in out
    assert "no verdict (reduced mode" in out


class _FrozenBudget:
    """A budget whose clock never runs: what is skipped depends on the estimates, not on how
    long building the pipeline took on a loaded machine (0.1 s of slack made this flaky)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def left(self) -> float:
        return self.seconds


def test_gpu_speed_skips_what_the_budget_cannot_afford(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gpu_speed, "Budget", _FrozenBudget)
    doc = gpu_speed.main(
        [
            "--cpu-reduced",
            "--variants",
            "sdpa",
            "--batches",
            "1",
            "--steps",
            "1",
            "50",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--budget-s",
            "1000",
            "--reserve-s",
            "999.9",
            "--metric-pairs",
            "2",
            "--threads",
            "1",
            "--out",
            str(tmp_path),
        ]  # fmt: skip
    )
    rec = doc["runs"]["sdpa@b1"]
    assert rec["steps1"]["s_per_image"] > 0
    assert rec["steps50"]["skipped"].startswith("needs ~")
    assert "skipped: needs ~" in capsys.readouterr().out
    assert (
        json.loads((tmp_path / "gpu_speed.json").read_text())["runs"]["sdpa@b1"]["steps50"] == rec["steps50"]
    )


def test_gpu_speed_interrupted_still_reports_and_writes(tmp_path, monkeypatch, capsys):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(gpu_speed, "measure_variant", interrupt)
    doc = gpu_speed.main(["--cpu-reduced", "--variants", "sdpa", "--threads", "1", "--out", str(tmp_path)])
    assert doc["interrupted"]
    assert json.loads((tmp_path / "gpu_speed.json").read_text())["interrupted"] == doc["interrupted"]
    assert "INTERRUPTED" in capsys.readouterr().out


def test_gpu_speed_without_cuda_says_how_to_run_on_cpu():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(SystemExit, match="no CUDA device here; use --cpu-reduced"):
        gpu_speed.main([])


GOOD = """
from run_all import row
def run(quick=False, threads=None):
    import torch
    return {"command": "fake --quick" if quick else "fake", "details": {"threads": torch.get_num_threads()},
            "rows": [row("fake ratio", 1.25, "x", "<= 1.10", False, note="n"), row("fake info", 3.0, "s")]}
"""
BROKEN = "def run(quick=False, threads=None):\n    raise RuntimeError('boom in the benchmark')\n"


def test_run_all_table_json_and_failures(tmp_path, monkeypatch, capsys):
    (tmp_path / "fake_good_bench.py").write_text(GOOD)
    (tmp_path / "fake_broken_bench.py").write_text(BROKEN)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(run_all, "BENCHES", {"good": "fake_good_bench", "broken": "fake_broken_bench"})
    out = tmp_path / "bench.json"
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--quick", "--threads", "1", "--out", str(out)])
    assert exc.value.code == 1  # a benchmark failed
    doc = json.loads(out.read_text())
    good, broken = doc["benchmarks"]["good"], doc["benchmarks"]["broken"]
    assert good["command"] == "fake --quick" and good["details"] == {"threads": 1}
    assert good["rows"][0]["value"] == 1.25 and good["rows"][0]["met"] is False
    assert "boom in the benchmark" in broken["rows"][0]["note"] and broken["error"]
    assert doc["machine"]["nproc"] == os.cpu_count() and doc["machine"]["torch_threads"] == 1
    text = capsys.readouterr().out
    assert "fake ratio" in text and "MISSED" in text and "1.25x" in text and "<= 1.10" in text
    assert "goals missed: 1; failed: ['broken']" in text


def test_tiling_summary_ratios():
    res = [
        {"size": 512, "wall_s": 1.0, "cpu_s": 0.9, "peak_mib": 40.0, "output_mib": 3.0},
        {"size": 2048, "wall_s": 20.0, "cpu_s": 18.0, "peak_mib": 100.0, "output_mib": 48.0},
    ]
    s = bench_tiling.summarise(res)
    assert s["time_per_pixel_ratio"] == pytest.approx(20.0 / 16)
    assert s["cpu_per_pixel_ratio"] == pytest.approx(20.0 / 16)
    assert s["peak_ratio"] == pytest.approx(2.5)
    assert s["peak_beyond_output_ratio"] == pytest.approx(52.0 / 37.0)


def test_tiling_child_measures_a_peak_in_a_fresh_process():
    (r,) = bench_tiling.measure(sizes=(128,), repeats=(1,), tile=8, threads=1)
    assert r["size"] == 128 and r["wall_s"] > 0 and r["peak_mib"] >= 0
    assert r["method"] in ("VmHWM", "ru_maxrss") and r["output_mib"] == pytest.approx(
        3 * 128 * 128 * 4 / 2**20
    )


def test_steps_ideal_ratio_from_stage_times():
    import bench_steps

    m = bench_steps.measure("tiny", size=32, repeats=1, many=3)
    ideal = (m["encode_s"] + m["decode_s"] + 3 * m["unet_step_s"]) / (
        m["encode_s"] + m["decode_s"] + m["unet_step_s"]
    )
    assert m["ideal_speedup"] == pytest.approx(ideal) and 1 < ideal < 3
    assert m["efficiency"] == pytest.approx(m["measured_speedup"] / ideal)
