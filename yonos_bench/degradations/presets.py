"""Parameter sets of the Real-ESRGAN second-order degradation (METHOD.md section 2).

``realesrgan``: Real-ESRGAN x4plus (``options/train_realesrgan_x4plus.yml`` of xinntao/Real-ESRGAN).
``realesrgan-stablesr``: StableSR's milder variant (``configs/stableSRNew/v2-finetune_text_T_512.yaml``
of IceClear/StableSR), including its ``no_degradation_prob`` of 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass

from yonos_bench.core.errors import did_you_mean
from yonos_bench.degradations.kernels import KernelConfig

_KERNEL_PROB = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


@dataclass(frozen=True)
class RealESRGANPreset:
    name: str
    kernel1: KernelConfig
    kernel2: KernelConfig
    final_sinc_prob: float
    # stage 1
    resize_prob: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    gaussian_noise_prob: float
    noise_range: tuple[float, float]  # Gaussian sigma, in 8-bit levels
    poisson_scale_range: tuple[float, float]
    gray_noise_prob: float
    jpeg_range: tuple[float, float]
    # stage 2
    second_blur_prob: float
    resize_prob2: tuple[float, float, float]
    resize_range2: tuple[float, float]  # relative to H / scale
    gaussian_noise_prob2: float
    noise_range2: tuple[float, float]
    poisson_scale_range2: tuple[float, float]
    gray_noise_prob2: float
    jpeg_range2: tuple[float, float]
    # extras
    usm_sharpen: bool = True  # USM-sharpen the GT before degrading (weight .5, radius 51, threshold 10)
    no_degradation_prob: float = 0.0


REALESRGAN_X4PLUS = RealESRGANPreset(
    name="realesrgan",
    kernel1=KernelConfig(_KERNEL_PROB, sinc_prob=0.1, sigma=(0.2, 3.0), betag=(0.5, 4.0), betap=(1.0, 2.0)),
    kernel2=KernelConfig(_KERNEL_PROB, sinc_prob=0.1, sigma=(0.2, 1.5), betag=(0.5, 4.0), betap=(1.0, 2.0)),
    final_sinc_prob=0.8,
    resize_prob=(0.2, 0.7, 0.1),
    resize_range=(0.15, 1.5),
    gaussian_noise_prob=0.5,
    noise_range=(1.0, 30.0),
    poisson_scale_range=(0.05, 3.0),
    gray_noise_prob=0.4,
    jpeg_range=(30.0, 95.0),
    second_blur_prob=0.8,
    resize_prob2=(0.3, 0.4, 0.3),
    resize_range2=(0.3, 1.2),
    gaussian_noise_prob2=0.5,
    noise_range2=(1.0, 25.0),
    poisson_scale_range2=(0.05, 2.5),
    gray_noise_prob2=0.4,
    jpeg_range2=(30.0, 95.0),
)

REALESRGAN_STABLESR = RealESRGANPreset(
    name="realesrgan-stablesr",
    kernel1=KernelConfig(_KERNEL_PROB, sinc_prob=0.1, sigma=(0.2, 1.5), betag=(0.5, 2.0), betap=(1.0, 1.5)),
    kernel2=KernelConfig(_KERNEL_PROB, sinc_prob=0.1, sigma=(0.2, 1.0), betag=(0.5, 2.0), betap=(1.0, 1.5)),
    final_sinc_prob=0.8,
    resize_prob=(0.2, 0.7, 0.1),
    resize_range=(0.3, 1.5),
    gaussian_noise_prob=0.5,
    noise_range=(1.0, 15.0),
    poisson_scale_range=(0.05, 2.0),
    gray_noise_prob=0.4,
    jpeg_range=(60.0, 95.0),
    second_blur_prob=0.5,
    resize_prob2=(0.3, 0.4, 0.3),
    resize_range2=(0.6, 1.2),
    gaussian_noise_prob2=0.5,
    noise_range2=(1.0, 12.0),
    poisson_scale_range2=(0.05, 1.0),
    gray_noise_prob2=0.4,
    jpeg_range2=(60.0, 100.0),
    no_degradation_prob=0.01,
)

PRESETS: dict[str, RealESRGANPreset] = {p.name: p for p in (REALESRGAN_X4PLUS, REALESRGAN_STABLESR)}


def get_preset(name: str) -> RealESRGANPreset:
    if name not in PRESETS:
        raise did_you_mean("Real-ESRGAN degradation preset", name, list(PRESETS))
    return PRESETS[name]
