"""Fixtures for the training tests: tiny configs (32 px crops, batch 2) and one trained chain.

Torch runs single-threaded here: these models are so small that a second thread only adds
synchronisation (10x slower convolutions on a loaded 2-core machine), and the results are
bit-reproducible either way.
"""

from __future__ import annotations

import pytest
import torch

from yonos_train.config import AutoencoderConfig, DecoderConfig, DistillConfig, StandardConfig

TINY = dict(
    preset="tiny", data=["procedural"], crop=32, degradation="bicubic", batch_size=2, steps=2,
    checkpoint_every=2, log_every=1, procedural_images=4, procedural_size=40, progress=False,
)  # fmt: skip


def quiet(msg: str) -> None:
    pass


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_standard(tmp, name="std", **kw) -> StandardConfig:
    return StandardConfig(stage="standard", out=str(tmp / name), **{**TINY, "scale": 2, **kw})


def tiny_distill(tmp, teacher, name="dist", **kw) -> DistillConfig:
    return DistillConfig(
        stage="distill", teacher=str(teacher), out=str(tmp / name), **{**TINY, "scale": 4, **kw}
    )


def tiny_decoder(tmp, model, name="dec", **kw) -> DecoderConfig:
    base = {**TINY, "scale": 4, "disc_start": 1, "disc_ndf": 8, **kw}
    return DecoderConfig(stage="decoder", model=str(model), out=str(tmp / name), **base)


def tiny_autoencoder(tmp, name="ae", **kw) -> AutoencoderConfig:
    base = {**TINY, "scale": 1, "lr": 1e-3, "disc_start": 1, "disc_ndf": 8, **kw}
    return AutoencoderConfig(stage="autoencoder", out=str(tmp / name), **base)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """autoencoder → standard ×2 (with that VAE) → distill ×4 → decoder, 2 steps each."""
    from yonos_train.stages import run_stage

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("chain")
    ae = run_stage(tiny_autoencoder(tmp), log=quiet)
    std = run_stage(tiny_standard(tmp, vae=str(ae)), log=quiet)
    dist = run_stage(tiny_distill(tmp, std), log=quiet)
    decoder_log: list[str] = []
    dec = run_stage(tiny_decoder(tmp, dist), log=decoder_log.append)
    return {
        "tmp": tmp,
        "autoencoder": ae,
        "standard": std,
        "distill": dist,
        "decoder": dec,
        "decoder_log": decoder_log,
    }
