"""Top-level benchmark commands: ``run``, ``sweep-steps``, ``table``, ``plot``, ``check``, ``speed``.

Thin Typer wrappers over :mod:`yonos_bench.runs.runner`, :mod:`~yonos_bench.report.tables`,
:mod:`~yonos_bench.report.plot`, :mod:`~yonos_bench.report.check` and :mod:`~yonos_bench.runs.speed`;
heavy imports happen inside the command bodies.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from yonos_bench.core.errors import YonosError

ModelOpt = Annotated[
    list[str],
    typer.Option(
        "--model",
        "-m",
        help="Model card name (`yonos-bench models list`), a path (weights, pipeline, outputs folder, "
        "card .yaml), or NAME=PATH to name a path model; repeat for several.",
    ),
]
ModelOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model-option",
        help="Adapter option [MODEL:]KEY=VALUE over the card's (e.g. outputs=DIR, tile_size=256); repeatable.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
PlotOutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Plot path without suffix (PNG and PDF are written).")
]
#: The old spelling of --output, kept working but not shown.
OutAliasOpt = Annotated[Path | None, typer.Option("--out", hidden=True)]
ResultsOpt = Annotated[
    Path | None, typer.Option("--results", help="Results root (default: $YONOS_RESULTS or ./results).")
]
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", help="Datasets and prepared pairs (default: $YONOS_DATA).")
]
PreparedRootOpt = Annotated[
    Path | None,
    typer.Option("--prepared-root", help="Prepared pairs (default: $YONOS_PREPARED or <data root>/prepared)."),
]
WeightsOpt = Annotated[
    Path | None, typer.Option("--weights-dir", help="Weight files (default: $YONOS_WEIGHTS).")
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Run seed; each image's seed is derived from it and the pair id.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="fp32, fp16 or bf16.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Images per model call.")]
MetricsOpt = Annotated[
    list[str] | None,
    typer.Option("--metrics", help="Metric IDs (comma-separated or repeated; default: the protocol's)."),
]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", help="First K pairs only: a smoke run, marked NOT reportable.")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute finished cells (images and metrics).")]
ForceMetricsOpt = Annotated[
    bool,
    typer.Option(
        "--force-metrics", help="Recompute metrics from cached images (e.g. after fetching weights)."
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
SkipBadOpt = Annotated[
    bool,
    typer.Option("--skip-bad", help="Leave out corrupt or edited result files (warned) instead of failing."),
]
StrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="Fail if any requested metric cannot be computed (e.g. missing weights)."),
]


def _quiet(flag: bool) -> bool:
    from yonos_bench.core.quiet import is_quiet

    return flag or is_quiet()  # the command's -q or the root's `yonos-bench -q`


def _output(output: Path | None, out_alias: Path | None) -> Path | None:
    if output is not None and out_alias is not None and output != out_alias:
        raise YonosError("Give --output once (--out is its old spelling).")
    return output or out_alias


ProtocolFilter = Annotated[list[str] | None, typer.Option("--protocol", "-p", help="Only these protocols.")]
ModelFilter = Annotated[list[str] | None, typer.Option("--model", "-m", help="Only these models.")]


class TableFormat(str, Enum):
    md = "md"
    latex = "latex"
    csv = "csv"


class XAxis(str, Enum):
    steps = "steps"
    seconds = "seconds"


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def parse_steps(text: str, option: str = "--steps") -> list[int]:
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        steps = []
    if not steps or any(s < 1 for s in steps):
        raise YonosError(f"{option} '{text}': expected comma-separated positive integers, e.g. 1,2,4,8.")
    return steps


def _options(**kw):
    from yonos_bench.runs.runner import RunOptions

    return RunOptions(**kw)


def run(
    protocol: Annotated[str, typer.Argument(help="Protocol name (`yonos-bench protocols list`).")],
    model: ModelOpt,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Sampling steps (diffusion models only).")
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "fp32",
    batch_size: BatchOpt = 8,
    metrics: MetricsOpt = None,
    data_root: DataRootOpt = None,
    prepared_root: PreparedRootOpt = None,
    results: ResultsOpt = None,
    weights_dir: WeightsOpt = None,
    limit: LimitOpt = None,
    force: ForceOpt = False,
    force_metrics: ForceMetricsOpt = False,
    quiet: QuietOpt = False,
    strict: StrictOpt = False,
    model_option: ModelOptionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run models on a protocol: SR images cached per cell, all metrics, result.json + per_image.csv."""
    from yonos_bench.models.option_args import parse_model_options
    from yonos_bench.runs.runner import run_benchmark

    opts = _options(
        seed=seed, device=device, dtype=dtype, batch_size=batch_size, metrics=_split(metrics),
        data_root=data_root, prepared_root=prepared_root, results_root=results, weights_dir=weights_dir,
        limit=limit, force=force, force_metrics=force_metrics, progress=not _quiet(quiet), strict=strict,
        model_options=parse_model_options(model_option or []),
    )  # fmt: skip
    outcomes = run_benchmark(protocol, model, (steps,), opts)
    if as_json:
        import json

        from yonos_bench.runs.results_admin import outcome_dict

        typer.echo(json.dumps({"cells": [outcome_dict(o) for o in outcomes]}, indent=2))


