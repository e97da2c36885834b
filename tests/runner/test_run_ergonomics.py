"""`run` / `metrics compute` ergonomics (issue 19) on the embedded `sample` protocol with
bicubic: --json, metric-pass progress, root -q, NAME=PATH, --model-option, --limit with an
outputs folder, metrics compute's output check and --output spelling."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app

runner = CliRunner()
LIMIT = "3"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Prepared `sample` pairs, one bicubic cell (--limit 3), and an outputs folder holding a
    file for *every* pair (the first 3 real bicubic outputs, the rest copies)."""
    from yonos_bench.protocols.pairs import prepare

    base = tmp_path_factory.mktemp("ergo")
    pp = prepare("sample", base / "data", progress=False)
    results = base / "results"
    args = ["run", "sample", "-m", "bicubic", "--limit", LIMIT, "--metrics", "psnr-y", "--device", "cpu",
            "--data-root", str(base / "data"), "--results", str(results)]  # fmt: skip
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    cell = json.loads(res.stdout)["cells"][0]
    outputs = base / "outputs" / "sr"
    outputs.mkdir(parents=True)
    sr = sorted((results / "sample-v1" / "bicubic").glob("*/sr/*.png"))
    assert len(sr) == int(LIMIT)
    for p in sr:
        shutil.copy(p, outputs / p.name)
    for pair in pp.pairs[int(LIMIT) :]:
        shutil.copy(sr[0], outputs / f"{pair.id}.png")
    return {
        "base": base,
        "data": base / "data",
        "args": args,
        "cell": cell,
        "outputs": outputs,
        "output": res.output,
    }


def _run(env, results, *extra):
    cmd = ["run", "sample", "--limit", LIMIT, "--metrics", "psnr-y", "--device", "cpu",
           "--data-root", str(env["data"]), "--results", str(results), *extra]  # fmt: skip
    return runner.invoke(app, cmd)


def test_run_json_and_metric_progress(env):
    c = env["cell"]
    assert c["model"] == "bicubic" and c["status"] == "computed" and c["n"] == int(LIMIT)
    assert c["limit"] == int(LIMIT) and c["reportable"] is False
    assert c["metrics"]["psnr-y"]["mean"] > 20
    assert "bicubic steps=None metrics" in env["output"]  # the metric pass has its own bar (stderr)


