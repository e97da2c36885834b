"""Shared fixtures of the gate tests: one prepared `sample` for the session, synthetic results."""

from __future__ import annotations

import hashlib
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

LOWER_BETTER = {"psnr-y": False, "ssim-y": False, "lpips-alex": True}


@pytest.fixture(autouse=True)
def _shipped_tiny_models(monkeypatch):
    """The gate tests the shipped pipelines: ignore a developer's $YONOS_TINY_X4_PIPELINE & co."""
    for var in ("YONOS_TINY_X4", "YONOS_TINY_X4_ORIG_DECODER", "SD_SR_TINY_X4", "SD_SR_TINY_X4_ORIG_DECODER",
                "YONOS_SMALL_X4", "YONOS_SMALL_X4_ORIG_DECODER", "SD_SR_SMALL_X4", "SD_SR_SMALL_X4_ORIG_DECODER"):
        monkeypatch.delenv(f"{var}_PIPELINE", raising=False)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: the tiny models' small ops stall badly with 2 threads on a loaded CI
    box (measured: 50x slower); the numbers agree across thread counts to ~1e-6 (the gate
    tolerances are 1000x larger)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    """A data root with `sample` prepared once for the whole session (tests pass it explicitly)."""
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol

    root = tmp_path_factory.mktemp("gate_data")
    prepare(load_protocol("sample"), root, progress=False)
    return root


def write_synthetic_result(
    root: Path, *, model: str, values: dict[str, list[float]], sources: list[str], steps: int | None = 1
) -> Path:
    """A valid run result (result.json + per_image.csv) with the given per-image values."""
    key = CellKey("sample", 1, "d" * 64, model, "w" * 8, steps, 0, "fp32", None)
    folder = cell_dir(root, key)
    n = len(sources)
    ids = [f"{s}_p{i:02d}" for i, s in enumerate(sources)]
    rows = [
        {"id": pid, "source": s, "seed": 0, "sr_sha256": "0" * 64}
        for pid, s in zip(ids, sources, strict=True)
    ]
    for mid, vals in values.items():
        for row, v in zip(rows, vals, strict=True):
            row[mid] = v
    csv_text = per_image_csv(rows, list(values))
    write_text_atomic(folder / PER_IMAGE_FILE, csv_text)
    metrics = {}
    for mid, vals in values.items():
        ci = bootstrap_ci(vals, n_boot=200, seed=0)
        metrics[mid] = {"mean": float(np.mean(vals)), "ci_low": ci.ci_low, "ci_high": ci.ci_high, "n": n,
                        "lower_better": LOWER_BETTER[mid]}  # fmt: skip
    data = {
        "schema": SCHEMA, "kind": "run", "created": datetime.now(timezone.utc).isoformat(),
        "cell_key": key.digest(), "cell": key.to_dict(),
        "protocol": {"name": "sample", "version": 1, "digest": "d" * 64, "scale": 4, "n_pairs": n,
                     "metrics": list(values)},
        "model": {"name": model, "weights_digest": "w" * 8, "scale": 4, "supports_steps": steps is not None},
        "steps": steps, "seed": 0, "dtype": "fp32", "device": "cpu (test)", "batch_size": 4, "n": n,
        "metrics": metrics, "unavailable": {},
        "timing": {"seconds_per_image": 0.01, "peak_memory_bytes": 1.0, "peak_memory_kind": "process_peak_rss"},
        "sr_images": {pid: "0" * 64 for pid in ids},
        "per_image_csv_sha256": hashlib.sha256(csv_text.encode()).hexdigest(),
        "reportable": True, "not_reportable_reason": None, "limit": None,
        "provenance": {"packages": {}, "git_commit": None, "device": "cpu (test)"}, "backend_versions": {},
    }  # fmt: skip
    write_result(folder / RESULT_FILE, data)
    return folder / RESULT_FILE
