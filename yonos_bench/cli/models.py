"""``yonos-bench models``: the model cards (wrapped baselines, YONOS pipelines, paper-only rows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Model cards: list them, show one (weights, options, reported numbers).", no_args_is_help=True
)

WeightsDirOpt = Annotated[
    Path | None, typer.Option("--weights-dir", help="Weights folder (default: $YONOS_WEIGHTS).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

_STATE_HELP = {
    "present": "all weight files present",
    "missing": "weights missing (yonos-bench weights fetch, or train/copy the pipeline)",
    "partial": "some weight files missing",
    "none": "needs no weights",
    "outputs": "reads outputs you produce with the authors' code (run ... --model-option outputs=DIR)",
    "external": "runs the authors' code or another command (models show NAME: the setup recipe)",
    "paper-only": "published numbers only; cannot run",
}


def _row(card, weights_dir) -> dict:
    return {
        "name": card.name,
        "display_name": card.display_name,
        "adapter": card.adapter,
        "scale": card.scale,
        "steps": card.steps,
        "weights": card.weights_state(weights_dir),
        "reported": len(card.reported),
    }


@app.command("list")
def list_cmd(weights_dir: WeightsDirOpt = None, as_json: JsonOpt = False) -> None:
    """Every model card: name, adapter, scale, default steps, weights present/missing."""
    from yonos_bench.models.registry import list_cards

    rows = [_row(c, weights_dir) for c in list_cards()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from yonos_bench.core.console import console as make_console

    table = Table(title="Model cards (yonos-bench models show NAME for details)")
    for col in ("name", "display name", "adapter", "scale", "steps", "weights", "reported"):
        table.add_column(col, no_wrap=col != "display name", overflow="fold")
    for r in rows:
        steps = "-" if r["steps"] is None else str(r["steps"])
        table.add_row(
            r["name"],
            escape(r["display_name"]),
            r["adapter"],
            f"x{r['scale']}",
            steps,
            r["weights"],
            str(r["reported"]),
        )
    console = make_console(soft_wrap=True)
    console.print(table)
    used = sorted({r["weights"] for r in rows})
    console.print("weights: " + "; ".join(f"{s} = {_STATE_HELP[s]}" for s in used), highlight=False)


def card_details(card, weights_dir) -> dict:
    """Everything ``models show`` prints, as plain data."""
    from yonos_bench.core.weights import check

    files = []
    for w in card.weights:
        st = check(w, weights_dir, verify=False)
        files.append(
            {
                "name": w.name,
                "path": str(st.path),
                "present": st.state != "missing",
                "url": w.url or None,
                "sha256": w.sha256 or "recorded at first fetch, enforced after",
                "note": w.note or None,
            }
        )
    details = {
        **_row(card, weights_dir),
        "paper_names": list(card.paper_names),
        "supports_steps": card.supports_steps,
        "description": card.description,
        "citation": card.citation,
        "license": card.license,
        "homepage": card.homepage or None,
        "options": dict(card.options),
        "weight_files": files,
        "notes": list(card.notes),
        "file": card.file,
        "reported_numbers": [
            {
                "protocol": r.protocol,
                "metric": r.metric,
                "label": r.label,
                "steps": r.steps,
                "value": r.value,
                "source": r.source,
                "note": r.note or None,
            }
            for r in card.reported
        ],
    }
    if card.hf_repo is not None:
        details["hf_repo"] = {
            "repo": card.hf_repo.repo,
            "revision": card.hf_repo.revision,
            "folder": str(card.hf_repo.path(weights_dir)),
        }
    if card.setup is not None:
        from yonos_bench.models.command_setup import setup_recipe

        details["setup"] = setup_recipe(card)
    if card.pipeline is not None:
        details["pipeline_folder"] = {
            "path": str(card.pipeline.path(weights_dir)),
            "env": card.pipeline.env,
            "present": card.pipeline.is_present(weights_dir),
        }
    return details


def _print_setup(c, name: str, s: dict) -> None:
    """The recipe of a command card: clone, install, files, env vars, verify."""
    p = lambda text="": c.print(text, markup=False)  # noqa: E731
    p(f"Setup (runs the authors' code; command line from {s['source']})")
    p(f"  1. Clone: {s['clone']}")
    p("  2. Install (in the checkout, the authors' environment):")
    for line in s["install"]:
        p(f"       {line}")
    where = f"{s['checkout']} (from {s['checkout_from']})" if s["checkout"] else "not set"
    state = "present" if s["checkout_present"] else "MISSING"
    p(f"  3. Checkout: ${s['checkout_env']} (or option checkout=DIR): {where} [{state if s['checkout'] else 'unset'}]")
    p(f"     Interpreter: ${s['python_env']} = {s['python']}")
    if s["files"]:
        p("  4. Checkpoints:")
    for f in s["files"]:
        how = f"set ${f['env']} to move it" if f["env"] else "fixed path (the script's own)"
        when = f", for {f['steps']}-step runs" if f["steps"] is not None else ""
        p(f"     {f['name']}: {f['path']} [{f['state']}]{when}; {how}")
        p(f"       download: {f['url'] or '-'}" + (f" ({f['note']})" if f["note"] else ""))
    p(f"  5. Verify: {s['verify']}")
    if s["workaround"]:
        p(f"  Why the command differs from the authors' line: {s['workaround']}")
    p(f"  Command template: {s['command']}")


@app.command("show")
def show_cmd(
    name: Annotated[
        str, typer.Argument(help="Model card name (see `models list`) or a card .yaml file of your own.")
    ],
    weights_dir: WeightsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One card: what it is, how it runs, its weight files and the numbers papers report for it."""
    from yonos_bench.models.registry import load_card, load_card_file

    is_card_file = Path(name).suffix.lower() in (".yaml", ".yml")
    if is_card_file and not Path(name).expanduser().is_file():
        from yonos_bench.core.errors import DataMissingError

        raise DataMissingError(f"Model card file {name} not found.")
    card = load_card_file(Path(name).expanduser()) if is_card_file else load_card(name)  # as `run --model`
    d = card_details(card, weights_dir)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from yonos_bench.core.console import console

    c = console(soft_wrap=True, highlight=False)
    c.print(
        f"[bold]{d['name']}[/bold] ({escape(d['display_name'])}) — adapter {d['adapter']}, x{d['scale']}, "
        f"default steps {d['steps'] if d['steps'] is not None else '-'}"
    )
    c.print(d["description"], markup=False)
    c.print(f"Citation: {d['citation']}", markup=False)
    c.print(f"License: {d['license']}", markup=False)
    if d["homepage"]:
        c.print(f"Homepage: {d['homepage']}", markup=False)
    if d["options"]:
        c.print("Options: " + ", ".join(f"{k}={v!r}" for k, v in d["options"].items()), markup=False)
    if "hf_repo" in d:
        h = d["hf_repo"]
        c.print(f"Hugging Face repo: {h['repo']} @ {h['revision']} -> {h['folder']}", markup=False)
    if "pipeline_folder" in d:
        p = d["pipeline_folder"]
        env = f" (or ${p['env']})" if p["env"] else ""
        c.print(
            f"Pipeline folder: {p['path']}{env}: {'present' if p['present'] else 'missing'}", markup=False
        )
    for w in d["weight_files"]:
        state = "present" if w["present"] else "MISSING"
        c.print(
            f"Weight file {w['name']}: {w['path']} [{state}]; url {w['url'] or '-'}; sha256 {w['sha256']}",
            markup=False,
        )
        if w["note"]:
            c.print(f"  {w['note']}", markup=False)
    if "setup" in d:
        _print_setup(c, d["name"], d["setup"])
    for n in d["notes"]:
        c.print(f"Note: {n}", markup=False)
    if d["reported_numbers"]:
        t = Table(title=f"Numbers reported for {d['name']}")
        for col in ("protocol", "metric", "label", "steps", "value", "source"):
            t.add_column(col, overflow="fold")
        for r in d["reported_numbers"]:
            t.add_row(
                r["protocol"],
                r["metric"],
                escape(r["label"]),
                "-" if r["steps"] is None else str(r["steps"]),
                f"{r['value']:g}",
                escape(r["source"]),
            )
        c.print(t)
