"""Configs, recipes and the ``yonos-bench train`` CLI (dry runs and input errors)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from yonos_bench.cli import app
from yonos_bench.core.errors import SpecError, UnknownNameError
from yonos_train.config import apply_overrides, config_digest, load_config
from yonos_train.recipes import recipe

runner = CliRunner()


def test_overrides_are_typed_and_unknown_keys_fail():
    cfg = recipe("standard", "tiny")
    new = apply_overrides(
        cfg, ["lr=3e-4", "steps=7", "gradient_checkpointing=true", "data=a,b", "init=random"]
    )
    assert (new.lr, new.steps, new.gradient_checkpointing, new.data) == (3e-4, 7, True, ["a", "b"])
    assert cfg.lr == 5e-4  # the recipe is not mutated
    with pytest.raises(UnknownNameError, match="Unknown standard config key 'learning_rate'.*Available:.*lr"):
        apply_overrides(cfg, ["learning_rate=1"])
    with pytest.raises(UnknownNameError, match="Did you mean: steps"):
        apply_overrides(cfg, ["step=1"])
    with pytest.raises(SpecError, match=r"--set steps=many: expected int"):
        apply_overrides(cfg, ["steps=many"])
    with pytest.raises(SpecError, match="--set expects key=value"):
        apply_overrides(cfg, ["steps"])
    with pytest.raises(SpecError, match="'crop' = 30: must be a multiple of scale 4"):
        apply_overrides(recipe("distill", "tiny"), ["crop=30"])
    with pytest.raises(SpecError, match="too small for realesrgan"):
        apply_overrides(cfg, ["degradation=realesrgan"])
    with pytest.raises(UnknownNameError, match="Unknown degradation 'bicubik'"):
        apply_overrides(cfg, ["degradation=bicubik"])


def test_digest_ignores_run_control_fields_only():
    cfg = recipe("distill", "tiny")
    same = apply_overrides(cfg, ["steps=9999", "out=x", "log_every=3", "checkpoint_every=5", "resume=true"])
    assert config_digest(same) == config_digest(cfg)
    assert config_digest(apply_overrides(cfg, ["seed=1"])) != config_digest(cfg)


def test_sd15_recipe_is_the_papers():
    for stage in ("standard", "distill", "decoder"):
        cfg = recipe(stage, "sd15")
        assert (cfg.crop, cfg.batch_size, cfg.grad_accum, cfg.degradation) == (512, 15, 4, "realesrgan")
        assert cfg.samples_per_step * 4 == 240  # 15/GPU × 4 GPUs = 60 per pass, × 4 accumulation
    assert recipe("standard", "sd15").init == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert recipe("standard", "sd15").scale == 2 and recipe("distill", "sd15").scale == 4
    dec = recipe("decoder", "sd15")
    assert (dec.perceptual, dec.disc_start, dec.disc_weight, dec.adam_beta1, dec.adam_beta2) == (
        "lpips-vgg", 501, 0.025, 0.5, 0.9,
    )  # fmt: skip
    with pytest.raises(SpecError, match="No sd15 recipe for the autoencoder stage"):
        recipe("autoencoder", "sd15")
    with pytest.raises(UnknownNameError, match="Did you mean: sd15"):
        recipe("standard", "sd14")


def test_cli_dry_run_prints_the_resolved_sd15_distill_recipe(tmp_path):
    teacher = tmp_path / "x2"
    teacher.mkdir()
    (teacher / "model_index.json").write_text(json.dumps({"_class_name": "YonosSRPipeline", "scale": 4}))
    args = ["train", "distill", "--preset", "sd15", "--teacher", str(teacher), "--data", "/d/DIV2K",
            "--data", "/d/Flickr2K", "--set", "ema_decay=0.9999", "--dry-run"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    cfg = info["config"]
    assert cfg["scale"] == 8  # twice the teacher's ×4
    assert cfg["data"] == ["/d/DIV2K", "/d/Flickr2K"] and cfg["ema_decay"] == 0.9999
    assert (cfg["batch_size"], cfg["grad_accum"], cfg["crop"], cfg["mixed_precision"]) == (15, 4, 512, "bf16")
    assert "on 4 GPUs: 240" in info["derived"]["note"]
    assert not (tmp_path / "runs").exists()


def test_cli_errors_are_one_message(tmp_path):
    res = runner.invoke(app, ["train", "standard", "--preset", "sd15", "--dry-run"])
    assert res.exit_code == 1 and "--data is required for the sd15 preset" in res.output
    res = runner.invoke(app, ["train", "standard", "--set", "lrr=1", "--dry-run"])
    assert res.exit_code == 1 and "Unknown standard config key 'lrr'" in res.output
    res = runner.invoke(app, ["train", "decoder", "--model", str(tmp_path), "--data", str(tmp_path / "none")])
    assert res.exit_code == 1 and f"Training data folder not found: {tmp_path / 'none'}" in res.output
    res = runner.invoke(
        app, ["train", "decoder", "--preset", "sd15", "--model", str(tmp_path), "--data", str(tmp_path)]
    )
    assert res.exit_code == 1 and "contains no images" in res.output


def test_cli_trains_a_tiny_stage_and_load_config_round_trips(tmp_path):
    out = tmp_path / "run"
    args = ["train", "standard", "--out", str(out), "--set", "steps=1", "--set", "crop=32", "--set", "batch_size=1",
            "--set", "procedural_images=2", "--set", "procedural_size=32", "--set", "progress=false"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert f"Run finished: {out}" in res.output and (out / "pipeline" / "model_index.json").is_file()
    cfg = load_config(out / "training_options.json")
    assert cfg.stage == "standard" and cfg.steps == 1 and cfg.data == ["procedural"]
