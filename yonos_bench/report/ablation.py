"""The paper's Table 3 as a 2 × 2 ablation: scale distillation ✗/✓ × decoder original/fine-tuned.

Built from result files only (like ``table``): four cells of one protocol at the same
steps, seed and dtype. For every metric it gives each cell's mean and 95% bootstrap
interval, and the paired-bootstrap mean differences (over the pairs all four cells share)

* distilled − direct, with each decoder (the effect of scale distillation; Fig. 3 at 1 step),
* fine-tuned − original, for each training (the effect of decoder fine-tuning),
* the interaction (ft − orig)_distilled − (ft − orig)_direct: does fine-tuning help the
  distilled model more, as the paper argues (Table 3)?

Differences are signed so that positive means "better" whatever the metric's direction.
Intervals treat pairs as independent; where several pairs come from one source image
(``sample``: 30 patches of each of 7 photos) they are optimistic about generalising to
other images, so :func:`source_wins` also counts the source images on each side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.errors import YonosError
from yonos_bench.runs.results import PER_IMAGE_FILE, LoadedResult, load_results, read_per_image

#: Bootstrap resamples and level (fixed seed: the ablation is deterministic).
N_BOOT = 2000
CONFIDENCE = 0.95

ROWS = ("direct", "distilled")  # scale distillation ✗ / ✓
COLS = ("original", "fine-tuned")  # decoder


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float
    significant: bool = False  # for differences: the interval excludes 0


@dataclass
class MetricAblation:
    metric: str
    lower_better: bool
    cells: dict[tuple[str, str], Interval]  # (training, decoder) -> mean [CI]
    distill_gain: dict[str, Interval]  # decoder -> distilled − direct (signed: + is better)
    decoder_gain: dict[str, Interval]  # training -> fine-tuned − original (signed)
    interaction: Interval  # decoder_gain[distilled] − decoder_gain[direct]
    source_wins: dict[str, tuple[int, int]]  # decoder -> (sources where distilled better, sources)
    n: int


@dataclass
class Ablation:
    protocol: str  # "<name>-v<version>"
    steps: int | None
    models: dict[tuple[str, str], str]  # (training, decoder) -> model name
    metrics: list[MetricAblation]
    reportable: bool
    notes: list[str] = field(default_factory=list)


def _pick(results: list[LoadedResult], model: str, protocol: str, steps, seed: int, dtype: str):
    """The preferred (reportable, then largest, then newest) matching cell, or None."""
    found = [
        r
        for r in results
        if r.kind == "run"
        and r.model == model
        and r.data["protocol"]["name"] == protocol
        and r.steps == steps
        and r.data["seed"] == seed
        and r.data["dtype"] == dtype
    ]
    return max(
        found, key=lambda r: (bool(r.data["reportable"]), r.data["n"], r.data["created"]), default=None
    )


def build_ablation(
    results_root: str | Path,
    models: Mapping[tuple[str, str], str],
    *,
    protocol: str = "sample",
    steps: int = 1,
    seed: int = 0,
    dtype: str = "fp32",
) -> Ablation:
    """The 2 × 2 ablation of ``models`` ({(training, decoder): model name}, all four keys of
    ``ROWS × COLS``) from the results under ``results_root``."""
    from yonos_bench.metrics.stats import bootstrap_ci, paired_bootstrap

    missing = [(t, d) for t in ROWS for d in COLS if (t, d) not in models]
    if missing:
        raise ValueError(
            f"models: missing cells {missing}; expected keys {[(t, d) for t in ROWS for d in COLS]}"
        )
    results, _ = load_results(results_root, kind="run")
    cells = {k: _pick(results, m, protocol, steps, seed, dtype) for k, m in models.items()}
    absent = [m for k, m in models.items() if cells[k] is None]
    if absent:
        raise YonosError(
            f"No result on {protocol} at {steps} step(s), seed {seed}, {dtype} for: {', '.join(absent)}. "
            f"Run `yonos-bench run {protocol} --steps {steps} --model {' --model '.join(absent)}` first."
        )
    digests = {r.data["protocol"]["digest"] for r in cells.values()}
    if len(digests) > 1:
        raise YonosError(f"The four ablation cells come from different {protocol} instances: not comparable.")
    per = {k: read_per_image(r.path.parent / PER_IMAGE_FILE) for k, r in cells.items()}
    sources = _sources(next(iter(cells.values())))
    metric_ids = [
        m
        for m in next(iter(cells.values())).data["metrics"]
        if all(m in r.data["metrics"] for r in cells.values())
    ]
    out: list[MetricAblation] = []
    for mid in metric_ids:
        vals = {k: per[k].get(mid, {}) for k in cells}
        ids = sorted(set.intersection(*(set(v) for v in vals.values())))
        if len(ids) < 2:
            continue
        lower = bool(next(iter(cells.values())).data["metrics"][mid]["lower_better"])
        sign = -1.0 if lower else 1.0
        x = {k: [sign * vals[k][i] for i in ids] for k in cells}  # signed: larger is better

        def ci(values: Sequence[float], s: float = 1.0) -> Interval:
            b = bootstrap_ci([s * v for v in values], n_boot=N_BOOT, confidence=CONFIDENCE, seed=0)
            return Interval(b.mean, b.ci_low, b.ci_high)

        def diff(a: Sequence[float], b: Sequence[float]) -> Interval:
            p = paired_bootstrap(a, b, n_boot=N_BOOT, confidence=CONFIDENCE, seed=0)
            return Interval(p.mean_diff, p.ci_low, p.ci_high, p.significant)

        gain_d = {
            d: [a - b for a, b in zip(x[("distilled", d)], x[("direct", d)], strict=True)] for d in COLS
        }
        gain_t = {
            t: [a - b for a, b in zip(x[(t, "fine-tuned")], x[(t, "original")], strict=True)] for t in ROWS
        }
        out.append(
            MetricAblation(
                metric=mid,
                lower_better=lower,
                cells={k: ci(x[k], sign) for k in cells},
                distill_gain={d: diff(x[("distilled", d)], x[("direct", d)]) for d in COLS},
                decoder_gain={t: diff(x[(t, "fine-tuned")], x[(t, "original")]) for t in ROWS},
                interaction=diff(gain_t["distilled"], gain_t["direct"]),
                source_wins={d: _source_wins(ids, gain_d[d], sources) for d in COLS},
                n=len(ids),
            )
        )
    reportable = all(bool(r.data["reportable"]) for r in cells.values())
    first = next(iter(cells.values()))
    return Ablation(
        protocol=f"{protocol}-v{first.data['protocol']['version']}",
        steps=steps,
        models=dict(models),
        metrics=out,
        reportable=reportable,
    )


def _sources(r: LoadedResult) -> dict[str, str]:
    """pair id -> source image name, from the cell's per_image.csv."""
    import csv

    with open(r.path.parent / PER_IMAGE_FILE, newline="") as f:
        return {row["id"]: row.get("source", "") for row in csv.DictReader(f)}


