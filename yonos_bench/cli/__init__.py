"""The ``yonos-bench`` command line: a thin Typer layer over typed library functions.

Each command group lives in its own module (``cli/<group>.py``) and imports heavy
libraries (torch, diffusers, pyiqa) inside the command bodies only, so ``--help`` and
listing commands answer instantly. User errors (:class:`yonos_bench.core.errors.YonosError`)
are printed as one message and exit with code 1 — never a traceback; so are operating-system
errors on user paths (a read-only results folder, a file given as a folder), which name the
path. ``--version`` prints the version; ``-q`` leaves only errors and results.
"""

from __future__ import annotations

import sys

import click
import typer
from typer.core import TyperGroup

from yonos_bench.cli import bench as _bench_cli
from yonos_bench.cli import data as _data_cli
from yonos_bench.cli import demo as _demo_cli
from yonos_bench.cli import figure as _figure_cli
from yonos_bench.cli import metrics as _metrics_cli
from yonos_bench.cli import models as _models_cli
from yonos_bench.cli import protocols as _protocols_cli
from yonos_bench.cli import results as _results_cli
from yonos_bench.cli import train as _train_cli
from yonos_bench.cli import weights as _weights_cli


class _ErrorReportingGroup(TyperGroup):
    """Root group: a :class:`YonosError` anywhere below becomes one message and exit 1.

    Done at the click level (not in ``main``) so ``CliRunner`` tests see the same behaviour
    as the console script."""

    def invoke(self, ctx: click.Context):
        from yonos_bench.core.errors import YonosError

        try:
            return super().invoke(ctx)
        except YonosError as e:
            _print_error(str(e))
            ctx.exit(1)
        except OSError as e:  # a user path that cannot be read or written: name it, no traceback
            _print_error(_os_error_message(e))
            ctx.exit(1)


def _os_error_message(e: OSError) -> str:
    what = e.strerror or type(e).__name__
    paths = [p for p in (e.filename, e.filename2) if p is not None]
    if not paths:
        return f"{what}: {e}"
    hint = {
        "NotADirectoryError": " (a file was given where a folder is expected)",
        "IsADirectoryError": " (a folder was given where a file is expected)",
        "PermissionError": " (choose a writable location, e.g. --results DIR / --output PATH)",
    }.get(type(e).__name__, "")
    return f"{what}: {' -> '.join(map(str, paths))}{hint}."


app = typer.Typer(
    cls=_ErrorReportingGroup,
    name="yonos-bench",
    help="Train YONOS-SR and benchmark one-step diffusion super-resolution on versioned protocols.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Command groups register here, one line each: app.add_typer(<module>.app, name="<group>")
app.add_typer(_protocols_cli.app, name="protocols")
app.add_typer(_data_cli.app, name="data")
app.add_typer(_metrics_cli.app, name="metrics")
app.add_typer(_weights_cli.app, name="weights")
app.add_typer(_models_cli.app, name="models")
app.add_typer(_train_cli.app, name="train")
app.add_typer(_results_cli.app, name="results")
for _name, _cmd in (("run", _bench_cli.run), ("sweep-steps", _bench_cli.sweep_steps), ("table", _bench_cli.table),
                    ("plot", _bench_cli.plot), ("check", _bench_cli.check), ("speed", _bench_cli.speed)):  # fmt: skip
    app.command(_name)(_cmd)
app.command("demo")(_demo_cli.demo)
for _name in ("figure", "report"):  # pictures: paper-style grids and the HTML report
    app.command(_name)(getattr(_figure_cli, _name))


def _version_callback(value: bool) -> None:
    if value:
        from yonos_bench import __version__

        typer.echo(f"yonos-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Errors and results only: no progress bars, notes or library warnings."
    ),
) -> None:
    """Train YONOS-SR and benchmark one-step diffusion super-resolution on versioned protocols."""
    from yonos_bench.core.quiet import set_quiet, silence_third_party

    silence_third_party()
    set_quiet(quiet)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        _print_error("Interrupted.")
        sys.exit(130)


def _print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escape: user text ("mc/run[final]", a pattern "^[a-z]+$") must print verbatim
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]Error:[/bold red] {escape(message)}", highlight=False
    )
