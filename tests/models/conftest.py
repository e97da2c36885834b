"""Tiny random-weight models for the adapter tests (built once per session, no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[2]
# miniature checkouts of the authors' repositories, run by test_command_cards.py (their
# test_osediff.py / basicsr/test.py are scripts, not tests)
collect_ignore = ["standins"]


# ----------------------------------------------------------------- BasicSR-layout RRDBNet
# The Real-ESRGAN x4plus / BSRGAN generator as published in BasicSR (key names and forward
# pass), written here from the ESRGAN paper's description so that spandrel's loaded model
# can be checked against an independent implementation.


def _lrelu(x):
    return F.leaky_relu(x, 0.2)


class RDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x):
        x1 = _lrelu(self.conv1(x))
        x2 = _lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = _lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = _lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = RDB(nf, gc), RDB(nf, gc), RDB(nf, gc)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(
        self, num_feat: int = 16, num_block: int = 1, num_grow_ch: int = 32
    ):  # spandrel assumes gc=32
        super().__init__()
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)

    def forward(self, x):
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))


def make_rrdbnet(seed: int = 0, **kw) -> RRDBNet:
    torch.manual_seed(seed)
    net = RRDBNet(**kw).eval()
    with torch.no_grad():  # keep outputs inside (0, 1) so the comparison is not all clamped
        net.conv_last.weight.mul_(0.1)
        net.conv_last.bias.fill_(0.5)
    return net


@pytest.fixture(scope="session")
def rrdb_pth(tmp_path_factory):
    """(path of a Real-ESRGAN-style .pth with {'params_ema': state_dict}, the reference net)."""
    net = make_rrdbnet()
    path = tmp_path_factory.mktemp("rrdb") / "RRDB_tiny_x4.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    return path, net


# ----------------------------------------------------------------- tiny diffusers pipelines


@pytest.fixture(scope="session")
def tiny_ldm_dir(tmp_path_factory) -> Path:
    from diffusers import DDIMScheduler, LDMSuperResolutionPipeline, UNet2DModel, VQModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=6,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )
    vq = VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 8),
        layers_per_block=1,
        latent_channels=3,
        norm_num_groups=4,
        num_vq_embeddings=16,
        vq_embed_dim=3,
    )
    folder = tmp_path_factory.mktemp("tiny_ldm") / "pipe"
    LDMSuperResolutionPipeline(vqvae=vq, unet=unet, scheduler=DDIMScheduler()).save_pretrained(folder)
    return folder


def _tiny_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for i, ch in enumerate("abcdefghijklmnopqrstuvwxyz"):
        vocab[ch] = 2 + 2 * i
        vocab[ch + "</w>"] = 3 + 2 * i
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=8, pad_token="<|endoftext|>"
    )
    return tok, len(vocab)


@pytest.fixture(scope="session")
def tiny_upscaler_dir(tmp_path_factory) -> Path:
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    base = tmp_path_factory.mktemp("tiny_upscaler")
    torch.manual_seed(0)
    tok, n_vocab = _tiny_tokenizer(base / "tok")
    te = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=1,
            vocab_size=n_vocab,
            max_position_embeddings=8,
            projection_dim=16,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=7,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
        num_class_embeds=400,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        scaling_factor=0.08333,
    )
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=te,
        tokenizer=tok,
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    folder = base / "pipe"
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_yonos_dir(tmp_path_factory) -> Path:
    from yonos_train.presets import build_pipeline

    folder = tmp_path_factory.mktemp("tiny_yonos") / "pipe"
    build_pipeline("tiny", 4, seed=0).save_pretrained(folder)
    return folder


def count_calls(module: nn.Module) -> list[int]:
    """A counter of forward calls (list with one int), via a forward hook."""
    n = [0]

    def hook(*_):
        n[0] += 1

    module.register_forward_hook(hook)
    return n
