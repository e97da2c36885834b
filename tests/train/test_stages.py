"""End-to-end stages on the tiny preset (CPU, offline): outputs, frozen parts, resume, NaN stop."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from yonos_bench.core.errors import DataMissingError, SpecError, WeightsMissingError
from yonos_train.engine import TrainingDivergedError, checkpoints
from yonos_train.pipeline import YonosSRPipeline
from yonos_train.stages import run_stage

from .conftest import quiet, tiny_autoencoder, tiny_decoder, tiny_distill, tiny_standard


def _sha(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "diffusion_pytorch_model.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_stage_writes_a_loadable_pipeline_that_upscales(chain):
    for stage, scale in (("standard", 2), ("distill", 4), ("decoder", 4)):
        run = chain[stage]
        assert run.name == {"standard": "std", "distill": "dist", "decoder": "dec"}[stage]
        opts = json.loads((run / "training_options.json").read_text())
        assert opts["config"]["stage"] == stage and len(opts["config_digest"]) == 64
        records = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records] == [1, 2] and all("samples_per_s" in r for r in records)
        pipe = YonosSRPipeline.from_pretrained(run / "pipeline")
        assert pipe.scale_factor == scale
        lr = torch.rand(1, 3, 8, 8)
        out = pipe(lr, num_inference_steps=1, generator=[torch.Generator().manual_seed(0)])
        assert out.shape == (1, 3, 8 * scale, 8 * scale) and 0 <= out.min() and out.max() <= 1
    assert (
        "scale distillation" in YonosSRPipeline.from_pretrained(chain["distill"] / "pipeline").config.lineage
    )


def test_autoencoder_saves_vae_with_measured_scaling_factor(chain):
    cfg = json.loads((chain["autoencoder"] / "vae" / "config.json").read_text())
    stats = json.loads((chain["autoencoder"] / "latent_stats.json").read_text())
    assert cfg["_class_name"] == "AutoencoderKL"
    assert cfg["scaling_factor"] == pytest.approx(stats["scaling_factor"]) and cfg["scaling_factor"] != 3.5
    # the standard stage used this VAE
    std_vae = json.loads((chain["standard"] / "pipeline" / "vae" / "config.json").read_text())
    assert std_vae["scaling_factor"] == cfg["scaling_factor"]
    assert _same(_weights(chain["autoencoder"] / "vae"), _weights(chain["standard"] / "pipeline" / "vae"))


def test_distillation_student_starts_from_teacher_and_leaves_it_untouched(chain, tmp_path):
    teacher = chain["standard"] / "pipeline"
    before = _sha(teacher)
    run = run_stage(tiny_distill(tmp_path, chain["standard"], steps=1, checkpoint_every=1), log=quiet)
    assert _sha(teacher) == before  # byte-identical teacher folder
    t, s = _weights(teacher / "unet"), _weights(run / "pipeline" / "unet")
    assert t.keys() == s.keys() and not _same(t, s)  # trained away from the teacher ...
    assert max(float((t[k] - s[k]).abs().max()) for k in t) < 0.05  # ... by one small step
    assert _same(_weights(teacher / "vae"), _weights(run / "pipeline" / "vae"))  # shared frozen VAE


def test_decoder_stage_changes_only_decoder_parameters(chain):
    src, dst = chain["distill"] / "pipeline", chain["decoder"] / "pipeline"
    assert _same(_weights(src / "unet"), _weights(dst / "unet"))
    assert _same(_weights(src / "null_embedding"), _weights(dst / "null_embedding"))
    a, b = _weights(src / "vae"), _weights(dst / "vae")
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    trained = [k for k in a if k.startswith(("decoder.", "post_quant_conv."))]
    assert frozen and trained and len(frozen) + len(trained) == len(a)
    assert all(torch.equal(a[k], b[k]) for k in frozen)
    assert not all(torch.equal(a[k], b[k]) for k in trained)
    assert (
        "decoder fine-tuned (LDM loss, LPIPS off"
        in json.loads((dst / "model_index.json").read_text())["lineage"]
    )
    # no VGG weights here: the tiny recipe's perceptual="auto" runs without LPIPS and says so
    assert any(
        "LPIPS-VGG weights absent" in m and "perceptual term is OFF" in m for m in chain["decoder_log"]
    )


def test_resume_continues_exactly(tmp_path):
    full = run_stage(tiny_standard(tmp_path, "full", steps=4, checkpoint_every=2), log=quiet)
    part = run_stage(tiny_standard(tmp_path, "part", steps=2, checkpoint_every=2), log=quiet)
    resumed = run_stage(tiny_standard(tmp_path, "part", steps=4, checkpoint_every=2, resume=True), log=quiet)
    assert resumed == part
    assert _same(_weights(full / "pipeline" / "unet"), _weights(resumed / "pipeline" / "unet"))
    steps = [json.loads(ln)["step"] for ln in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert [p.name for p in checkpoints(resumed)] == ["step-0000002", "step-0000004"]


def test_resume_refuses_another_config(tmp_path):
    run_stage(tiny_standard(tmp_path, "r", steps=1, checkpoint_every=1), log=quiet)
    with pytest.raises(SpecError, match=r"another config \(lr: 0.0001 → 0.001\)"):
        run_stage(tiny_standard(tmp_path, "r", steps=2, lr=1e-3, resume=True), log=quiet)
    with pytest.raises(SpecError, match="already holds a training run; use --resume"):
        run_stage(tiny_standard(tmp_path, "r", steps=2), log=quiet)
    with pytest.raises(DataMissingError, match="is not a training run"):
        run_stage(tiny_standard(tmp_path, "never", steps=2, resume=True), log=quiet)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from yonos_train import losses

    real, calls = losses.v_loss, {"n": 0}

    def nan_on_third(pred, target):
        calls["n"] += 1
        out = real(pred, target)
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(losses, "v_loss", nan_on_third)
    with pytest.raises(TrainingDivergedError, match=r"Non-finite loss 'unet' at step 3 .*step-0000002"):
        run_stage(tiny_standard(tmp_path, "nan", steps=4, checkpoint_every=2), log=quiet)
    run = tmp_path / "nan"
    assert [p.name for p in checkpoints(run)] == ["step-0000002"] and not (run / "pipeline").exists()
    assert (
        json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["event"] == "non-finite loss 'unet'"
    )
    # The kept checkpoint is intact: resuming from it reproduces the uninterrupted run.
    monkeypatch.setattr(losses, "v_loss", real)
    resumed = run_stage(tiny_standard(tmp_path, "nan", steps=4, checkpoint_every=2, resume=True), log=quiet)
    full = run_stage(tiny_standard(tmp_path, "ref", steps=4, checkpoint_every=2), log=quiet)
    assert _same(_weights(full / "pipeline" / "unet"), _weights(resumed / "pipeline" / "unet"))


def test_bad_inputs_fail_before_any_run_folder_is_made(chain, tmp_path):
    with pytest.raises(SpecError, match=r"is a ×2 pipeline; distilling ×8 needs a ×4 teacher"):
        run_stage(tiny_distill(tmp_path, chain["standard"], scale=8), log=quiet)
    with pytest.raises(
        SpecError, match=r"--teacher .* is not a YonosSRPipeline folder \(no model_index.json\)"
    ):
        run_stage(tiny_distill(tmp_path, chain["autoencoder"]), log=quiet)
    with pytest.raises(DataMissingError, match=r"--teacher .*nowhere: no such folder"):
        run_stage(tiny_distill(tmp_path, tmp_path / "nowhere"), log=quiet)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataMissingError, match=f"Training data folder {empty} contains no images"):
        run_stage(tiny_standard(tmp_path, data=[str(empty)]), log=quiet)
    # the sd15 recipe's perceptual="lpips-vgg" refuses to start without the VGG weights
    with pytest.raises(
        WeightsMissingError, match=r"LPIPS-VGG needs torchvision's VGG16 weights, not found at"
    ):
        run_stage(tiny_decoder(tmp_path, chain["distill"], perceptual="lpips-vgg"), log=quiet)
    assert not any((tmp_path / n).exists() for n in ("std", "dist", "dec"))


@pytest.mark.parametrize("disc_start", [1, 3])  # the discriminator on throughout / switched on after the resume
def test_autoencoder_resume_continues_exactly(tmp_path, disc_start):
    kw = {"checkpoint_every": 2, "disc_start": disc_start}
    full = run_stage(tiny_autoencoder(tmp_path, "full", steps=4, **kw), log=quiet)
    run_stage(tiny_autoencoder(tmp_path, "part", steps=2, **kw), log=quiet)
    resumed = run_stage(tiny_autoencoder(tmp_path, "part", steps=4, resume=True, **kw), log=quiet)
    assert _same(_weights(full / "vae"), _weights(resumed / "vae"))
