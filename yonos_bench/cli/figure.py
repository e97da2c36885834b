"""``figure`` and ``report``: pictures of the results (:mod:`yonos_bench.report.figure`,
:mod:`yonos_bench.report.html`). Thin Typer wrappers; heavy imports inside the bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ResultsOpt = Annotated[
    Path | None, typer.Option("--results", help="Results root (default: $YONOS_RESULTS or ./results).")
]
DataRootOpt = Annotated[
    Path | None,
    typer.Option("--data-root", help="Where the runs prepared the pairs (LR/HR; default: $YONOS_DATA)."),
]
ProtocolOpt = Annotated[str | None, typer.Option("--protocol", "-p", help="Protocol (needed if several).")]


def figure(
    model: Annotated[
        list[str],
        typer.Option("--model", "-m", help="Column, in order: NAME or NAME@STEPS; repeat for several."),
    ],
    results: ResultsOpt = None,
    protocol: ProtocolOpt = None,
    pair: Annotated[
        list[str] | None, typer.Option("--pair", help="Pair ids to show (repeat); default: picked by --pick.")
    ] = None,
    pick: Annotated[
        str,
        typer.Option(
            "--pick",
            help="gain / loss: pairs where --versus A beats / loses to B most on --metric; "
            "gain-loss: half of each; spread: evenly over the sorted ids.",
        ),
    ] = "gain-loss",
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Per-image metric for --pick (default: the protocol's first)."),
    ] = None,
    versus: Annotated[
        str | None, typer.Option("--versus", help="A,B for --pick (default: the first two --model).")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Number of pairs (rows) to pick.")] = 2,
    inset: Annotated[
        str | None,
        typer.Option("--inset", help="Inset box X,Y,W,H in HR pixels (default: where models differ most)."),
    ] = None,
    inset_size: Annotated[
        int | None,
        typer.Option("--inset-size", help="Side of the automatic inset (default: a quarter of the image)."),
    ] = None,
    lr: Annotated[
        str, typer.Option("--lr", help="LR column upsampled by: bicubic, nearest or none.")
    ] = "bicubic",
    no_hr: Annotated[bool, typer.Option("--no-hr", help="Leave out the HR column.")] = False,
    tile_metric: Annotated[
        str | None, typer.Option("--tile-metric", help="Print this per-image metric under each model's tile.")
    ] = None,
    width: Annotated[
        str, typer.Option("--width", help="column (3.25 in) or text (6.875 in): LaTeX two-column widths.")
    ] = "text",
    dpi: Annotated[int, typer.Option("--dpi", help="PNG resolution (the PDF's text is vector).")] = 300,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Step count for models given without @STEPS that have several."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Path without suffix (PNG and PDF).")] = None,
    data_root: DataRootOpt = None,
) -> None:
    """Paper-style comparison grid: LR | models | HR per pair, a zoomed inset on every tile (PNG + PDF)."""
    from yonos_bench.core.errors import YonosError
    from yonos_bench.core.paths import results_root
    from yonos_bench.report.figure import make_figure, parse_box

    vs = None
    if versus:
        parts = [v.strip() for v in versus.split(",") if v.strip()]
        if len(parts) != 2:
            raise YonosError(f"--versus '{versus}': expected two models A,B.")
        vs = (parts[0], parts[1])
    root = results_root(results)
    target = out or root / "figures" / f"{protocol or 'results'}-{pick if not pair else 'pairs'}"
    res = make_figure(
        root, model, target, protocol=protocol, pairs=pair or (), pick=pick, metric=metric, versus=vs, n=n,
        inset=parse_box(inset) if inset else None, inset_size=inset_size, lr=lr, hr=not no_hr,
        tile_metric=tile_metric, width=width, dpi=dpi, steps=steps, data_root=data_root,
    )  # fmt: skip
    for r in res.rows:
        typer.echo(f"  {r.pair_id}: inset {','.join(map(str, r.box))}" + (f"  {r.note}" if r.note else ""))
    typer.echo(f"Wrote {res.png} and {res.pdf}")


def report(
    results: ResultsOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder of the page (default: <results>/report).")
    ] = None,
    protocol: Annotated[
        list[str] | None, typer.Option("--protocol", "-p", help="Only these protocols.")
    ] = None,
    max_pairs: Annotated[
        int | None,
        typer.Option("--max-pairs", help="At most this many pairs per protocol in the image browser."),
    ] = None,
    data_root: DataRootOpt = None,
) -> None:
    """Static HTML report (opens offline from disk): tables, plots and a per-image browser."""
    from yonos_bench.core.paths import results_root
    from yonos_bench.report.html import write_report

    root = results_root(results)
    res = write_report(root, out or root / "report", protocols=protocol or (), max_pairs=max_pairs,
                       data_root=data_root)  # fmt: skip
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"Wrote {res.index} ({res.n_images} images, {len(res.plots)} plots)")
