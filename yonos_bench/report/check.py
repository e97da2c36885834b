"""``check``: a regression gate for CI — compare result files with a committed baseline.

A baseline is a JSON file of per-cell metric means (written by ``check --write-baseline``).
Each metric is judged in its own direction: a lower-is-better metric (LPIPS, FID)
regresses when it *rises* by more than its tolerance, a higher-is-better one (PSNR,
MUSIQ) when it *falls*. Tolerances are absolute (``psnr-y=0.05``) or relative to the
baseline value (``lpips-alex=2%``); tolerances given at ``--write-baseline`` time are stored
in the file, and ``--tolerance`` on the ``check`` command line overrides them. Without a
tolerance a metric must reproduce to float precision (same machine, same libraries).

A baseline of another protocol version (or another protocol instance) is refused with a
clear message: such numbers are not comparable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from yonos_bench.core.atomic import write_text_atomic
from yonos_bench.core.errors import YonosError, did_you_mean
from yonos_bench.runs.results import LoadedResult, load_results

BASELINE_SCHEMA = "yonos-bench/baseline/v1"
#: Slack for "reproduces exactly": float summation order may differ between runs.
FLOAT_SLACK = 1e-9

_TOL_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(%?)$")


@dataclass(frozen=True)
class Tolerance:
    value: float
    relative: bool = False

    def allowed(self, baseline: float) -> float:
        return self.value * abs(baseline) / 100.0 if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.relative else f"{self.value:g}"


def parse_tolerances(items: Sequence[str]) -> dict[str, Tolerance]:
    """``["psnr-y=0.05", "lpips-alex=2%"]`` → {metric: Tolerance}."""
    out: dict[str, Tolerance] = {}
    for item in items:
        m = _TOL_RE.match(item.strip())
        if not m:
            raise YonosError(
                f"--tolerance '{item}': expected METRIC=VALUE (absolute, e.g. psnr-y=0.05) "
                "or METRIC=VALUE% (relative to the baseline, e.g. lpips-alex=2%)."
            )
        out[m.group(1)] = Tolerance(float(m.group(2)), relative=bool(m.group(3)))
    return out


def _entry_key(d: dict[str, Any]) -> tuple:
    return (d["protocol"], d["model"], d["steps"], d["seed"], d["dtype"], d.get("limit"))


def _result_key(r: LoadedResult) -> tuple:
    return (r.data["protocol"]["name"], r.model, r.steps, r.data["seed"], r.data["dtype"], r.data["limit"])


def _select(
    results_root: Path,
    protocols: Sequence[str],
    models: Sequence[str],
    *,
    skip_bad: bool = False,
    known: tuple[set[str], set[str]] = (set(), set()),
) -> tuple[list[LoadedResult], list[str]]:
    """Run results under ``results_root`` filtered by protocol/model names. A filter name
    known neither to the results nor to ``known`` (the baseline's protocols, models) is a
    did-you-mean, never an empty comparison."""
    runs, warnings = load_results(results_root, kind="run", skip_invalid=skip_bad)
    for what, given, have in (
        ("protocol", protocols, {r.data["protocol"]["name"] for r in runs} | known[0]),
        ("model", models, {r.model for r in runs} | known[1]),
    ):
        for name in given:
            if name not in have:
                raise did_you_mean(f"{what} (in neither the results nor the baseline)", name, sorted(have))
    return [
        r
        for r in runs
        if (not protocols or r.data["protocol"]["name"] in protocols) and (not models or r.model in models)
    ], warnings


def write_baseline(
    results_root: str | Path,
    path: str | Path,
    *,
    protocols: Sequence[str] = (),
    models: Sequence[str] = (),
    tolerances: dict[str, Tolerance] | None = None,
    skip_bad: bool = False,
) -> int:
    """Write the baseline file from the current results; returns the number of cells.
    Every metric gets a stored tolerance: the one given, else :data:`DEFAULT_TOLERANCES`
    (so a rerun one LSB away on another machine or batch still passes its own baseline)."""
    runs, _ = _select(Path(results_root), protocols, models, skip_bad=skip_bad)
    if not runs:
        raise YonosError(f"No result files under {results_root} to write a baseline from.")
    entries = []
    for r in sorted(runs, key=lambda r: str(_result_key(r))):
        p = r.data["protocol"]
        entries.append(
            {
                "protocol": p["name"],
                "protocol_version": p["version"],
                "protocol_digest": p["digest"],
                "model": r.model,
                "weights_digest": r.data["model"]["weights_digest"],
                "steps": r.steps,
                "seed": r.data["seed"],
                "dtype": r.data["dtype"],
                "limit": r.data["limit"],
                "n": r.data["n"],
                "metrics": {
                    mid: {"mean": m["mean"], "lower_better": m["lower_better"]}
                    for mid, m in sorted(r.data["metrics"].items())
                },
            }
        )
    keys = [_entry_key(e) for e in entries]
    if len(set(keys)) != len(keys):
        raise YonosError(
            "Several results share (protocol, model, steps, seed, dtype, limit) — e.g. two protocol versions. "
            "Select one with --protocol / --results before writing a baseline."
        )
    obj = {
        "schema": BASELINE_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tolerances": {k: str(v) for k, v in sorted(_with_defaults(entries, tolerances or {}).items())},
        "entries": entries,
    }
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return len(entries)


#: Stored for a metric when ``--write-baseline`` is given no tolerance for it: a few times
#: the change one 8-bit level in a few pixels makes (batch/BLAS/machine noise), far below
#: any real regression. Absolute for bounded metrics, relative (%) for the others.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "psnr": Tolerance(0.02),  # dB
    "ssim": Tolerance(5e-4),
    "lpips": Tolerance(1e-3),
    "dists": Tolerance(1e-3),
}
DEFAULT_RELATIVE = Tolerance(0.5, relative=True)  # FID, KID, NIQE, MUSIQ, ... : 0.5%


def default_tolerance(metric: str) -> Tolerance:
    family = metric.split("-")[0]
    return DEFAULT_TOLERANCES.get(family, DEFAULT_RELATIVE)


def _with_defaults(entries: list[dict[str, Any]], given: dict[str, Tolerance]) -> dict[str, Tolerance]:
    metrics = sorted({m for e in entries for m in e["metrics"]})
    return {m: given.get(m, default_tolerance(m)) for m in metrics} | dict(given)


def read_baseline(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise YonosError(
            f"Baseline file not found: {path}. Create it with `yonos-bench check --write-baseline --baseline {path}`."
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise YonosError(f"Baseline file {path} is unreadable or not valid JSON: {e}") from None
    if (
        not isinstance(obj, dict)
        or obj.get("schema") != BASELINE_SCHEMA
        or not isinstance(obj.get("entries"), list)
    ):
        raise YonosError(f"Baseline file {path} is not a yonos-bench baseline (schema {BASELINE_SCHEMA}).")
    return obj


@dataclass
class CheckRow:
    protocol: str
    model: str
    steps: int | None
    metric: str
    lower_better: bool | None
    baseline: float | None
    current: float | None
    tolerance: str
    status: str  # ok | improved | REGRESSION | MISSING
    reason: str = ""  # why a row is MISSING

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline


@dataclass
class CheckReport:
    rows: list[CheckRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        """Rows where a current value was judged against a baseline value."""
        return sum(r.status in ("ok", "improved", "REGRESSION") for r in self.rows)

    @property
    def failed(self) -> bool:
        # A gate that compared nothing has checked nothing: it fails.
        return self.compared == 0 or any(r.status in ("REGRESSION", "MISSING") for r in self.rows)


def check_results(
    results_root: str | Path,
    baseline_path: str | Path,
    *,
    tolerances: dict[str, Tolerance] | None = None,
    protocols: Sequence[str] = (),
    models: Sequence[str] = (),
    skip_bad: bool = False,
) -> CheckReport:
    baseline = read_baseline(baseline_path)
    tol = parse_tolerances([f"{k}={v}" for k, v in baseline.get("tolerances", {}).items()])
    tol.update(tolerances or {})
    entries = baseline["entries"]
    known = ({e["protocol"] for e in entries}, {e["model"] for e in entries})
    runs, warnings = _select(Path(results_root), protocols, models, skip_bad=skip_bad, known=known)
    by_key: dict[tuple, list[LoadedResult]] = {}
    for r in runs:
        by_key.setdefault(_result_key(r), []).append(r)
    report = CheckReport()
    report.notes += warnings
    seen: set[tuple] = set()
    for e in baseline["entries"]:
        if protocols and e["protocol"] not in protocols or models and e["model"] not in models:
            continue
        key = _entry_key(e)
        seen.add(key)
        current = _match_version(e, by_key.get(key, []), baseline_path)
        for mid, bm in sorted(e["metrics"].items()):
            t = tol.get(mid, Tolerance(0.0))
            row = CheckRow(
                e["protocol"], e["model"], e["steps"], mid, bm["lower_better"], bm["mean"], None, str(t), ""
            )
            m = current.data["metrics"].get(mid) if current is not None else None
            if m is None:
                row.status = "MISSING"
                row.reason = _missing_reason(e, mid, current, runs)
            else:
                row.current = float(m["mean"])
                row.status = judge(row.baseline, row.current, bool(bm["lower_better"]), t)
            report.rows.append(row)
        if current is not None and current.data["model"]["weights_digest"] != e.get("weights_digest"):
            report.notes.append(
                f"{e['model']} on {e['protocol']}: weights digest differs from the baseline's."
            )
    extra = sorted(str(k[:3]) for k in by_key if k not in seen)
    if extra:
        report.notes.append(
            f"{len(extra)} result cell(s) not in the baseline (not checked): {', '.join(extra)}"
        )
    if not seen:
        report.notes.append(
            f"compared nothing: the baseline {baseline_path} has no entry"
            + (" matching the --protocol/--model filter" if protocols or models else "")
            + "; a gate that compares nothing fails."
        )
    return report


def _limit_text(limit: int | None) -> str:
    return "no --limit" if limit is None else f"--limit {limit}"


def _missing_reason(
    e: dict[str, Any], mid: str, current: LoadedResult | None, runs: list[LoadedResult]
) -> str:
    """Why a baseline value has no current counterpart, in the user's terms."""
    if current is not None:
        why = current.data["unavailable"].get(mid)
        return f"{mid} not computed: {why.splitlines()[0]}" if why else f"{mid} is not in {current.path}"
    same_model = [r for r in runs if r.data["protocol"]["name"] == e["protocol"] and r.model == e["model"]]
    if not same_model:
        return f"no result for {e['model']} on {e['protocol']}"
    close = [
        r
        for r in same_model
        if (r.steps, r.data["seed"], r.data["dtype"]) == (e["steps"], e["seed"], e["dtype"])
    ]
    if close:
        have = ", ".join(sorted({_limit_text(r.data["limit"]) for r in close}))
        return f"the results have {have}, the baseline {_limit_text(e.get('limit'))} (other pairs)"
    have = ", ".join(sorted({f"steps={r.steps} seed={r.data['seed']} {r.data['dtype']}" for r in same_model}))
    return f"no result with steps={e['steps']} seed={e['seed']} {e['dtype']} (have {have})"


def _match_version(
    e: dict[str, Any], candidates: list[LoadedResult], baseline_path: str | Path
) -> LoadedResult | None:
    """The current result for a baseline entry; refuse another protocol version/instance."""
    if not candidates:
        return None
    same = [r for r in candidates if str(r.data["protocol"]["version"]) == str(e["protocol_version"])]
    if not same:
        have = ", ".join(sorted({f"v{r.data['protocol']['version']}" for r in candidates}))
        raise YonosError(
            f"Baseline {baseline_path} was written for protocol {e['protocol']} v{e['protocol_version']}, but the "
            f"results are {e['protocol']} {have}: numbers from different protocol versions are not comparable. "
            f"Rewrite it with `yonos-bench check --write-baseline --baseline {baseline_path}`."
        )
    r = same[0]
    if r.data["protocol"]["digest"] != e["protocol_digest"]:
        raise YonosError(
            f"Baseline {baseline_path}: protocol {e['protocol']} v{e['protocol_version']} instance digest "
            f"{e['protocol_digest'][:12]}… differs from the results' {r.data['protocol']['digest'][:12]}… "
            "(the pairs differ): not comparable. Re-prepare the protocol or rewrite the baseline."
        )
    return r


def judge(baseline: float, current: float, lower_better: bool, tol: Tolerance) -> str:
    """Direction-aware verdict: ``ok``, ``improved`` or ``REGRESSION``."""
    allowed = tol.allowed(baseline) + FLOAT_SLACK * max(1.0, abs(baseline))
    worse = (current - baseline) if lower_better else (baseline - current)
    if worse > allowed:
        return "REGRESSION"
    if -worse > allowed:
        return "improved"
    return "ok"


def format_report(report: CheckReport) -> str:
    """A plain-text diff table (CI logs have no colours)."""
    head = ("protocol", "model", "steps", "metric", "baseline", "current", "delta", "tolerance", "status")
    rows = [head]
    for r in report.rows:
        arrow = "" if r.lower_better is None else (" ↓" if r.lower_better else " ↑")
        rows.append(
            (
                r.protocol,
                r.model,
                "–" if r.steps is None else str(r.steps),
                r.metric + arrow,
                _num(r.baseline),
                _num(r.current),
                "–" if r.delta is None else f"{r.delta:+.6g}",
                r.tolerance,
                r.status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_bad = sum(r.status in ("REGRESSION", "MISSING") for r in report.rows)
    why = [f"MISSING {r.protocol}/{r.model} {r.metric}: {r.reason}" for r in report.rows if r.reason]
    if not report.failed:
        verdict = "PASSED."
    elif report.compared == 0:
        verdict = f"FAILED: compared nothing ({n_bad} missing value(s))."
    else:
        verdict = f"FAILED: {n_bad} regression(s) or missing value(s)."
    return "\n".join(lines + why + [f"note: {n}" for n in report.notes] + [verdict]) + "\n"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.6g}"
