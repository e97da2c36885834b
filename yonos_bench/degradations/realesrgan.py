"""Real-ESRGAN second-order degradation (Wang et al. 2021), per-image seeded and replayable.

Order of operations (METHOD.md section 2, as in Real-ESRGAN's ``RealESRGANModel.feed_data``):

0. USM-sharpen the GT (weight .5, 51x51 Gaussian, threshold 10).
1. Stage 1: blur with kernel 1 -> random resize (up/down/keep, area|bilinear|bicubic) ->
   Gaussian or Poisson noise (colour or gray) -> clamp -> JPEG.
2. Stage 2: blur with kernel 2 (with probability ``second_blur_prob``) -> random resize relative
   to ``H / scale`` -> noise.
3. Final, in one of two orders with p = .5 each: [resize to ``H / scale`` + sinc filter] then
   JPEG, or JPEG then [resize + sinc]. The sinc filter is applied with p = .8 (else identity).
4. Round to 8-bit levels.

Differences with the reference code, each deliberate:

* Every random quantity is drawn per image from ``numpy.random.default_rng(seed)`` (kernels,
  resize choices, noise parameters, JPEG qualities, and the seeds of the noise fields), so an
  image's LR depends only on its pixels and its seed. Real-ESRGAN shares the resize draws and
  the final-stage order across a batch; with per-image draws the intermediate sizes differ, so
  stages 1-2 run image by image, and the full-size blurs and the final sinc run batched.
* JPEG is a real codec at the drawn IJG quality rounded to an integer, on the image rounded
  to 8 bits (Real-ESRGAN used DiffJPEG, a torch approximation): libjpeg through Pillow on
  CPU (protocols), torchvision's nvJPEG on CUDA (training on the device; same bytes as
  Pillow when run on CPU); see :func:`yonos_bench.degradations.ops.jpeg`.
* ``no_degradation`` (StableSR, p = .01): StableSR then trains on LQ = GT at HR size. Our LR
  must be ``H / scale``, so such an image gets the MATLAB bicubic downsampling of the
  (sharpened) GT instead -- the clean x-scale degradation.
* Several scales (``scale=(4, 2)``, for scale distillation, paper eq. 3): all random parameters
  are shared and stage 0-1 is computed once; stage 2 and the final stage are run per scale.
  Stage 2's resize is relative to ``H / scale`` and the final size is ``H / scale``, so those
  two sizes differ with the scale; the noise fields use the same seeds (at different sizes).

Determinism (CPU): the LR bytes depend only on (pixels, seed, parameters) -- not on the batch,
the batch order or the number of torch threads (all tested). Resizes run in float64; the
float32 depthwise convolutions are oneDNN's, identical across group and thread counts here,
but oneDNN does not promise identical bits on another CPU instruction set, and CUDA results
differ from CPU ones in the last bits (so an occasional 8-bit level). Record digests per device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from yonos_bench.degradations.bicubic import bicubic_resize
from yonos_bench.degradations.kernels import build_kernel, sample_blur_kernel, sample_final_sinc
from yonos_bench.degradations.ops import (
    add_gaussian_noise,
    add_poisson_noise,
    filter_per_sample,
    jpeg,
    jpeg_codec_for,
    quantize8,
    resize,
    usm_sharpen,
)
from yonos_bench.degradations.presets import RealESRGANPreset, get_preset

RESIZE_MODES = ("area", "bilinear", "bicubic")


@dataclass
class DegradationResult:
    """``lr``: one (B, 3, H/s, W/s) tensor, or a list of them (one per scale, in the order asked).

    ``params``: one JSON-serialisable dict per image (what was drawn), replayable with ``apply``.
    """

    lr: torch.Tensor | list[torch.Tensor]
    params: list[dict]


def check_scales(hr: torch.Tensor, scale: int | Sequence[int]) -> tuple[list[int], bool]:
    """Validated list of integer scales and whether a single int was given."""
    single = not isinstance(scale, Sequence)
    scales = [scale] if single else list(scale)
    if not scales:
        raise ValueError("scale must be an integer or a non-empty sequence of integers")
    h, w = int(hr.shape[-2]), int(hr.shape[-1])
    for s in scales:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"scale must be a positive integer (or a sequence of them), got {s!r}")
        if h % s or w % s:
            raise ValueError(
                f"HR size {h}x{w} is not divisible by scale {s}; crop the HR to a multiple of {s}"
            )
    return [int(s) for s in scales], single


def check_hr(hr: torch.Tensor) -> None:
    if not isinstance(hr, torch.Tensor) or hr.dim() != 4 or hr.shape[1] != 3:
        raise ValueError(f"hr must be a (B, 3, H, W) tensor, got {getattr(hr, 'shape', type(hr))}")
    if not hr.is_floating_point():
        raise ValueError(f"hr must be a floating-point tensor in [0, 1], got dtype {hr.dtype}")


def check_seeds(seeds: Sequence[int] | None, batch: int) -> list[int]:
    if seeds is None or isinstance(seeds, (int, str)) or not isinstance(seeds, Sequence):
        raise ValueError(f"seeds must be a sequence of {batch} integers (one per image), got {seeds!r}")
    if len(seeds) != batch:
        raise ValueError(f"seeds has {len(seeds)} entries but the batch has {batch} images")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"each seed must be a non-negative integer, got {s!r}")
        out.append(int(s))
    return out


def _sample_resize(rng: np.random.Generator, prob, rng_range) -> dict:
    kind = ("up", "down", "keep")[int(rng.choice(3, p=np.asarray(prob)))]
    if kind == "up":
        factor = float(rng.uniform(1.0, rng_range[1]))
    elif kind == "down":
        factor = float(rng.uniform(rng_range[0], 1.0))
    else:
        factor = 1.0
    return {"type": kind, "factor": factor, "mode": RESIZE_MODES[int(rng.integers(3))]}


def _sample_noise(rng: np.random.Generator, gaussian_prob, sigma_range, poisson_range, gray_prob) -> dict:
    if rng.uniform() < gaussian_prob:
        noise = {"type": "gaussian", "sigma": float(rng.uniform(*sigma_range))}
    else:
        noise = {"type": "poisson", "scale": float(rng.uniform(*poisson_range))}
    noise["gray"] = bool(rng.uniform() < gray_prob)
    noise["seed"] = int(rng.integers(0, 2**62))  # seeds the torch generator of the noise field
    return noise


def _sample_quality(rng: np.random.Generator, q_range) -> int:
    # drawn continuous as in Real-ESRGAN, rounded to the integer quality a real codec takes
    return int(np.clip(np.rint(rng.uniform(*q_range)), 1, 100))


def _add_noise(x: torch.Tensor, noise: dict) -> torch.Tensor:
    if noise["type"] == "gaussian":
        return add_gaussian_noise(x, noise["sigma"], noise["gray"], noise["seed"])
    return add_poisson_noise(x, noise["scale"], noise["gray"], noise["seed"])


def _kernels(specs: list[dict | None], device, dtype) -> torch.Tensor:
    return torch.from_numpy(np.stack([build_kernel(s) for s in specs])).to(device=device, dtype=dtype)


class RealESRGANDegradation:
    """The second-order pipeline with a named preset (``realesrgan`` or ``realesrgan-stablesr``)."""

    def __init__(self, preset: str | RealESRGANPreset = "realesrgan", *, jpeg_codec: str = "auto"):
        self.preset = preset if isinstance(preset, RealESRGANPreset) else get_preset(preset)
        jpeg_codec_for(torch.device("cpu"), jpeg_codec)  # validates the name
        self.jpeg_codec = jpeg_codec  # "auto": Pillow on CPU, torchvision (nvJPEG) on CUDA

    @property
    def name(self) -> str:
        return self.preset.name

    def sample_params(self, generator: np.random.Generator | int) -> dict:
        """Draw every random parameter of one image from ``generator`` (or ``default_rng(seed)``)."""
        rng = (
            np.random.default_rng(generator) if not isinstance(generator, np.random.Generator) else generator
        )
        p = self.preset
        params = {
            "preset": p.name,
            "usm_sharpen": p.usm_sharpen,
            "kernel1": sample_blur_kernel(rng, p.kernel1),
            "kernel2": sample_blur_kernel(rng, p.kernel2),
            "sinc": sample_final_sinc(rng, p.final_sinc_prob),
            "resize1": _sample_resize(rng, p.resize_prob, p.resize_range),
            "noise1": _sample_noise(
                rng, p.gaussian_noise_prob, p.noise_range, p.poisson_scale_range, p.gray_noise_prob
            ),
            "jpeg1": _sample_quality(rng, p.jpeg_range),
            "blur2": bool(rng.uniform() < p.second_blur_prob),
            "resize2": _sample_resize(rng, p.resize_prob2, p.resize_range2),
            "noise2": _sample_noise(
                rng, p.gaussian_noise_prob2, p.noise_range2, p.poisson_scale_range2, p.gray_noise_prob2
            ),
            "final_order": "resize_sinc_jpeg" if rng.uniform() < 0.5 else "jpeg_resize_sinc",
            "final_mode": RESIZE_MODES[int(rng.integers(3))],
            "jpeg2": _sample_quality(rng, p.jpeg_range2),
            "no_degradation": bool(rng.uniform() < p.no_degradation_prob),
        }
        return params

    def __call__(
        self, hr: torch.Tensor, scale: int | Sequence[int], seeds: Sequence[int]
    ) -> DegradationResult:
        """Degrade HR (B, 3, H, W) in [0, 1]; image i's parameters come from ``seeds[i]`` alone."""
        check_hr(hr)
        seeds = check_seeds(seeds, int(hr.shape[0]))
        return self.apply(hr, [self.sample_params(np.random.default_rng(s)) for s in seeds], scale)

    def apply(
        self, hr: torch.Tensor, params: Sequence[dict], scale: int | Sequence[int]
    ) -> DegradationResult:
        """Degrade with given (recorded or shared) parameters: one dict per image."""
        check_hr(hr)
        scales, single = check_scales(hr, scale)
        if len(params) != hr.shape[0]:
            raise ValueError(f"params has {len(params)} entries but the batch has {hr.shape[0]} images")
        x = hr.to(torch.float32)
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"hr must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
        h, w = int(x.shape[-2]), int(x.shape[-1])
        # stage 0 + stage-1 blur: same size for the whole batch, run batched
        gt = usm_sharpen(x) if self.preset.usm_sharpen else x
        out = filter_per_sample(gt, _kernels([p["kernel1"] for p in params], x.device, x.dtype))
        stage1 = [self._stage1(out[i : i + 1], p) for i, p in enumerate(params)]
        lrs = []
        for s in scales:
            lr_hw = (h // s, w // s)
            y = torch.cat([self._stage2_and_pre_sinc(stage1[i], p, lr_hw) for i, p in enumerate(params)])
            if any(p["sinc"] is not None for p in params):
                y = filter_per_sample(y, _kernels([p["sinc"] for p in params], x.device, x.dtype))
            y = torch.cat(
                [self._post_sinc(y[i : i + 1], p, gt[i : i + 1], lr_hw) for i, p in enumerate(params)]
            )
            lrs.append(quantize8(y))
        return DegradationResult(lr=lrs[0] if single else lrs, params=[dict(p) for p in params])

    # -- per-image pieces (sizes differ between images after the stage-1 resize) -------------
    def _stage1(self, x: torch.Tensor, p: dict) -> torch.Tensor:
        r = p["resize1"]
        if r["type"] != "keep":  # Real-ESRGAN calls F.interpolate with factor 1 here: an identity
            x = resize(x, r["mode"], scale=r["factor"])
        x = _add_noise(x, p["noise1"])
        return jpeg(x.clamp(0, 1), p["jpeg1"], self.jpeg_codec)

    def _stage2_and_pre_sinc(self, x: torch.Tensor, p: dict, lr_hw: tuple[int, int]) -> torch.Tensor:
        if p["blur2"]:
            x = filter_per_sample(x, _kernels([p["kernel2"]], x.device, x.dtype))
        r = p["resize2"]
        x = resize(x, r["mode"], size=(int(lr_hw[0] * r["factor"]), int(lr_hw[1] * r["factor"])))
        x = _add_noise(x, p["noise2"])
        if p["final_order"] == "jpeg_resize_sinc":
            x = jpeg(x.clamp(0, 1), p["jpeg2"], self.jpeg_codec)
        return resize(x, p["final_mode"], size=lr_hw)

    def _post_sinc(self, x: torch.Tensor, p: dict, gt: torch.Tensor, lr_hw: tuple[int, int]) -> torch.Tensor:
        if p["no_degradation"]:
            return bicubic_resize(gt, size=lr_hw)
        if p["final_order"] == "resize_sinc_jpeg":
            x = jpeg(x.clamp(0, 1), p["jpeg2"], self.jpeg_codec)
        return x