def test_root_quiet_leaves_only_results(env, tmp_path):
    res = runner.invoke(app, ["-q", *env["args"][:-2], "--results", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    assert "ETA" not in res.output and "metrics" not in res.output.split("{", 1)[0]
    assert json.loads(res.stdout)["cells"][0]["metrics"]["psnr-y"]["mean"] == c_mean(env)
    from yonos_bench.core.quiet import set_quiet

    set_quiet(False)


def c_mean(env):
    return env["cell"]["metrics"]["psnr-y"]["mean"]


def test_named_path_models_and_limit_with_an_outputs_folder(env, tmp_path):
    # Two `.../sr` folders: unnamed they would both be `sr`; named, each gets its own cell.
    other = tmp_path / "other" / "sr"
    shutil.copytree(env["outputs"], other)
    results = tmp_path / "r"
    res = _run(env, results, "-m", f"first={env['outputs']}", "-m", f"second={other}", "--json")
    assert res.exit_code == 0, res.output  # --limit 3 with a folder of all 210 outputs: no "match no pair"
    cells = json.loads(res.stdout)["cells"]
    assert [c["model"] for c in cells] == ["first", "second"]
    assert all(c["metrics"]["psnr-y"]["mean"] == pytest.approx(c_mean(env)) for c in cells)
    assert (results / "sample-v1" / "first").is_dir() and (results / "sample-v1" / "second").is_dir()
    # a folder with an image matching no pair of the protocol is still refused
    (other / "stray.png").write_bytes(
        (other / next(iter(sorted(p.name for p in other.iterdir())))).read_bytes()
    )
    res = _run(env, tmp_path / "r2", "-m", f"second={other}")
    assert res.exit_code == 1 and "match no pair" in res.output and "stray.png" in res.output


def test_model_option_gives_a_folder_card_its_outputs(env, tmp_path):
    res = _run(env, tmp_path / "r", "-m", "seesr", "--json")
    assert res.exit_code == 1 and "--model-option outputs=DIR" in res.output
    res = _run(
        env, tmp_path / "r", "-m", "seesr", "--model-option", f"seesr:outputs={env['outputs']}", "--json"
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["cells"][0]["metrics"]["psnr-y"]["mean"] == pytest.approx(c_mean(env))
    res = _run(env, tmp_path / "r", "-m", "seesr", "--model-option", "seesr:outptus=x")
    assert res.exit_code == 1 and "options.outptus" in res.output and "Did you mean: outputs" in res.output


def test_metrics_compute_checks_its_output_before_scoring(env, tmp_path, monkeypatch):
    hr = env["data"] / "prepared" / "sample-v1" / "hr"
    import yonos_bench.metrics.engine as engine

    real = engine.evaluate
    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: pytest.fail("scored before checking --output"))
    res = runner.invoke(app, ["metrics", "compute", "--sr", str(env["outputs"]), "--hr", str(hr),
                              "--metrics", "psnr-y", "--output", str(tmp_path / "no" / "such" / "m.csv")])  # fmt: skip
    assert res.exit_code == 1 and "does not exist" in res.output
    res = runner.invoke(app, ["metrics", "compute", "--sr", str(env["outputs"]), "--hr", str(hr),
                              "--metrics", "psnr-y", "-o", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 1 and "is a folder" in res.output
    calls = []

    def spy(*a, **k):
        calls.append(k.get("progress"))
        return real(*a, **k)

    monkeypatch.setattr(engine, "evaluate", spy)
    sr = tmp_path / "sr"
    sr.mkdir()
    for p in sorted(env["outputs"].iterdir())[:2]:
        shutil.copy(p, sr / p.name)
    hr2 = tmp_path / "hr"
    hr2.mkdir()
    for p in sorted(sr.iterdir()):
        shutil.copy(hr / p.name, hr2 / p.name)
    for flag in ("-o", "--out"):  # --out: the old spelling
        out = tmp_path / f"m{flag.strip('-')}.csv"
        res = runner.invoke(
            app,
            ["metrics", "compute", "--sr", str(sr), "--hr", str(hr2), "--metrics", "psnr-y", flag, str(out)],
        )
        assert res.exit_code == 0, res.output
        assert out.is_file() and f"Per-image values: {out}" in res.output
    assert len(calls) == 2 and all(callable(c) for c in calls)  # a progress bar with ETA was fed


def test_tiled_passes_report_each_tile():
    import io

    import torch
    from rich.console import Console

    from yonos_bench.runs.ui import RunUI
    from yonos_train.tiling import tile_progress, tiled_apply

    calls = []
    with tile_progress(lambda d, t: calls.append((d, t))):
        tiled_apply(lambda t: t, torch.zeros(1, 1, 8, 8), tile=4, overlap=0)
        tiled_apply(lambda t: t, torch.zeros(1, 1, 4, 4), tile=4, overlap=0)  # one tile: silent
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    tiled_apply(lambda t: t, torch.zeros(1, 1, 8, 8), tile=4, overlap=0)  # no listener: nothing
    assert len(calls) == 4
    ui = RunUI(Console(file=io.StringIO(), width=120), enabled=True)
    with ui.progress, ui.tile_progress("m tiles"):
        tiled_apply(lambda t: t, torch.zeros(1, 1, 8, 8), tile=4, overlap=2)
    (task,) = ui.progress.tasks
    assert task.description == "m tiles" and task.completed == task.total == 9


def test_a_tiled_yonos_run_shows_tile_progress(env, tmp_path):
    res = _run(env, tmp_path / "r", "-m", "yonos-tiny-x4", "--model-option", "tile_size=8", "--limit", "1")
    assert res.exit_code == 0, res.output
    assert "yonos-tiny-x4 tiles of large images" in res.output


def test_model_options_are_part_of_the_cell_key(env, tmp_path):
    results = tmp_path / "r"
    assert _run(env, results, "-m", "yonos-tiny-x4", "--limit", "1").exit_code == 0
    res = _run(env, results, "-m", "yonos-tiny-x4", "--limit", "1", "--model-option", "tile_size=8")
    assert res.exit_code == 1 and "holds the result of another cell" in res.output  # not served from cache
    res = _run(env, results, "-m", "yonos-tiny-x4", "--limit", "1", "--model-option", "tile_size=8", "--force")
    assert res.exit_code == 0, res.output
