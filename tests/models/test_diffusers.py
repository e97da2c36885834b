"""diffusers adapters with tiny random pipelines built from configs (no downloads)."""

from __future__ import annotations

import shutil

import pytest
import torch

from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.models import load_model
from yonos_bench.models.registry import parse_card

from .conftest import count_calls


def _x(b, h, w, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fixture", ["tiny_ldm_dir", "tiny_upscaler_dir"])
def test_size_exact_steps_respected_and_per_image_seeds(fixture, request):
    m = load_model(request.getfixturevalue(fixture))
    assert m.scale == 4 and m.supports_steps and m.default_steps == 50
    calls = count_calls(m.pipe.unet)
    x = _x(2, 7, 10)  # odd sizes: padded to the UNet's multiple internally, cropped back
    y = m.upscale(x, steps=3, seeds=[11, 12])
    assert y.shape == (2, 3, 28, 40) and float(y.min()) >= 0 and float(y.max()) <= 1
    assert calls[0] == 3  # one UNet call per step (no guidance)
    m.upscale(x[:1], steps=2, seeds=[11])
    assert calls[0] == 5
    # per-image seeds: image 2 alone with its seed == inside the batch; seeds matter
    alone = m.upscale(x[1:], steps=3, seeds=[12])
    torch.testing.assert_close(alone, y[1:], atol=1e-5, rtol=0)
    other = m.upscale(x[1:], steps=3, seeds=[13])
    assert float((other - alone).abs().max()) > 1e-3
    again = m.upscale(x, steps=3, seeds=[11, 12])
    torch.testing.assert_close(again, y, atol=0, rtol=0)


def test_ldm_with_eta_stays_per_image_seeded(tiny_ldm_dir):
    m = load_model(tiny_ldm_dir, options={"eta": 1.0})
    x = _x(2, 8, 8, seed=1)
    torch.manual_seed(123)  # the global RNG must not matter
    y = m.upscale(x, steps=2, seeds=[4, 5])
    torch.manual_seed(999)
    alone = m.upscale(x[1:], steps=2, seeds=[5])
    torch.testing.assert_close(alone, y[1:], atol=1e-5, rtol=0)


def test_upscaler_guidance_doubles_unet_batch_and_uses_the_prompt(tiny_upscaler_dir):
    m = load_model(tiny_upscaler_dir, options={"guidance_scale": 4.0, "prompt": "a cat", "noise_level": 50})
    seen = []
    m.pipe.unet.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    y = m.upscale(_x(1, 8, 8), steps=2, seeds=[0])
    assert y.shape == (1, 3, 32, 32) and seen == [2, 2]
    with pytest.raises(ValueError, match="noise_level: must be <= 350"):
        load_model(tiny_upscaler_dir, options={"noise_level": 400})


def _ldm_card(folder_files):
    files = "\n".join(f"    - {f}" for f in folder_files)
    return parse_card(
        f"""\
name: tiny-ldm
adapter: diffusers
scale: 4
steps: 2
description: test
citation: test
license: test
options: {{pipeline: ldm}}
hf_repo:
  repo: example/tiny-ldm
  revision: {"a" * 40}
  folder: tiny-ldm
  files:
{files}
""",
        "tiny-ldm.yaml",
        protocols=set(),
    )


def test_card_route_with_files_in_the_weights_folder(tiny_ldm_dir, tmp_path):
    files = sorted(p.relative_to(tiny_ldm_dir).as_posix() for p in tiny_ldm_dir.rglob("*") if p.is_file())
    card = _ldm_card(files)
    wd = tmp_path / "w"
    with pytest.raises(
        WeightsMissingError, match=r"(?s)tiny-ldm/model_index\.json.*yonos-bench weights fetch"
    ):
        load_model(card, weights_dir=wd)
    shutil.copytree(tiny_ldm_dir, wd / "models" / "tiny-ldm")
    m = load_model(card, weights_dir=wd, scale=4)
    assert m.default_steps == 2 and len(m.weights_digest) == 64
    assert m.upscale(_x(1, 8, 8), seeds=[0]).shape == (1, 3, 32, 32)
    # the digest follows the files
    (wd / "models" / "tiny-ldm" / "scheduler" / "scheduler_config.json").write_text(
        (tiny_ldm_dir / "scheduler" / "scheduler_config.json").read_text() + " "
    )
    assert load_model(card, weights_dir=wd).weights_digest != m.weights_digest


def test_broken_pipeline_folder_is_a_clear_error(tiny_ldm_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ldm_dir, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(YonosError, match=r"Cannot load the LDMSuperResolutionPipeline from .*broken"):
        load_model(broken)
    (broken / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(
        YonosError, match=r"holds a StableDiffusionPipeline pipeline; supported: YonosSRPipeline"
    ):
        load_model(broken)


def test_steps_must_be_positive(tiny_ldm_dir):
    m = load_model(tiny_ldm_dir)
    with pytest.raises(ValueError, match=r"steps: must be a positive integer, got 0"):
        m.upscale(_x(1, 8, 8), steps=0, seeds=[0])
