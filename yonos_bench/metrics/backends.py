"""Building the backend for a preset: weights checked first, then pyiqa / clean-fid.

A *scorer* is a callable ``(sr (B,3,H,W) [0,1], hr (B,3,H,W) [0,1] | None) -> (B,)``.
Weight files are checked (present, sha256) *before* any backend is constructed, so a
missing file becomes "unavailable: <file>" and never a download attempt or a library
traceback; pyiqa unpickles its checkpoints with ``weights_only=False``, which is why only
verified files reach it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from importlib import metadata

from yonos_bench.core.errors import YonosError
from yonos_bench.core.weights import check, configure_backends, hash_message, missing_message
from yonos_bench.metrics.presets import MetricPreset

Scorer = Callable[["object", "object | None"], "object"]


class Unavailable(YonosError):
    """A preset cannot run here (missing / bad weights, backend failed to build)."""


def weights_problem(preset: MetricPreset, weights_dir: os.PathLike) -> str | None:
    """None if every weight file of ``preset`` (one of them, for ``weights_any_of``) is present
    and verified, else the message."""
    states = [check(w, weights_dir) for w in preset.weights]
    if preset.weights_any_of:
        if any(s.state in ("ok", "unverified") for s in states):
            return None
        bad = [s for s in states if s.state == "bad-hash"]
        if bad:
            return hash_message(bad[0])
        return "One of these is needed. " + missing_message([s.file for s in states], weights_dir)
    missing = [s.file for s in states if s.state == "missing"]
    if missing:
        return missing_message(missing, weights_dir)
    bad = [s for s in states if s.state == "bad-hash"]
    if bad:
        return hash_message(bad[0])
    return None


@contextlib.contextmanager
def _no_timm_imagenet_download():
    """MANIQA builds ``timm.create_model('vit_base_patch8_224', pretrained=True)`` and then
    loads its own checkpoint with ``strict=True``, which overwrites every ViT weight: the
    ImageNet download is redundant, and impossible offline. Build the ViT without it."""
    import timm

    original = timm.create_model

    def create_model(name, pretrained=False, **kw):
        if name == "vit_base_patch8_224":
            pretrained = False
        return original(name, pretrained=pretrained, **kw)

    timm.create_model = create_model
    try:
        yield
    finally:
        timm.create_model = original


def build_pyiqa(preset: MetricPreset, device, weights_dir: os.PathLike) -> Scorer:
    """The pyiqa metric of ``preset`` with its exact arguments."""
    import torch

    configure_backends(weights_dir)  # TORCH_HOME before pyiqa is imported
    from yonos_bench.core.quiet import silence_third_party

    silence_third_party()  # bitsandbytes' gemm_4bit warning is logged at import time
    import pyiqa

    args = preset.args_dict()
    name = args.pop("metric_name")
    if name == "niqe" and str(args.pop("pristine_model", "")).startswith("matlab-release"):
        return _niqe_matlab_release(args, device, weights_dir)
    ctx = _no_timm_imagenet_download() if name.startswith("maniqa") else contextlib.nullcontext()
    try:
        with ctx:
            metric = pyiqa.create_metric(name, device=torch.device(device), **args)
    except Exception as e:  # any library failure becomes one clear message
        raise Unavailable(f"{preset.id}: pyiqa could not build '{name}' ({type(e).__name__}: {e})") from None
    metric.eval()
    one_by_one = torch.device(device).type == "cpu" and name in PER_IMAGE_ON_CPU

    def call(sr, hr):
        return (metric(sr, hr) if preset.kind == "fr" else metric(sr)).reshape(-1)

    def score(sr, hr=None):
        with torch.inference_mode():
            if one_by_one and sr.shape[0] > 1:
                out = torch.cat(
                    [call(sr[i : i + 1], None if hr is None else hr[i : i + 1]) for i in range(sr.shape[0])]
                )
            else:
                out = call(sr, hr)
        return out.float()

    return score


def _niqe_matlab_release(args: dict, device, weights_dir: os.PathLike) -> Scorer:
    """pyiqa's NIQE (``pyiqa.archs.niqe_arch.calculate_niqe``: features, MVG fit, Eq. 10 of
    Mittal et al.) with the MATLAB release's pristine model read from the basicsr npz.
    ``pyiqa.create_metric('niqe')`` would read the same numbers from its own .mat, which it
    downloads; only the parameter loading differs (tests/metrics/test_calibration.py checks
    that both give the same scores)."""
    import numpy as np
    import torch
    from pyiqa.archs.niqe_arch import calculate_niqe

    from yonos_bench.metrics.presets import NIQE_PARAMS

    with np.load(NIQE_PARAMS.path(weights_dir), allow_pickle=False) as z:
        mu = torch.from_numpy(np.ravel(z["mu_pris_param"]).astype(np.float64))
        cov = torch.from_numpy(np.asarray(z["cov_pris_param"], dtype=np.float64))
    test_y, color_space = bool(args.get("test_y_channel", True)), str(args.get("color_space", "yiq"))
    dev = torch.device(device)

    def score(sr, hr=None):
        with torch.inference_mode():
            out = [
                calculate_niqe(sr[i : i + 1].to(dev), 0, test_y, color_space, mu, cov).reshape(-1)
                for i in range(sr.shape[0])
            ]
        return torch.cat(out).float()

    return score


#: pyiqa metrics scored image by image on CPU: their float64 depthwise Gaussian filters
#: (``filter2``) run ~4x slower per image on a batch than on single images in torch's CPU
#: conv2d, which made the one-pass engine slower than a per-image loop (issue 9,
#: benchmarks/bench_metrics.py). Same values (tests/bench/test_equivalence.py).
PER_IMAGE_ON_CPU = frozenset({"ssim", "ms_ssim", "cw_ssim"})


def build_scorer(preset: MetricPreset, device, weights_dir: os.PathLike) -> Scorer:
    if preset.backend == "pyiqa":
        return build_pyiqa(preset, device, weights_dir)
    raise Unavailable(f"{preset.id}: backend {preset.backend!r} is not a per-image backend")


def backend_versions() -> dict[str, str]:
    """Versions of everything that can move a number."""
    out = {}
    for dist in (
        "pyiqa",
        "clean-fid",
        "torch",
        "torchvision",
        "torchmetrics",
        "numpy",
        "scipy",
        "pillow",
        "timm",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
