"""``plot``: a metric against DDIM steps (the paper's Fig. 3) or against seconds per image
(the speed/quality frontier), from result files only. PNG and PDF, matplotlib Agg.

One line per model (per dtype/seed when a model has several), the 95% bootstrap interval
shaded. Models without sampling steps (bicubic, GAN baselines) are drawn as horizontal
dashed lines in the steps plot: they are the reference the step curves should beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.errors import YonosError, did_you_mean
from yonos_bench.runs.results import LoadedResult, load_results, measured_seconds


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    lo: float | None
    hi: float | None
    steps: int | None


@dataclass
class Series:
    label: str
    points: list[Point]
    horizontal: bool = False  # a step-less model drawn as a reference line
    reportable: bool = True  # False when a point comes from a --limit smoke run


@dataclass
class PlotOutput:
    png: Path
    pdf: Path
    series: list[Series] = field(default_factory=list)
    protocol: str = ""
    metric: str = ""
    n_lines: int = 0  # line artists drawn (one per series)
    warnings: list[str] = field(default_factory=list)  # result files left out (--skip-bad)


def protocol_name(runs: list[LoadedResult], protocol: str | None) -> str:
    """The protocol to draw: the only one the results cover, or the one asked for
    (did-you-mean over those with results)."""
    names = sorted({r.data["protocol"]["name"] for r in runs})
    if protocol is None:
        if len(names) > 1:
            raise YonosError(
                f"Results cover several protocols ({', '.join(names)}); choose one with --protocol."
            )
        return names[0]
    if protocol not in names:
        raise did_you_mean("protocol (no results for it)", protocol, names)
    return protocol


def collect_series(
    results: list[LoadedResult], metric: str, protocol: str | None, x: str, models: Sequence[str] = ()
) -> tuple[str, list[Series], bool]:
    """(protocol key, series, lower_better) for ``metric`` on one protocol."""
    if x not in ("steps", "seconds"):
        raise ValueError(f"x: expected 'steps' or 'seconds', got {x!r}")
    runs = [r for r in results if r.kind == "run"]
    if not runs:
        raise YonosError("No run results to plot. Run `yonos-bench run` or `yonos-bench sweep-steps` first.")
    protocol = protocol_name(runs, protocol)
    runs = [r for r in runs if r.data["protocol"]["name"] == protocol]
    if models:
        have = sorted({r.model for r in runs})
        for m in models:
            if m not in have:
                raise did_you_mean("model (no results for it)", m, have)
        runs = [r for r in runs if r.model in models]
    have_metrics = sorted({m for r in runs for m in r.data["metrics"]})
    if metric not in have_metrics:
        raise did_you_mean("metric (not in these results)", metric, have_metrics)
    runs = [r for r in runs if metric in r.data["metrics"]]
    versions = sorted({r.data["protocol"]["version"] for r in runs}, key=str)
    pkey = f"{protocol}-v{versions[-1]}"
    runs = [r for r in runs if r.data["protocol"]["version"] == versions[-1]]
    lower_better = bool(runs[0].data["metrics"][metric]["lower_better"])

    groups: dict[tuple, dict] = {}
    for r in runs:
        gid = (r.model, r.data["dtype"], r.data["seed"])
        # Per (group, steps) keep the reportable, then the largest, run.
        cur = groups.setdefault(gid, {}).get(r.steps)
        if cur is None or (r.data["reportable"], r.data["n"]) > (cur.data["reportable"], cur.data["n"]):
            groups[gid][r.steps] = r
    multi = {k: len({g[1:] for g in groups if g[0] == k}) > 1 for k in {g[0] for g in groups}}
    series: list[Series] = []
    for gid in sorted(groups, key=lambda g: (g[0], g[1], g[2])):
        model, dtype, seed = gid
        label = model if not multi[model] else f"{model} ({dtype}, seed {seed})"
        pts = []
        reportable = all(r.data["reportable"] for r in groups[gid].values())
        for steps, r in groups[gid].items():
            m = r.data["metrics"][metric]
            if x == "steps":
                if steps is None:
                    continue
                xv = float(steps)
            else:
                xv = measured_seconds(r.data)  # None for outputs we did not run (folder)
                if xv is None:
                    continue
            pts.append(Point(float(xv), float(m["mean"]), m["ci_low"], m["ci_high"], steps))
        if x == "steps" and not pts and None in groups[gid]:
            m = groups[gid][None].data["metrics"][metric]
            point = Point(float("nan"), m["mean"], m["ci_low"], m["ci_high"], None)
            series.append(Series(label, [point], True, reportable))
        elif pts:
            series.append(Series(label, sorted(pts, key=lambda p: p.x), False, reportable))
    if not series:
        raise YonosError(
            f"No results with a {'step count' if x == 'steps' else 's/img'} to plot for {metric}."
        )
    return pkey, series, lower_better


def default_plot_path(results_root: str | Path, pkey: str, metric: str, x: str) -> Path:
    """``<root>/plots/<protocol>-v<N>-<metric>-vs-<x>``: the one naming of ``plot`` and
    ``sweep-steps`` (suffixes .png/.pdf added when drawn)."""
    return Path(results_root) / "plots" / f"{pkey}-{metric}-vs-{x}"


def plot_results(
    results_root: str | Path,
    metric: str,
    out: str | Path | None = None,
    *,
    protocol: str | None = None,
    x: str = "steps",
    models: Sequence[str] = (),
    skip_bad: bool = False,
) -> PlotOutput:
    """Write ``<out>.png`` and ``<out>.pdf`` (``out`` without suffix, or with one of them;
    default :func:`default_plot_path`). A corrupt or edited result file is an error naming it
    unless ``skip_bad``."""
    results, warnings = load_results(results_root, skip_invalid=skip_bad)
    pkey, series, lower_better = collect_series(results, metric, protocol, x, models)
    if out is None:
        out = default_plot_path(results_root, pkey, metric, x)
    res = draw(series, metric, pkey, lower_better, x, out)
    res.warnings = warnings
    return res


def draw(
    series: list[Series], metric: str, pkey: str, lower_better: bool, x: str, out: str | Path
) -> PlotOutput:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() in (".png", ".pdf") else out
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=150)
    try:
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, s in enumerate(series):
            color = colors[i % len(colors)]
            if s.horizontal:
                p = s.points[0]
                ax.axhline(p.y, color=color, linestyle="--", linewidth=1.2, label=s.label)
                if p.lo is not None and p.hi is not None:
                    ax.axhspan(p.lo, p.hi, color=color, alpha=0.12, linewidth=0)
                continue
            xs = [p.x for p in s.points]
            ax.plot(xs, [p.y for p in s.points], marker="o", markersize=3.5, color=color, label=s.label)
            if all(p.lo is not None and p.hi is not None for p in s.points):
                ax.fill_between(
                    xs, [p.lo for p in s.points], [p.hi for p in s.points], color=color, alpha=0.2
                )
            if x == "seconds":
                for p in s.points:
                    if p.steps is not None:
                        ax.annotate(
                            str(p.steps), (p.x, p.y), textcoords="offset points", xytext=(3, 3), fontsize=7
                        )
        if x == "steps":
            ax.set_xscale("log", base=2)
            ax.set_xlabel("DDIM steps")
            ticks = sorted({p.x for s in series if not s.horizontal for p in s.points})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        else:
            ax.set_xscale("log")
            ax.set_xlabel("seconds per image")
        ax.set_ylabel(f"{metric} ({'lower' if lower_better else 'higher'} is better)")
        smoke = "" if all(s.reportable for s in series) else " — includes --limit smoke runs (NOT reportable)"
        ax.set_title(pkey + smoke, fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        n_lines = len(ax.get_lines())
        png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
        _save(fig, png, "png")
        _save(fig, pdf, "pdf")
    finally:
        plt.close(fig)
    return PlotOutput(png, pdf, series, pkey, metric, n_lines)


def _save(fig, path: Path, fmt: str) -> None:
    import io

    from yonos_bench.core.atomic import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
    write_bytes_atomic(path, buf.getvalue())
