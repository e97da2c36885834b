"""Seeds of the same cell as one table column: mean ± standard deviation over seeds.

Cells that differ only by ``--seed`` (same protocol instance, model, steps, dtype) measure
the same thing; a table with one column per seed makes the reader average by eye and ranks
noise. :func:`merge_seeds` replaces each such group by one :class:`SeedMean`: per metric the
mean of the seeds' means and their sample standard deviation (ddof = 1), and per image the
mean over seeds of that image's values (the paired significance test then compares models
on seed-averaged images, so the pairing by image is kept). Single-seed cells are unchanged.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from yonos_bench.core.errors import YonosError
from yonos_bench.runs.results import PER_IMAGE_FILE, LoadedResult, read_per_image


@dataclass(frozen=True)
class SeedMean(LoadedResult):
    """Several seeds of one cell, presented as one result (``data`` in the result schema,
    metrics carrying ``std`` and ``n_seeds``)."""

    seeds: tuple[int, ...] = ()
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)


def merge_seeds(
    cells: dict[tuple[str, tuple], LoadedResult],
) -> dict[tuple[str, tuple], LoadedResult]:
    """``cells`` keyed by (protocol key, (model, steps, seed, dtype)) → same keys with every
    group of seeds merged under the group's smallest seed."""
    groups: dict[tuple, list[tuple[tuple, LoadedResult]]] = {}
    for (pkey, cid), r in cells.items():
        model, steps, _seed, dtype = cid
        groups.setdefault((pkey, model, steps, dtype), []).append((cid, r))
    out: dict[tuple[str, tuple], LoadedResult] = {}
    for (pkey, model, steps, dtype), members in groups.items():
        members.sort(key=lambda m: m[0][2])
        if len(members) == 1:
            cid, r = members[0]
            out[(pkey, cid)] = r
            continue
        out[(pkey, (model, steps, members[0][0][2], dtype))] = _merge([r for _, r in members])
    return out


def _merge(results: list[LoadedResult]) -> SeedMean:
    first = results[0]
    data: dict[str, Any] = {**first.data}
    metrics: dict[str, Any] = {}
    for mid in first.data["metrics"]:
        entries = [r.data["metrics"].get(mid) for r in results]
        if any(e is None for e in entries):
            continue  # a metric not every seed has is left out rather than averaged over fewer
        means = [float(e["mean"]) for e in entries]
        metrics[mid] = {
            "mean": statistics.fmean(means),
            "ci_low": None,
            "ci_high": None,
            "n": min(int(e["n"]) for e in entries),
            "lower_better": entries[0]["lower_better"],
            "std": statistics.stdev(means),
            "n_seeds": len(means),
        }
    data["metrics"] = metrics
    data["reportable"] = all(r.data["reportable"] for r in results)
    data["timing"] = {**first.data["timing"]}
    secs = [r.data["timing"].get("seconds_per_image") for r in results]
    if all(s is not None for s in secs):
        data["timing"]["seconds_per_image"] = statistics.fmean(secs)
    seeds = tuple(int(r.data["seed"]) for r in results)
    return SeedMean(first.path, data, seeds=seeds, per_image=_mean_per_image(results, list(metrics)))


def _mean_per_image(results: list[LoadedResult], metric_ids: list[str]) -> dict[str, dict[str, float]]:
    tables = []
    for r in results:
        try:
            tables.append(read_per_image(r.path.parent / PER_IMAGE_FILE))
        except YonosError:
            return {}  # no per-image values: no significance marks for this column
    out: dict[str, dict[str, float]] = {}
    for mid in metric_ids:
        per_seed = [t.get(mid, {}) for t in tables]
        ids = set.intersection(*(set(p) for p in per_seed)) if per_seed else set()
        out[mid] = {i: statistics.fmean(p[i] for p in per_seed) for i in sorted(ids)}
    return out
