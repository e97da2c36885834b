"""Done-when check: a saved tiny pipeline reloads and upscales a PNG of the ``sample`` protocol
at 1 and at 8 steps, and the result survives the 8-bit PNG round trip."""

from __future__ import annotations

import numpy as np
import torch

from yonos_bench.core import imageio
from yonos_bench.protocols import pairs
from yonos_bench.protocols import spec as registry
from yonos_train.pipeline import YonosSRPipeline
from yonos_train.presets import build_pipeline


def test_saved_tiny_pipeline_upscales_a_sample_png(tmp_path):
    prepared = pairs.prepare(registry.load_protocol("sample"), tmp_path / "data", progress=False)
    pair = prepared.pairs[0]
    build_pipeline("tiny", scale=prepared.spec.scale).save_pretrained(tmp_path / "pipe")
    pipe = YonosSRPipeline.from_pretrained(tmp_path / "pipe")
    lr = imageio.to_tensor(imageio.read_rgb8(pair.lr_path))[None]
    hr = imageio.read_rgb8(pair.hr_path)
    for steps in (1, 8):
        sr = pipe(lr, steps, [torch.Generator().manual_seed(pair.seed % 2**63)])
        path = tmp_path / f"sr{steps}.png"
        imageio.write_png(path, imageio.to_uint8(sr[0]))
        back = imageio.read_rgb8(path)
        assert back.shape == hr.shape == (128, 128, 3)
        np.testing.assert_array_equal(back, imageio.to_uint8(sr[0]))
