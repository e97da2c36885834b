"""Atomic file writes: write to a temp file in the same folder, fsync, then rename.

A reader never sees a half-written file; an interrupted write leaves the previous
version (or nothing) in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data), "wb")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    _atomic(Path(path), lambda f: f.write(text), "w")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Stable, human-readable JSON (sorted keys, 2-space indent, trailing newline)."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
