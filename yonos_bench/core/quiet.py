"""Quiet output: third-party noise silenced at its source, and the global ``-q`` switch.

Two libraries speak on every model load although nothing is wrong:

* bitsandbytes (imported by pyiqa through transformers) logs ``Failed to load CPU
  gemm_4bit_forward from kernels-community ...`` on CPUs with AVX512-BF16 — a 4-bit kernel
  this project never uses;
* diffusers draws a ``Loading pipeline components...`` tqdm bar in every ``from_pretrained``.

:func:`silence_third_party` turns both off (the logger before the import that logs, the
bar process-wide) and is called by the CLI root and by the loaders of pyiqa and diffusers,
so library users get the same quiet. ``-q`` (:func:`set_quiet`) further hides our own
progress bars and notes: only errors and results remain.
"""

from __future__ import annotations

import logging
import os
import sys

#: Loggers whose warnings are noise for this project (never errors: those still show).
NOISY_LOGGERS = ("bitsandbytes", "kernels")
_QUIET_ENV = "YONOS_QUIET"


def silence_third_party() -> None:
    """Silence the known third-party noise (idempotent; cheap: diffusers only if imported)."""
    import warnings

    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # torch 2.14 deprecates TorchScript; libraries we use still call torch.jit.script at import
    # (kornia) or ship TorchScript files (the TF-FID Inception): one warning each, not ours.
    for api in ("load", "script"):
        warnings.filterwarnings("ignore", message=rf"`torch\.jit\.{api}` is deprecated", category=FutureWarning)
    if "diffusers" in sys.modules:
        quiet_diffusers()


def quiet_diffusers() -> None:
    """No ``Loading pipeline components`` bars and no info chatter from diffusers."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()


_saved: dict[str, object] = {}


def set_quiet(on: bool = True) -> None:
    """The global ``-q``: errors and results only (also for subprocesses, via the env).
    ``set_quiet(False)`` undoes it (the root logger's level and warning filters come back)."""
    import warnings

    if on:
        os.environ[_QUIET_ENV] = "1"
        if not _saved:
            _saved["level"] = logging.getLogger().level
            _saved["filters"] = list(warnings.filters)
        logging.getLogger().setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")
    else:
        os.environ.pop(_QUIET_ENV, None)
        if _saved:
            logging.getLogger().setLevel(_saved.pop("level"))
            warnings.filters[:] = _saved.pop("filters")
            getattr(warnings, "_filters_mutated", lambda: None)()  # as warnings.resetwarnings does


def is_quiet() -> bool:
    return os.environ.get(_QUIET_ENV, "") not in ("", "0")
