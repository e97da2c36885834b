"""SIGKILL at the worst moments — mid-prepare, mid-inference (an image written but not yet
logged), mid-metrics, mid-checkpoint-save — then the same command again (``--resume`` for
training): it completes with exactly the result of an uninterrupted run, and nothing the
killed process left behind is ever taken for a finished result.

Each case runs the real CLI in a subprocess with one function wrapped to announce
"KILL-POINT" and wait at the chosen moment, so the kill lands at a deterministic place.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

# Wraps MODULE.ATTR so that its NTH call announces the kill point (before or after running
# the real function) and then waits to be killed; then runs the real CLI with the rest of argv.
DRIVER = """
import importlib, sys, time
module, attr, nth, when = sys.argv[1:5]
import torch
torch.set_num_threads(1)
owner = importlib.import_module(module)
*path, name = attr.split(".")
for part in path:
    owner = getattr(owner, part)
real = getattr(owner, name)
calls = [0]
def hooked(*args, **kwargs):
    calls[0] += 1
    if calls[0] == int(nth) and when == "before":
        print("KILL-POINT", flush=True); time.sleep(600)
    out = real(*args, **kwargs)
    if calls[0] == int(nth) and when == "after":
        print("KILL-POINT", flush=True); time.sleep(600)
    return out
