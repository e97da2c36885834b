"""``yonos-bench results``: what is cached (list), delete a cell (rm), diff two cells per image (compare)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Cached result cells: list them, delete one, compare two per image.", no_args_is_help=True
)

ResultsOpt = Annotated[
    Path | None, typer.Option("--results", help="Results root (default: $YONOS_RESULTS or ./results).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("list")
def list_cmd(
    results: ResultsOpt = None,
    protocol: Annotated[
        list[str] | None, typer.Option("--protocol", "-p", help="Only these protocols.")
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Only these models.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every finished cell: protocol, model, steps, seed, dtype, pairs, images on disk, metric means."""
    from rich.markup import escape
    from rich.table import Table

    from yonos_bench.core.console import console
    from yonos_bench.core.formatting import format_value
    from yonos_bench.core.paths import results_root
    from yonos_bench.runs.results_admin import list_cells

    root = results_root(results)
    cells, warnings = list_cells(root, protocols=protocol or (), models=model or ())
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        typer.echo(json.dumps({"results_root": str(root), "cells": [c.to_dict() for c in cells]}, indent=2))
        return
    if not cells:
        typer.echo(f"No result cells under {root}.")
        return
    t = Table(title=f"Result cells under {escape(str(root))}")
    for col in ("cell", "model", "steps", "seed", "n", "images", "metrics"):
        t.add_column(col, no_wrap=col in ("cell", "model"))
    for c in cells:
        t.add_row(
            escape(c.rel) + ("" if c.reportable else " (limit)"),
            escape(c.model),
            "–" if c.steps is None else str(c.steps),
            str(c.seed),
            str(c.n),
            str(c.images),
            escape(", ".join(f"{m}={format_value(v)}" for m, v in c.metrics.items())),
        )
    console().print(t)


@app.command("rm")
def rm_cmd(
    cells: Annotated[list[str], typer.Argument(help="Cell folders (as `results list` prints them).")],
    results: ResultsOpt = None,
) -> None:
    """Delete cells (SR images, result.json, per_image.csv) so the next `run` recomputes them."""
    from yonos_bench.core.paths import results_root
    from yonos_bench.runs.results_admin import remove_cell, resolve_cell

    root = results_root(results)
    for ref in cells:  # every name checked before anything is deleted
        resolve_cell(root, ref)
    for ref in cells:
        typer.echo(f"Removed {remove_cell(root, ref)}")


@app.command("compare")
def compare_cmd(
    a: Annotated[str, typer.Argument(help="First cell (the reference).")],
    b: Annotated[str, typer.Argument(help="Second cell.")],
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric (default: the first both have).")
    ] = None,
    results: ResultsOpt = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Rows to show (0: all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Per-image diff of one metric between two cells, the images where B is worse first."""
    from yonos_bench.core.formatting import format_value
    from yonos_bench.core.paths import results_root
    from yonos_bench.runs.results_admin import compare_cells

    cmp = compare_cells(results_root(results), a, b, metric)
    if as_json:
        typer.echo(json.dumps(cmp.to_dict(), indent=2))
        return
    arrow = (
        ""
        if cmp.lower_better is None
        else (" (lower is better)" if cmp.lower_better else " (higher is better)")
    )
    typer.echo(f"{cmp.metric}{arrow}: A {format_value(cmp.mean_a)}  B {format_value(cmp.mean_b)}")
    typer.echo(f"A = {cmp.a}\nB = {cmp.b}")
    rows = cmp.rows if top == 0 else cmp.rows[:top]
    width = max([len(r.pair_id) for r in rows] + [2])
    typer.echo(f"{'id':<{width}}  {'A':>10}  {'B':>10}  {'B-A':>10}")
    for r in rows:
        delta = "–" if r.delta is None else f"{r.delta:+.4g}"
        typer.echo(f"{r.pair_id:<{width}}  {format_value(r.a):>10}  {format_value(r.b):>10}  {delta:>10}")
    if len(rows) < len(cmp.rows):
        typer.echo(f"... {len(cmp.rows) - len(rows)} more (--top 0 for all)")
