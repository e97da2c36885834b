"""The LDM-autoencoder-loss setup shared by the ``decoder`` and ``autoencoder`` stages:
PatchGAN + LPIPS loss module, the discriminator's optimizer, and module wrappers whose
``forward`` is the trained path (DistributedDataParallel only syncs through ``forward``)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import _AutoencoderLossConfig
from ..discriminator import PatchDiscriminator
from ..engine import Optim, Run
from ..losses import LDMAutoencoderLoss


class LatentDecoder(nn.Module):
    """Scaled latents → pixels in [−1, 1]: ``post_quant_conv`` + ``decoder`` of an AutoencoderKL
    (the part the decoder stage trains), sharing the VAE's parameters."""

    def __init__(self, vae) -> None:
        super().__init__()
        self.post_quant_conv = vae.post_quant_conv  # None when use_post_quant_conv=False
        self.decoder = vae.decoder
        self.scaling = float(vae.config.scaling_factor)
        self.shift = float(getattr(vae.config, "shift_factor", None) or 0.0)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents / self.scaling + self.shift  # as yonos_train.pipeline.decode_latents
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)


class VAEReconstruction(nn.Module):
    """x in [−1, 1] → (x̂, per-sample KL): encode, sample z = μ + σ·noise, decode."""

    def __init__(self, vae) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * noise
        return self.vae.decode(z).sample, posterior.kl()


def decoder_parameters(vae) -> list[nn.Parameter]:
    params = list(vae.decoder.parameters())
    if vae.post_quant_conv is not None:
        params += list(vae.post_quant_conv.parameters())
    return params


def build_gan(cfg: _AutoencoderLossConfig, run: Run, perceptual: nn.Module | None, kl_weight: float = 0.0):
    """(loss module, the prepared discriminator, the discriminator's Optim).

    ``perceptual``: from :func:`yonos_train.stages.common.lpips_vgg`, resolved before the run starts."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # discriminator init N(0, 0.02): same for the same seed
        disc = PatchDiscriminator(3, cfg.disc_ndf, cfg.disc_layers)
    disc_lr = cfg.disc_lr or cfg.lr
    opt = torch.optim.Adam(disc.parameters(), lr=disc_lr, betas=(cfg.adam_beta1, cfg.adam_beta2))
    disc_params = list(disc.parameters())
    disc_p, opt_p = run.accelerator.prepare(disc, opt)
    if perceptual is not None:
        perceptual = perceptual.to(run.device)
    loss = LDMAutoencoderLoss(
        disc_p, perceptual, perceptual_weight=cfg.perceptual_weight, disc_weight=cfg.disc_weight,
        disc_start=cfg.disc_start, kl_weight=kl_weight,
    )  # fmt: skip
    return loss, disc_p, Optim("disc", opt_p, disc_params, disc_lr)


def adam(params, cfg: _AutoencoderLossConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
                            weight_decay=cfg.weight_decay)  # fmt: skip
