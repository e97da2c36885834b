"""Training stages, each a plain ``train(config) -> Path`` (the run folder).

* :mod:`.standard` — eq. 2 at scale N (the ×2 teacher; SD-SR baselines).
* :mod:`.distill` — eq. 3, ×N/2 teacher → ×N student.
* :mod:`.decoder` — decoder fine-tuning on the frozen one-step UNet (paper §3.3).
* :mod:`.autoencoder` — a small VAE from scratch (tiny preset).

Modules are imported on use (``importlib``), so importing this package stays light.
"""

from __future__ import annotations

import importlib
from pathlib import Path

STAGE_MODULES = {
    "standard": "yonos_train.stages.standard",
    "distill": "yonos_train.stages.distill",
    "decoder": "yonos_train.stages.decoder",
    "autoencoder": "yonos_train.stages.autoencoder",
}


def run_stage(cfg, **kwargs) -> Path:
    """Dispatch ``cfg`` to its stage's ``train``."""
    return importlib.import_module(STAGE_MODULES[cfg.stage]).train(cfg, **kwargs)
