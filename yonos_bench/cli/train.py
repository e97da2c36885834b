"""``yonos-bench train standard|distill|decoder|autoencoder``: the YONOS-SR training stages.

A thin layer: the preset's recipe (:mod:`yonos_train.recipes`) + these options + ``--set
key=value`` → a config dataclass → :func:`yonos_train.stages.run_stage`. Multi-GPU:
``accelerate launch --multi_gpu --num_processes 4 -m yonos_bench train ...``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Train YONOS-SR: standard (eq. 2), distill (eq. 3), decoder fine-tuning, autoencoder (tiny).",
    no_args_is_help=True,
)

PresetOpt = Annotated[str, typer.Option("--preset", help="sd15 (the paper's recipe) or tiny (CPU, minutes).")]
DataOpt = Annotated[
    list[str] | None,
    typer.Option("--data", help="HR image folder (repeat for several), or 'procedural' (tiny default)."),
]
ScaleOpt = Annotated[int | None, typer.Option("--scale", help="SR factor N this stage trains for.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override any config key: key=value (repeatable).")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Run folder (default: runs/<stage>-NNN).")]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue --out (or the newest run) from its checkpoint.")
]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")]
VaeOpt = Annotated[
    str | None, typer.Option("--vae", help="VAE folder or autoencoder run to use (tiny chain).")
]


def _model_scale(path: str) -> int | None:
    for folder in (Path(path), Path(path) / "pipeline"):
        index = folder / "model_index.json"
        if index.is_file():
            try:
                return int(json.loads(index.read_text()).get("scale"))
            except (ValueError, TypeError):
                return None
    return None


def _run(stage: str, preset: str, data, scale, sets, out, resume, dry_run, **paths) -> None:
    from yonos_bench.core.errors import SpecError
    from yonos_train.config import apply_overrides, describe, validate
    from yonos_train.recipes import recipe

    cfg = recipe(stage, preset)
    if data:
        cfg.data = list(data)
    if not cfg.data:
        raise SpecError(f"--data is required for the {preset} preset (one or more HR image folders).")
    given = {k: v for k, v in paths.items() if v is not None}
    if scale is None and "teacher" in given and (ts := _model_scale(given["teacher"])):
        scale = 2 * ts  # distill: the student works at twice the teacher's scale
    if scale is None and "model" in given and (ms := _model_scale(given["model"])):
        scale = ms  # decoder: the pipeline's own scale
    if scale is not None:
        cfg.scale = scale
    for key, value in given.items():
        setattr(cfg, key, str(value))
    if out is not None:
        cfg.out = str(out)
    cfg.resume = resume
    validate(cfg)
    cfg = apply_overrides(cfg, sets or [])
    if dry_run:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        info = describe(cfg, world)
        info["derived"]["note"] = (
            f"samples per optimizer step = batch_size {cfg.batch_size} x grad_accum {cfg.grad_accum} x processes; "
            f"on 4 GPUs: {cfg.samples_per_step * 4}"
        )
        typer.echo(json.dumps(info, indent=2))
        return
    from yonos_train.stages import run_stage

    run_dir = run_stage(cfg)
    typer.echo(f"Run finished: {run_dir}")


@app.command("standard")
def standard(
    preset: PresetOpt = "tiny",
    data: DataOpt = None,
    scale: ScaleOpt = None,
    init: Annotated[
        str | None, typer.Option("--init", help="random, an SD v1.5 folder / hub id, or a YONOS pipeline.")
    ] = None,
    vae: VaeOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    dry_run: DryOpt = False,
) -> None:
    """Eq. 2 at scale N on raw data: the x2 teacher, or an SD-SR baseline (direct x4/x8)."""
    _run("standard", preset, data, scale, sets, out, resume, dry_run, init=init, vae=vae)


@app.command("distill")
def distill(
    teacher: Annotated[
        str, typer.Option("--teacher", help="The frozen x(N/2) YONOS pipeline (or its run folder).")
    ],
    preset: PresetOpt = "tiny",
    data: DataOpt = None,
    scale: ScaleOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    dry_run: DryOpt = False,
) -> None:
    """Eq. 3: student at xN initialised from and supervised by the frozen x(N/2) teacher."""
    _run("distill", preset, data, scale, sets, out, resume, dry_run, teacher=teacher)


@app.command("decoder")
def decoder(
    model: Annotated[
        str, typer.Option("--model", help="The one-step YONOS pipeline (or run folder) to fine-tune.")
    ],
    preset: PresetOpt = "tiny",
    data: DataOpt = None,
    scale: ScaleOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    dry_run: DryOpt = False,
) -> None:
    """Fine-tune the VAE decoder on the frozen one-step UNet (LDM autoencoder loss)."""
    _run("decoder", preset, data, scale, sets, out, resume, dry_run, model=model)


@app.command("autoencoder")
def autoencoder(
    preset: PresetOpt = "tiny",
    data: DataOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    dry_run: DryOpt = False,
) -> None:
    """Train the tiny preset's KL autoencoder from scratch (saved to <run>/vae)."""
    _run("autoencoder", preset, data, None, sets, out, resume, dry_run)
