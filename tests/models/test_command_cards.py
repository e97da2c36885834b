"""The shipped command cards against stand-ins of the authors' repositories.

Each stand-in (tests/models/standins/<card>/) takes exactly the authors' arguments and names
its outputs as their script does, so a change on our side of the contract — the command
line, the output names, the launcher, the setup resolution — fails here.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.core.imageio import to_uint8
from yonos_bench.models import ScaleMismatchError, load_card, load_model

STANDINS = Path(__file__).parent / "standins"
SCRIPT_DIRS = {"stablesr": "scripts", "resshift": "", "sinsr": "", "osediff": "", "dasr": "basicsr"}


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """checkout(card) -> (folder, log path): the card's stand-in copied to a folder whose
    path has a space, its setup files created at their default paths, env vars set."""

    def make(name: str):
        card = load_card(name)
        root = tmp_path / f"{name} checkout"
        shutil.copytree(STANDINS / name, root)
        shutil.copy(STANDINS / "standin_common.py", root / SCRIPT_DIRS[name] / "standin_common.py")
        for f in card.setup.files:
            p = root / f.path
            if f.kind == "folder":
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(b"weights")
        monkeypatch.setenv(card.setup.checkout_env, str(root))
        monkeypatch.setenv(card.setup.python_env, sys.executable)
        log = tmp_path / f"{name}.log"
        monkeypatch.setenv("STANDIN_LOG", str(log))
        return root, log

    return make


def _lr(n, h=6, w=5):
    return torch.randint(0, 200, (n, 3, h, w), generator=torch.Generator().manual_seed(n)).float() / 255


def _expected(lr, offset):
    a = np.asarray(to_uint8(lr)).astype(np.int64)  # HxWx3
    a = np.repeat(np.repeat(a, 4, 0), 4, 1)
    return torch.from_numpy(((a + offset) % 256).astype(np.uint8)).permute(2, 0, 1).float() / 255


def _runs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_stablesr_runs_the_readme_line_with_the_papers_settings(checkout):
    root, log = checkout("stablesr")
    m = load_model("stablesr", scale=4)
    assert m.default_steps == 200 and m.supports_steps and m.per_image
    lr = _lr(2)
    y = m.upscale(lr, seeds=[3, 5], names=["a p00", "b.p01"])  # a space and a dot in pair ids
    for i, seed in enumerate([3, 5]):
        torch.testing.assert_close(y[i], _expected(lr[i], seed + 200), atol=0, rtol=0)
    runs = _runs(log)
    assert len(runs) == 2 and {r["cwd"] for r in runs} == {str(root)}
    a = runs[0]["args"]
    assert (a["ddpm_steps"], a["dec_w"], a["colorfix_type"], a["upscale"], a["precision"]) == (
        200,
        0.5,
        "adain",
        4.0,
        "autocast",
    )
    assert a["config"] == "configs/stableSRNew/v2-finetune_text_T_512.yaml" and a["n_samples"] == 1
    assert a["ckpt"] == str(root / "stablesr_000117.ckpt")
    y50 = m.upscale(lr[:1], seeds=[3], names=["a p00"], steps=50)
    torch.testing.assert_close(y50[0], _expected(lr[0], 3 + 50), atol=0, rtol=0)
    with pytest.raises(ScaleMismatchError):
        load_model("stablesr", scale=8)


def test_resshift_steps_choose_the_released_version(checkout):
    root, log = checkout("resshift")
    m = load_model("resshift")
    lr = _lr(1)
    torch.testing.assert_close(
        m.upscale(lr, seeds=[7], names=["x"])[0], _expected(lr[0], 7 + 4), atol=0, rtol=0
    )
    torch.testing.assert_close(
        m.upscale(lr, seeds=[7], names=["x"], steps=15)[0], _expected(lr[0], 7 + 15), atol=0, rtol=0
    )
    assert [r["args"]["version"] for r in _runs(log)] == ["v3", "v1"]
    assert m.input_files == tuple(root / "weights" / f.name for f in load_card("resshift").setup.files)
    assert _runs(log)[0]["args"]["chop_size"] == 512 and _runs(log)[0]["args"]["chop_stride"] == 448
    with pytest.raises(
        ValueError, match=r"'resshift' runs only with steps 4, 15 \(the released checkpoints\), got 7"
    ):
        m.upscale(lr, seeds=[7], names=["x"], steps=7)
    (root / "weights" / "resshift_realsrx4_s15_v1.pth").unlink()
    m.upscale(lr, seeds=[7], names=["x"])  # 4 steps need only v3
    with pytest.raises(
        WeightsMissingError,
        match=r"(?s)file resshift_realsrx4_s15_v1\.pth \(needed for 15-step runs\) not found at .*"
        r"Download: https://github\.com/zsyOAOA/ResShift/releases/download/v2\.0/resshift_realsrx4_s15_v1\.pth",
    ):
        m.upscale(lr, seeds=[7], names=["x"], steps=15)


def test_sinsr_runs_one_step_and_skips_the_authors_evaluation(checkout):
    checkout("sinsr")
    m = load_model("sinsr")
    assert m.default_steps == 1
    lr = _lr(2)
    y = m.upscale(lr, seeds=[1, 2], names=["p0", "p1"])
    torch.testing.assert_close(y[1], _expected(lr[1], 2 + 1), atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"runs only with steps 1"):
        m.upscale(lr, seeds=[1, 2], names=["p0", "p1"], steps=4)
    # the authors' line as is: their evaluate() needs the network
    plain = load_card("sinsr").options["command"].replace("{launcher} run --stub evaluate:evaluate -- ", "")
    m = load_model("sinsr", options={"command": plain})
    with pytest.raises(
        YonosError, match=r"(?s)exited with status 1.*pyiqa: downloading clipiqa weights failed"
    ):
        m.upscale(lr[:1], seeds=[1], names=["p0"])


def test_osediff_is_seeded_by_the_launcher(checkout):
    checkout("osediff")
    m = load_model("osediff")
    lr = _lr(2)
    y = m.upscale(lr, seeds=[11, 12], names=["q0", "q1"])
    for i, seed in enumerate([11, 12]):  # the stand-in draws np.random.randint(0, 50) once
        torch.testing.assert_close(
            y[i], _expected(lr[i], np.random.RandomState(seed).randint(0, 50)), atol=0, rtol=0
        )
    torch.testing.assert_close(m.upscale(lr[1:], seeds=[12], names=["q1"]), y[1:], atol=0, rtol=0)


def test_dasr_runs_basicsr_on_the_lr_folder(checkout):
    root, log = checkout("dasr")
    m = load_model("dasr")
    assert not m.per_image and not m.supports_steps
    lr = _lr(3)
    y = m.upscale(lr, seeds=[0, 0, 0], names=["r0", "r1", "r.2"])
    for i in range(3):
        torch.testing.assert_close(y[i], _expected(lr[i], 0), atol=0, rtol=0)
    [run] = _runs(log)  # one run per batch: the model is deterministic
    assert run["script"] == "dasr" and run["cwd"] == str(root)
    assert list((root / "results").iterdir()) == []  # the launcher cleaned up after moving the images


def test_missing_checkout_and_checkpoints_are_one_clear_message(checkout, monkeypatch, tmp_path):
    monkeypatch.delenv("STABLESR_DIR", raising=False)
    with pytest.raises(
        WeightsMissingError,
        match=r"'stablesr' runs the authors' code: clone https://github\.com/IceClear/StableSR .* "
        r"\$STABLESR_DIR \(or the model option checkout=DIR\)\. The full setup recipe: yonos-bench models show stablesr",
    ):
        load_model("stablesr")
    with pytest.raises(WeightsMissingError, match=r"checkout .*nowhere \(option checkout\) is not a folder"):
        load_model("stablesr", options={"checkout": str(tmp_path / "nowhere")})
    root, _ = checkout("stablesr")
    (root / "vqgan_cfw_00011.ckpt").rename(tmp_path / "elsewhere.ckpt")
    with pytest.raises(
        WeightsMissingError,
        match=r"file vqgan_cfw_00011\.ckpt not found at .*vqgan_cfw_00011\.ckpt \(default\)\. Put it there or set "
        r"\$STABLESR_VQGAN_CKPT to its path\. Download: https://huggingface\.co/Iceclear/StableSR/resolve/main/vqgan_cfw_00011\.ckpt",
    ):
        load_model("stablesr")
    monkeypatch.setenv("STABLESR_VQGAN_CKPT", str(tmp_path / "elsewhere.ckpt"))
    m = load_model("stablesr")
    assert str(tmp_path / "elsewhere.ckpt") in m.template


def test_models_show_gives_the_setup_recipe(checkout, monkeypatch):
    runner = CliRunner()
    monkeypatch.delenv("RESSHIFT_DIR", raising=False)
    r = runner.invoke(app, ["models", "show", "resshift", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)["setup"]
    assert s["clone"].startswith(
        "git clone https://github.com/zsyOAOA/ResShift && git -C ResShift checkout 3ce1d81e"
    )
    assert s["checkout_env"] == "RESSHIFT_DIR" and s["checkout"] is None
    assert [f["steps"] for f in s["files"]] == [4, 15, None]
    assert all(f["url"].startswith("https://github.com/zsyOAOA/ResShift/releases/") for f in s["files"])
    root, _ = checkout("osediff")
    r = runner.invoke(app, ["models", "show", "osediff"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "Clone: git clone https://github.com/cswry/OSEDiff" in out and "$OSEDIFF_DIR" in out
    assert "DAPE.pth" in out and "set $OSEDIFF_DAPE to move it" in out and "[present]" in out
    assert (
        "Why the command differs from the authors' line" in out
        and "Verify: yonos-bench run sample -m osediff" in out
    )


def test_no_table1_system_is_folder_only():
    from .test_cards import METHOD_TO_CARD, _csv

    table1 = {
        METHOD_TO_CARD[r["method"]]
        for r in _csv("paper_tables.csv")
        if r["table"] == "table1" and r["method"] != "YONOS"
    }
    adapters = {n: load_card(n).adapter for n in table1}
    assert {"stablesr", "resshift", "dasr", "femasr"} <= set(adapters)
    assert "folder" not in adapters.values(), adapters
    for name in ("stablesr", "resshift", "sinsr", "osediff", "dasr"):
        card = load_card(name)
        assert card.adapter == "command" and card.setup is not None and card.setup.files


def test_launcher_seeds_torch_when_the_script_imports_it(tmp_path):
    """ext_launch run --seed N: torch's generator is seeded as if before the script ran."""
    import subprocess

    from yonos_bench.models.command_setup import LAUNCHER

    script = tmp_path / "draw.py"
    script.write_text(
        "import sys, random, torch\nprint(torch.randint(0, 10**9, (1,)).item(), random.random(), sys.argv[1:])\n"
    )
    outs = [
        subprocess.run(
            [sys.executable, str(LAUNCHER), "run", "--seed", str(s), "--", str(script), "-x", "a b"],
            capture_output=True, text=True, check=True, cwd=tmp_path,
        ).stdout.split(" ", 2)
        for s in (5, 6)
    ]  # fmt: skip
    import random

    assert int(outs[0][0]) == torch.randint(0, 10**9, (1,), generator=torch.Generator().manual_seed(5)).item()
    assert float(outs[0][1]) == random.Random(5).random()
    assert outs[0][0] != outs[1][0]
    assert outs[0][2].strip() == "['-x', 'a b']"


