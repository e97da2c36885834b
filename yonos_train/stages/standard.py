"""Stage ``standard``: train the UNet at scale N on (HR, degraded LR) pairs — paper eq. 2.

This makes the ×2 teacher of scale distillation and the SD-SR baselines of the paper's
ablation (direct ×4, ×8). Per micro-batch: HR crops → LR synthesised on the device
(1/N) → z_l = E(bicubic↑N(LR)), z_h = E(HR) with the frozen VAE (posterior mode, as the
pipeline encodes at inference) → t ~ U[0, 1), ε ~ N(0, I) (one generator per sample) →
z_t = α_t z_h + σ_t ε → loss = ‖v̂(z_t, z_l, t) − (α_t ε − σ_t z_h)‖² (eq. 2 as v-MSE).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .. import losses
from ..config import StandardConfig, validate
from ..data import _DEGRADE, _NOISE, _TIME, synthesize_lr, to_float
from ..engine import Optim, Run, StepOutput
from ..schedule import q_sample, v_target
from .common import (
    FrozenCast,
    check_vae_factor,
    default_log,
    encode_images,
    freeze,
    is_yonos_pipeline,
    load_vae,
    load_yonos_pipeline,
    open_data,
    randn_per_sample,
    seeds_for,
    training_target,
    unet_velocity,
    uniform_per_sample,
    with_components,
)  # fmt: skip


def build_model(cfg: StandardConfig, log: Callable[[str], None]):
    """The pipeline to train: random init, an SD v1.5 folder/hub id, or a YONOS pipeline."""
    from ..presets import build_pipeline, from_sd15

    if cfg.init == "random":
        pipe = build_pipeline(cfg.preset, cfg.scale, seed=cfg.seed)
    elif is_yonos_pipeline(cfg.init):  # continue from a trained pipeline (or run folder)
        pipe = with_components(load_yonos_pipeline(cfg.init, "--init"), scale=cfg.scale)
    else:
        pipe = from_sd15(cfg.init, cfg.scale)
    if cfg.vae:
        vae = load_vae(cfg.vae)
        if vae.config.latent_channels != pipe.vae.config.latent_channels:
            raise ValueError(f"--vae {cfg.vae}: latent_channels {vae.config.latent_channels} != the UNet's")
        pipe = with_components(pipe, vae=vae, lineage=f"{pipe.config.lineage}, VAE from {cfg.vae}")
        log(f"VAE from {cfg.vae} (scaling_factor {vae.config.scaling_factor:.4g}).")
    elif cfg.init == "random":
        # A random VAE gives a useless latent space (the tiny chain trains one first).
        log(
            f"WARNING: no --vae given: the {cfg.preset} VAE is RANDOM (untrained); the result will not "
            "reconstruct images. Train one with `yonos-bench train autoencoder` and pass --vae RUN."
        )
        pipe = with_components(pipe, lineage=f"{pipe.config.lineage}, VAE random (untrained)")
    return pipe


def v_loss_batch(unet, vae, context, hr, lr, scale: int, eps, t, chunk: int = 0) -> torch.Tensor:
    """Eq. 2 on one batch (pure function of its inputs): HR (the target) / LR in [0, 1], ε like
    z_h, t (B,)."""
    z_h, z_l = encode_images(vae, [(hr, 1), (lr, scale)], chunk)
    z_t = q_sample(z_h, eps, t)
    v_pred = unet_velocity(unet, z_t, z_l, t, context)
    return losses.v_loss(v_pred, v_target(z_h, eps, t))


def train(cfg: StandardConfig, *, log: Callable[[str], None] = default_log) -> Path:
    """Run the stage; returns the run folder (pipeline in ``<run>/pipeline``)."""
    validate(cfg)
    source = open_data(cfg, log)
    pipe = build_model(cfg, log)
    check_vae_factor(cfg, pipe.latent_factor)
    run = Run(cfg, log=log)
    acc, device = run.accelerator, run.device
    pipe.to(device)
    freeze(pipe.vae, pipe.null_embedding)
    frozen = FrozenCast(cfg.frozen_dtype)
    frozen.cast(pipe.vae)
    unet = pipe.unet
    unet.requires_grad_(True).train()
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
                            weight_decay=cfg.weight_decay)  # fmt: skip
    unet_p, opt_p = acc.prepare(unet, opt)
    ema = run.make_ema(params)
    latent_c, f = pipe.vae.config.latent_channels, pipe.latent_factor

    def step_fn(hr_u8: torch.Tensor, idx: torch.Tensor, step: int) -> StepOutput:
        hr = to_float(hr_u8, device)
        lr = synthesize_lr(hr, cfg.scale, cfg.degradation, seeds_for(cfg, idx, _DEGRADE), cfg.jpeg_codec)[0]
        eps = randn_per_sample((latent_c, cfg.crop // f, cfg.crop // f), seeds_for(cfg, idx, _NOISE), device)
        t = uniform_per_sample(seeds_for(cfg, idx, _TIME), device)
        context = pipe.null_embedding(hr.shape[0])
        target = training_target(cfg, hr)
        return StepOutput({"unet": v_loss_batch(unet_p, pipe.vae, context, target, lr, cfg.scale, eps, t,
                                                cfg.encode_chunk)})  # fmt: skip

    run.fit(step_fn, source, trainables=[unet_p], optims=[Optim("unet", opt_p, params, cfg.lr)], ema=ema,
            ema_params=params)  # fmt: skip
    if ema is not None:
        ema.copy_to(params)
    unet.eval()
    frozen.restore()
    lineage = (
        f"standard x{cfg.scale} (eq. 2, {cfg.degradation}{', USM target' if cfg.uses_usm_target else ''}, "
        f"{cfg.steps} steps; data: {source.describe()}) from {pipe.config.lineage}"
    )
    out = with_components(pipe, unet=acc.unwrap_model(unet_p), lineage=lineage)
    return run.save_result("pipeline", lambda p: out.save_pretrained(str(p))).parent
