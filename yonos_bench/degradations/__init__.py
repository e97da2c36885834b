"""Degradations shared by protocol preparation and training (docs/CONTRACTS.md "Degradations").

* :func:`bicubic_resize` -- MATLAB ``imresize``-compatible bicubic (DIV2K's bicubic LR).
* :func:`avgpool_downsample` -- x N average pooling (the x8 protocols).
"""

from .bicubic import bicubic_resize
from .pooling import avgpool_downsample

__all__ = ["avgpool_downsample", "bicubic_resize"]
