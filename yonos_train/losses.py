"""Training losses: eq. 2 (v-MSE), eq. 3 (scale distillation) and the LDM autoencoder loss.

* Eq. 2 weights the x-space error by (1 + α²/σ²); with v = α ε − σ z_h and
  x̂ = α z_t − σ v̂ that weighting equals the plain MSE between v̂ and v (METHOD.md §1),
  which is what :func:`v_loss` computes.
* Eq. 3 compares the student's x̂ (on the 1/N LR) with the frozen teacher's x̂ (on the
  2/N LR) for the *same* z_t and t, with the same weighting — i.e. the MSE between the two
  v-predictions (:func:`distillation_loss`).
* :class:`LDMAutoencoderLoss` is CompVis' ``LPIPSWithDiscriminator`` as METHOD.md spells
  it out: rec = |x − x̂| + w_p·LPIPS (LPIPS broadcast over pixels), summed over pixels and
  divided by the batch; g = −mean D(x̂); adaptive weight ‖∇nll‖/(‖∇g‖+1e-4) clamped to
  [0, 1e4] times ``disc_weight``, both gradients taken at the decoder's last conv weight;
  GAN terms on from optimizer step ``disc_start``; discriminator hinge loss
  0.5·(mean relu(1 − D(x)) + mean relu(1 + D(x̂))). CompVis' learnable ``logvar`` is not
  in the autoencoder's optimizer there, so it stays 0 and is left out here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def v_loss(v_pred: torch.Tensor, v_target: torch.Tensor) -> torch.Tensor:
    """Eq. 2 as the MSE between predicted and true v (mean over all elements), in fp32."""
    return F.mse_loss(v_pred.float(), v_target.float())


def distillation_loss(v_student: torch.Tensor, v_teacher: torch.Tensor) -> torch.Tensor:
    """Eq. 3: MSE between the student's and the frozen teacher's v-predictions (same z_t, t)."""
    return F.mse_loss(v_student.float(), v_teacher.detach().float())


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss 0.5·(mean relu(1 − D(x)) + mean relu(1 + D(x̂)))."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


@dataclass
class GeneratorLoss:
    loss: torch.Tensor  # what the autoencoder/decoder optimizer minimises
    logs: dict[str, float]


class LDMAutoencoderLoss(nn.Module):
    """The LDM autoencoder loss; images in [-1, 1].

    ``perceptual`` is an LPIPS module (``lpips.LPIPS(net='vgg')`` for the real recipe) or
    None for the perceptual term off; it is frozen here. ``discriminator`` is trained with
    :meth:`discriminator_loss` by its own optimizer.
    """

    def __init__(
        self,
        discriminator: nn.Module,
        perceptual: nn.Module | None,
        *,
        perceptual_weight: float = 1.0,
        disc_weight: float = 0.5,
        disc_start: int = 50001,
        kl_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.perceptual = perceptual
        if perceptual is not None:
            perceptual.requires_grad_(False).eval()
        self.perceptual_weight = perceptual_weight
        self.disc_weight = disc_weight
        self.disc_start = disc_start
        self.kl_weight = kl_weight

    def gan_active(self, step: int) -> bool:
        """CompVis ``adopt_weight``: the GAN factor is 0 while ``step < disc_start``."""
        return self.disc_weight > 0 and step >= self.disc_start

    def reconstruction(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """nll = Σ_pixels (|x − x̂| + w_p·LPIPS(x, x̂)) / B (logvar = 0)."""
        rec = (x.float() - x_hat.float()).abs()
        if self.perceptual is not None and self.perceptual_weight > 0:
            p = self.perceptual(x.float(), x_hat.float())  # (B, 1, 1, 1), broadcast per pixel
            rec = rec + self.perceptual_weight * p
        return rec.sum() / rec.shape[0]

    def generator_loss(
        self,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        *,
        step: int,
        last_layer: torch.Tensor,
        kl: torch.Tensor | None = None,
    ) -> GeneratorLoss:
        """Loss for the autoencoder/decoder at optimizer step ``step`` (0-based).

        ``kl``: per-sample KL of the posterior (autoencoder stage), or None (decoder stage:
        the KL term gives no gradient to the decoder)."""
        nll = self.reconstruction(x, x_hat)
        loss = nll
        logs = {"nll": float(nll.detach())}
        if kl is not None and self.kl_weight > 0:
            kl_mean = kl.sum() / kl.shape[0]
            loss = loss + self.kl_weight * kl_mean
            logs["kl"] = float(kl_mean.detach())
        if self.gan_active(step):
            # The discriminator is not updated by this loss: take it out of the graph.
            # Call the bare module, not a DistributedDataParallel wrapper: this pass must
            # not register a gradient all-reduce for the discriminator.
            disc = getattr(self.discriminator, "module", self.discriminator)
            disc.requires_grad_(False)
            g = -disc(x_hat.float()).mean()
            disc.requires_grad_(True)
            d_weight = self.adaptive_weight(nll, g, last_layer)
            loss = loss + d_weight * g
            logs.update(g_loss=float(g.detach()), d_weight=float(d_weight))
        return GeneratorLoss(loss, logs)

    def adaptive_weight(self, nll: torch.Tensor, g: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
        """clamp(‖∇nll‖ / (‖∇g‖ + 1e-4), 0, 1e4) · disc_weight, gradients at ``last_layer``."""
        nll_grad = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
        g_grad = torch.autograd.grad(g, last_layer, retain_graph=True)[0]
        w = torch.linalg.vector_norm(nll_grad) / (torch.linalg.vector_norm(g_grad) + 1e-4)
        return torch.clamp(w, 0.0, 1e4).detach() * self.disc_weight

    def discriminator_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Hinge loss on real ``x`` and detached ``x_hat`` (call only when :meth:`gan_active`).

        One forward of the (possibly DDP-wrapped) discriminator for both batches, each with
        its own BatchNorm statistics (:meth:`PatchDiscriminator.forward`)."""
        logits_real, logits_fake = self.discriminator(x.detach().float(), x_hat.detach().float())
        return hinge_d_loss(logits_real, logits_fake)
