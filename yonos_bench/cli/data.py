"""``yonos-bench data``: where the datasets are and what is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Datasets under the data root: status and expected layouts.", no_args_is_help=True)


@app.command("status")
def status_cmd(
    data_root: Annotated[
        Path | None,
        typer.Option(
            "--data-root",
            help="Folder holding the datasets (default: $YONOS_DATA or ~/.cache/yonos-bench/data).",
        ),
    ] = None,
    prepared_root: Annotated[
        Path | None,
        typer.Option(
            "--prepared-root",
            help="Where prepared pairs are looked for (default: $YONOS_PREPARED or <data root>/prepared).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Every protocol: found / missing, images found vs expected, expected layout, download URL."""
    from yonos_bench.core.paths import data_root as resolve_data_root
    from yonos_bench.protocols.pairs import prepared_digest
    from yonos_bench.protocols.sources import source_status
    from yonos_bench.protocols.spec import list_protocols

    root = resolve_data_root(data_root)
    rows = []
    for spec in list_protocols():
        st = source_status(spec, root)
        rows.append((spec, st, prepared_digest(spec, root, prepared_root)))
    if as_json:
        out = [
            {
                "protocol": st.protocol,
                "state": st.state,
                "found": st.found,
                "expected": st.expected,
                "layout": st.layout,
                "url": st.url,
                "prepared_digest": digest,
                "problem": st.message or None,
            }
            for _, st, digest in rows
        ]
        typer.echo(json.dumps({"data_root": str(root), "protocols": out}, indent=2))
        return

    from rich.markup import escape
    from rich.table import Table

    from yonos_bench.core.console import console

    table = Table(title=f"Data root: {escape(str(root))}", show_lines=True)
    table.add_column("protocol", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("images", no_wrap=True, justify="right")
    table.add_column("expected layout (under the data root) / download", overflow="fold")
    table.add_column("prepared", no_wrap=True)
    colour = {"found": "green", "embedded": "green", "incomplete": "yellow", "missing": "red"}
    for spec, st, digest in rows:
        found = "-" if st.found is None else str(st.found)
        where = (
            st.layout if spec.source.kind == "folder" else f"{st.expected} files inside installed packages"
        )
        table.add_row(
            spec.name,
            f"[{colour[st.state]}]{st.state}[/]",
            f"{found} / {st.expected}",
            escape(f"{where.replace('; ', chr(10))}\n{st.url or '(ships with the package)'}"),
            digest[:8] if digest else "no",
        )
    con = console(soft_wrap=False)  # off a TTY: wide, so URLs are never split
    con.print(table)
    for _, st, _ in rows:
        if st.state == "incomplete" or "one level deeper" in st.message:
            con.print(f"[yellow]{st.protocol}:[/] {escape(st.message)}", highlight=False, soft_wrap=True)
