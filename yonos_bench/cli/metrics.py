"""``yonos-bench metrics``: list the metric presets, score any SR/HR folder pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Metric presets (IDs carry their convention) and folder scoring.", no_args_is_help=True
)

DEFAULT_METRICS = "psnr-y,ssim-y,lpips-alex"
WeightsDirOpt = Annotated[
    Path | None, typer.Option("--weights-dir", help="Weights folder (default: $YONOS_WEIGHTS).")
]


def _weights_state(preset, weights_dir) -> str:
    from yonos_bench.core.weights import check

    if not preset.weights:
        return "none needed"
    states = [check(w, weights_dir, verify=False) for w in preset.weights]
    missing = [s.file.name for s in states if s.state == "missing"]
    return "present" if not missing else "missing: " + ", ".join(missing)


@app.command("list")
def list_cmd(
    weights_dir: WeightsDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every preset: ID, full-reference / no-reference / set-level, direction, weights."""
    from yonos_bench.metrics.presets import list_presets

    rows = []
    for p in list_presets():
        rows.append(
            {
                "id": p.id,
                "kind": {"fr": "FR", "nr": "NR", "set": "set"}[p.kind],
                "direction": "lower is better" if p.lower_better else "higher is better",
                "backend": p.backend,
                "weights": _weights_state(p, weights_dir),
                "description": p.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from yonos_bench.core.console import console

    table = Table(title="Metric presets (psnr-y-crop{N} / ssim-y-crop{N} accept any N >= 1)")
    for col in ("ID", "kind", "direction", "backend", "weights"):
        table.add_column(col, overflow="fold", no_wrap=col == "ID")
    for r in rows:
        table.add_row(r["id"], r["kind"], r["direction"], r["backend"], escape(r["weights"]))
    console(soft_wrap=True).print(table)


def match_pairs(sr_dir: Path, hr_dir: Path | None) -> tuple[list[Path], list[Path] | None, list[str]]:
    """SR and HR images matched by file stem (``x.png`` ↔ ``x.jpg``); any unmatched name is
    an error that lists them."""
    from yonos_bench.core.errors import DataMissingError, YonosError
    from yonos_bench.core.imageio import list_images

    for d, what in ((sr_dir, "--sr"), (hr_dir, "--hr")):
        if d is not None and not d.is_dir():
            why = "is a file, not a folder" if d.exists() else "does not exist"
            raise DataMissingError(f"{what} folder {d} {why}.")
    sr = _by_stem(list_images(sr_dir), "--sr")
    if not sr:
        raise DataMissingError(f"No images in --sr folder {sr_dir}.")
    if hr_dir is None:
        ids = sorted(sr)
        return [sr[i] for i in ids], None, ids
    hr = _by_stem(list_images(hr_dir), "--hr")
    only_sr, only_hr = sorted(set(sr) - set(hr)), sorted(set(hr) - set(sr))
    if only_sr or only_hr:
        parts = []
        if only_sr:
            parts.append(f"{len(only_sr)} SR image(s) without HR: {', '.join(only_sr[:5])}")
        if only_hr:
            parts.append(f"{len(only_hr)} HR image(s) without SR: {', '.join(only_hr[:5])}")
        raise YonosError(
            f"SR folder {sr_dir} and HR folder {hr_dir} do not match by file name: " + "; ".join(parts)
        )
    ids = sorted(sr)
    return [sr[i] for i in ids], [hr[i] for i in ids], ids


def _by_stem(paths: list[Path], what: str) -> dict[str, Path]:
    """``{stem: path}``; two files of one stem (``x.png`` beside a stale ``x.jpg``) are an
    error naming both — never one of them silently."""
    from yonos_bench.core.errors import YonosError

    out: dict[str, Path] = {}
    for p in paths:
        if p.stem in out:
            raise YonosError(
                f"{what} folder {p.parent}: {out[p.stem].name} and {p.name} have the same name stem "
                f"'{p.stem}', so which one to score is ambiguous. Remove or rename one of them."
            )
        out[p.stem] = p
    return out


def check_computed(ev, ids: list[str]) -> None:
    """``metrics compute`` must compute something: full-reference metrics without ``--hr``
    and an evaluation where every metric was unavailable are errors (exit 1), not a CSV of
    pair ids."""
    from yonos_bench.core.errors import YonosError

    if not ev.summary:
        reasons = "; ".join(f"{m}: {ev.unavailable.get(m, 'not computed').splitlines()[0]}" for m in ids)
        raise YonosError(f"Nothing was computed ({reasons}). No per-image file was written.")


def _need_hr(ids: list[str], hr: Path | None) -> None:
    from yonos_bench.core.errors import YonosError
    from yonos_bench.metrics.presets import get_preset

    fr = [m for m in ids if get_preset(m).kind in ("fr", "set")]
    if hr is None and fr:
        raise YonosError(
            f"{', '.join(fr)} compare with reference images: give --hr HR_FOLDER, or choose "
            "no-reference metrics (e.g. --metrics musiq-koniq,niqe)."
        )


def check_output_path(path: Path) -> None:
    """Fail now if the per-image CSV cannot be written there (an existing folder, a missing
    or read-only parent)."""
    import os

    from yonos_bench.core.errors import YonosError

    if path.is_dir():
        raise YonosError(f"--output {path} is a folder; give a file path such as {path / 'metrics.csv'}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise YonosError(f"--output {path}: the folder {parent} does not exist.")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise YonosError(f"--output {path} is not writable; choose another path with --output.")


class metric_progress:
    """A stderr progress bar with ETA fed by the engine's ``(done, total)`` callback."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.task = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from yonos_bench.core.console import console

        self.bar = Progress(
            TextColumn("metrics"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console(stderr=True), transient=True,
        )  # fmt: skip
        self.bar.__enter__()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("metrics", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
        return False


@app.command("compute")
def compute_cmd(
    sr: Annotated[Path, typer.Option("--sr", help="Folder of SR images.")],
    hr: Annotated[
        Path | None, typer.Option("--hr", help="Folder of HR images (same file names); omit for NR-only.")
    ] = None,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated metric IDs.")] = DEFAULT_METRICS,
    as_json: Annotated[bool, typer.Option("--json", help="Print per-metric results as JSON.")] = False,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 or auto.")] = "cpu",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    weights_dir: WeightsDirOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail if any metric cannot run.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Per-image CSV (default: ./metrics-<SR folder>.csv)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,  # old spelling of --output
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score SR images against HR images matched by file name; print mean and 95% bootstrap
    interval per metric and write per-image values to a CSV."""
    from yonos_bench.core.atomic import write_text_atomic
    from yonos_bench.core.quiet import is_quiet
    from yonos_bench.metrics.engine import evaluate
    from yonos_bench.metrics.presets import parse_metric_list

    if output is not None and out is not None and output != out:
        raise typer.BadParameter(
            "give it once (--out is the old spelling of --output)", param_hint="--output"
        )
    ids = parse_metric_list(metrics)
    if not ids:
        raise typer.BadParameter("name at least one metric", param_hint="--metrics")
    sr_paths, hr_paths, pair_ids = match_pairs(sr, hr)  # missing folders first: the plainer error
    _need_hr(ids, hr)
    out = output or out or Path(f"metrics-{sr.resolve().name}.csv")
    check_output_path(out)  # before minutes of scoring, not after
    with metric_progress(enabled=not (quiet or as_json or is_quiet())) as progress:
        ev = evaluate(
            sr_paths,
            hr_paths,
            ids,
            device=device,
            batch_size=batch_size,
            weights_dir=weights_dir,
            strict=strict,
            pair_ids=pair_ids,
            progress=progress,
        )
    check_computed(ev, ids)
    device = ev.device
    write_text_atomic(out, ev.per_image_csv())
    if as_json:
        data = ev.to_dict(per_image=False)
        data["per_image_csv"] = str(out)
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"{len(pair_ids)} pairs, {ev.seconds:.1f} s on {device}; mean [95% bootstrap interval]:")
    width = max(len(m) for m in ids)
    for mid in ids:
        if mid in ev.summary:
            s = ev.summary[mid]
            arrow = "lower is better" if s.lower_better else "higher is better"
            note = f"  ({s.note})" if s.note else ""
            typer.echo(f"  {mid:<{width}}  {s.format()}  n={s.n}  {arrow}{note}")
        else:
            first = ev.unavailable[mid].splitlines()
            typer.echo(f"  {mid:<{width}}  unavailable: {first[0]}")
            for line in first[1:]:
                typer.echo(f"  {'':<{width}}    {line}")
    typer.echo(f"Per-image values: {out}")
