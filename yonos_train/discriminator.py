"""PatchGAN discriminator of the LDM autoencoder loss (pix2pix ``NLayerDiscriminator``).

As used by CompVis' ``LPIPSWithDiscriminator`` (METHOD.md §1): 4×4 convolutions, the first
``n_layers`` with stride 2, LeakyReLU(0.2), BatchNorm after every conv but the first and the
last, filters ``ndf·min(2^k, 8)``, a 1-channel patch map out. Weights are initialised as in
taming-transformers' ``weights_init``: conv ~ N(0, 0.02), BatchNorm weight ~ N(1, 0.02),
BatchNorm bias 0.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """PatchGAN: (B, 3, H, W) in [-1, 1] → (B, 1, h, w) logits (one per overlapping patch)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if ndf < 1:
            raise ValueError(f"ndf must be >= 1, got {ndf}")
        kw, pad = 4, 1
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, kw, 2, pad), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            # bias is redundant before BatchNorm (pix2pix: use_bias = norm is InstanceNorm)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, kw, 2, pad, bias=False), nn.BatchNorm2d(ndf * mult)]
            layers += [nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, kw, 1, pad, bias=False), nn.BatchNorm2d(ndf * mult)]
        layers += [nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, kw, 1, pad)]
        self.main = nn.Sequential(*layers)
        self.apply(_weights_init)

    def forward(self, x: torch.Tensor, *more: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits of ``x``; with more batches (real, fake), a tuple — each batch its own
        ``main`` call (BatchNorm statistics per batch, as CompVis computes them), all inside
        ONE forward of the module: under DistributedDataParallel a BatchNorm module called
        twice per step is safe only on some torch versions (pytorch#175024, >= 2.6: buffer
        broadcast between the calls), one DDP forward is safe on all."""
        if not more:
            return self.main(x)
        return tuple(self.main(b) for b in (x, *more))


def _weights_init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.constant_(m.bias, 0.0)
