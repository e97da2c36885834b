"""The shipped small pipelines (Miniature v2, docs/MINIATURE.md): cards resolve to the
package, the training log's sha256s match the files, the chain's sharing holds, they run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from yonos_bench.models import load_model
from yonos_bench.models.registry import load_card

SMALL = ("yonos-small-x4", "yonos-small-x4-orig-decoder", "sd-sr-small-x4", "sd-sr-small-x4-orig-decoder")
ASSETS = Path(__file__).resolve().parents[2] / "yonos_bench" / "assets" / "small"
LOG = ASSETS / "TRAINING_LOG.json"


def test_cards_point_into_the_package_and_the_log_matches_the_files():
    from yonos_bench.core.imageio import sha256_file

    log = json.loads(LOG.read_text())
    assert log["shipped"]["yonos-small-x4"]["from_run"] == "decoder-distill-x4-s0"  # the shipping rule
    assert log["shipped"]["sd-sr-small-x4-orig-decoder"]["from_run"] == "direct-x4-s0"
    assert {"teacher-x2-s0", "distill-x4-s0", "direct-x4-s0", "decoder-distill-x4-s0"} <= set(log["stages"])
    assert all(r["command"].startswith("yonos-bench train ") for r in log["stages"].values())
    total = 0
    for name in SMALL:
        card = load_card(name)
        assert card.adapter == "yonos" and card.scale == 4 and card.pipeline.path() == ASSETS / name
        files = log["shipped"][name]["files"]
        assert set(files) == {str(p.relative_to(ASSETS / name)) for p in (ASSETS / name).rglob("*") if p.is_file()}
        for rel, meta in files.items():
            assert sha256_file(ASSETS / name / rel) == meta["sha256"]
            total += meta["bytes"]
    assert total == log["shipped_bytes"] <= 30_000_000  # the size budget


def test_pipelines_share_what_the_chain_says():
    from safetensors.torch import load_file

    def part(name, sub):
        return load_file(ASSETS / name / sub / "diffusion_pytorch_model.safetensors")

    for ft, orig in (("yonos-small-x4", "yonos-small-x4-orig-decoder"), ("sd-sr-small-x4", "sd-sr-small-x4-orig-decoder")):
        u1, u2 = part(ft, "unet"), part(orig, "unet")
        assert all(torch.equal(u1[k], u2[k]) for k in u1)  # the decoder stage freezes the UNet
        v1, v2 = part(ft, "vae"), part(orig, "vae")
        assert all(torch.equal(v1[k], v2[k]) for k in v1 if k.startswith(("encoder.", "quant_conv.")))
        assert any(not torch.equal(v1[k], v2[k]) for k in v1 if k.startswith("decoder."))
    a, b = part("yonos-small-x4-orig-decoder", "vae"), part("sd-sr-small-x4-orig-decoder", "vae")
    assert all(torch.equal(a[k], b[k]) for k in a)  # one autoencoder for every arm
    ua, ub = part("yonos-small-x4-orig-decoder", "unet"), part("sd-sr-small-x4-orig-decoder", "unet")
    assert any(not torch.equal(ua[k], ub[k]) for k in ua)


@pytest.mark.parametrize("name", ["yonos-small-x4", "sd-sr-small-x4-orig-decoder"])
def test_shipped_pipeline_loads_in_fp32_and_upscales(name):
    model = load_model(name, device="cpu")
    assert model.pipe.unet.dtype == torch.float32 and model.pipe.config.preset == "small"
    g = torch.Generator().manual_seed(0)
    lr = torch.nn.functional.interpolate(torch.rand(1, 3, 5, 7, generator=g), size=(20, 28), mode="bilinear",
                                         align_corners=True)  # fmt: skip
    out = model.upscale(lr, steps=1, seeds=[3])
    assert out.shape == (1, 3, 80, 112) and torch.equal(out, model.upscale(lr, steps=1, seeds=[3]))
    up = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic")
    corr = torch.corrcoef(torch.stack([out.flatten(), up.flatten()]))[0, 1]
    assert corr > 0.5, f"{name}: output barely follows the input (corr {corr:.3f})"
