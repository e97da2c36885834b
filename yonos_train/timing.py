"""Per-stage wall-clock timing of one pipeline call: VAE encode, UNet per step, VAE decode, the rest.

Pass a :class:`StageTimer` as ``timer=`` to :meth:`YonosSRPipeline.__call__`; the
pipeline wraps its stages in ``timer.stage(...)``. On CUDA the timer synchronises the
device at every stage boundary so each stage is charged its own kernels (this costs a
little throughput; leave ``timer=None`` for production runs). The benchmarks and the
``speed`` command read :meth:`StageTimer.summary`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

STAGES = ("encode", "unet", "decode")


@dataclass
class StageTimer:
    """Collects seconds per stage; ``unet`` keeps one entry per denoising step (all tiles of that step)."""

    device: torch.device | str | None = None
    encode: float = 0.0
    decode: float = 0.0
    unet_steps: list[float] = field(default_factory=list)
    total: float = 0.0
    _start: float | None = None

    def _sync(self) -> None:
        dev = torch.device(self.device) if self.device is not None else None
        if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
            torch.cuda.synchronize(dev)

    def begin(self) -> None:
        """Start the clock for the whole call (``total``)."""
        self._sync()
        self._start = time.perf_counter()

    def end(self) -> None:
        self._sync()
        if self._start is None:
            raise RuntimeError("StageTimer.end() called before begin()")
        self.total += time.perf_counter() - self._start
        self._start = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one stage: ``"encode"``, ``"decode"`` or ``"unet"`` (one call = one step)."""
        if name not in STAGES:
            raise ValueError(f"name: expected one of {STAGES}, got {name!r}")
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            elapsed = time.perf_counter() - start
            if name == "unet":
                self.unet_steps.append(elapsed)
            else:
                setattr(self, name, getattr(self, name) + elapsed)

    @property
    def unet(self) -> float:
        return sum(self.unet_steps)

    @property
    def other(self) -> float:
        """Everything not in a stage: resizing, padding, noise, DDIM arithmetic, blending."""
        return max(0.0, self.total - self.encode - self.unet - self.decode)

    def summary(self) -> dict[str, float | list[float] | int]:
        """Seconds per stage: ``encode``, ``unet`` (sum), ``unet_per_step`` (list),
        ``steps``, ``decode``, ``other``, ``total``."""
        return {
            "encode": self.encode,
            "unet": self.unet,
            "unet_per_step": list(self.unet_steps),
            "steps": len(self.unet_steps),
            "decode": self.decode,
            "other": self.other,
            "total": self.total,
        }

    def format(self) -> str:
        """One line, e.g. ``encode 1.20s | unet 2×0.50s | decode 2.00s | other 0.10s | total 4.30s``."""
        n = len(self.unet_steps)
        per = self.unet / n if n else 0.0
        return (
            f"encode {self.encode:.3f}s | unet {n}×{per:.3f}s | decode {self.decode:.3f}s | "
            f"other {self.other:.3f}s | total {self.total:.3f}s"
        )
