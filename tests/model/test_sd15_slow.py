"""The full-size SD v1.5 architecture (random weights) end to end on CPU: one test, marked slow.

≈40 s on 2 idle CPU cores (UNet ≈7 s, VAE encode ≈12 s, decode ≈19 s at 512², LIBRARIES.md),
≈6 GB of RAM. Prints the per-stage timing (run with ``-s`` to see it).
"""

from __future__ import annotations

import pytest
import torch

from yonos_train.presets import build_pipeline
from yonos_train.timing import StageTimer


@pytest.mark.slow
def test_full_sd15_architecture_upscales_128_to_512_in_one_step(capsys):
    pipe = build_pipeline("sd15", scale=4, seed=0, device="cpu")
    assert pipe.native_tile == 64 and pipe.latent_factor == 8
    lr = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    timer = StageTimer()
    out = pipe(lr, 1, [torch.Generator().manual_seed(0)], timer=timer)
    assert out.shape == (1, 3, 512, 512)
    assert bool(torch.isfinite(out).all()) and float(out.min()) >= 0 and float(out.max()) <= 1
    summary = timer.summary()
    assert summary["steps"] == 1 and min(summary["encode"], summary["unet"], summary["decode"]) > 0
    with capsys.disabled():
        print(
            f"\n[sd15 random weights, 128->512, 1 step, {torch.get_num_threads()} threads] {timer.format()}"
        )
