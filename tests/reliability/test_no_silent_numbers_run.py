"""Issue 14, computing side: ``run`` and ``metrics compute`` never succeed in silence
(nothing computed, skipped metrics, unresolved devices), never serve results of changed
code (the command adapter) or of another batch size, never let a stale same-stem file win,
record intervals by source image, blank s/img they did not measure, verify a cached
result before serving it, and add ``--metrics`` instead of replacing."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.imageio import read_rgb8, write_png
from yonos_bench.runs.results import read_result

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from yonos_bench.protocols.pairs import prepare

    base = tmp_path_factory.mktemp("i14")
    prepare("sample", base / "data", progress=False)
    return base / "data"


def _run(data, results, *args):
    cmd = ["run", "sample", "--data-root", str(data), "--results", str(results), "--device", "cpu", *args]
    return runner.invoke(app, cmd)


def _result(results, model):
    (path,) = sorted(results.glob(f"sample-v1/{model}/*/result.json"))
    return read_result(path), path


# ------------------------------------------------------------------ 2. failures exit non-zero


@pytest.fixture
def folders(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    for k in range(3):
        hr = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        sr = np.clip(hr.astype(int) + rng.integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
        write_png(tmp_path / "hr" / f"p{k}.png", hr)
        write_png(tmp_path / "sr" / f"p{k}.png", sr)
    return tmp_path


def _compute(folders, *args):
    out = folders / "m.csv"
    res = runner.invoke(app, ["metrics", "compute", "--sr", str(folders / "sr"), "--out", str(out), *args])
    return res, out


def test_i02_metrics_compute_device_auto_computes(folders):
    res, out = _compute(folders, "--hr", str(folders / "hr"), "--metrics", "psnr-y", "--device", "auto")
    assert res.exit_code == 0, res.output
    assert out.read_text().splitlines()[0].split(",") == ["pair_id", "psnr-y"]


@pytest.mark.parametrize("device", ["gpu", "cuda"])
def test_i02_metrics_compute_unusable_device_exits_1(folders, device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    res, out = _compute(folders, "--hr", str(folders / "hr"), "--metrics", "psnr-y", "--device", device)
    assert res.exit_code == 1, res.output
    assert f"--device {device}" in res.output or f"'{device}'" in res.output
    assert not out.exists() and "Traceback" not in res.output


def test_i02_metrics_compute_nothing_computed_exits_1(folders):
    res, out = _compute(folders, "--metrics", "psnr-y,ssim-y")  # full-reference, no --hr
    assert res.exit_code == 1, res.output
    assert "--hr" in res.output and not out.exists()


def test_i02_run_strict_and_skips_in_the_summary(data, tmp_path):
    results = tmp_path / "r"
    args = ("-m", "bicubic", "--limit", "2", "--metrics", "psnr-y,lpips-alex")
    res = _run(data, results, *args, "--strict")  # lpips weights are not in this test's weights dir
    assert res.exit_code == 1, res.output
    assert "lpips-alex" in res.output and "strict" in res.output
    res = _run(data, results, *args, "-q")  # default: computed, the skip is said even when quiet
    assert res.exit_code == 0, res.output
    assert "lpips-alex" in res.output and "not computed" in res.output
    res = _run(data, results, *args, "--strict")  # a cached cell with a skipped metric: still an error
    assert res.exit_code == 1, res.output
    res = _run(data, tmp_path / "r2", "-m", "bicubic", "--limit", "2", "--metrics", "lpips-alex")
    assert res.exit_code == 1, res.output
    assert "nothing was computed" in res.output.lower()


# ------------------------------------------------------------------ 3. command cache keys the code

SCRIPT = textwrap.dedent(
    """
    import sys, pathlib
    from PIL import Image
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    out = pathlib.Path(args["-o"])
    for p in sorted(pathlib.Path(args["-i"]).glob("*.png")):
        im = Image.open(p)
        im.resize((im.width * 4, im.height * 4), Image.{method}).save(out / p.name)
    """
)


def _command_card(tmp_path, version=None):
    script = tmp_path / "infer.py"
    if not script.exists():
        script.write_text(SCRIPT.format(method="BICUBIC"))
    extra = f", version: '{version}'" if version else ""
    card = tmp_path / "my-cmd.yaml"
    card.write_text(
        "name: my-cmd\nadapter: command\nscale: 4\nsteps: null\ndescription: d\ncitation: c\nlicense: l\n"
        f'options: {{command: "{sys.executable} {script} -i {{input}} -o {{output}}", timeout_s: 60{extra}}}\n'
    )
    return card, script


def test_i03_command_cell_is_keyed_on_the_script_it_runs(data, tmp_path):
    results = tmp_path / "r"
    card, script = _command_card(tmp_path)
    res = _run(data, results, "-m", str(card), "--limit", "3", "--metrics", "psnr-y")
    assert res.exit_code == 0, res.output
    first, path = _result(results, "my-cmd")
    script.write_text(SCRIPT.format(method="NEAREST"))  # the user's code changed
    res = _run(data, results, "-m", str(card), "--limit", "3", "--metrics", "psnr-y")
    assert res.exit_code == 1, res.output  # never "cached" with the old number
    assert "infer.py" in res.output and "--force" in res.output
    # An interrupted cell of the old code (logs + images, no result.json) is not resumed:
    sr = path.parent / "sr"
    path.unlink()
    (sr / sorted(p.name for p in sr.iterdir())[0]).unlink()
    res = _run(data, results, "-m", str(card), "--limit", "3", "--metrics", "psnr-y")
    assert res.exit_code == 0, res.output
    second, _ = _result(results, "my-cmd")
    assert second["metrics"]["psnr-y"]["mean"] != pytest.approx(first["metrics"]["psnr-y"]["mean"])
    assert second["timing"]["session_images_generated"] == 3  # every image from the new code
    # The card's declared version is part of the key too:
    card2, _ = _command_card(tmp_path, version="2")
    res = _run(data, results, "-m", str(card2), "--limit", "3", "--metrics", "psnr-y")
    assert res.exit_code == 1 and "--force" in res.output, res.output


# ------------------------------------------------------------------ 4. same-stem files


def test_i04_metrics_compute_same_stem_files_are_an_error(folders):
    name = sorted((folders / "sr").iterdir())[0]
    write_png(name.with_suffix(".jpg"), read_rgb8(name))
    res, out = _compute(folders, "--hr", str(folders / "hr"), "--metrics", "psnr-y")
    assert res.exit_code == 1, res.output
    assert name.name in res.output and name.with_suffix(".jpg").name in res.output and not out.exists()


# ------------------------------------------------------------------ 6. intervals by source image


def test_i06_run_bootstraps_by_source_image(data, tmp_path):
    results = tmp_path / "r"
    res = _run(data, results, "-m", "bicubic", "--limit", "60", "--metrics", "psnr-y", "-q")
    assert res.exit_code == 0, res.output
    r, path = _result(results, "bicubic")
    m = r["metrics"]["psnr-y"]
    assert m["resampling"] == "source" and m["n_clusters"] == 2 and m["n"] == 60
    from yonos_bench.metrics.stats import bootstrap_ci
    from yonos_bench.runs.results import read_per_image

    naive = bootstrap_ci(list(read_per_image(path.parent / "per_image.csv")["psnr-y"].values()))
    assert (m["ci_high"] - m["ci_low"]) > (naive.ci_high - naive.ci_low)


# ------------------------------------------------------------------ 7. s/img of folder models


def test_i07_folder_model_s_per_img_is_not_measured(data, tmp_path, monkeypatch):
    results = tmp_path / "r"
    assert _run(data, results, "-m", "bicubic", "--limit", "2", "--metrics", "psnr-y", "-q").exit_code == 0
    r, path = _result(results, "bicubic")
    monkeypatch.setenv("YONOS_OUTPUTS_SEESR", str(path.parent / "sr"))
    res = _run(data, results, "-m", "seesr", "--limit", "2", "--metrics", "psnr-y", "-q")
    assert res.exit_code == 0, res.output
    r, _ = _result(results, "seesr")
    assert r["timing"]["seconds_per_image"] is None and "not run" in r["timing"]["not_measured"]


# ------------------------------------------------------------------ 8. batch size


def test_i08_batch_size_never_mixes_in_a_cell(data, tmp_path):
    results = tmp_path / "r"
    args = ("-m", "yonos-tiny-x4", "--limit", "5", "--metrics", "psnr-y", "-q")
    assert _run(data, results, *args, "--batch-size", "1").exit_code == 0
    r1, path = _result(results, "yonos-tiny-x4")
    assert r1["cell"]["batch_size"] == 1
    res = _run(data, results, *args, "--batch-size", "5")
    assert res.exit_code == 1 and "batch" in res.output, res.output  # never "cached" from batch 1
    path.unlink()  # an interrupted batch-1 cell is not resumed at batch 5
    res = _run(data, results, *args, "--batch-size", "5")
    assert res.exit_code == 0, res.output
    r5, _ = _result(results, "yonos-tiny-x4")
    assert r5["cell"]["batch_size"] == 5 and r5["timing"]["session_images_generated"] == 5


def test_i08_interp_outputs_do_not_depend_on_batch_size(data, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        _run(data, a, "-m", "bicubic", "--limit", "5", "--metrics", "psnr-y", "--batch-size", "1").exit_code
        == 0
    )
    assert (
        _run(data, b, "-m", "bicubic", "--limit", "5", "--metrics", "psnr-y", "--batch-size", "5").exit_code
        == 0
    )
    ra, _ = _result(a, "bicubic")
    rb, _ = _result(b, "bicubic")
    assert ra["sr_images"] == rb["sr_images"] and "batch_size" not in ra["cell"]


# ------------------------------------------------------------------ 9. a cached result is verified


def test_i09_run_does_not_serve_a_hand_edited_result(data, tmp_path):
    results = tmp_path / "r"
    assert _run(data, results, "-m", "bicubic", "--limit", "3", "--metrics", "psnr-y", "-q").exit_code == 0
    r, path = _result(results, "bicubic")
    true = r["metrics"]["psnr-y"]["mean"]
    r["metrics"]["psnr-y"]["mean"] = 31.0
    path.write_text(json.dumps(r))
    res = _run(data, results, "-m", "bicubic", "--limit", "3", "--metrics", "psnr-y")
    assert res.exit_code == 0, res.output
    assert "cached" not in res.output and "per_image.csv" in res.output
    assert _result(results, "bicubic")[0]["metrics"]["psnr-y"]["mean"] == true


# ------------------------------------------------------------------ 10. --metrics adds


def test_i10_metrics_are_merged_into_a_cell(data, tmp_path):
    results = tmp_path / "r"
    assert (
        _run(data, results, "-m", "bicubic", "--limit", "3", "--metrics", "psnr-y,ssim-y", "-q").exit_code
        == 0
    )
    before, path = _result(results, "bicubic")
    res = _run(data, results, "-m", "bicubic", "--limit", "3", "--metrics", "psnr-y-crop4", "-q")
    assert res.exit_code == 0, res.output
    after, _ = _result(results, "bicubic")
    assert set(after["metrics"]) == {"psnr-y", "ssim-y", "psnr-y-crop4"}
    assert after["metrics"]["psnr-y"]["mean"] == before["metrics"]["psnr-y"]["mean"]
    header = (path.parent / "per_image.csv").read_text().splitlines()[0]
    assert {"psnr-y", "ssim-y", "psnr-y-crop4"} <= set(header.split(","))
    shutil.rmtree(results)
