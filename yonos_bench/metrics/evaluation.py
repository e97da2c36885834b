"""What one evaluation returns: per-image values, per-metric summaries, what could not run
and why, and everything that decides the numbers (preset arguments, backend versions)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class MetricSummary:
    """Mean with its 95% percentile-bootstrap interval over the ``n`` finite per-image values.

    ``n_nan``: non-finite per-image values, excluded from the mean and reported (never
    averaged silently). ``n_capped``: PSNR pairs at the identical-image cap (presets doc).
    Set-level metrics (FID/KID/SWD) have one value: ``mean`` is it, the interval is NaN and ``n``
    is the number of images per set. ``components``: named parts of a value that is their mean
    (SWD per pyramid level), else None."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    kind: str
    lower_better: bool
    n_nan: int = 0
    n_capped: int = 0
    note: str = ""
    n_clusters: int | None = None  # source images the interval resampled (None: the pairs)
    components: dict[str, float] | None = None

    def format(self, digits: int = 4) -> str:
        """``mean ± half-width`` (or ``[lo, hi]`` if asymmetric) for human output."""
        if math.isnan(self.mean):
            return "nan"
        if math.isnan(self.ci_low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


@dataclass
class Evaluation:
    """Result of :func:`yonos_bench.metrics.engine.evaluate`."""

    metric_ids: list[str]
    pair_ids: list[str]
    per_image: dict[str, list[float]]
    summary: dict[str, MetricSummary]
    unavailable: dict[str, str]
    backend_versions: dict[str, str]
    preset_args: dict[str, dict]
    device: str
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    feature_files: dict[str, str] = field(default_factory=dict)

    def to_dict(self, *, per_image: bool = True) -> dict:
        """JSON-ready dict (NaN/inf become null / strings, as JSON has neither)."""
        out = {
            "metric_ids": list(self.metric_ids),
            "n_pairs": len(self.pair_ids),
            "summary": {
                k: {kk: _json_num(vv) for kk, vv in asdict(v).items()} for k, v in self.summary.items()
            },
            "unavailable": dict(self.unavailable),
            "backend_versions": dict(self.backend_versions),
            "preset_args": {k: dict(v) for k, v in self.preset_args.items()},
            "device": self.device,
            "seconds": self.seconds,
            "warnings": list(self.warnings),
            "feature_files": dict(self.feature_files),
        }
        if per_image:
            out["pair_ids"] = list(self.pair_ids)
            out["per_image"] = {k: [_json_num(x) for x in v] for k, v in self.per_image.items()}
        return out

    def per_image_csv(self) -> str:
        """``pair_id,<metric>...`` one row per pair; NaN written as ``nan`` (never dropped)."""
        cols = [m for m in self.metric_ids if m in self.per_image]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["pair_id", *cols])
        for i, pid in enumerate(self.pair_ids):
            w.writerow([pid, *(repr(float(self.per_image[c][i])) for c in cols)])
        return buf.getvalue()


def _json_num(x):
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x
