"""Bad input → ValueError naming the argument and what is expected (diffusers' check_inputs style)."""

from __future__ import annotations

import json

import pytest
import torch

from yonos_train.pipeline import YonosSRPipeline, make_scheduler
from yonos_train.presets import build_pipeline


@pytest.fixture(scope="module")
def pipe() -> YonosSRPipeline:
    return build_pipeline("tiny", scale=4)


def ok_images(batch: int = 1, size: int = 16) -> torch.Tensor:
    return torch.full((batch, 3, size, size), 0.5)


@pytest.mark.parametrize(
    "images,message",
    [
        (
            torch.full((1, 3, 16, 16), 128, dtype=torch.uint8),
            r"^images: expected a floating-point tensor in \[0, 1\], got dtype torch.uint8",
        ),
        (torch.full((1, 3, 16, 16), 2.0), r"^images: expected values in \[0, 1\], got range \[2, 2\]"),
        (torch.full((1, 3, 16, 16), -0.5), r"^images: expected values in \[0, 1\], got range \[-0.5, -0.5\]"),
        (
            torch.full((1, 1, 16, 16), 0.5),
            r"^images: expected shape \(B, 3, h, w\) with 3 RGB channels, got \(1, 1, 16, 16\)",
        ),
        (
            torch.full((1, 4, 16, 16), 0.5),
            r"^images: expected shape \(B, 3, h, w\) with 3 RGB channels, got \(1, 4, 16, 16\)",
        ),
        (torch.full((3, 16, 16), 0.5), r"^images: expected shape \(B, 3, h, w\)"),
        (torch.full((1, 3, 16, 4), 0.5), r"^images: each side must be at least 8 pixels, got 16x4"),
        (torch.full((1, 3, 16, 16), float("nan")), r"^images: contains NaN or infinite values"),
        ([[0.5]], r"^images: expected a torch.Tensor \(B, 3, h, w\) in \[0, 1\], got list"),
    ],
)
def test_bad_images(pipe, images, message):
    with pytest.raises(ValueError, match=message):
        pipe(images, 1, None)


@pytest.mark.parametrize("steps", [0, -3, 1.0, True, None])
def test_bad_steps(pipe, steps):
    with pytest.raises(ValueError, match=r"^num_inference_steps: expected an integer >= 1, got"):
        pipe(ok_images(), steps)


def test_untrained_scale(pipe):
    with pytest.raises(
        ValueError,
        match=r"^scale: this pipeline was trained for x4 .*got x8; use a checkpoint trained for x8",
    ):
        pipe(ok_images(), 1, scale=8)


@pytest.mark.parametrize(
    "generator,message",
    [
        (torch.Generator(), r"^generator: pass a list of 2 torch.Generator \(one per image\)"),
        ([torch.Generator()], r"^generator: expected 2 generators \(one per image\), got 1"),
        ([1, 2], r"^generator: expected a list of torch.Generator, got list"),
    ],
)
def test_bad_generators(pipe, generator, message):
    with pytest.raises(ValueError, match=message):
        pipe(ok_images(2), 1, generator)


def test_bad_tiles_and_output_type(pipe):
    with pytest.raises(ValueError, match=r"^tile_size: expected a positive number of latents, got 0"):
        pipe(ok_images(), 1, tile_size=0)
    with pytest.raises(ValueError, match=r"^tile_overlap: must be smaller than tile_size \(16\), got 16"):
        pipe(ok_images(), 1, tile_size=16, tile_overlap=16)
    with pytest.raises(ValueError, match=r"^output_type: only 'pt' is supported, got 'pil'"):
        pipe(ok_images(), 1, output_type="pil")


def test_components_that_cannot_work_together(pipe):
    from diffusers import DDIMScheduler

    with pytest.raises(
        ValueError, match=r"^scheduler: expected .* these differ: \{'timestep_spacing': 'leading'"
    ):
        YonosSRPipeline(
            pipe.vae,
            pipe.unet,
            DDIMScheduler(**{**make_scheduler().config, "timestep_spacing": "leading"}),
            pipe.null_embedding,
        )
    with pytest.raises(ValueError, match=r"^scale: expected a positive integer magnification, got 0"):
        YonosSRPipeline(pipe.vae, pipe.unet, make_scheduler(), pipe.null_embedding, scale=0)
    sd = build_pipeline("sd15", device="meta")
    with pytest.raises(
        ValueError, match=r"^null_embedding: dim 32 does not match the UNet's cross_attention_dim 768"
    ):
        YonosSRPipeline(sd.vae, sd.unet, make_scheduler(), pipe.null_embedding)


def test_from_pretrained_refuses_other_folders(tmp_path):
    sd = tmp_path / "sd"
    sd.mkdir()
    (sd / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(
        ValueError,
        match=r"^pretrained_model_name_or_path: .* holds a 'StableDiffusionPipeline' pipeline, not a YonosSRPipeline\. It looks like a Stable Diffusion checkpoint: build a YONOS pipeline from it with yonos_train\.presets\.from_sd15",
    ):
        YonosSRPipeline.from_pretrained(sd)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"^pretrained_model_name_or_path: .* has no model_index.json"):
        YonosSRPipeline.from_pretrained(empty)


def test_unknown_preset():
    from yonos_bench.core.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"Unknown preset 'sd1.5'\. Did you mean: sd15\?"):
        build_pipeline("sd1.5")
