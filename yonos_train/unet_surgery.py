"""Widen the UNet's ``conv_in`` to take the LR latent as extra input channels (METHOD.md §1).

The noisy HR latent keeps channels 0–3 and the LR latent is appended as channels 4–7.
The old kernel is copied into input channels 0–3, channels 4–7 start at zero and the
bias is copied too (diffusers' research example forgets the bias, which changes the
output). With that, the widened UNet reproduces the original output exactly whenever the
extra channels are zero, so fine-tuning starts from the text-to-image model's behaviour.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel


def widen_conv_in(unet: UNet2DConditionModel, in_channels: int = 8) -> UNet2DConditionModel:
    """Replace ``unet.conv_in`` in place by one with ``in_channels`` inputs and return the UNet.

    Works on any device, ``meta`` included (then only shapes change). The UNet's config is
    updated (``in_channels``) so ``save_pretrained`` writes a loadable model.
    """
    old = unet.conv_in
    if not isinstance(old, torch.nn.Conv2d):
        raise ValueError(f"unet: expected conv_in to be a Conv2d, got {type(old).__name__}")
    if in_channels < old.in_channels:
        raise ValueError(
            f"in_channels: cannot narrow conv_in from {old.in_channels} to {in_channels} channels"
        )
    new = torch.nn.Conv2d(
        in_channels,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        dilation=old.dilation,
        groups=old.groups,
        bias=old.bias is not None,
        padding_mode=old.padding_mode,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels].copy_(old.weight)
        if old.bias is not None:
            new.bias.copy_(old.bias)  # the step the diffusers example forgets
    new.requires_grad_(old.weight.requires_grad)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)
    return unet