def _source_wins(ids: list[str], gains: list[float], sources: Mapping[str, str]) -> tuple[int, int]:
    """(source images whose mean gain is > 0, source images)."""
    by: dict[str, list[float]] = {}
    for i, g in zip(ids, gains, strict=True):
        by.setdefault(sources.get(i, i), []).append(g)
    return sum(1 for v in by.values() if sum(v) / len(v) > 0), len(by)


# ---------------------------------------------------------------------------- rendering


def _decimals(m: MetricAblation) -> int:
    """2 decimals for dB-sized metrics (PSNR), 4 for unit-interval ones (SSIM, LPIPS)."""
    return 2 if max(abs(v.mean) for v in m.cells.values()) >= 10 else 4


def _iv(v: Interval, dec: int, signed: bool = False) -> str:
    if signed:  # differences get one more decimal
        return f"{v.mean:+.{dec + 1}f} [{v.lo:+.{dec + 1}f}, {v.hi:+.{dec + 1}f}]" + (
            " *" if v.significant else ""
        )
    return f"{v.mean:.{dec}f} [{v.lo:.{dec}f}, {v.hi:.{dec}f}]"


def to_markdown(a: Ablation) -> str:
    """The ablation as a Markdown table plus a legend."""
    arrow = {True: "↓", False: "↑"}
    head = "| Metric | Decoder | Standard ×4 (SD-SR) | Scale distillation ×2→×4 | Distilled − direct |"
    lines = [head, "|---|---|---:|---:|---:|"]
    for m in a.metrics:
        k = _decimals(m)
        for d in COLS:
            w, n = m.source_wins[d]
            lines.append(
                f"| {m.metric} {arrow[m.lower_better]} | {d} | {_iv(m.cells[('direct', d)], k)} | "
                f"{_iv(m.cells[('distilled', d)], k)} | {_iv(m.distill_gain[d], k, True)} ({w}/{n} images) |"
            )
        lines.append(
            f"| | fine-tuned − original | {_iv(m.decoder_gain['direct'], k, True)} | "
            f"{_iv(m.decoder_gain['distilled'], k, True)} | interaction {_iv(m.interaction, k, True)} |"
        )
    steps = f"{a.steps} DDIM step" + ("s" if a.steps != 1 else "")
    n = a.metrics[0].n if a.metrics else 0
    legend = [
        f"{a.protocol}, {steps}, {n} pairs; mean [95% bootstrap interval]. Differences are paired "
        "bootstraps over the same pairs, signed so that + is better for every metric; * marks an "
        "interval that excludes 0. (k/n images): source images on which the distilled model is better.",
        "interaction = (fine-tuned − original) for the distilled model minus the same for the direct one: "
        "> 0 means decoder fine-tuning helps the distilled model more (the paper's Table 3 argument).",
    ]
    if not a.reportable:
        legend.append("Includes --limit smoke runs: NOT reportable.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {x}" for x in legend) + "\n"


def to_dict(a: Ablation) -> dict:
    def iv(v: Interval) -> dict:
        return {"mean": v.mean, "lo": v.lo, "hi": v.hi, "significant": v.significant}

    return {
        "protocol": a.protocol,
        "steps": a.steps,
        "reportable": a.reportable,
        "models": {f"{t}/{d}": m for (t, d), m in a.models.items()},
        "metrics": {
            m.metric: {
                "lower_better": m.lower_better,
                "n": m.n,
                "cells": {f"{t}/{d}": iv(v) for (t, d), v in m.cells.items()},
                "distilled_minus_direct": {d: iv(v) for d, v in m.distill_gain.items()},
                "finetuned_minus_original": {t: iv(v) for t, v in m.decoder_gain.items()},
                "interaction": iv(m.interaction),
                "source_images_distilled_better": {d: list(v) for d, v in m.source_wins.items()},
            }
            for m in a.metrics
        },
    }
