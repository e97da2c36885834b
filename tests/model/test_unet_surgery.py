"""Widening conv_in 4→8: exact equivalence (tiny) and the full SD v1.5 structure (meta device)."""

from __future__ import annotations

import copy

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from yonos_train.presets import SD15_VAE, TINY_UNET, build_pipeline
from yonos_train.unet_surgery import widen_conv_in

# The unet/config.json of stable-diffusion-v1-5 on the Hugging Face hub (an independent
# reference: our preset builds from diffusers defaults + two overrides).
SD15_UNET_CONFIG_JSON = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD15_UNET_PARAMS = 859_520_964  # METHOD.md §1
SD15_VAE_PARAMS = 83_653_863


def test_widened_unet_reproduces_original_with_zero_lr_channels():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**TINY_UNET).eval()
    with torch.no_grad():  # a nonzero bias, so forgetting to copy it would show
        unet.conv_in.bias.normal_()
    original = copy.deepcopy(unet)
    widen_conv_in(unet, 8)
    assert unet.config.in_channels == 8 and unet.conv_in.in_channels == 8
    assert torch.equal(unet.conv_in.weight[:, :4], original.conv_in.weight)
    assert torch.count_nonzero(unet.conv_in.weight[:, 4:]) == 0
    assert torch.equal(unet.conv_in.bias, original.conv_in.bias)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, 4, 16, 16, generator=g)
    ctx = torch.randn(2, 77, TINY_UNET["cross_attention_dim"], generator=g)
    t = torch.tensor([999.0, 250.0])
    with torch.no_grad():
        ref = original(z, t, encoder_hidden_states=ctx).sample
        wide = unet(torch.cat([z, torch.zeros_like(z)], 1), t, encoder_hidden_states=ctx).sample
        lr = unet(
            torch.cat([z, torch.randn(2, 4, 16, 16, generator=g)], 1), t, encoder_hidden_states=ctx
        ).sample
    assert torch.equal(wide, ref)
    assert torch.equal(lr, ref)  # zero-initialised LR weights: the LR latent has no effect yet


def test_sd15_preset_structure_matches_real_sd15_unet_on_meta():
    pipe = build_pipeline("sd15", device="meta")
    ours = pipe.unet.state_dict()
    with torch.device("meta"):
        real = UNet2DConditionModel.from_config(SD15_UNET_CONFIG_JSON).state_dict()
        vae = AutoencoderKL(**SD15_VAE)
    assert sum(v.numel() for v in real.values()) == SD15_UNET_PARAMS
    assert sum(v.numel() for v in ours.values()) == SD15_UNET_PARAMS + 4 * 320 * 9
    assert list(ours) == list(real)
    diff = {k: (tuple(real[k].shape), tuple(ours[k].shape)) for k in real if real[k].shape != ours[k].shape}
    assert diff == {"conv_in.weight": ((320, 4, 3, 3), (320, 8, 3, 3))}
    assert sum(p.numel() for p in pipe.vae.parameters()) == SD15_VAE_PARAMS
    assert sum(p.numel() for p in vae.parameters()) == SD15_VAE_PARAMS
    assert pipe.unet.device.type == "meta"
    assert tuple(pipe.null_embedding.embedding.shape) == (1, 77, 768)
