"""Degradations shared by protocol preparation and training (docs/CONTRACTS.md "Degradations").

* :func:`bicubic_resize` -- MATLAB ``imresize``-compatible bicubic (DIV2K's bicubic LR).
* :func:`avgpool_downsample` -- x N average pooling (the x8 protocols).
* :class:`RealESRGANDegradation` -- the Real-ESRGAN second-order pipeline, presets
  ``realesrgan`` (x4plus) and ``realesrgan-stablesr``; per-image seeds, recorded parameters,
  several scales with shared parameters.
* :func:`degrade` -- dispatch by name over :data:`DEGRADATIONS`.
"""

from yonos_bench.degradations.bicubic import bicubic_resize
from yonos_bench.degradations.dispatch import DEGRADATIONS, degrade
from yonos_bench.degradations.pooling import avgpool_downsample
from yonos_bench.degradations.presets import PRESETS, RealESRGANPreset, get_preset
from yonos_bench.degradations.realesrgan import DegradationResult, RealESRGANDegradation

__all__ = [
    "DEGRADATIONS",
    "PRESETS",
    "DegradationResult",
    "RealESRGANDegradation",
    "RealESRGANPreset",
    "avgpool_downsample",
    "bicubic_resize",
    "degrade",
    "get_preset",
]
