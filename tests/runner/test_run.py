"""`run` end to end on the embedded `sample` protocol: bicubic and a tiny random YONOS
pipeline → result files with every documented field → tables → plot; caching, resume after
SIGKILL, corruption detection, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.imageio import read_rgb8, sha256_file
from yonos_bench.runs.results import read_per_image, read_result

runner = CliRunner()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Prepared `sample` pairs and a saved tiny random YONOS pipeline, shared by the module."""
    from yonos_bench.protocols.pairs import prepare
    from yonos_train.presets import build_pipeline

    base = tmp_path_factory.mktemp("bench")
    prepare("sample", base / "data", progress=False)
    pipe = base / "tiny-yonos"
    build_pipeline("tiny", scale=4, seed=0).save_pretrained(pipe)
    return {"data": base / "data", "pipe": pipe, "weights": base / "weights"}


def _run(env, results, *args):
    cmd = ["run", "sample", "--data-root", str(env["data"]), "--weights-dir", str(env["weights"])]
    cmd += ["--results", str(results), "--device", "cpu", *args]
    return runner.invoke(app, cmd)


def _cells(results: Path) -> dict[str, Path]:
    return {
        p.parent.parent.name + "/" + p.parent.name: p.parent for p in sorted(results.rglob("result.json"))
    }


DOCUMENTED = (
    "metrics", "n", "protocol", "model", "steps", "seed", "dtype", "device", "timing", "provenance",
    "reportable", "not_reportable_reason", "limit", "sr_images", "per_image_csv_sha256", "backend_versions",
)  # fmt: skip


def test_end_to_end_run_table_plot_rerun(env, tmp_path):
    results = tmp_path / "results"
    res = _run(env, results, "-m", "bicubic", "-m", str(env["pipe"]), "--limit", "6", "--batch-size", "4",
               "--metrics", "psnr-y,ssim-y")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "NOT REPORTABLE" in res.output and "psnr-y" in res.output
    cells = _cells(results)
    assert sorted(cells) == ["bicubic/stepsna-seed0-fp32-limit6", "tiny-yonos/steps1-seed0-fp32-limit6"]
    for folder in cells.values():
        data = read_result(folder / "result.json")
        for key in DOCUMENTED:
            assert key in data, key
        assert data["n"] == 6 and data["limit"] == 6 and data["reportable"] is False
        assert "--limit 6" in data["not_reportable_reason"]
        p = data["protocol"]
        assert (p["name"], p["version"], p["n_pairs"]) == ("sample", 1, 210) and len(p["digest"]) == 64
        for mid in ("psnr-y", "ssim-y"):
            m = data["metrics"][mid]
            # 6 patches of one source image: intervals resample source images (issue 14), so
            # one image gives no interval rather than a falsely narrow one
            assert m["n"] == 6 and m["lower_better"] is False
            assert m["resampling"] == "source" and m["n_clusters"] == 1 and m["ci_low"] is None
            assert m["preset"]  # the backend arguments that define the number
        assert data["timing"]["seconds_per_image"] > 0 and data["timing"]["peak_memory_bytes"] > 0
        prov = data["provenance"]
        assert {"torch", "diffusers", "pyiqa", "clean-fid"} <= set(prov["packages"]) and "git_commit" in prov
        assert data["device"].startswith("cpu")
        # Images on disk are the recorded ones; per_image.csv matches the summary.
        assert len(data["sr_images"]) == 6
        for pid, sha in data["sr_images"].items():
            assert sha256_file(folder / "sr" / f"{pid}.png") == sha
            assert read_rgb8(folder / "sr" / f"{pid}.png").shape == (128, 128, 3)
        per = read_per_image(folder / "per_image.csv")
        assert sorted(per["psnr-y"]) == sorted(data["sr_images"])
        assert sum(per["psnr-y"].values()) / 6 == pytest.approx(data["metrics"]["psnr-y"]["mean"], rel=1e-12)
    yonos = read_result(cells["tiny-yonos/steps1-seed0-fp32-limit6"] / "result.json")
    assert yonos["steps"] == 1 and yonos["model"]["supports_steps"] is True
    assert read_result(cells["bicubic/stepsna-seed0-fp32-limit6"] / "result.json")["steps"] is None

    md = runner.invoke(app, ["table", "--results", str(results)])
    assert md.exit_code == 0, md.output
    assert md.output.startswith("| Protocol | Metric | Bicubic | tiny-yonos |")  # display name; path model: its id
    assert "| sample-v1 | psnr-y ↑ | **" in md.output and "| | # steps | – | 1 |" in md.output.replace(
        "|  |", "| |"
    )
    tex = runner.invoke(app, ["table", "--results", str(results), "--format", "latex"])
    assert tex.exit_code == 0 and r"\begin{tabular}{llcc}" in tex.output and r"\bottomrule" in tex.output

    plot = runner.invoke(
        app, ["plot", "--results", str(results), "--metric", "psnr-y", "--out", str(tmp_path / "p")]
    )
    assert plot.exit_code == 0, plot.output
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "p.pdf").is_file()

    # Rerun: nothing is recomputed, nothing rewritten.
    stamps = {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}
    again = _run(env, results, "-m", "bicubic", "-m", str(env["pipe"]), "--limit", "6", "--batch-size", "4",
                 "--metrics", "psnr-y,ssim-y")  # fmt: skip
    assert again.exit_code == 0 and again.output.count("cached") == 2
    assert {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()} == stamps


