"""``yonos-bench protocols``: list, show, validate and prepare registered protocols."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Registered evaluation protocols (versioned YAML specs).", no_args_is_help=True)

DataRoot = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        help="Folder holding the datasets and prepared pairs (default: $YONOS_DATA or ~/.cache/yonos-bench/data).",
    ),
]


PreparedRoot = Annotated[
    Path | None,
    typer.Option(
        "--prepared-root",
        help="Where prepared pairs are written (default: $YONOS_PREPARED or <data root>/prepared).",
    ),
]


def _console():
    from yonos_bench.core.console import console

    return console(soft_wrap=True)


def check_metric_ids(spec) -> None:
    """Every metric ID of the spec names a preset (did-you-mean otherwise), so a typo fails at
    ``show``/``prepare`` rather than after a model has run."""
    from yonos_bench.core.errors import SpecError
    from yonos_bench.metrics.presets import get_preset

    for m in spec.metrics:
        try:
            get_preset(m)
        except KeyError as e:
            raise SpecError(f"{spec.file}: key 'metrics': {e}") from None


@app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every registered protocol: name, version, scale, pairs, metrics."""
    from rich.table import Table

    from yonos_bench.protocols.spec import list_protocols

    specs = list_protocols()
    if as_json:
        rows = [
            {
                "name": s.name,
                "version": s.version,
                "scale": s.scale,
                "pairs": s.expected_pairs,
                "metrics": list(s.metrics),
                "dataset": s.source.dataset,
                "file": s.file,
            }
            for s in specs
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Registered protocols")
    table.add_column("name", no_wrap=True)
    for col in ("version", "scale", "pairs", "metrics"):
        table.add_column(col)
    for s in specs:
        table.add_row(s.name, str(s.version), f"x{s.scale}", str(s.expected_pairs), ", ".join(s.metrics))
    _console().print(table)


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Protocol name (or a spec .yaml file).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the parsed spec as JSON.")] = False,
) -> None:
    """Everything a protocol spec says: source layout, pair rule, metrics, documented choices."""
    import dataclasses

    from yonos_bench.protocols.sources import expected_layout
    from yonos_bench.protocols.spec import load_protocol

    s = load_protocol(name)
    check_metric_ids(s)
    if as_json:
        d = dataclasses.asdict(s)
        d["spec_sha256"] = s.spec_sha256
        typer.echo(json.dumps(d, indent=2, sort_keys=True))
        return
    p = s.pairs
    rule = p.rule
    if p.rule == "random_patches":
        rule += f": {p.per_image} per image, LR {p.lr_size}x{p.lr_size}"
    elif p.rule == "center_crop":
        rule += f": LR {p.lr_size}x{p.lr_size}"
    if p.hr_resize:
        rule += f"; HR -> {p.hr_resize.size}x{p.hr_resize.size} ({p.hr_resize.method})"
    rule += f"; LR from {'degradation ' + repr(p.degradation) if p.lr_from == 'degrade' else 'the dataset'}"
    sub = p.subset
    if (sub.offset, sub.every, sub.first) != (0, 1, None):
        rule += f"; subset: sorted[{sub.offset}::{sub.every}]" + (f"[:{sub.first}]" if sub.first else "")
    rows = [
        ("name", f"{s.name} (version {s.version})"),
        ("description", s.description),
        ("scale", f"x{s.scale}" + (" (LR only, no ground truth)" if s.lr_only else "")),
        ("source", s.source.dataset),
        ("layout", expected_layout(s)),
        ("url", s.source.url or "-"),
        ("pairs", f"{s.expected_pairs} ({rule}); seed {s.seed}; too small: {p.too_small}"),
        ("metrics", ", ".join(s.metrics)),
        ("citation", s.citation),
        ("spec", f"{s.file} (sha256 {s.spec_sha256[:16]}...)"),
    ]
    from rich.markup import escape

    con = _console()
    for k, v in rows:
        con.print(f"[bold]{k:>12}[/bold]  {escape(v)}", highlight=False)
    for i, note in enumerate(s.notes):
        con.print(f"[bold]{'choices' if i == 0 else '':>12}[/bold]  - {escape(note)}", highlight=False)


@app.command("validate")
def validate_cmd(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Spec files to check (default: every registered protocol).")
    ] = None,
) -> None:
    """Parse and validate specs strictly (used in CI); exit 1 naming the file and key on error."""
    from yonos_bench.protocols.spec import load_registry, load_spec_file

    if files:
        specs = [load_spec_file(f) for f in files]
        seen: dict[str, str] = {}
        for s in specs:
            if s.name in seen:
                from yonos_bench.core.errors import SpecError

                raise SpecError(
                    f"Duplicate protocol name '{s.name}': defined in {seen[s.name]} and in {s.file}."
                )
            seen[s.name] = s.file
    else:
        specs = list(load_registry().values())
    for s in specs:
        check_metric_ids(s)
    typer.echo(f"{len(specs)} protocol spec(s) valid: {', '.join(sorted(s.name for s in specs))}")


@app.command("prepare")
def prepare_cmd(
    name: Annotated[str, typer.Argument(help="Protocol name (or a spec .yaml file).")],
    data_root: DataRoot = None,
    prepared_root: PreparedRoot = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes (results do not depend on it).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print digest, pairs, path... as JSON.")] = False,
) -> None:
    """Materialise LR/HR pairs + manifest.json (deterministic; a second run verifies and does nothing)."""
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.protocols.spec import load_protocol

    spec = load_protocol(name)
    check_metric_ids(spec)
    t0 = time.perf_counter()
    from yonos_bench.core.quiet import is_quiet

    pp = prepare(spec, data_root, prepared_root=prepared_root, progress=not (as_json or is_quiet()), workers=workers)
    seconds = time.perf_counter() - t0
    info = {
        "protocol": spec.name,
        "version": spec.version,
        "digest": pp.digest,
        "pairs": len(pp.pairs),
        "skipped": len(pp.skipped),
        "path": str(pp.path),
        "action": pp.action,
        "seconds": round(seconds, 3),
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    verb = {"verified": "already prepared (all file hashes verified)", "regenerated": "re-prepared"}.get(
        pp.action, "prepared"
    )
    _console().print(
        f"{spec.instance_name}: {verb}: {len(pp.pairs)} pairs in {pp.path} ({seconds:.1f} s)\n"
        f"digest {pp.digest}"
        + (f"\n{len(pp.skipped)} source images skipped (see manifest.json)" if pp.skipped else ""),
        highlight=False,
        markup=False,
    )