def sweep_steps(
    protocol: Annotated[str, typer.Argument(help="Protocol name.")],
    model: ModelOpt,
    steps: Annotated[
        str, typer.Option("--steps", help="Comma-separated step counts.")
    ] = "1,2,4,8,16,32,64,128,200",
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric to plot (default: the protocol's first).")
    ] = None,
    output: PlotOutputOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "fp32",
    batch_size: BatchOpt = 8,
    metrics: MetricsOpt = None,
    data_root: DataRootOpt = None,
    prepared_root: PreparedRootOpt = None,
    results: ResultsOpt = None,
    weights_dir: WeightsOpt = None,
    limit: LimitOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    strict: StrictOpt = False,
    model_option: ModelOptionOpt = None,
    out: OutAliasOpt = None,
) -> None:
    """One cell per step count, then the Fig. 3 plot: metric vs DDIM steps (log x), one line per model."""
    from yonos_bench.core.paths import results_root
    from yonos_bench.models.option_args import parse_model_options
    from yonos_bench.protocols.spec import load_protocol
    from yonos_bench.report.plot import plot_results
    from yonos_bench.runs.runner import run_benchmark

    output = _output(output, out)
    step_list = parse_steps(steps)
    spec = load_protocol(protocol)
    metric_ids = _split(metrics) or tuple(spec.metrics)
    metric = metric or metric_ids[0]
    if metric not in metric_ids:
        metric_ids = (*metric_ids, metric)
    opts = _options(
        seed=seed, device=device, dtype=dtype, batch_size=batch_size, metrics=metric_ids, data_root=data_root,
        prepared_root=prepared_root, results_root=results, weights_dir=weights_dir, limit=limit, force=force,
        progress=not _quiet(quiet), strict=strict, model_options=parse_model_options(model_option or []),
    )  # fmt: skip
    outcomes = run_benchmark(protocol, model, step_list, opts)
    root = results_root(results)
    if not any(metric in o.result.get("metrics", {}) for o in outcomes):
        why = next(
            (o.result["unavailable"][metric] for o in outcomes if metric in o.result.get("unavailable", {})),
            "",
        )
        raise YonosError(f"{metric} could not be computed, so there is nothing to plot. {why}")
    res = plot_results(root, metric, output, protocol=spec.name, models=[o.key.model for o in outcomes])
    typer.echo(f"Wrote {res.png} and {res.pdf}")


