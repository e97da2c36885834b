"""``yonos-bench train`` through the CLI: Ctrl-C saves and says how to resume, ``--resume RUN``
alone restores the run's config, data paths are stored absolute, ``--probe`` reports."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_train import engine
from yonos_train.engine import checkpoints

runner = CliRunner()
SMALL = ["--set", "crop=32", "--set", "batch_size=2", "--set", "log_every=1", "--set", "progress=false",
         "--set", "checkpoint_every=100", "--set", "procedural_images=4", "--set", "procedural_size=40"]  # fmt: skip


def _images(folder, n=3, size=48):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_ctrl_c_saves_a_checkpoint_and_resume_run_alone_restores_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "hr" / "sub")  # in a subfolder: the listing recurses
    original = engine.Run._one_step

    def one_step_then_ctrl_c(self, step_fn, batches, step, *rest):
        logs = original(self, step_fn, batches, step, *rest)
        if step == 1:
            os.kill(os.getpid(), signal.SIGINT)  # as the terminal's Ctrl-C would
        return logs

    monkeypatch.setattr(engine.Run, "_one_step", one_step_then_ctrl_c)
    res = runner.invoke(
        app, ["train", "standard", "--data", "hr", "--out", "run", "--set", "steps=4", *SMALL]
    )
    assert res.exit_code == 130, res.output
    assert "Interrupted after step 2/4" in res.output
    assert "Resume with: yonos-bench train standard --resume run" in res.output
    assert [p.name for p in checkpoints(tmp_path / "run")] == ["step-0000002"]
    opts = json.loads((tmp_path / "run" / "training_options.json").read_text())["config"]
    assert opts["data"] == [str((tmp_path / "hr").resolve())]  # absolute, not "hr" as typed

    monkeypatch.setattr(engine.Run, "_one_step", original)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the relative --data would not resolve from here
    res = runner.invoke(app, ["train", "standard", "--resume", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "Run finished" in res.output
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_resume_alone_refuses_another_stage_and_a_changed_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", "standard", "--out", "run", "--set", "steps=1", *SMALL])
    assert res.exit_code == 0, res.output
    # A checkpoint holds only what resume needs: the trained UNet, its optimizer, the tiny
    # RNG record and our step file — never the frozen VAE or null embedding.
    from safetensors.torch import load_file

    ckpt = checkpoints(tmp_path / "run")[-1]
    assert sorted(p.name for p in ckpt.iterdir()) == ["model.safetensors", "optimizer.bin", "random_states_0.pkl",
                                                      "trainer_state.json"]  # fmt: skip
    unet = load_file(str(tmp_path / "run" / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert load_file(str(ckpt / "model.safetensors")).keys() == unet.keys()
    res = runner.invoke(app, ["train", "autoencoder", "--resume", "run"])
    assert res.exit_code == 1 and "is a standard run; resume it with `train standard`" in res.output
    res = runner.invoke(app, ["train", "standard", "--resume", "run", "--set", "lr=1e-2"])
    assert res.exit_code == 1 and "lr" in res.output and "another config" in res.output
    res = runner.invoke(app, ["train", "standard", "--resume", "run", "--set", "steps=2"])  # run control: ok
    assert res.exit_code == 0, res.output


def test_without_vae_the_tiny_standard_stage_warns_and_the_lineage_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", "standard", "--out", "run", "--set", "steps=1", *SMALL])
    assert res.exit_code == 0, res.output
    assert "the tiny VAE is RANDOM" in res.output
    assert "torch CPU threads:" in res.output
    lineage = json.loads((tmp_path / "run" / "pipeline" / "model_index.json").read_text())["lineage"]
    assert "VAE random (untrained)" in lineage and "4 procedural dead-leaves images" in lineage


def test_probe_on_the_tiny_preset_prints_every_field_and_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", "standard", "--probe", "--probe-steps", "2", *SMALL])
    assert res.exit_code == 0, res.output
    for field in ("step time", "samples/s", "data-loading share", "peak memory", "checkpoint size",
                  "full run estimate", "frozen_dtype=bf16", "encode_chunk=", "accelerate launch"):  # fmt: skip
        assert field in res.output, field
    assert not (tmp_path / "runs").exists()  # the probe's run folder was temporary
    res = runner.invoke(app, ["train", "standard", "--probe", "--probe-steps", "2", "--resume", "x"])
    assert res.exit_code == 1 and "cannot be combined with --resume" in res.output
