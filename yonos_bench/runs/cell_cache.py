"""The SR-image cache of one cell: what has been produced, and can it be trusted?

Each process appends to ``progress-<rank>.jsonl`` in the cell folder *after* the image
file has been written atomically, so a line always describes a complete file. A killed
run leaves at worst an image without a line (recomputed on resume) or a torn last line
(ignored). The first line of each log names the cell key; logs of another cell (e.g.
older weights) are ignored. An image is *done* only when its file exists and its sha256
equals the recorded one — a modified or truncated image is detected and recomputed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.atomic import write_error
from yonos_bench.core.imageio import sha256_file

LOG_GLOB = "progress-*.jsonl"


def log_path(cell: Path, rank: int) -> Path:
    return Path(cell) / f"progress-{rank}.jsonl"


@dataclass
class CacheState:
    """What the logs say: image hashes, compute seconds per image, peak memory per session."""

    sha256: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    peaks: list[tuple[float, str]] = field(default_factory=list)  # (bytes, kind)


def read_logs(cell: Path, cell_key: str) -> CacheState:
    """Merge every progress log of ``cell`` written for ``cell_key`` (later lines win)."""
    state = CacheState()
    for path in sorted(Path(cell).glob(LOG_GLOB)):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        if not lines or _parse(lines[0]).get("cell_key") != cell_key:
            continue
        for line in lines[1:]:
            rec = _parse(line)
            if "id" in rec and isinstance(rec.get("sha256"), str):
                state.sha256[rec["id"]] = rec["sha256"]
                state.seconds[rec["id"]] = float(rec.get("seconds", 0.0))
            elif "peak_memory_bytes" in rec:
                state.peaks.append((float(rec["peak_memory_bytes"]), str(rec.get("kind", "unknown"))))
    return state


def _parse(line: str) -> dict:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:  # a torn last line from a killed process
        return {}
    return rec if isinstance(rec, dict) else {}


def verify_images(sr_dir: Path, ids: list[str], recorded: dict[str, str]) -> tuple[set[str], list[str]]:
    """Ids whose cached image exists and matches its recorded hash, and one message per
    cached image that exists but does not match (corrupted; it will be recomputed)."""
    done: set[str] = set()
    bad: list[str] = []
    for pid in ids:
        path = Path(sr_dir) / f"{pid}.png"
        if pid not in recorded or not path.is_file():
            continue
        actual = sha256_file(path)
        if actual == recorded[pid]:
            done.add(pid)
        else:
            bad.append(
                f"cached image {path} has sha256 {actual[:12]}…, recorded {recorded[pid][:12]}… (recomputing)"
            )
    return done, bad


class ProgressLog:
    """Append-only log of one process; every line is flushed and fsynced before the next
    image starts, so what the log says survives SIGKILL."""

    def __init__(self, cell: Path, rank: int, cell_key: str):
        self.path = log_path(cell, rank)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists() or _first_key(self.path) != cell_key
            self._f = open(self.path, "w" if fresh else "a")
            if not fresh and not self.path.read_text().endswith("\n"):
                self._f.write("\n")  # terminate a torn line left by a killed process
        except OSError as e:
            raise write_error(self.path, e) from e
        if fresh:
            self._write({"cell_key": cell_key})

    def _write(self, rec: dict) -> None:
        try:
            self._f.write(json.dumps(rec, sort_keys=True) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:  # disk full, I/O error: one message naming the log file
            raise write_error(self.path, e) from e

    def image(self, pid: str, sha256: str, seconds: float) -> None:
        self._write({"id": pid, "sha256": sha256, "seconds": seconds})

    def peak(self, nbytes: float, kind: str) -> None:
        self._write({"peak_memory_bytes": nbytes, "kind": kind})

    def close(self) -> None:
        self._f.close()


def _first_key(path: Path) -> str | None:
    try:
        with open(path) as f:
            return _parse(f.readline()).get("cell_key")
    except OSError:
        return None


def clear_logs(cell: Path) -> None:
    for path in Path(cell).glob(LOG_GLOB):
        path.unlink(missing_ok=True)
