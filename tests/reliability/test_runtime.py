"""Faults while a run computes: non-finite model outputs and metric values, out-of-memory,
an unwritable results folder, a full disk. The rule: no number is ever averaged in
silently, a failed run leaves no result file (or the previous one, intact), and the same
command completes once the cause is gone, with the result an uninterrupted run gives.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from yonos_bench.models.interp import InterpModel


def _run(rel, prepared, results: Path, *extra):
    spec, root = prepared
    return rel.invoke(
        "run", spec, "-m", "bicubic", "--data-root", root, "--results", results, "--device", "cpu", "--quiet",
        *extra,
    )  # fmt: skip


def _cell(results: Path) -> Path:
    return results / "outs-v1" / "bicubic" / "stepsna-seed0-fp32"


def _result(results: Path) -> dict:
    return json.loads((_cell(results) / "result.json").read_text())


def _poison(monkeypatch, bad_id: str, value: float):
    real = InterpModel._upscale

    def upscale(self, lr, steps, seeds, names):
        out = real(self, lr, steps, seeds, names)
        for k, n in enumerate(names):
            if n == bad_id:
                out[k, :, 0, 0] = value
        return out

    monkeypatch.setattr(InterpModel, "_upscale", upscale)


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_model_output_stops_naming_the_image_then_resumes(
    rel, tmp_path, prepared, monkeypatch, value
):
    results = tmp_path / "results"
    _poison(monkeypatch, "img1", value)
    res = _run(rel, prepared, results, "--batch-size", "1", "--metrics", "psnr-y")
    rel.assert_fails(res, "Model 'bicubic' produced NaN or inf values for image img1")
    cell = _cell(results)
    assert not (cell / "result.json").exists() and not (cell / "per_image.csv").exists()
    assert sorted(p.name for p in (cell / "sr").iterdir()) == ["img0.png"]  # the finished image is kept

    monkeypatch.undo()
    res = _run(rel, prepared, results, "--batch-size", "1", "--metrics", "psnr-y")
    assert res.exit_code == 0, res.output
    reference = tmp_path / "reference"
    assert _run(rel, prepared, reference, "--batch-size", "1", "--metrics", "psnr-y").exit_code == 0
    got, want = _result(results), _result(reference)
    assert got["sr_images"] == want["sr_images"] and got["metrics"] == want["metrics"]
    assert got["timing"]["session_images_generated"] == 1  # img0 came from the cache


def test_non_finite_metric_value_is_reported_per_image_not_averaged(rel, tmp_path, prepared, monkeypatch):
    from yonos_bench.metrics import engine

    real = engine.build_scorer

    def build_scorer(preset, device, weights_dir):
        score = real(preset, device, weights_dir)
        calls = []

        def poisoned(sr, hr=None):
            out = score(sr, hr).clone()
            calls.append(1)
            if len(calls) == 1:  # the first batch group: pair img0
                out[0] = float("nan")
            return out

        return poisoned

    monkeypatch.setattr(engine, "build_scorer", build_scorer)
    results = tmp_path / "results"
    res = _run(rel, prepared, results, "--metrics", "psnr-y")
    assert res.exit_code == 0, res.output
    data = _result(results)
    m = data["metrics"]["psnr-y"]
    per_image = (_cell(results) / "per_image.csv").read_text().splitlines()
    rows = {line.split(",")[0]: line.split(",")[-1] for line in per_image[1:]}
    assert rows["img0"] == "nan"  # kept, visibly, in the per-image file
    assert m["n"] == 1 and m["n_nan"] == 1 and m["mean"] == float(rows["img1"])
    assert "1 non-finite per-image values excluded from the mean (pairs img0" in m["note"]
    assert any("psnr-y: 1 non-finite" in w for w in data["warnings"])


def test_model_out_of_memory_gives_a_clear_message(rel, tmp_path, prepared, monkeypatch):
    def oom(self, lr, steps, seeds, names):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(InterpModel, "_upscale", oom)
    results = tmp_path / "results"
    res = _run(rel, prepared, results, "--batch-size", "2", "--metrics", "psnr-y")
    rel.assert_fails(
        res,
        "Model 'bicubic' ran out of memory on a batch of 1 image(s) of 10x12 (WxH) LR pixels",
        "CUDA out of memory. Tried to allocate 20.00 GiB",
        "--batch-size",
    )
    assert not list(results.rglob("result.json"))


def test_metric_out_of_memory_names_metric_and_pairs(rel, tmp_path, prepared, monkeypatch):
    from yonos_bench.metrics import engine

    def build_scorer(preset, device, weights_dir):
        def oom(sr, hr=None):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

        return oom

    monkeypatch.setattr(engine, "build_scorer", build_scorer)
    results = tmp_path / "results"
    res = _run(rel, prepared, results, "--metrics", "psnr-y")
    rel.assert_fails(res, "Metric psnr-y failed on pairs img0: OutOfMemoryError: CUDA out of memory.")
    assert not (_cell(results) / "result.json").exists()
    monkeypatch.undo()
    assert _run(rel, prepared, results, "--metrics", "psnr-y").exit_code == 0  # images reused
    assert _result(results)["timing"]["session_images_generated"] == 0


def test_unwritable_results_folder_fails_before_any_work(rel, tmp_path, prepared):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = _run(rel, prepared, blocker / "results", "--metrics", "psnr-y")
    rel.assert_fails(res, f"Results folder {blocker / 'results'} is not writable", "--results DIR")
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "read-only"
        ro.mkdir(mode=0o555)
        rel.assert_fails(
            _run(rel, prepared, ro, "--metrics", "psnr-y"), f"Results folder {ro} is not writable"
        )


def _enospc_on(monkeypatch, fragment: str):
    """Make fsync fail with ENOSPC for temp files whose name contains ``fragment`` (the
    atomic writer's temp file of that target): a disk that fills up mid-write."""
    real = os.fsync

    def fsync(fd):
        if fragment in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("victim", ["result.json", "per_image.csv"])
def test_disk_full_keeps_the_previous_result_intact(rel, tmp_path, prepared, monkeypatch, victim):
    results = tmp_path / "results"
    assert _run(rel, prepared, results, "--metrics", "psnr-y").exit_code == 0
    cell = _cell(results)
    before = {p.name: p.read_bytes() for p in cell.iterdir() if p.is_file()}

    _enospc_on(monkeypatch, f".{victim}.")
    res = _run(rel, prepared, results, "--metrics", "psnr-y,ssim-y")  # more metrics: both files rewritten
    rel.assert_fails(res, f"Cannot write {cell / victim}: No space left on device")
    assert (cell / "result.json").read_bytes() == before["result.json"]
    assert [p.name for p in cell.iterdir() if p.name.endswith(".tmp")] == []  # no half-written leftovers
    if victim == "per_image.csv":
        assert (cell / "per_image.csv").read_bytes() == before["per_image.csv"]

    monkeypatch.undo()
    res = _run(rel, prepared, results, "--metrics", "psnr-y,ssim-y")
    assert res.exit_code == 0, res.output
    reference = tmp_path / "reference"
    assert _run(rel, prepared, reference, "--metrics", "psnr-y,ssim-y").exit_code == 0
    assert _result(results)["metrics"] == _result(reference)["metrics"]
    assert (cell / "per_image.csv").read_bytes() == (_cell(reference) / "per_image.csv").read_bytes()


@pytest.mark.parametrize("victim", ["manifest", "pair image"])
def test_disk_full_while_preparing_leaves_no_prepared_copy(rel, tmp_path, monkeypatch, victim):
    root = tmp_path / "data"
    rel.hr_only_data(root)
    spec = rel.write_spec(tmp_path / "specs", rel.spec_dict("full"))
    if victim == "manifest":
        _enospc_on(monkeypatch, ".manifest.json.")
        fragment = "manifest.json: No space left on device"
    else:
        real = Path.write_bytes

        def write_bytes(self, data):
            if self.name == "img1.png" and self.parent.name == "hr":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, data)

        monkeypatch.setattr(Path, "write_bytes", write_bytes)
        fragment = "hr/img1.png: No space left on device"
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root)
    rel.assert_fails(res, "Cannot write", fragment)
    assert list((root / "prepared").iterdir()) == []
    monkeypatch.undo()
    assert rel.invoke("protocols", "prepare", spec, "--data-root", root).exit_code == 0


