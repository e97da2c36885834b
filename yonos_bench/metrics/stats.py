"""Bootstrap statistics over per-image values.

* :func:`bootstrap_ci` — percentile bootstrap interval of the mean (Efron & Tibshirani 1993,
  §13.3): resample the n values with replacement ``n_boot`` times, take the
  ``(1±confidence)/2`` quantiles of the resampled means. Seeded, so reruns agree exactly.
* :func:`paired_bootstrap` — two models scored on the *same* pairs: resample pair indices,
  and take the interval of the mean difference ``mean(a - b)``; a difference whose interval
  contains 0 is not significant at that level (the report marks it so).

Non-finite values (NaN from a failed backend) are never averaged: they are dropped and
counted (``n_dropped``); for paired data a pair is dropped if either side is non-finite.

``clusters`` (one label per value, e.g. the source image of each patch) makes both a
*cluster* bootstrap: whole clusters are resampled with replacement and the statistic is the
mean over every value of the drawn clusters (Davison & Hinkley 1997, §3.8). Patches of one
image are not independent — resampling them as if they were gives intervals several times
too narrow (``div2k-bicubic`` takes 30 patches per image). When every cluster holds one
value this is exactly the ordinary bootstrap (same draws, same numbers).
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
    n_clusters: int | None = None  # resampled units; None: the values themselves


@dataclass(frozen=True)
class PairedBootstrap:
    mean_diff: float  # mean(a - b)
    ci_low: float
    ci_high: float
    n: int
    zero_inside: bool  # True: the difference is not significant at this confidence
    n_dropped: int = 0
    confidence: float = 0.95
    n_clusters: int | None = None

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


def _cluster_boot_means(
    x: np.ndarray, labels: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap means resampling whole clusters: sum of drawn clusters' sums / their sizes."""
    _, inverse = np.unique(labels, return_inverse=True)
    sums = np.bincount(inverse, weights=x)
    counts = np.bincount(inverse).astype(np.float64)
    k = sums.shape[0]
    per = max(1, _CHUNK // k)
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, per):
        stop = min(n_boot, start + per)
        idx = rng.integers(0, k, size=(stop - start, k))
        out[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return out


def _labels(clusters, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    labels = np.asarray([str(c) for c in clusters])
    if labels.shape[0] != n:
        raise ValueError(f"clusters: got {labels.shape[0]} labels for {n} values")
    return labels


def _resample(
    x: np.ndarray, labels: np.ndarray | None, n_boot: int, seed: int
) -> tuple[np.ndarray | None, int]:
    """Bootstrap means of ``x`` (by cluster when labelled) and the number of resampled units;
    None when there are fewer than 2 units."""
    k = int(x.size) if labels is None else len(set(labels.tolist()))
    if k < 2:
        return None, k
    rng = np.random.default_rng(seed)
    if labels is None or k == x.size:  # singleton clusters: exactly the ordinary bootstrap
        return _boot_means(x, n_boot, rng), k
    return _cluster_boot_means(x, labels, n_boot, rng), k


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Sequence[str] | None = None,
) -> BootstrapCI:
    """Mean and percentile-bootstrap interval of ``values`` (non-finite values dropped and
    counted); ``clusters``: resample these units (e.g. source images) instead of values.
    With fewer than 2 finite values (or clusters) the interval is NaN."""
    _check(n_boot, confidence)
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    labels = _labels(clusters, x.size)
    finite = np.isfinite(x)
    dropped = int((~finite).sum())
    x = x[finite]
    labels = labels[finite] if labels is not None else None
    n_clusters = None if labels is None else len(set(labels.tolist()))
    if x.size == 0:
        return BootstrapCI(math.nan, math.nan, math.nan, 0, dropped, confidence, n_clusters)
    mean = float(x.mean())
    means, _ = _resample(x, labels, n_boot, seed)
    if means is None:
        return BootstrapCI(mean, math.nan, math.nan, int(x.size), dropped, confidence, n_clusters)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(mean, float(lo), float(hi), int(x.size), dropped, confidence, n_clusters)


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Sequence[str] | None = None,
) -> PairedBootstrap:
    """Paired bootstrap of ``mean(a - b)`` over the same pairs (same order); ``clusters``:
    resample these units (the source image of each pair) instead of pairs."""
    _check(n_boot, confidence)
    xa = np.asarray(a, dtype=np.float64).reshape(-1)
    xb = np.asarray(b, dtype=np.float64).reshape(-1)
    if xa.shape != xb.shape:
        raise ValueError(f"a and b must score the same pairs: got {xa.size} and {xb.size} values")
    labels = _labels(clusters, xa.size)
    d = xa - xb
    finite = np.isfinite(xa) & np.isfinite(xb)
    dropped = int((~finite).sum())
    d = d[finite]
    labels = labels[finite] if labels is not None else None
    n_clusters = None if labels is None else len(set(labels.tolist()))
    means, _ = _resample(d, labels, n_boot, seed)
    if means is None:
        mean = float(d.mean()) if d.size else math.nan
        return PairedBootstrap(mean, math.nan, math.nan, int(d.size), True, dropped, confidence, n_clusters)
    alpha = 1.0 - confidence
    lo, hi = (float(v) for v in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    return PairedBootstrap(
        float(d.mean()), lo, hi, int(d.size), lo <= 0.0 <= hi, dropped, confidence, n_clusters
    )
