"""Stage ``decoder``: fine-tune the VAE decoder on top of the frozen one-step UNet — paper §3.3.

Per micro-batch: HR crop → LR (1/N, synthesised on the device) → z_l = E(bicubic↑N(LR))
with the frozen encoder → z_1 ~ N(0, I) (one generator per sample) → ONE DDIM step with
the frozen UNet, x̂ = α_1 z_1 − σ_1 v̂(z_1, z_l, 1) = −v̂ (:func:`yonos_train.schedule.one_step`,
the pipeline's own one-step path) → decode with the trainable decoder → the LDM
autoencoder loss against the HR crop (L1 + LPIPS-VGG + PatchGAN with adaptive weight from
``disc_start``; :class:`yonos_train.losses.LDMAutoencoderLoss`). Trained: the decoder and
``post_quant_conv``; frozen: UNet, encoder, ``quant_conv``, null-text embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from yonos_bench.core.errors import SpecError

from ..config import DecoderConfig, validate
from ..data import _DEGRADE, _NOISE, synthesize_lr, to_float
from ..engine import Optim, Run, StepOutput
from ..schedule import one_step
from .common import (
    FrozenCast,
    check_vae_factor,
    default_log,
    freeze,
    load_yonos_pipeline,
    lpips_vgg,
    lr_condition,
    open_data,
    randn_per_sample,
    seeds_for,
    training_target,
    unet_velocity,
    with_components,
)  # fmt: skip
from .gan import LatentDecoder, adam, build_gan, decoder_parameters


def one_step_latents(unet, vae, context, lr, scale: int, z_1, chunk: int = 0) -> torch.Tensor:
    """The frozen model's one-step prediction x̂ from pure noise ``z_1`` (no gradients)."""
    z_l = lr_condition(vae, lr, scale, chunk)
    t = torch.ones(z_1.shape[0], dtype=torch.float64, device=z_1.device)
    with torch.no_grad():
        return one_step(z_1, unet_velocity(unet, z_1, z_l, t, context).float())


def train(cfg: DecoderConfig, *, log: Callable[[str], None] = default_log) -> Path:
    """Run the stage; returns the run folder (pipeline with the new decoder in ``<run>/pipeline``)."""
    validate(cfg)
    source = open_data(cfg, log)
    pipe = load_yonos_pipeline(cfg.model, "--model")
    if pipe.scale_factor != cfg.scale:
        raise SpecError(f"--model {cfg.model} is a ×{pipe.scale_factor} pipeline but scale is {cfg.scale}.")
    check_vae_factor(cfg, pipe.latent_factor)
    perceptual = lpips_vgg(cfg, log)  # may refuse (sd15 without VGG weights): before the run starts
    has_lpips = perceptual is not None
    run = Run(cfg, log=log)
    acc, device = run.accelerator, run.device
    pipe.to(device)
    vae, unet = pipe.vae, pipe.unet
    freeze(vae, unet, pipe.null_embedding)
    frozen = FrozenCast(cfg.frozen_dtype)  # the frozen encoder and UNet; the decoder stays fp32
    frozen.cast(vae.encoder, vae.quant_conv, unet)
    params = decoder_parameters(vae)
    for p in params:
        p.requires_grad_(True)
    vae.decoder.train()
    if cfg.gradient_checkpointing:
        vae.enable_gradient_checkpointing()
    decoder = LatentDecoder(vae)
    last_layer = vae.decoder.conv_out.weight
    loss_fn, _disc, disc_optim = build_gan(cfg, run, perceptual)
    opt = adam(params, cfg)
    decoder_p, opt_p = acc.prepare(decoder, opt)
    ema = run.make_ema(params)
    latent_c, f = vae.config.latent_channels, pipe.latent_factor
    log(f"Decoder stage: LPIPS {'on' if has_lpips else 'OFF'}, GAN from step {cfg.disc_start}.")

    def step_fn(hr_u8: torch.Tensor, idx: torch.Tensor, step: int) -> StepOutput:
        hr = to_float(hr_u8, device)
        lr = synthesize_lr(hr, cfg.scale, cfg.degradation, seeds_for(cfg, idx, _DEGRADE), cfg.jpeg_codec)[0]
        z_1 = randn_per_sample((latent_c, cfg.crop // f, cfg.crop // f), seeds_for(cfg, idx, _NOISE), device)
        x0 = one_step_latents(
            unet, vae, pipe.null_embedding(hr.shape[0]), lr, cfg.scale, z_1, cfg.encode_chunk
        )
        x_hat = decoder_p(x0)
        x = hr * 2 - 1
        # L1 + LPIPS toward the USM-sharpened HR when on (Real-ESRGAN l1_gt_usm/percep_gt_usm);
        # the discriminator's real images stay the plain HR (gan_gt_usm: False there).
        target = x if not cfg.uses_usm_target else training_target(cfg, hr) * 2 - 1
        gen = loss_fn.generator_loss(target, x_hat, step=step, last_layer=last_layer)
        out = {"decoder": gen.loss}
        if loss_fn.gan_active(step):
            out["disc"] = loss_fn.discriminator_loss(x, x_hat)
        return StepOutput(out, gen.logs)

    run.fit(step_fn, source, trainables=[decoder_p, _disc], optims=[Optim("decoder", opt_p, params, cfg.lr),
            disc_optim], ema=ema, ema_params=params)  # fmt: skip
    if ema is not None:
        ema.copy_to(params)
    vae.eval()
    frozen.restore()
    usm = ", USM target" if cfg.uses_usm_target else ""
    lineage = (f"{pipe.config.lineage}; decoder fine-tuned (LDM loss, LPIPS {'on' if has_lpips else 'off'}{usm}, "
               f"{cfg.steps} steps; data: {source.describe()})")  # fmt: skip
    out = with_components(pipe, lineage=lineage)
    return run.save_result("pipeline", lambda p: out.save_pretrained(str(p))).parent
