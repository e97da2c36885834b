"""Stage ``autoencoder``: a small KL autoencoder from scratch (the tiny preset's VAE).

No small pretrained VAE exists offline, and a random one makes a useless latent space, so
the tiny chain starts here. The VAE has the preset's architecture
(:data:`yonos_train.presets.TINY_VAE`), is trained on HR crops with the LDM autoencoder
loss — L1 + LPIPS-VGG (when available) + ``kl_weight``·KL + PatchGAN from ``disc_start`` —
with z = μ + σ·ε sampled from the posterior (ε from per-sample generators), exactly
CompVis' ``AutoencoderKL`` training step. At the end the latent scaling factor is set to
1 / std of the posterior means over ``SCALE_BATCHES`` fresh batches (how SD's 0.18215 was
chosen: unit-variance latents for the diffusion model) and the VAE is saved to
``<run>/vae/`` — pass that run folder as ``--vae`` to the ``standard`` stage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from yonos_bench.core.atomic import write_json_atomic

from ..config import AutoencoderConfig, validate
from ..data import _NOISE, hr_loader, to_float
from ..engine import Optim, Run, StepOutput
from .common import check_vae_factor, default_log, lpips_vgg, open_data, randn_per_sample, seeds_for
from .gan import VAEReconstruction, adam, build_gan

#: Batches used to measure the latent std for ``scaling_factor``.
SCALE_BATCHES = 8


def build_vae(cfg: AutoencoderConfig):
    from ..presets import build_pipeline

    return build_pipeline(cfg.preset, max(cfg.scale, 1), seed=cfg.seed).vae


@torch.no_grad()
def latent_scaling_factor(vae, batches) -> float:
    """1 / std of the (unscaled) posterior means over ``batches`` of images in [0, 1]."""
    means = [vae.encode(hr * 2 - 1).latent_dist.mean.float().flatten() for hr in batches]
    return float(1.0 / torch.cat(means).std())


def train(cfg: AutoencoderConfig, *, log: Callable[[str], None] = default_log) -> Path:
    """Run the stage; returns the run folder (the VAE in ``<run>/vae``)."""
    validate(cfg)
    source = open_data(cfg, log)
    vae = build_vae(cfg)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    check_vae_factor(cfg, factor)
    perceptual = lpips_vgg(cfg, log)  # may refuse (sd15 without VGG weights): before the run starts
    has_lpips = perceptual is not None
    run = Run(cfg, log=log)
    acc, device = run.accelerator, run.device
    vae.to(device).requires_grad_(True).train()
    if cfg.gradient_checkpointing:
        vae.enable_gradient_checkpointing()
    params = list(vae.parameters())
    last_layer = vae.decoder.conv_out.weight
    loss_fn, disc_p, disc_optim = build_gan(cfg, run, perceptual, kl_weight=cfg.kl_weight)
    model_p, opt_p = acc.prepare(VAEReconstruction(vae), adam(params, cfg))
    ema = run.make_ema(params)
    latent_shape = (vae.config.latent_channels, cfg.crop // factor, cfg.crop // factor)
    log(f"Autoencoder stage: LPIPS {'on' if has_lpips else 'OFF'}, GAN from step {cfg.disc_start}.")

    def step_fn(hr_u8: torch.Tensor, idx: torch.Tensor, step: int) -> StepOutput:
        x = to_float(hr_u8, device) * 2 - 1
        noise = randn_per_sample(latent_shape, seeds_for(cfg, idx, _NOISE), device)
        x_hat, kl = model_p(x, noise)
        gen = loss_fn.generator_loss(x, x_hat, step=step, last_layer=last_layer, kl=kl)
        out = {"vae": gen.loss}
        if loss_fn.gan_active(step):
            out["disc"] = loss_fn.discriminator_loss(x, x_hat)
        return StepOutput(out, gen.logs)

    run.fit(step_fn, source, trainables=[model_p, disc_p], optims=[Optim("vae", opt_p, params, cfg.lr), disc_optim],
            ema=ema, ema_params=params)  # fmt: skip
    if ema is not None:
        ema.copy_to(params)
    vae.eval()
    # Fresh crops (the stream after the training steps) for the latent statistics.
    loader = hr_loader(
        source, crop=cfg.crop, seed=cfg.stream_seed, batch=cfg.batch_size, accum=1, start_step=cfg.steps
    )
    it = iter(loader)
    scaling = latent_scaling_factor(vae, (to_float(next(it)[0], device) for _ in range(SCALE_BATCHES)))
    vae.register_to_config(scaling_factor=scaling)
    log(f"Latent scaling factor: {scaling:.5g} (1 / std of posterior means).")
    if acc.is_main_process:
        write_json_atomic(run.dir / "latent_stats.json", {"scaling_factor": scaling, "batches": SCALE_BATCHES,
                                                          "lpips": has_lpips})  # fmt: skip
    return run.save_result("vae", lambda p: vae.save_pretrained(str(p))).parent
