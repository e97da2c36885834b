"""One training step of the full-size SD v1.5 architecture (random weights) on CPU, small crop."""

from __future__ import annotations

import math

import pytest
import torch

from yonos_train.data import synthesize_lr
from yonos_train.presets import build_pipeline
from yonos_train.recipes import recipe
from yonos_train.stages.common import randn_per_sample, uniform_per_sample
from yonos_train.stages.standard import v_loss_batch


@pytest.mark.slow
def test_one_sd15_training_step_on_cpu_at_a_small_crop():
    cfg = recipe("standard", "sd15")
    assert cfg.gradient_checkpointing and cfg.crop == 512
    pipe = build_pipeline("sd15", 2, seed=0)  # 859.5 M-parameter UNet, 83.7 M VAE
    unet, vae = pipe.unet, pipe.vae.requires_grad_(False)
    unet.train().enable_gradient_checkpointing()
    with torch.no_grad():  # let the LR latent matter, as after training
        unet.conv_in.weight[:, 4:].normal_(0, 0.01)
    conv_out = unet.conv_out.weight.detach().clone()
    crop = 64  # 8×8 latents: the real code path at a CPU-sized crop
    hr = torch.rand(1, 3, crop, crop, generator=torch.Generator().manual_seed(0))
    lr = synthesize_lr(hr, 2, "bicubic", [0])[0]
    eps = randn_per_sample((4, crop // 8, crop // 8), [1], torch.device("cpu"))
    t = uniform_per_sample([2], torch.device("cpu"))
    # SGD (no optimizer state) keeps the test within a CI machine's memory; the stage uses AdamW.
    opt = torch.optim.SGD(unet.parameters(), lr=1e-3)
    loss = v_loss_batch(unet, vae, pipe.null_embedding(1), hr, lr, 2, eps, t)
    loss.backward()
    assert math.isfinite(float(loss))
    assert unet.conv_in.weight.grad[:, 4:].abs().sum() > 0  # the gradient reaches the LR channels
    opt.step()
    assert not torch.equal(unet.conv_out.weight, conv_out)


@pytest.mark.slow
def test_probe_on_sd15_at_random_weights_on_cpu(tmp_path, monkeypatch):
    """`--probe` with the sd15 recipe (AdamW, gradient checkpointing, frozen VAE in bf16, the
    real checkpoint) at random weights, kept minimal: 64 px crops, batch 1, 2 steps (~14 GB
    RSS: fp32 UNet + gradients + AdamW moments; writes one ~10 GB checkpoint to a temp dir)."""
    from typer.testing import CliRunner

    from yonos_bench.cli import app

    monkeypatch.chdir(tmp_path)
    sets = ["init=random", "crop=64", "degradation=bicubic", "batch_size=1", "grad_accum=1", "num_workers=0",
            "ema_decay=0", "mixed_precision=no", "procedural_images=2", "procedural_size=64", "progress=false"]  # fmt: skip
    args = ["train", "standard", "--preset", "sd15", "--data", "procedural", "--probe", "--probe-steps", "2"]
    res = CliRunner().invoke(app, args + [x for s in sets for x in ("--set", s)])
    assert res.exit_code == 0, res.output
    print(res.output)
    for field in ("step time", "samples/s", "data-loading share", "peak memory", "checkpoint size",
                  "full run estimate", "20000 steps"):  # fmt: skip
        assert field in res.output, field
    ckpt_gb = float(res.output.split("checkpoint size")[1].split("GB")[0])
    assert 9.0 < ckpt_gb < 11.5  # UNet fp32 (3.4 GB) + AdamW moments (6.9 GB); no EMA, no frozen parts