def test_sweep_steps_plot_one_line_per_model(env, tmp_path):
    results = tmp_path / "results"
    res = runner.invoke(app, [
        "sweep-steps", "sample", "-m", str(env["pipe"]), "--steps", "1,2", "--limit", "3", "--metric", "psnr-y",
        "--metrics", "psnr-y", "--data-root", str(env["data"]), "--results", str(results), "--device", "cpu",
        "--out", str(tmp_path / "fig3"), "--quiet",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(_cells(results)) == [
        "tiny-yonos/steps1-seed0-fp32-limit3",
        "tiny-yonos/steps2-seed0-fp32-limit3",
    ]
    from yonos_bench.report.plot import plot_results

    out = plot_results(results, "psnr-y", tmp_path / "again")
    assert out.n_lines == 1 and [p.x for p in out.series[0].points] == [1.0, 2.0]
    assert (tmp_path / "fig3.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "fig3.pdf").is_file()


def test_corrupted_result_and_image_are_detected_and_recomputed(env, tmp_path):
    results = tmp_path / "results"
    args = ("-m", "bicubic", "--limit", "10", "--batch-size", "4", "--metrics", "psnr-y")
    assert _run(env, results, *args).exit_code == 0
    folder = _cells(results)["bicubic/stepsna-seed0-fp32-limit10"]
    good = read_result(folder / "result.json")

    (folder / "result.json").write_text('{"schema": "yonos-bench/result/v1", "kind": "ru')  # torn write
    res = _run(env, results, *args)
    assert res.exit_code == 0 and "corrupted" in res.output and "rescored" in res.output
    assert read_result(folder / "result.json")["metrics"] == good["metrics"]

    victim = folder / "sr" / f"{sorted(good['sr_images'])[5]}.png"
    victim.write_bytes(victim.read_bytes()[:100])  # a truncated cached image
    res = _run(env, results, *args)
    assert res.exit_code == 0 and victim.name in res.output and "resumed" in res.output
    assert sha256_file(victim) == good["sr_images"][victim.stem]
    assert read_result(folder / "result.json")["metrics"] == good["metrics"]


def _subprocess_run(env, results, output, extra=()):
    cmd = [sys.executable, "-m", "yonos_bench", "run", "sample", "-m", str(env["pipe"]), "--limit", "24",
           "--batch-size", "2", "--steps", "2", "--metrics", "psnr-y", "--device", "cpu", "--quiet",
           "--data-root", str(env["data"]), "--results", str(results), "--weights-dir", str(env["weights"]), *extra]  # fmt: skip
    # One intra-op thread, as the in-process runs it is compared with: CPU float kernels round
    # differently with another thread count (1 LSB in a PNG), and an earlier in-process test
    # (training sets torch's thread count) may have changed this process's.
    return subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_result(env, tmp_path, one_thread):
    killed = tmp_path / "killed"
    output = open(tmp_path / "killed-run.log", "wb")  # a file, not a pipe nobody reads
    proc = _subprocess_run(env, killed, output)
    log = killed / "sample-v1" / "tiny-yonos" / "steps2-seed0-fp32-limit24" / "progress-0.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and log.read_text().count('"id"') >= 4:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    output.close()
    folder = log.parent
    assert not (folder / "result.json").exists()
    n_before = log.read_text().count('"id"')
    assert 4 <= n_before < 24

    same = (
        "-m",
        str(env["pipe"]),
        "--limit",
        "24",
        "--batch-size",
        "2",
        "--steps",
        "2",
        "--metrics",
        "psnr-y",
    )
    res = _run(env, killed, *same)
    assert res.exit_code == 0 and "resumed" in res.output, res.output
    resumed = read_result(folder / "result.json")

    fresh = tmp_path / "fresh"
    assert _run(env, fresh, *same, "--quiet").exit_code == 0
    reference = read_result(fresh / folder.relative_to(killed) / "result.json")
    assert resumed["sr_images"] == reference["sr_images"]
    assert resumed["metrics"] == reference["metrics"]
    assert (folder / "per_image.csv").read_text() == (
        fresh / folder.relative_to(killed) / "per_image.csv"
    ).read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "smaple", "-m", "bicubic"], "Unknown protocol 'smaple'. Did you mean: sample"),
        (["run", "sample", "-m", "bicubik"], "Unknown model 'bicubik'. Did you mean: bicubic"),
        (["run", "sample", "-m", "bicubic", "--metrics", "psnr-yy"], "Did you mean: psnr-y"),
        (["run", "sample", "-m", "yonos-x8"], "upscales x8 but the protocol is x4"),
        (["run", "sample", "-m", "bicubic", "--steps", "4"], "model 'bicubic' takes no sampling steps"),
        (["run", "div2k-real", "-m", "bicubic"], "yonos-bench data status"),
        (["run", "sample", "-m", "bicubic", "--batch-size", "0"], "--batch-size must be >= 1"),
        (
            ["sweep-steps", "sample", "-m", "bicubic", "--steps", "1,x"],
            "--steps '1,x': expected comma-separated",
        ),
    ],
)
def test_bad_input_gives_one_clear_message(env, tmp_path, args, message):
    res = runner.invoke(app, [*args, "--data-root", str(tmp_path / "nodata" if "div2k" in args[1] else env["data"]),
                              "--results", str(tmp_path / "r")])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert message in " ".join(res.output.split()), res.output
    assert "Traceback" not in res.output


