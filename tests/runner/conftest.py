"""Builders of synthetic result files for the read-only commands (table, plot, check)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from yonos_bench.core.atomic import write_text_atomic
from yonos_bench.metrics.stats import bootstrap_ci
from yonos_bench.runs.results import (
    PER_IMAGE_FILE,
    RESULT_FILE,
    SCHEMA,
    CellKey,
    cell_dir,
    per_image_csv,
    write_result,
)

LOWER_BETTER = {"psnr-y": False, "ssim-y": False, "lpips-alex": True, "fid-clean": True, "musiq-koniq": False}


def make_result(
    root: Path,
    *,
    model: str,
    values: dict[str, list[float]],
    protocol: str = "sample",
    version: int = 1,
    digest: str = "d" * 64,
    steps: int | None = None,
    seed: int = 0,
    dtype: str = "fp32",
    limit: int | None = None,
    seconds: float = 0.01,
    set_metrics: dict[str, float] | None = None,
    sources: list[str] | None = None,
    info: dict | None = None,
) -> Path:
    """Write a valid run result (result.json + per_image.csv) with the given per-image values."""
    key = CellKey(protocol, version, digest, model, "w" * 8, steps, seed, dtype, limit)
    folder = cell_dir(root, key)
    n = len(next(iter(values.values())))
    ids = [f"img{i:03d}" for i in range(n)]
    # Each pair its own source image unless told otherwise (then intervals resample pairs).
    srcs = sources or [f"src{i:03d}" for i in range(n)]
    rows = [
        {"id": pid, "source": s, "seed": 0, "sr_sha256": "0" * 64} for pid, s in zip(ids, srcs, strict=True)
    ]
    for mid, vals in values.items():
        for row, v in zip(rows, vals, strict=True):
            row[mid] = v
    csv_text = per_image_csv(rows, list(values))
    write_text_atomic(folder / PER_IMAGE_FILE, csv_text)
    metrics = {}
    for mid, vals in values.items():
        ci = bootstrap_ci(vals, n_boot=200, seed=0)
        metrics[mid] = {
            "mean": float(np.mean(vals)),
            "ci_low": ci.ci_low,
            "ci_high": ci.ci_high,
            "n": n,
            "lower_better": LOWER_BETTER[mid],
        }
    for mid, v in (set_metrics or {}).items():
        metrics[mid] = {"mean": v, "ci_low": None, "ci_high": None, "n": n, "lower_better": LOWER_BETTER[mid]}
    import hashlib

    data = {
        "schema": SCHEMA,
        "kind": "run",
        "created": datetime.now(timezone.utc).isoformat(),
        "cell_key": key.digest(),
        "cell": key.to_dict(),
        "protocol": {
            "name": protocol,
            "version": version,
            "digest": digest,
            "scale": 4,
            "n_pairs": n,
            "metrics": [*values, *(set_metrics or {})],
        },
        "model": {
            "name": model,
            "weights_digest": "w" * 8,
            "scale": 4,
            "supports_steps": steps is not None,
            "info": info or {},
        },  # fmt: skip
        "steps": steps,
        "seed": seed,
        "dtype": dtype,
        "device": "cpu (test)",
        "batch_size": 4,
        "n": n,
        "metrics": metrics,
        "unavailable": {},
        "timing": {
            "seconds_per_image": seconds,
            "peak_memory_bytes": 1.0,
            "peak_memory_kind": "process_peak_rss",
        },
        "sr_images": {pid: "0" * 64 for pid in ids},
        "per_image_csv_sha256": hashlib.sha256(csv_text.encode()).hexdigest(),
        "reportable": limit is None,
        "not_reportable_reason": None if limit is None else f"--limit {limit}",
        "limit": limit,
        "provenance": {"packages": {}, "git_commit": None, "device": "cpu (test)"},
        "backend_versions": {},
    }
    write_result(folder / RESULT_FILE, data)
    return folder / RESULT_FILE


@pytest.fixture
def results_root(tmp_path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def write_run():
    """``write_run(root, model=..., values={metric: [...]}, ...)`` → path of result.json."""
    return make_result
