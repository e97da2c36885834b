"""The CI regression gate: the tiny models on a subset of `sample` against a committed baseline.

``baseline.json`` (written by ``make gate-baseline``, i.e. ``yonos-bench run`` then
``yonos-bench check --write-baseline``) is self-describing: every entry names the model,
steps, seed, dtype, pair limit and metrics, and this test re-runs exactly those cells and
checks them. A change that alters pair preparation (protocol digest), the model path
(weights, sampler, VAE, tiling), the metrics or the run seeds moves a number beyond the
tight tolerances (or changes the digest) and fails here. The gate is stricter than
``check``'s exit code: an *improvement* beyond the tolerance also fails, since it means the
numbers changed silently (rewrite the baseline on purpose when they should).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from yonos_bench.models.registry import load_card
from yonos_bench.report.check import check_results, format_report
from yonos_bench.runs.runner import RunOptions, run_benchmark

BASELINE = Path(__file__).with_name("baseline.json")


def _entries() -> list[dict]:
    return json.loads(BASELINE.read_text())["entries"]


def _run_entries(entries: list[dict], results: Path, data_root: Path) -> None:
    for e in entries:
        opts = RunOptions(seed=e["seed"], device="cpu", dtype=e["dtype"], metrics=tuple(e["metrics"]),
                          data_root=data_root, results_root=results, limit=e["limit"], progress=False)  # fmt: skip
        steps = (e["steps"],) if load_card(e["model"]).supports_steps else (None,)
        run_benchmark(e["protocol"], [e["model"]], steps, opts)


def test_baseline_covers_every_tiny_model_and_a_multistep_cell():
    entries = _entries()
    cells = {(e["model"], e["steps"]) for e in entries}
    assert {("bicubic", None), ("yonos-tiny-x4", 1), ("yonos-tiny-x4-orig-decoder", 1), ("sd-sr-tiny-x4", 1),
            ("sd-sr-tiny-x4-orig-decoder", 1), ("yonos-tiny-x4-orig-decoder", 4)} <= cells  # fmt: skip
    tol = json.loads(BASELINE.read_text())["tolerances"]
    assert float(tol["psnr-y"]) <= 0.01 and float(tol["ssim-y"]) <= 0.001
    assert all(e["limit"] and e["protocol"] == "sample" for e in entries)


def test_gate_reproduces_the_baseline(tmp_path, sample_root):
    _run_entries(_entries(), tmp_path, sample_root)
    report = check_results(tmp_path, BASELINE)
    text = format_report(report)
    assert not report.failed, text
    assert report.rows and all(r.status == "ok" for r in report.rows), text
    assert not [n for n in report.notes if "weights digest" in n], text


def test_gate_fails_on_a_perturbed_model(tmp_path, sample_root, monkeypatch):
    """1% multiplicative noise on the UNet of one model: the gate must catch it."""
    from safetensors.torch import load_file, save_file

    name = "yonos-tiny-x4-orig-decoder"
    folder = tmp_path / "perturbed"
    shutil.copytree(load_card(name).pipeline.path(), folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    g = torch.Generator().manual_seed(0)
    state = {k: v * (1 + 0.01 * torch.randn(v.shape, generator=g).to(v.dtype)) for k, v in state.items()}
    save_file(state, weights, metadata={"format": "pt"})
    monkeypatch.setenv("YONOS_TINY_X4_ORIG_DECODER_PIPELINE", str(folder))
    results = tmp_path / "results"
    _run_entries([e for e in _entries() if e["model"] == name], results, sample_root)
    report = check_results(results, BASELINE, models=[name])
    text = format_report(report)
    assert report.failed, text
    assert any(r.status == "REGRESSION" for r in report.rows), text
    assert any("weights digest differs" in n for n in report.notes), text

    from typer.testing import CliRunner

    from yonos_bench.cli import app

    res = CliRunner().invoke(
        app, ["check", "--baseline", str(BASELINE), "--results", str(results), "-m", name]
    )
    assert res.exit_code == 1 and "REGRESSION" in res.output


def test_gate_refuses_results_of_other_pairs(tmp_path, sample_root):
    """Pair preparation changed (another protocol instance): the gate refuses to compare."""
    from yonos_bench.core.errors import YonosError

    entries = [e for e in _entries() if e["model"] == "bicubic"]
    _run_entries(entries, tmp_path / "results", sample_root)
    data = json.loads(BASELINE.read_text())
    for e in data["entries"]:
        e["protocol_digest"] = "0" * 64
    bad = tmp_path / "baseline.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(YonosError, match="differs from the results'"):
        check_results(tmp_path / "results", bad, models=["bicubic"])
