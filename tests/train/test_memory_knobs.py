"""The memory knobs (frozen networks in bf16, chunked VAE encode), the USM training target and
where the decoder stage looks for VGG16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from yonos_bench.core.errors import WeightsMissingError
from yonos_bench.degradations.ops import usm_sharpen
from yonos_train.config import DecoderConfig, StandardConfig
from yonos_train.presets import build_pipeline
from yonos_train.stages import common
from yonos_train.stages.common import FrozenCast, encode_images, training_target, unet_velocity


def test_frozen_cast_runs_in_bf16_and_restores_the_exact_fp32_weights():
    m = nn.Linear(4, 3)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    frozen = FrozenCast("bf16")
    frozen.cast(m)
    assert m.weight.dtype == torch.bfloat16
    frozen.restore()
    assert m.weight.dtype == torch.float32
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k])  # not the bf16-rounded values
    FrozenCast("fp32").cast(m)  # the default is a no-op
    assert m.weight.dtype == torch.float32


def test_a_bf16_frozen_unet_takes_fp32_latents():
    pipe = build_pipeline("tiny", 2)
    pipe.unet.to(torch.bfloat16)
    z = torch.randn(1, 4, 8, 8)
    v = unet_velocity(pipe.unet, z, z, torch.ones(1, dtype=torch.float64), pipe.null_embedding(1))
    assert v.shape == z.shape and v.dtype == torch.bfloat16


def test_chunked_encode_equals_one_call():
    vae = build_pipeline("tiny", 2).vae
    g = torch.Generator().manual_seed(0)
    hr, lr = torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 16, 16, generator=g)
    whole = encode_images(vae, [(hr, 1), (lr, 2)])
    chunked = encode_images(vae, [(hr, 1), (lr, 2)], chunk=2)
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_training_target_is_the_usm_sharpened_hr_for_realesrgan_only():
    hr = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    on = StandardConfig(stage="standard", scale=2, degradation="realesrgan")
    assert torch.equal(training_target(on, hr), usm_sharpen(hr))
    off = StandardConfig(stage="standard", scale=2, degradation="bicubic")
    assert training_target(off, hr) is hr


def test_vgg16_is_found_where_weights_fetch_puts_it(tmp_path, monkeypatch):
    store, hub = tmp_path / "store", tmp_path / "torch"
    monkeypatch.setenv("YONOS_WEIGHTS", str(store))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub / "hub"))
    cfg = DecoderConfig(stage="decoder", perceptual="lpips-vgg")
    with pytest.raises(WeightsMissingError, match="weights fetch torchvision-vgg16") as err:
        common.lpips_vgg(cfg, print)
    assert str(store / "hub" / "checkpoints" / common.LPIPS_VGG_FILE) in str(err.value)
    target = store / "hub" / "checkpoints" / common.LPIPS_VGG_FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not vgg")
    with pytest.raises(WeightsMissingError, match="is not torchvision's VGG16"):
        common.lpips_vgg(cfg, print)
    # A file with the right hash: lpips is built with torch.hub pointed at the store.
    import lpips

    import yonos_bench.core.weights as weights

    seen = {}
    monkeypatch.setattr(weights, "sha256_of", lambda p: common.LPIPS_VGG_SHA256_PREFIX + "0" * 56)
    monkeypatch.setattr(torch.hub, "set_dir", lambda d: seen.setdefault("dirs", []).append(d))
    monkeypatch.setattr(lpips, "LPIPS", lambda **kw: seen.setdefault("built", kw))
    assert common.lpips_vgg(cfg, print) == {"net": "vgg", "verbose": False}
    assert seen["dirs"][0] == str(store / "hub")


def test_distill_and_decoder_run_with_frozen_bf16_and_save_exact_fp32_frozen_weights(tmp_path):
    from safetensors.torch import load_file

    from yonos_train.stages import run_stage

    from .conftest import quiet, tiny_decoder, tiny_distill

    teacher = tmp_path / "teacher"
    build_pipeline("tiny", 2, seed=3).save_pretrained(str(teacher))
    dist = run_stage(tiny_distill(tmp_path, teacher, steps=1, frozen_dtype="bf16", encode_chunk=1), log=quiet)
    vae_file = "vae/diffusion_pytorch_model.safetensors"
    a, b = load_file(str(teacher / vae_file)), load_file(str(dist / "pipeline" / vae_file))
    assert all(b[k].dtype == torch.float32 and torch.equal(a[k], b[k]) for k in a)  # not bf16-rounded
    dec = run_stage(tiny_decoder(tmp_path, dist, steps=1, frozen_dtype="bf16"), log=quiet)
    unet_file = "unet/diffusion_pytorch_model.safetensors"
    a, b = load_file(str(dist / "pipeline" / unet_file)), load_file(str(dec / "pipeline" / unet_file))
    assert all(b[k].dtype == torch.float32 and torch.equal(a[k], b[k]) for k in a)
