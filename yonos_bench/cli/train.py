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

PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", help="sd15 (the paper's recipe) or tiny (CPU, minutes; the default)."),
]
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
    bool,
    typer.Option(
        "--resume",
        help="Continue RUN (the argument), or --out, or the newest run of the stage, from its last "
        "checkpoint with the run's saved config (only run-control keys such as steps may change).",
    ),
]
RunArg = Annotated[
    Path | None,
    typer.Argument(metavar="[RUN]", help="With --resume: the run folder to continue.", show_default=False),
]
ProbeOpt = Annotated[
    bool,
    typer.Option(
        "--probe",
        help="Run --probe-steps steps of the real recipe in a temporary folder and print peak memory, "
        "samples/s, data-loading share, checkpoint size and the full run's estimated time; keeps nothing.",
    ),
]
ProbeStepsOpt = Annotated[
    int, typer.Option("--probe-steps", help="Steps --probe runs (the first is warm-up).")
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


def _absolute(value: str) -> str:
    """A path as an absolute path (hub ids, ``random``, ``procedural`` stay as they are)."""
    if value in ("procedural", "random"):  # keywords, even if a folder of that name exists here
        return value
    p = Path(value).expanduser()
    return str(p.resolve()) if p.exists() else value


def _resumed_config(stage: str, resume: str, out, preset, data, scale, given: dict, sets):
    """The saved config of the run to resume, with what was given on the command line on top
    (the engine then refuses any training-relevant difference, naming the keys)."""
    import dataclasses

    from yonos_bench.core.errors import DataMissingError, SpecError
    from yonos_train.config import apply_overrides, load_config
    from yonos_train.engine import OPTIONS_FILE, _latest_run_dir

    if resume and out is not None and Path(resume).resolve() != Path(out).resolve():
        raise SpecError(f"--resume {resume} and --out {out} name different runs; give one of them.")
    if resume or out is not None:
        run_dir = Path(resume or out)
    else:
        from yonos_train.recipes import recipe

        run_dir = _latest_run_dir(Path(recipe(stage, preset or "tiny").runs_dir), stage)
    opts = run_dir / OPTIONS_FILE
    if not opts.is_file():
        raise DataMissingError(f"--resume: {run_dir} is not a training run (no {OPTIONS_FILE}).")
    cfg = load_config(opts)
    if cfg.stage != stage:
        raise SpecError(f"--resume: {run_dir} is a {cfg.stage} run; resume it with `train {cfg.stage}`.")
    changes: dict = {"out": str(run_dir), "resume": True}
    if preset is not None:
        changes["preset"] = preset
    if data:
        changes["data"] = [_absolute(d) for d in data]
    if scale is not None:
        changes["scale"] = scale
    changes.update({k: _absolute(str(v)) for k, v in given.items()})
    cfg = dataclasses.replace(cfg, **changes)
    return apply_overrides(cfg, sets or [])


def _resume_target(resume: bool, run: Path | None) -> str | None:
    """None: a new run; "": resume --out or the newest run; else the RUN folder to resume."""
    if run is not None and not resume:
        from yonos_bench.core.errors import SpecError

        raise SpecError(f"Unexpected argument {run}: to continue a run, use --resume {run}.")
    return None if not resume else str(run or "")


def _run(stage: str, preset, data, scale, sets, out, resume, dry_run, probe=None, **paths) -> None:
    from yonos_bench.core.errors import SpecError
    from yonos_train.config import apply_overrides, describe
    from yonos_train.recipes import recipe

    given = {k: v for k, v in paths.items() if v is not None}
    if resume is not None:
        if probe is not None:
            raise SpecError("--probe measures a fresh run; it cannot be combined with --resume.")
        cfg = _resumed_config(stage, resume, out, preset, data, scale, given, sets)
    else:
        needed = {"distill": "teacher", "decoder": "model"}.get(stage)
        if needed and needed not in given:
            raise SpecError(
                f"--{needed} is required for `train {stage}` (unless resuming with --resume RUN)."
            )
        cfg = recipe(stage, preset or "tiny")
        if data:
            cfg.data = list(data)
        if not cfg.data:
            raise SpecError(f"--data is required for the {cfg.preset} preset (one or more HR image folders).")
        # Stored absolute: a run (and its --resume) must not depend on the directory it ran from.
        cfg.data = [_absolute(d) for d in cfg.data]
        if scale is None and "teacher" in given and (ts := _model_scale(given["teacher"])):
            scale = 2 * ts  # distill: the student works at twice the teacher's scale
        if scale is None and "model" in given and (ms := _model_scale(given["model"])):
            scale = ms  # decoder: the pipeline's own scale
        if scale is not None:
            cfg.scale = scale
        for key, value in given.items():
            setattr(cfg, key, _absolute(str(value)))
        if out is not None:
            cfg.out = str(out)
        cfg = apply_overrides(cfg, sets or [])  # validates the result (options and --set together)
    if dry_run:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        info = describe(cfg, world)
        info["derived"]["note"] = (
            f"samples per optimizer step = batch_size {cfg.batch_size} x grad_accum {cfg.grad_accum} x processes; "
            f"on 4 GPUs: {cfg.samples_per_step * 4}"
        )
        typer.echo(json.dumps(info, indent=2))
        return
    from yonos_train.engine import TrainingInterrupted
    from yonos_train.stages import run_stage

    if probe is not None:
        from yonos_train.probe import run_probe

        report = run_probe(cfg, probe)
        if os.environ.get("RANK", "0") == "0":  # accelerate launch: one report
            typer.echo(report)
        return
    try:
        run_dir = run_stage(cfg)
    except TrainingInterrupted as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(130) from None
    typer.echo(f"Run finished: {run_dir}")


@app.command("standard")
def standard(
    preset: PresetOpt = None,
    data: DataOpt = None,
    scale: ScaleOpt = None,
    init: Annotated[
        str | None, typer.Option("--init", help="random, an SD v1.5 folder / hub id, or a YONOS pipeline.")
    ] = None,
    vae: VaeOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    run: RunArg = None,
    dry_run: DryOpt = False,
    probe: ProbeOpt = False,
    probe_steps: ProbeStepsOpt = 3,
) -> None:
    """Eq. 2 at scale N on raw data: the x2 teacher, or an SD-SR baseline (direct x4/x8)."""
    _run(
        "standard",
        preset,
        data,
        scale,
        sets,
        out,
        _resume_target(resume, run),
        dry_run,
        probe_steps if probe else None,
        init=init,
        vae=vae,
    )


@app.command("distill")
def distill(
    teacher: Annotated[
        str | None, typer.Option("--teacher", help="The frozen x(N/2) YONOS pipeline (or its run folder).")
    ] = None,
    preset: PresetOpt = None,
    data: DataOpt = None,
    scale: ScaleOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    run: RunArg = None,
    dry_run: DryOpt = False,
    probe: ProbeOpt = False,
    probe_steps: ProbeStepsOpt = 3,
) -> None:
    """Eq. 3: student at xN initialised from and supervised by the frozen x(N/2) teacher."""
    _run(
        "distill",
        preset,
        data,
        scale,
        sets,
        out,
        _resume_target(resume, run),
        dry_run,
        probe_steps if probe else None,
        teacher=teacher,
    )


@app.command("decoder")
def decoder(
    model: Annotated[
        str | None, typer.Option("--model", help="The one-step YONOS pipeline (or run folder) to fine-tune.")
    ] = None,
    preset: PresetOpt = None,
    data: DataOpt = None,
    scale: ScaleOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    run: RunArg = None,
    dry_run: DryOpt = False,
    probe: ProbeOpt = False,
    probe_steps: ProbeStepsOpt = 3,
) -> None:
    """Fine-tune the VAE decoder on the frozen one-step UNet (LDM autoencoder loss)."""
    _run(
        "decoder",
        preset,
        data,
        scale,
        sets,
        out,
        _resume_target(resume, run),
        dry_run,
        probe_steps if probe else None,
        model=model,
    )


@app.command("autoencoder")
def autoencoder(
    preset: PresetOpt = None,
    data: DataOpt = None,
    sets: SetOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    run: RunArg = None,
    dry_run: DryOpt = False,
    probe: ProbeOpt = False,
    probe_steps: ProbeStepsOpt = 3,
) -> None:
    """Train the tiny preset's KL autoencoder from scratch (saved to <run>/vae)."""
    _run(
        "autoencoder",
        preset,
        data,
        None,
        sets,
        out,
        _resume_target(resume, run),
        dry_run,
        probe_steps if probe else None,
    )


@app.command("prepare-data")
def prepare_data(
    data: Annotated[
        list[str], typer.Option("--data", help="HR source folder (repeatable; searched recursively).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the tiles and tiles.json (then: --data OUT).")
    ],
    tile: Annotated[
        int, typer.Option("--tile", help="Tile side in px (>= the training crop; 640 for 512 crops).")
    ] = 640,
    stride: Annotated[
        int, typer.Option("--stride", help="Step between tiles (overlap = tile - stride).")
    ] = 320,
    min_size: Annotated[
        int, typer.Option("--min-size", help="Skip images smaller than this (the crop).")
    ] = 512,
    workers: Annotated[int, typer.Option("--workers", help="Processes decoding and cutting images.")] = 1,
) -> None:
    """Cut HR images once into overlapping PNG tiles with a manifest (fast loading of DIV8K-size images)."""
    from yonos_train.prepare_data import prepare_tiles

    manifest = prepare_tiles(data, out, tile=tile, stride=stride, min_size=min_size, workers=workers)
    typer.echo(
        f"{len(manifest['tiles'])} tiles of {tile}px (stride {stride}) from "
        f"{sum(s['images'] for s in manifest['sources'])} images -> {out} "
        f"({manifest['skipped_small']} smaller than {min_size}px skipped). Train with --data {out}"
    )
