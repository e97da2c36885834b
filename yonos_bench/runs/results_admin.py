"""``results list | rm | compare``: what is cached under a results root, deleting a cell,
and a per-image diff of two cells. Also the JSON form of ``run`` outcomes.

A *cell* is the folder ``<root>/<protocol>-v<N>/<model>/<steps..-seed..-dtype[-limitK]>/``
(:func:`yonos_bench.runs.results.cell_dir`); it is addressed on the command line by that
folder (absolute, or relative to the root) or by ``protocol/model/cell-folder``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import YonosError
from yonos_bench.runs.results import (
    PER_IMAGE_FILE,
    RESULT_FILE,
    SR_DIR,
    LoadedResult,
    load_results,
    read_per_image,
    read_result,
)


@dataclass(frozen=True)
class CellInfo:
    folder: Path
    rel: str  # folder relative to the results root: what `results rm/compare` accept
    protocol: str
    version: int | str
    model: str
    steps: int | None
    seed: int
    dtype: str
    n: int
    reportable: bool
    images: int
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.rel,
            "folder": str(self.folder),
            "protocol": self.protocol,
            "version": self.version,
            "model": self.model,
            "steps": self.steps,
            "seed": self.seed,
            "dtype": self.dtype,
            "n": self.n,
            "reportable": self.reportable,
            "images": self.images,
            "metrics": self.metrics,
        }


def _info(root: Path, r: LoadedResult) -> CellInfo:
    d = r.data
    folder = r.path.parent
    sr = folder / SR_DIR
    return CellInfo(
        folder=folder,
        rel=folder.relative_to(root).as_posix(),
        protocol=d["protocol"]["name"],
        version=d["protocol"]["version"],
        model=d["model"]["name"],
        steps=d["steps"],
        seed=d["seed"],
        dtype=d["dtype"],
        n=d["n"],
        reportable=d["reportable"],
        images=sum(1 for _ in sr.glob("*.png")) if sr.is_dir() else 0,
        metrics={m: v["mean"] for m, v in d["metrics"].items()},
    )


def list_cells(
    results_root: str | Path, *, protocols: Sequence[str] = (), models: Sequence[str] = ()
) -> tuple[list[CellInfo], list[str]]:
    """Every finished run cell under the root (optionally filtered), and warnings for
    result files that could not be read."""
    root = Path(results_root)
    loaded, warnings = load_results(root, kind="run")
    cells = [_info(root, r) for r in loaded]
    cells = [
        c for c in cells if (not protocols or c.protocol in protocols) and (not models or c.model in models)
    ]
    return cells, warnings


def resolve_cell(results_root: str | Path, ref: str) -> Path:
    """The cell folder named by ``ref`` (a path, or relative to the root); one clear error
    listing the known cells when it is not one."""
    root = Path(results_root)
    for cand in (Path(ref).expanduser(), root / ref):
        if (cand / RESULT_FILE).is_file():
            return cand
    cells, _ = list_cells(root)
    known = ", ".join(c.rel for c in cells[:8]) or "none"
    more = f" (and {len(cells) - 8} more)" if len(cells) > 8 else ""
    raise YonosError(
        f"'{ref}' is not a result cell (no {RESULT_FILE} in {ref} or {root / ref}). "
        f"Cells under {root}: {known}{more}; `yonos-bench results list` shows them all."
    )


def remove_cell(results_root: str | Path, ref: str) -> Path:
    """Delete one cell folder (SR images, result.json, per_image.csv) and return it; the
    model and protocol folders go too once empty."""
    root = Path(results_root).resolve()
    folder = resolve_cell(root, ref).resolve()
    if root not in folder.parents:
        raise YonosError(f"{folder} is not under the results root {root}; refusing to delete it.")
    shutil.rmtree(folder)
    for parent in (folder.parent, folder.parent.parent):  # model folder, then protocol folder
        if parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return folder


@dataclass(frozen=True)
class ImageDiff:
    pair_id: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b - self.a


@dataclass(frozen=True)
class CellComparison:
    a: Path
    b: Path
    metric: str
    lower_better: bool | None
    rows: list[ImageDiff]
    mean_a: float | None
    mean_b: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": str(self.a),
            "b": str(self.b),
            "metric": self.metric,
            "lower_better": self.lower_better,
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "images": [{"id": r.pair_id, "a": r.a, "b": r.b, "delta": r.delta} for r in self.rows],
        }


def compare_cells(
    results_root: str | Path, ref_a: str, ref_b: str, metric: str | None = None
) -> CellComparison:
    """Per-image values of ``metric`` (default: the first both cells have) in two cells,
    ordered by how much B is worse than A (largest first: where to look)."""
    a, b = resolve_cell(results_root, ref_a), resolve_cell(results_root, ref_b)
    ra, rb = read_result(a / RESULT_FILE), read_result(b / RESULT_FILE)
    pa, pb = read_per_image(a / PER_IMAGE_FILE), read_per_image(b / PER_IMAGE_FILE)
    common = [m for m in pa if m in pb]
    if metric is None:
        if not common:
            raise YonosError(f"Cells {a} and {b} have no metric in common.")
        metric = common[0]
    elif metric not in common:
        raise YonosError(f"Metric '{metric}' is not in both cells (common: {', '.join(common) or 'none'}).")
    lb = (ra["metrics"].get(metric) or rb["metrics"].get(metric) or {}).get("lower_better")
    ids = sorted(set(pa[metric]) | set(pb[metric]))
    rows = [ImageDiff(i, pa[metric].get(i), pb[metric].get(i)) for i in ids]
    sign = 1.0 if lb else -1.0  # worse for B = larger delta when lower is better

    def badness(r: ImageDiff) -> float:
        return -math.inf if r.delta is None else sign * r.delta

    rows.sort(key=badness, reverse=True)
    mean = lambda r, m: (r["metrics"].get(m) or {}).get("mean")  # noqa: E731
    return CellComparison(a, b, metric, lb, rows, mean(ra, metric), mean(rb, metric))


def outcome_dict(o) -> dict[str, Any]:
    """One ``run`` cell outcome as JSON-ready data (``run --json``)."""
    r = o.result
    return {
        "protocol": o.key.protocol,
        "version": o.key.protocol_version,
        "model": o.key.model,
        "steps": o.key.steps,
        "seed": o.key.seed,
        "dtype": o.key.dtype,
        "limit": o.key.limit,
        "status": o.status,
        "images_computed": o.images_computed,
        "folder": str(o.folder),
        "n": r.get("n"),
        "reportable": r.get("reportable"),
        "metrics": {m: v for m, v in r.get("metrics", {}).items()},
        "unavailable": dict(r.get("unavailable", {})),
        "seconds_per_image": r.get("timing", {}).get("seconds_per_image"),
    }
