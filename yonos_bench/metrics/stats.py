"""Bootstrap statistics over per-image values.

* :func:`bootstrap_ci` — percentile bootstrap interval of the mean (Efron & Tibshirani 1993,
  §13.3): resample the n values with replacement ``n_boot`` times, take the
  ``(1±confidence)/2`` quantiles of the resampled means. Seeded, so reruns agree exactly.
* :func:`paired_bootstrap` — two models scored on the *same* pairs: resample pair indices,
  and take the interval of the mean difference ``mean(a - b)``; a difference whose interval
  contains 0 is not significant at that level (the report marks it so).

Non-finite values (NaN from a failed backend) are never averaged: they are dropped and
counted (``n_dropped``); for paired data a pair is dropped if either side is non-finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_CHUNK = 1 << 22  # resample in chunks of ~4M indices to bound memory for large n


@dataclass(frozen=True)
class BootstrapCI:
    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_dropped: int = 0
    confidence: float = 0.95


@dataclass(frozen=True)
class PairedBootstrap:
    mean_diff: float  # mean(a - b)
    ci_low: float
    ci_high: float
    n: int
    zero_inside: bool  # True: the difference is not significant at this confidence
    n_dropped: int = 0
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        return not self.zero_inside


def _check(n_boot: int, confidence: float) -> None:
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _boot_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = x.shape[0]
    per = max(1, _CHUNK // n)
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, per):
        stop = min(n_boot, start + per)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = x[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> BootstrapCI:
    """Mean and percentile-bootstrap interval of ``values`` (non-finite values dropped and
    counted). With fewer than 2 finite values the interval is NaN."""
    _check(n_boot, confidence)
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(x)
    dropped = int((~finite).sum())
    x = x[finite]
    if x.size == 0:
        return BootstrapCI(math.nan, math.nan, math.nan, 0, dropped, confidence)
    mean = float(x.mean())
    if x.size < 2:
        return BootstrapCI(mean, math.nan, math.nan, int(x.size), dropped, confidence)
    means = _boot_means(x, n_boot, np.random.default_rng(seed))
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(mean, float(lo), float(hi), int(x.size), dropped, confidence)


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """Paired bootstrap of ``mean(a - b)`` over the same pairs (same order)."""
    _check(n_boot, confidence)
    xa = np.asarray(a, dtype=np.float64).reshape(-1)
    xb = np.asarray(b, dtype=np.float64).reshape(-1)
    if xa.shape != xb.shape:
        raise ValueError(f"a and b must score the same pairs: got {xa.size} and {xb.size} values")
    d = xa - xb
    finite = np.isfinite(xa) & np.isfinite(xb)
    dropped = int((~finite).sum())
    d = d[finite]
    if d.size < 2:
        mean = float(d.mean()) if d.size else math.nan
        return PairedBootstrap(mean, math.nan, math.nan, int(d.size), True, dropped, confidence)
    means = _boot_means(d, n_boot, np.random.default_rng(seed))
    alpha = 1.0 - confidence
    lo, hi = (float(v) for v in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    return PairedBootstrap(float(d.mean()), lo, hi, int(d.size), lo <= 0.0 <= hi, dropped, confidence)
