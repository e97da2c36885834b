"""The shipped tiny pipelines: cards resolve to the package, they load in fp32 and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from yonos_bench.core.errors import SpecError
from yonos_bench.models import load_model
from yonos_bench.models.registry import load_card, parse_card

TINY = ("yonos-tiny-x4", "yonos-tiny-x4-orig-decoder", "sd-sr-tiny-x4", "sd-sr-tiny-x4-orig-decoder")
ASSETS = Path(__file__).resolve().parents[2] / "yonos_bench" / "assets" / "tiny"
LOG = ASSETS / "TRAINING_LOG.json"


def test_cards_point_into_the_package_and_the_folders_are_complete():
    import yonos_bench

    pkg = Path(yonos_bench.__file__).resolve().parent
    for name in TINY:
        card = load_card(name)
        assert card.adapter == "yonos" and card.scale == 4 and card.steps == 1
        folder = card.pipeline.path()
        assert folder == pkg / "assets" / "tiny" / name
        assert card.pipeline.is_present()
        assert {p.name for p in folder.iterdir()} >= {"model_index.json", "unet", "vae", "null_embedding"}
        assert list(folder.glob("*/*.safetensors")) and not list(folder.glob("*/*.bin"))


def test_training_log_matches_the_shipped_files():
    from yonos_bench.core.imageio import sha256_file

    log = json.loads(LOG.read_text())
    assert [s["stage"] for s in log["stages"]] == [
        "autoencoder", "teacher-x2", "distill-x4", "standard-x4", "decoder-distill-x4", "decoder-standard-x4"
    ]  # fmt: skip
    assert all(s["command"].startswith("yonos-bench train ") and s["wall_s"] > 0 for s in log["stages"])
    total = 0
    for name in TINY:
        files = log["shipped"][name]["files"]
        on_disk = {str(p.relative_to(ASSETS / name)) for p in (ASSETS / name).rglob("*") if p.is_file()}
        assert set(files) == on_disk
        for rel, meta in files.items():
            assert sha256_file(ASSETS / name / rel) == meta["sha256"]
            total += meta["bytes"]
    assert total == log["shipped_bytes"] <= 20_000_000


def test_pipelines_share_what_the_chain_says():
    """The orig-decoder models keep the autoencoder's decoder; fine-tuning changed only the decoder."""
    from safetensors.torch import load_file

    def part(name, sub):
        return load_file(ASSETS / name / sub / "diffusion_pytorch_model.safetensors")

    for ft, orig in (
        ("yonos-tiny-x4", "yonos-tiny-x4-orig-decoder"),
        ("sd-sr-tiny-x4", "sd-sr-tiny-x4-orig-decoder"),
    ):
        u1, u2 = part(ft, "unet"), part(orig, "unet")
        assert all(torch.equal(u1[k], u2[k]) for k in u1)  # the UNet is frozen by the decoder stage
        v1, v2 = part(ft, "vae"), part(orig, "vae")
        assert all(torch.equal(v1[k], v2[k]) for k in v1 if k.startswith(("encoder.", "quant_conv.")))
        assert any(not torch.equal(v1[k], v2[k]) for k in v1 if k.startswith("decoder."))
    # Both trainings start from the same autoencoder: the orig-decoder VAEs are identical.
    a, b = part("yonos-tiny-x4-orig-decoder", "vae"), part("sd-sr-tiny-x4-orig-decoder", "vae")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # ...and the two UNets are different models.
    ua, ub = part("yonos-tiny-x4-orig-decoder", "unet"), part("sd-sr-tiny-x4-orig-decoder", "unet")
    assert any(not torch.equal(ua[k], ub[k]) for k in ua)


@pytest.mark.parametrize("name", TINY)
def test_shipped_pipeline_loads_in_fp32_and_upscales(name):
    model = load_model(name, device="cpu")
    assert model.name == name and model.scale == 4 and model.supports_steps and model.default_steps == 1
    assert model.pipe.unet.dtype == torch.float32 and model.pipe.vae.dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(2, 3, 5, 7, generator=g)  # smooth test images: random colours, bilinear
    lr = torch.nn.functional.interpolate(coarse, size=(20, 28), mode="bilinear", align_corners=True)
    out = model.upscale(lr, steps=1, seeds=[1, 2])
    assert out.shape == (2, 3, 80, 112) and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert torch.equal(out, model.upscale(lr, steps=1, seeds=[1, 2]))  # seeded: deterministic
    # A trained model follows its input: the upscaled image correlates with the bicubic one.
    up = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic")
    corr = torch.corrcoef(torch.stack([out.flatten(), up.flatten()]))[0, 1]
    assert corr > 0.5, f"{name}: output barely follows the input (corr {corr:.3f})"


def test_env_variable_overrides_the_packaged_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("YONOS_TINY_X4_PIPELINE", str(tmp_path / "elsewhere"))
    assert load_card("yonos-tiny-x4").pipeline.path() == tmp_path / "elsewhere"


@pytest.mark.parametrize("folder", ["package:", "package:../outside", "package:/abs/path"])
def test_package_folder_must_stay_inside_the_package(folder):
    text = (ASSETS.parents[2] / "baselines" / "yonos-tiny-x4.yaml").read_text()
    text = text.replace('"package:assets/tiny/yonos-tiny-x4"', repr(folder))
    with pytest.raises(SpecError, match=r"pipeline\.folder.*after 'package:' give a relative path"):
        parse_card(text, "x.yaml")