setattr(owner, name, hooked)
from yonos_bench.cli import main
sys.argv = ["yonos-bench", *sys.argv[5:]]
main()
"""


def kill_at(tmp_path: Path, module: str, attr: str, nth: int, when: str, *cli: object) -> None:
    """Run ``yonos-bench CLI...`` in a subprocess and SIGKILL it at the hook."""
    log = tmp_path / "killed-process.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, module, attr, str(nth), when, *map(str, cli)],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 300
            line = b""
            while time.monotonic() < deadline and proc.poll() is None:
                ready, _, _ = select.select([proc.stdout], [], [], 1.0)
                if ready:
                    line = proc.stdout.readline()
                    if line.strip() == b"KILL-POINT":
                        break
            assert line.strip() == b"KILL-POINT", f"never reached the kill point: {log.read_text()[-3000:]}"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed process: identical float arithmetic
    yield
    torch.set_num_threads(before)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _patches_spec(rel, tmp_path) -> tuple[Path, Path]:
    """x2 protocol, 2 source images x 3 seeded 6x6 LR patches = 6 pairs."""
    root = tmp_path / "data"
    rel.hr_only_data(root)
    spec = rel.spec_dict(
        "killed", expected_pairs=6, pairs={"rule": "random_patches", "lr_size": 6, "per_image": 3}
    )
    return rel.write_spec(tmp_path / "specs", spec), root


def test_sigkill_during_prepare_then_rerun_gives_the_same_pairs(rel, tmp_path):
    spec, root = _patches_spec(rel, tmp_path)
    kill_at(tmp_path, "yonos_bench.protocols.pairs", "make_source_pairs", 1, "after",
            "protocols", "prepare", spec, "--data-root", root)  # fmt: skip
    parent = root / "prepared"
    leftovers = [p.name for p in parent.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".killed-v1.tmp-")  # hidden, never "prepared"
    res = rel.invoke("protocols", "prepare", spec, "--data-root", root, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["action"] == "prepared"
    assert [p.name for p in parent.iterdir()] == ["killed-v1"]  # the leftover was cleaned

    fresh = tmp_path / "fresh"
    rel.hr_only_data(fresh)
    ref = rel.invoke("protocols", "prepare", spec, "--data-root", fresh, "--json")
    assert json.loads(ref.output)["digest"] == json.loads(res.output)["digest"]
    assert _files(parent / "killed-v1") == _files(fresh / "prepared" / "killed-v1")


def _run_args(spec, root, results, *extra):
    return ("run", spec, "-m", "bicubic", "--data-root", root, "--results", results, "--device", "cpu",
            "--batch-size", "2", "--metrics", "psnr-y,ssim-y", "--quiet", *extra)  # fmt: skip


def _cell(results: Path) -> Path:
    return results / "killed-v1" / "bicubic" / "stepsna-seed0-fp32"


def _same_result(rel, spec, root, results, reference) -> dict:
    assert rel.invoke(*_run_args(spec, root, reference)).exit_code == 0
    got = json.loads((_cell(results) / "result.json").read_text())
    want = json.loads((_cell(reference) / "result.json").read_text())
    assert got["sr_images"] == want["sr_images"] and got["metrics"] == want["metrics"]
    assert (_cell(results) / "per_image.csv").read_bytes() == (
        _cell(reference) / "per_image.csv"
    ).read_bytes()
    return got


def test_sigkill_during_inference_then_rerun_resumes_to_the_same_result(rel, tmp_path, one_thread):
    """Killed right after the 3rd image's file is written, before its log line: images 1-2
    are logged (kept), image 3 exists unlogged (recomputed), 4-6 do not exist."""
    spec, root = _patches_spec(rel, tmp_path)
    assert rel.invoke("protocols", "prepare", spec, "--data-root", root).exit_code == 0
    results = tmp_path / "results"
    kill_at(tmp_path, "yonos_bench.runs.generate", "write_png", 3, "after", *_run_args(spec, root, results))
    cell = _cell(results)
    assert not (cell / "result.json").exists() and not (cell / "per_image.csv").exists()
    assert len(list((cell / "sr").glob("*.png"))) == 3
    log = cell / "progress-0.jsonl"
    assert log.read_text().count('"id"') == 2
    with open(log, "a") as f:
        f.write('{"id": "img1_p00", "sha2')  # and a torn last line, as a kill mid-append leaves

    res = rel.invoke(*_run_args(spec, root, results))
    assert res.exit_code == 0, res.output
    got = _same_result(rel, spec, root, results, tmp_path / "reference")
    assert got["timing"]["session_images_generated"] == 4  # 2 reused, the unlogged one redone


def test_sigkill_during_metrics_then_rerun_rescores_to_the_same_result(rel, tmp_path, one_thread):
    spec, root = _patches_spec(rel, tmp_path)
    assert rel.invoke("protocols", "prepare", spec, "--data-root", root).exit_code == 0
    results = tmp_path / "results"
    kill_at(
        tmp_path,
        "yonos_bench.metrics.engine",
        "Evaluator.update",
        1,
        "before",
        *_run_args(spec, root, results),
    )
    cell = _cell(results)
    assert len(list((cell / "sr").glob("*.png"))) == 6
    assert not (cell / "result.json").exists() and not (cell / "per_image.csv").exists()
    res = rel.invoke(*_run_args(spec, root, results))
    assert res.exit_code == 0, res.output
    got = _same_result(rel, spec, root, results, tmp_path / "reference")
    assert got["timing"]["session_images_generated"] == 0  # every image came from the cache


TINY_TRAIN = ("--preset", "tiny", "--data", "procedural", "--scale", "2", "--set", "crop=32",
              "--set", "degradation=bicubic", "--set", "batch_size=2", "--set", "steps=2",
              "--set", "checkpoint_every=1", "--set", "log_every=1", "--set", "procedural_images=4",
              "--set", "procedural_size=40", "--set", "progress=false")  # fmt: skip


def test_sigkill_during_checkpoint_save_then_resume_equals_uninterrupted(rel, tmp_path, one_thread):
    """Killed after step 2's checkpoint was written to its temp folder, before the rename:
    --resume continues from step 1 and ends with the uninterrupted run's weights."""
    from safetensors.torch import load_file

    from yonos_train.engine import checkpoints

    run = tmp_path / "run"
    kill_at(tmp_path, "accelerate", "Accelerator.save_state", 2, "after",
            "train", "standard", *TINY_TRAIN, "--out", run)  # fmt: skip
    assert [p.name for p in checkpoints(run)] == ["step-0000001"]
    assert (run / "checkpoints" / ".tmp-step-0000002").is_dir() and not (run / "pipeline").exists()

    res = rel.invoke("train", "standard", *TINY_TRAIN, "--out", run, "--resume")
    assert res.exit_code == 0, res.output
    ref = tmp_path / "ref"
    assert rel.invoke("train", "standard", *TINY_TRAIN, "--out", ref).exit_code == 0
    assert [p.name for p in checkpoints(run)] == ["step-0000001", "step-0000002"]
    assert not (run / "checkpoints" / ".tmp-step-0000002").exists()
    for part in ("unet", "vae"):
        a = load_file(str(run / "pipeline" / part / "diffusion_pytorch_model.safetensors"))
        b = load_file(str(ref / "pipeline" / part / "diffusion_pytorch_model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