def test_unwritable_results_folder_and_scale_of_a_pipeline_folder(env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = _run(env, blocker / "results", "-m", "bicubic")
    assert res.exit_code == 1 and "is not writable" in res.output and "--results" in res.output
    from yonos_train.presets import build_pipeline

    x2 = tmp_path / "tiny-x2"
    build_pipeline("tiny", scale=2).save_pretrained(x2)
    res = _run(env, tmp_path / "r", "-m", str(x2))
    assert res.exit_code == 1 and "x2" in res.output and "x4" in res.output, res.output


def test_another_cell_in_the_same_folder_is_not_overwritten(env, tmp_path):
    results = tmp_path / "results"
    assert _run(env, results, "-m", "bicubic", "--limit", "4", "--metrics", "psnr-y").exit_code == 0
    path = next(results.rglob("result.json"))
    data = json.loads(path.read_text())
    data["cell"]["weights_digest"] = "older-weights"
    from yonos_bench.runs.results import CellKey

    data["cell_key"] = CellKey.from_dict(data["cell"]).digest()
    path.write_text(json.dumps(data))
    res = _run(env, results, "-m", "bicubic", "--limit", "4", "--metrics", "psnr-y")
    assert res.exit_code == 1 and "another cell" in res.output and "--force" in res.output
    assert json.loads(path.read_text())["cell"]["weights_digest"] == "older-weights"  # nothing lost
    assert (
        _run(env, results, "-m", "bicubic", "--limit", "4", "--metrics", "psnr-y", "--force").exit_code == 0
    )
    assert json.loads(path.read_text())["cell"]["weights_digest"] != "older-weights"
    shutil.rmtree(results)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_sharded_run_equals_single_process(env, tmp_path):
    """`torchrun --nproc_per_node 2` (what `accelerate launch --multi_gpu` runs underneath;
    on CPU `accelerate launch --cpu` starts one process): shards, gathers, same result file."""
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to this Python")
    common = ["run", "sample", "-m", "bicubic", "--limit", "12", "--batch-size", "4", "--metrics", "psnr-y",
              "--device", "cpu", "--quiet", "--data-root", str(env["data"])]  # fmt: skip
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", str(_free_port()), "-m", "yonos_bench", *common,
         "--results", str(tmp_path / "sharded")],  # fmt: skip
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert runner.invoke(app, [*common, "--results", str(tmp_path / "single")]).exit_code == 0
    cell = Path("sample-v1/bicubic/stepsna-seed0-fp32-limit12")
    sharded, single = tmp_path / "sharded" / cell, tmp_path / "single" / cell
    assert sorted(p.name for p in sharded.glob("progress-*.jsonl")) == [
        "progress-0.jsonl",
        "progress-1.jsonl",
    ]
    a, b = read_result(sharded / "result.json"), read_result(single / "result.json")
    assert a["sr_images"] == b["sr_images"] and a["metrics"] == b["metrics"] and a["n"] == 12
    assert a["device"].startswith("2 processes")
    assert (sharded / "per_image.csv").read_text() == (single / "per_image.csv").read_text()


def test_force_metrics_rescores_without_regenerating(env, tmp_path):
    results = tmp_path / "results"
    args = ("-m", "bicubic", "--limit", "4", "--metrics", "psnr-y")
    assert _run(env, results, *args).exit_code == 0
    folder = next(results.rglob("result.json")).parent
    images = {p: p.stat().st_mtime_ns for p in (folder / "sr").iterdir()}
    res = _run(env, results, *args, "--force-metrics")
    assert res.exit_code == 0 and "rescored" in res.output
    assert {p: p.stat().st_mtime_ns for p in (folder / "sr").iterdir()} == images
    # Asking for a metric the cell lacks scores it from the cached images too.
    res = _run(env, results, "-m", "bicubic", "--limit", "4", "--metrics", "psnr-y,ssim-y")
    assert res.exit_code == 0 and "rescored" in res.output
    assert set(read_result(folder / "result.json")["metrics"]) == {"psnr-y", "ssim-y"}
