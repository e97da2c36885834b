"""Consoles for CLI output: readable in a terminal and in CI logs alike.

Rich sizes output to the terminal and, when stdout is not one (a pipe, a CI log), to 80
columns: tables then cut model names (``yonos-tiny-x4…``, ambiguous with
``-orig-decoder``), split URLs mid-word and shrink headers to ``ste…``. Off a terminal we
give Rich a width no table reaches (``$COLUMNS`` still wins when set), so names and URLs
are printed whole; in a terminal the terminal's width applies and name columns fold
rather than cut.
"""

from __future__ import annotations

import os
import sys

#: Width used when the output is not a terminal: wide enough that nothing is cut.
PIPE_WIDTH = 400


def console(*, stderr: bool = False, **kw):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = kw.pop("width", None)
    if width is None and not os.environ.get("COLUMNS") and not _is_tty(stream):
        width = PIPE_WIDTH
    return Console(stderr=stderr, width=width, **kw)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def escape(text: object) -> str:
    """User text (paths, names, patterns) made safe to embed in Rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(text))
