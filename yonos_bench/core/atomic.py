"""Atomic file writes: write to a temp file in the same folder, fsync, then rename.

A reader never sees a half-written file; an interrupted write leaves the previous
version (or nothing) in place. A write that fails (disk full, no permission) removes its
temp file and raises :class:`~yonos_bench.core.errors.FileWriteError` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import FileWriteError

# mkstemp creates files readable by the owner only (0600); results, pairs and plots should get
# the permissions any other file would (0666 minus the umask). Read once: os.umask is global.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from e
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _FILE_MODE)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, FileWriteError):
            raise write_error(path, e) from e
        raise


def write_error(path: Path, e: OSError) -> FileWriteError:
    """Disk full, permissions, read-only file system...: one message naming the file (also
    for writers that need no atomicity, e.g. files inside a temporary folder)."""
    err = FileWriteError(
        f"Cannot write {path}: {e.strerror or e}. The file was left as it was; free some space or "
        "check the folder's permissions, then run the command again."
    )
    err.errno = e.errno
    return err


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data), "wb")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    _atomic(Path(path), lambda f: f.write(text), "w")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Stable, human-readable JSON (sorted keys, 2-space indent, trailing newline)."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