def test_runner_sweeps_resshift_over_its_two_releases(checkout, tmp_path):
    from yonos_bench.runs.runner import OptionError, RunOptions, run_benchmark

    _, log = checkout("resshift")
    opts = RunOptions(
        metrics=("psnr-y",), data_root=tmp_path / "data", results_root=tmp_path / "results",
        limit=2, progress=False, device="cpu",
    )  # fmt: skip
    with pytest.raises(OptionError, match=r"--steps 7: model 'resshift' runs only with steps 4, 15"):
        run_benchmark("sample", ["resshift"], steps=(7,), options=opts)
    outcomes = run_benchmark("sample", ["resshift"], steps=(4, 15), options=opts)
    assert [o.result["steps"] for o in outcomes] == [4, 15]
    assert [r["args"]["version"] for r in _runs(log)] == ["v3", "v3", "v1", "v1"]  # one run per image


CMD_CARD = """\
name: c
adapter: command
scale: 4
steps: 4
description: d
citation: c
license: l
options:
  command: "{python} run.py -i {input} -o {output} --version {version}"
  step_values: {version: {4: v3, 15: v1}}
setup:
  repo: https://example.org/r
  commit: 0123456789abcdef0123456789abcdef01234567
  checkout_env: R_DIR
  python_env: R_PYTHON
  install: ["pip install -e ."]
  verify: "yonos-bench run sample -m c --limit 2"
  source: "README"
  files:
    - {name: w.pth, path: weights/w.pth, url: "https://example.org/w.pth"}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("steps: 4", "steps: 5", r"key 'steps' is 5 but the command runs only with steps \[4, 15\]"),
        ("steps: 4", "steps: null", r"key 'steps' must be set exactly when the command takes steps"),
        ("commit: 0123456789abcdef0123456789abcdef01234567", "commit: main", r"'setup\.commit' must be a full 40-digit"),
        ("checkout_env: R_DIR", "checkout_env: r-dir", r"'setup\.checkout_env' must be an environment variable name"),
        ("url: \"https://example.org/w.pth\"", "url: null", r"'setup\.files\[0\]\.note' is required when url is null"),
        ("{4: v3, 15: v1}", "{4: 3}", r"'options\.step_values' field 'version': keys must be step counts"),
        ("  source: \"README\"\n", "", r"missing required key 'setup\.source'"),
        ("adapter: command", "adapter: folder", r"unknown key 'options\.command' (\(line \d+\) )?for adapter 'folder'"),
        ("--version {version}", "--version {version} --ckpt {ckpt}", r"uses unknown field\(s\) \{ckpt\}; known here"),
        ("url: \"https://example.org/w.pth\"}", "url: \"https://example.org/w.pth\", field: w}", r"'setup\.files\[0\]\.field' is \{w\} but options\.command does not use it"),
    ],
)
def test_bad_command_cards_name_the_key(old, new, message):
    from yonos_bench.core.errors import SpecError
    from yonos_bench.models.registry import parse_card

    assert old in CMD_CARD
    parse_card(CMD_CARD, "c.yaml", protocols=set())
    with pytest.raises(SpecError, match=message):
        parse_card(CMD_CARD.replace(old, new), "c.yaml", protocols=set())


def test_setup_only_for_command_cards():
    from yonos_bench.core.errors import SpecError
    from yonos_bench.models.registry import parse_card

    text = CMD_CARD.replace("adapter: command", "adapter: paper-only").replace("steps: 4", "steps: null")
    text = text.split("options:")[0] + "setup:" + text.split("setup:")[1]
    with pytest.raises(SpecError, match=r"key 'setup' is only for adapter 'command', not 'paper-only'"):
        parse_card(text, "c.yaml", protocols=set())
