"""``yonos-bench demo``: the embedded end-to-end demo (:mod:`yonos_bench.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    results: Annotated[
        Path | None, typer.Option("--results", help="Results root (default: $YONOS_RESULTS or ./results).")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Datasets and prepared pairs (default: $YONOS_DATA).")
    ] = None,
    weights_dir: Annotated[
        Path | None, typer.Option("--weights-dir", help="Metric weights (default: $YONOS_WEIGHTS).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="First K pairs only: a smoke run, marked NOT reportable.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu (default), cuda, cuda:N or auto.")] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Prepare `sample`, run bicubic, lanczos and the embedded YONOS/SD-SR models at 1 step, sweep
    1, 2 and 4 steps on its 28-pair subset `sample-mini`, print the Table-1 table and the Table-3
    ablation, and write the Fig.-3 plot, a figure and the HTML report."""
    from diffusers.utils import logging as diffusers_logging

    from yonos_bench.demo import run_demo, summary

    diffusers_logging.disable_progress_bar()  # 18 model loads: no "Loading pipeline components" bars
    out = run_demo(
        results=results, data_root=data_root, weights_dir=weights_dir, limit=limit, device=device,
        progress=not quiet, echo=typer.echo,
    )  # fmt: skip
    typer.echo("\nTable 1 (miniature): sample, 1 DDIM step for the diffusion models\n")
    typer.echo(out.table_text)
    typer.echo("Table 3 (miniature): scale distillation × decoder fine-tuning, 1 DDIM step\n")
    typer.echo(out.ablation_text)
    if out.real_table_text:
        from yonos_bench.demo import SUBSET_PROTOCOL

        typer.echo(
            f"Real baselines (fp16 ncnn imports, not the official releases) on {SUBSET_PROTOCOL}: "
            "sample's first 4 crops of each photo (28 pairs)\n"
        )
        typer.echo(out.real_table_text)
    typer.echo(summary(out, limit))