def test_disk_full_while_writing_images_then_rerun_completes(rel, tmp_path, prepared, monkeypatch):
    results = tmp_path / "results"
    _enospc_on(monkeypatch, ".img1.png.")
    res = _run(rel, prepared, results, "--batch-size", "1", "--metrics", "psnr-y")
    cell = _cell(results)
    rel.assert_fails(res, f"Cannot write {cell / 'sr' / 'img1.png'}: No space left on device")
    assert not (cell / "result.json").exists()
    assert sorted(p.name for p in (cell / "sr").iterdir()) == ["img0.png"]  # no partial file
    monkeypatch.undo()
    assert _run(rel, prepared, results, "--batch-size", "1", "--metrics", "psnr-y").exit_code == 0
    reference = tmp_path / "reference"
    assert _run(rel, prepared, reference, "--batch-size", "1", "--metrics", "psnr-y").exit_code == 0
    assert _result(results)["sr_images"] == _result(reference)["sr_images"]
    assert _result(results)["metrics"] == _result(reference)["metrics"]


def test_disk_full_while_logging_progress_gives_one_message(rel, tmp_path, prepared, monkeypatch):
    results = tmp_path / "results"
    _enospc_on(monkeypatch, "progress-0.jsonl")
    res = _run(rel, prepared, results, "--metrics", "psnr-y")
    rel.assert_fails(res, "progress-0.jsonl", "No space left on device")
    assert not (_cell(results) / "result.json").exists()


def test_a_single_pair_can_be_scored(rel, tmp_path, prepared):
    results = tmp_path / "results"
    res = _run(rel, prepared, results, "--limit", "1", "--metrics", "psnr-y")
    assert res.exit_code == 0, repr(res.exception)
    assert _result_limit(results)["metrics"]["psnr-y"]["n"] == 1


def _result_limit(results: Path) -> dict:
    return json.loads(
        (results / "outs-v1" / "bicubic" / "stepsna-seed0-fp32-limit1" / "result.json").read_text()
    )
