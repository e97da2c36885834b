"""Assembling a run cell's ``per_image.csv`` and ``result.json`` (DESIGN.md "Results").

Every field a number depends on is recorded: per-metric mean, 95% bootstrap interval and
n, the protocol name/version/digest, model and weights digest, steps, seed, dtype,
device, seconds per image, peak memory, the metric presets' backend arguments, package
versions and the git commit. ``per_image.csv`` is written first and ``result.json``
last (both atomically): a ``result.json`` always describes complete files.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from yonos_bench.core.atomic import write_text_atomic
from yonos_bench.core.imageio import sha256_file
from yonos_bench.core.provenance import describe_device, provenance
from yonos_bench.runs.results import (
    PER_IMAGE_FILE,
    RESULT_FILE,
    SCHEMA,
    finite_or_none,
    image_seed,
    per_image_csv,
    write_result,
)


def write_outputs(c, folder, ids, shas, state, ev, walls) -> dict[str, Any]:
    """Write ``per_image.csv`` then ``result.json`` for cell context ``c``; returns the result."""
    pairs = {p.id: p for p in c.pairs}
    rows = []
    for k, pid in enumerate(ids):
        row = {
            "id": pid,
            "source": pairs[pid].source,
            "seed": image_seed(c.key.seed, pid),
            "sr_sha256": shas[pid],
        }
        for mid, vals in ev.per_image.items():
            row[mid] = vals[k]
        rows.append(row)
    per_image_cols = [m for m in c.metric_ids if m in ev.per_image]
    csv_text = per_image_csv(rows, per_image_cols)
    write_text_atomic(folder / PER_IMAGE_FILE, csv_text)
    metrics, unavailable = {}, dict(ev.unavailable)
    for mid, s in ev.summary.items():
        if finite_or_none(s.mean) is None:
            unavailable[mid] = f"no finite value ({s.n_nan} NaN per-image values)"
            continue
        metrics[mid] = {
            "mean": float(s.mean), "ci_low": finite_or_none(s.ci_low), "ci_high": finite_or_none(s.ci_high),
            "n": int(s.n), "lower_better": bool(s.lower_better), "kind": s.kind, "confidence": 0.95,
            "n_nan": int(s.n_nan), "n_capped": int(s.n_capped), "note": s.note,
            "preset": ev.preset_args.get(mid, {}),
            # What the interval resampled: whole source images (patches of one image are not
            # independent) or the pairs; set metrics (FID) have no interval.
            "resampling": "none" if s.kind == "set" else ("source" if s.n_clusters else "pair"),
            "n_clusters": int(s.n_clusters) if s.n_clusters else None,
        }  # fmt: skip
        if s.components:  # e.g. SWD per pyramid level; ``mean`` is their mean
            metrics[mid]["components"] = {k: float(v) for k, v in s.components.items()}
    seconds = [state.seconds.get(i) for i in ids]
    total = sum(x for x in seconds if x is not None)
    s_img = total / len(ids) if all(x is not None for x in seconds) and ids else None
    not_measured = None
    if not getattr(c.model, "runs_here", True):  # reading another codebase's outputs is not its speed
        s_img, not_measured = None, "outputs made by another codebase (folder adapter): not run here"
    peak = max(state.peaks, default=(None, "unknown"))
    n_all = len(c.prepared.pairs)
    desc = describe_device(c.device)
    data = {
        "schema": SCHEMA,
        "kind": "run",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cell_key": c.key.digest(),
        "cell": c.key.to_dict(),
        "protocol": {
            "name": c.spec.name,
            "version": c.spec.version,
            "digest": c.prepared.digest,
            "scale": c.spec.scale,
            "n_pairs": n_all,
            "metrics": list(c.spec.metrics),
            "description": c.spec.description,
            "citation": c.spec.citation,
        },
        "model": {
            "name": c.model.name,
            "weights_digest": c.model.weights_digest,
            "scale": int(c.model.scale),
            "supports_steps": bool(c.model.supports_steps),
            "default_steps": c.model.default_steps,
            "info": _jsonable(getattr(c.model, "info", {})),
        },
        "steps": c.key.steps,
        "seed": c.key.seed,
        "dtype": c.key.dtype,
        "device": desc if c.dist.world == 1 else f"{c.dist.world} processes × {desc}",
        "batch_size": c.opts.batch_size,
        "n": len(ids),
        "metrics": metrics,
        "unavailable": unavailable,
        "timing": {
            "seconds_per_image": s_img,
            "images_per_second": (1.0 / s_img) if s_img else None,
            "compute_seconds": total,
            # This invocation only (a resumed cell's earlier sessions are in seconds_per_image):
            "session_wall_seconds": walls["total"],
            "session_generation_wall_seconds": walls["generation"],
            "session_images_generated": walls["images"],
            "metric_seconds": ev.seconds,
            "peak_memory_bytes": peak[0],
            "peak_memory_kind": peak[1],
            "not_measured": not_measured,
        },  # fmt: skip
        "sr_images": shas,
        "per_image_csv_sha256": sha256_file(folder / PER_IMAGE_FILE),
        "reportable": c.key.limit is None,
        "not_reportable_reason": None
        if c.key.limit is None
        else f"--limit {c.key.limit}: first {c.key.limit} of {n_all} pairs (smoke run; not comparable)",
        "limit": c.key.limit,
        "provenance": provenance(c.device),
        "backend_versions": dict(ev.backend_versions),
        "warnings": list(ev.warnings),
    }
    write_result(folder / RESULT_FILE, data)
    return data


def _jsonable(obj: Any) -> Any:
    try:
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError):
        return str(obj)