def table(
    results: ResultsOpt = None,
    protocol: ProtocolFilter = None,
    model: ModelFilter = None,
    fmt: Annotated[TableFormat, typer.Option("--format", "-f", help="md, latex or csv.")] = TableFormat.md,
    with_paper: Annotated[
        bool,
        typer.Option("--with-paper", help="Put the numbers papers report beside ours, with the difference."),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    skip_bad: SkipBadOpt = False,
    ids: Annotated[
        bool, typer.Option("--ids", help="Model ids as column headers instead of the cards' display names.")
    ] = False,
    per_seed: Annotated[
        bool, typer.Option("--per-seed", help="One column per seed (default: seeds of a cell as mean ± std).")
    ] = False,
) -> None:
    """Table-1-style comparison from result files (best bold/red, second underlined/blue, † not significant)."""
    from yonos_bench.core.paths import results_root
    from yonos_bench.report.render import render
    from yonos_bench.report.tables import build_table

    t = build_table(
        results_root(results), protocols=protocol or (), models=model or (), with_paper=with_paper,
        skip_bad=skip_bad, labels="id" if ids else "display", aggregate_seeds=not per_seed,
    )  # fmt: skip
    text = render(t, fmt.value)
    for w in t.warnings:
        typer.echo(f"warning: {w}", err=True)
    if output is not None:
        from yonos_bench.core.atomic import write_text_atomic

        write_text_atomic(output, text)
        typer.echo(f"Wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)


def plot(
    metric: Annotated[str, typer.Option("--metric", help="Metric ID to plot.")],
    results: ResultsOpt = None,
    protocol: Annotated[
        str | None, typer.Option("--protocol", "-p", help="Protocol (needed if several).")
    ] = None,
    model: ModelFilter = None,
    x: Annotated[
        XAxis, typer.Option("--x", help="steps (Fig. 3) or seconds (speed/quality frontier).")
    ] = XAxis.steps,
    skip_bad: SkipBadOpt = False,
    output: PlotOutputOpt = None,
    out: OutAliasOpt = None,
) -> None:
    """Plot a metric against DDIM steps or seconds per image, from result files."""
    from yonos_bench.core.paths import results_root
    from yonos_bench.report.plot import plot_results

    root = results_root(results)
    res = plot_results(
        root, metric, _output(output, out), protocol=protocol, x=x.value, models=model or (), skip_bad=skip_bad
    )
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"Wrote {res.png} and {res.pdf}")


def check(
    baseline: Annotated[
        Path, typer.Option("--baseline", help="Baseline JSON file (committed to your repo).")
    ],
    results: ResultsOpt = None,
    tolerance: Annotated[
        list[str] | None,
        typer.Option("--tolerance", help="METRIC=VALUE (absolute) or METRIC=VALUE% (relative); repeatable."),
    ] = None,
    write_baseline: Annotated[
        bool, typer.Option("--write-baseline", help="Write the baseline from the current results instead.")
    ] = False,
    protocol: ProtocolFilter = None,
    model: ModelFilter = None,
    skip_bad: SkipBadOpt = False,
    as_json: JsonOpt = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write the report as JUnit XML (CI test panels).")
    ] = None,
) -> None:
    """Regression gate: compare results with a baseline, per metric direction; exit 1 on regression."""
    from yonos_bench.core.paths import results_root
    from yonos_bench.report.check import check_results, format_report, parse_tolerances
    from yonos_bench.report.check import write_baseline as write

    tol = parse_tolerances(tolerance or [])
    root = results_root(results)
    if write_baseline:
        n = write(
            root, baseline, protocols=protocol or (), models=model or (), tolerances=tol, skip_bad=skip_bad
        )
        typer.echo(f"Wrote baseline {baseline} ({n} cells).")
        return
    report = check_results(
        root, baseline, tolerances=tol, protocols=protocol or (), models=model or (), skip_bad=skip_bad
    )
    if junit is not None:
        from yonos_bench.report.check_export import write_junit

        write_junit(report, junit)
        typer.echo(f"Wrote {junit}", err=True)
    if as_json:
        from yonos_bench.report.check_export import report_json

        typer.echo(report_json(report))
    else:
        typer.echo(format_report(report), nl=False)
    if report.failed:
        raise typer.Exit(code=1)


def speed(
    model: Annotated[str, typer.Option("--model", "-m", help="Model card name or path.")],
    size: Annotated[
        int, typer.Option("--size", help="Output (HR) side in pixels; the LR is size/scale.")
    ] = 512,
    steps: Annotated[
        str | None, typer.Option("--steps", help="Comma-separated step counts (diffusion).")
    ] = None,
    batch_size: BatchOpt = 1,
    repeats: Annotated[int, typer.Option("--repeats", help="Timed calls after warm-up.")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed calls first.")] = 1,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "fp32",
    weights_dir: WeightsOpt = None,
    results: ResultsOpt = None,
) -> None:
    """Seconds per image (median, p90), images/s, peak memory; per-stage breakdown for YONOS."""
    from yonos_bench.runs.speed import format_speed, measure_speed

    step_list = parse_steps(steps) if steps else [None]
    outs = measure_speed(
        model, size=size, steps=step_list, batch_size=batch_size, repeats=repeats, warmup=warmup, device=device,
        dtype=dtype, weights_dir=weights_dir, results_root=results,
    )  # fmt: skip
    for o in outs:
        typer.echo(format_speed(o.data))
        typer.echo(f"Wrote {o.path}")
