"""Degradations shared by protocol preparation and training (docs/CONTRACTS.md "Degradations").

* :func:`bicubic_resize` -- MATLAB ``imresize``-compatible bicubic (DIV2K's bicubic LR).
* :func:`avgpool_downsample` -- x N average pooling (the x8 protocols).
* :class:`RealESRGANDegradation` -- the Real-ESRGAN second-order pipeline, presets
  ``realesrgan`` (x4plus) and ``realesrgan-stablesr``; per-image seeds, recorded parameters,
  several scales with shared parameters.
* :func:`degrade` -- dispatch by name over :data:`DEGRADATIONS`.
"""

from .bicubic import bicubic_resize
from .dispatch import DEGRADATIONS, degrade
from .pooling import avgpool_downsample
from .presets import PRESETS, RealESRGANPreset, get_preset
from .realesrgan import DegradationResult, RealESRGANDegradation

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
