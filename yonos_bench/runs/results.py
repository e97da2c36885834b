"""Result files: the cell key, the cell folder, ``result.json`` and ``per_image.csv``.

A *cell* is (protocol instance, model + weights digest, steps, seed, dtype, and the batch
size for models whose outputs may depend on it) — DESIGN.md "data flow". Each cell owns one folder::

    <results>/<protocol>-v<version>/<model>/steps<S>-seed<seed>-<dtype>[-limit<K>]/
        sr/<pair id>.png      SR images, written atomically as they are produced
        progress-<rank>.jsonl one line per image produced (id, sha256, seconds)
        per_image.csv         one row per pair: id, source, seed, sr_sha256, metric values
        result.json           the summary (schema below), written last, atomically

Models without a step count use ``stepsna``. ``--limit`` runs go to their own folder
(``-limit<K>``) so a smoke run can never overwrite or masquerade as a full result.

``table``, ``plot`` and ``check`` read only these files (:func:`load_results`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from yonos_bench.core.atomic import write_text_atomic
from yonos_bench.core.errors import YonosError

SCHEMA = "yonos-bench/result/v1"
RESULT_FILE = "result.json"
PER_IMAGE_FILE = "per_image.csv"
SR_DIR = "sr"
SPEED_DIR = "speed"


class ResultFileError(YonosError):
    """A result file is unreadable or does not follow the schema (names the file and key)."""


_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name: str) -> str:
    """A file-name-safe rendering of a model name (paths and odd characters become ``_``)."""
    out = _SAFE.sub("_", name).strip("._")
    return out or "model"


@dataclass(frozen=True)
class CellKey:
    """Everything that determines a cell's SR images (and therefore its numbers)."""

    protocol: str
    protocol_version: int | str
    protocol_digest: str
    model: str
    weights_digest: str | None
    steps: int | None
    seed: int
    dtype: str
    limit: int | None = None
    #: Set only for models whose outputs may depend on the batch (``batch_invariant`` False):
    #: a cell then never mixes or serves images of another ``--batch-size``. Left out of the
    #: digest when None, so cells of batch-invariant models (and older result files) keep it.
    batch_size: int | None = None

    def folder_name(self) -> str:
        steps = "na" if self.steps is None else str(self.steps)
        name = f"steps{steps}-seed{self.seed}-{self.dtype}"
        return name + (f"-limit{self.limit}" if self.limit is not None else "")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["batch_size"] is None:
            del d["batch_size"]
        return d

    def digest(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CellKey:
        return cls(**{f: d.get(f) for f in cls.__dataclass_fields__})


def protocol_dir(results_root: Path, protocol: str, version: int | str) -> Path:
    return Path(results_root) / f"{protocol}-v{version}"


def cell_dir(results_root: Path, key: CellKey) -> Path:
    return (
        protocol_dir(results_root, key.protocol, key.protocol_version)
        / safe_name(key.model)
        / key.folder_name()
    )


def image_seed(run_seed: int, pair_id: str) -> int:
    """Per-image seed from (run seed, pair id) by hashing — never from batch position, so
    outputs do not depend on batch size, resume point or process count."""
    h = hashlib.sha256(f"yonos-bench:{run_seed}:{pair_id}".encode()).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


# ---------------------------------------------------------------------------- validation

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))

_RUN_FIELDS: dict[str, Any] = {
    "schema": str,
    "kind": str,
    "created": str,
    "cell_key": str,
    "cell": dict,
    "protocol": dict,
    "model": dict,
    "steps": (int, type(None)),
    "seed": int,
    "dtype": str,
    "device": str,
    "batch_size": int,
    "n": int,
    "metrics": dict,
    "unavailable": dict,
    "timing": dict,
    "sr_images": dict,
    "per_image_csv_sha256": str,
    "reportable": bool,
    "not_reportable_reason": _OPT_STR,
    "limit": (int, type(None)),
    "provenance": dict,
    "backend_versions": dict,
}
_SPEED_FIELDS: dict[str, Any] = {
    "schema": str,
    "kind": str,
    "created": str,
    "model": dict,
    "steps": (int, type(None)),
    "dtype": str,
    "device": str,
    "size": int,
    "batch_size": int,
    "repeats": int,
    "warmup": int,
    "timing": dict,
    "stages": dict,
    "reportable": bool,
    "provenance": dict,
}
_SUB_FIELDS: dict[str, dict[str, Any]] = {
    "protocol": {
        "name": str,
        "version": (int, str),
        "digest": str,
        "scale": int,
        "n_pairs": int,
        "metrics": list,
    },
    "model": {"name": str, "weights_digest": _OPT_STR, "scale": int, "supports_steps": bool},
    "provenance": {"packages": dict, "git_commit": _OPT_STR, "device": str},
}
_METRIC_FIELDS = {"mean": _NUM, "ci_low": _OPT_NUM, "ci_high": _OPT_NUM, "n": int, "lower_better": bool}
_RUN_TIMING = {"seconds_per_image": _OPT_NUM, "peak_memory_bytes": _OPT_NUM, "peak_memory_kind": str}
_SPEED_TIMING = {
    "median_s_per_image": _NUM,
    "p90_s_per_image": _NUM,
    "images_per_second": _NUM,
    "peak_memory_bytes": _OPT_NUM,
    "peak_memory_kind": str,
}


def _check_fields(obj: Mapping[str, Any], fields: Mapping[str, Any], where: str, path: Path) -> None:
    for name, types in fields.items():
        if name not in obj:
            raise ResultFileError(f"Result file {path}: missing key '{where}{name}'.")
        value = obj[name]
        if isinstance(value, bool) and types in (int, _NUM, _OPT_NUM) or not isinstance(value, types):
            raise ResultFileError(
                f"Result file {path}: key '{where}{name}' has type {type(value).__name__}, expected {types}."
            )


def validate_result(obj: Any, path: Path) -> dict[str, Any]:
    """Check ``obj`` against the schema; returns it, raises :class:`ResultFileError`."""
    if not isinstance(obj, dict):
        raise ResultFileError(f"Result file {path}: top level is {type(obj).__name__}, expected an object.")
    if obj.get("schema") != SCHEMA:
        raise ResultFileError(f"Result file {path}: schema is {obj.get('schema')!r}, expected {SCHEMA!r}.")
    kind = obj.get("kind")
    if kind == "run":
        _check_fields(obj, _RUN_FIELDS, "", path)
        for sub in ("protocol", "model", "provenance"):
            _check_fields(obj[sub], _SUB_FIELDS[sub], f"{sub}.", path)
        _check_fields(obj["timing"], _RUN_TIMING, "timing.", path)
        for mid, m in obj["metrics"].items():
            if not isinstance(m, dict):
                raise ResultFileError(f"Result file {path}: metrics.{mid} is not an object.")
            _check_fields(m, _METRIC_FIELDS, f"metrics.{mid}.", path)
        if CellKey.from_dict(obj["cell"]).digest() != obj["cell_key"]:
            raise ResultFileError(
                f"Result file {path}: 'cell_key' does not match 'cell' (edited or corrupted)."
            )
    elif kind == "speed":
        _check_fields(obj, _SPEED_FIELDS, "", path)
        _check_fields(obj["model"], _SUB_FIELDS["model"], "model.", path)
        _check_fields(obj["timing"], _SPEED_TIMING, "timing.", path)
    else:
        raise ResultFileError(f"Result file {path}: 'kind' is {kind!r}, expected 'run' or 'speed'.")
    return obj


def read_result(path: str | Path) -> dict[str, Any]:
    """Parse and validate one ``result.json``; raises :class:`ResultFileError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ResultFileError(f"Result file not found: {path}") from None
    except OSError as e:
        raise ResultFileError(f"Cannot read result file {path}: {e}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultFileError(f"Result file {path} is not valid JSON ({e}); it is corrupted.") from None
    return validate_result(obj, path)


def write_result(path: str | Path, obj: Mapping[str, Any]) -> None:
    """Validate, then write atomically (a reader never sees a half-written file)."""
    path = Path(path)
    validate_result(dict(obj), path)
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


@dataclass(frozen=True)
class LoadedResult:
    path: Path
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def model(self) -> str:
        return self.data["model"]["name"]

    @property
    def steps(self) -> int | None:
        return self.data["steps"]


def verify_per_image(data: Mapping[str, Any], path: str | Path) -> None:
    """Check a run result against its ``per_image.csv``: the file's sha256 is the recorded
    one and every per-image metric's mean and n recompute from it. Raises
    :class:`ResultFileError` naming the file and what differs (a hand-edited or corrupted
    result is never believed). Set-level metrics (FID/KID) have no per-image values; the
    sha256 of the per-image file is all that ties them down."""
    path = Path(path)
    csv_path = path.parent / PER_IMAGE_FILE
    if not csv_path.is_file():
        raise ResultFileError(f"Result file {path}: its {PER_IMAGE_FILE} is missing ({csv_path}).")
    from yonos_bench.core.imageio import sha256_file

    if sha256_file(csv_path) != data["per_image_csv_sha256"]:
        raise ResultFileError(
            f"Result file {path}: {csv_path} does not have the sha256 recorded in it (edited or corrupted)."
        )
    values = read_per_image(csv_path)
    for mid, m in data["metrics"].items():
        if mid not in values:
            continue
        finite = [v for v in values[mid].values() if math.isfinite(v)]
        mean = math.fsum(finite) / len(finite) if finite else math.nan
        if len(finite) != m["n"] or not math.isclose(mean, m["mean"], rel_tol=1e-9, abs_tol=1e-12):
            raise ResultFileError(
                f"Result file {path}: metrics.{mid} says mean {m['mean']:.6g} over n={m['n']}, but its "
                f"{PER_IMAGE_FILE} gives {mean:.6g} over n={len(finite)} (edited or corrupted)."
            )


def measured_seconds(data: Mapping[str, Any]) -> float | None:
    """A run result's seconds per image, or None when we did not run the model (folder
    outputs: the recorded figure of older files is file-read time, not the model's speed)."""
    if (data["model"].get("info") or {}).get("adapter") == "folder":
        return None
    return data["timing"].get("seconds_per_image")


def find_result_files(results_root: str | Path) -> list[Path]:
    root = Path(results_root)
    if not root.is_dir():
        return []
    return sorted(root.rglob(RESULT_FILE))


def load_results(
    results_root: str | Path, *, kind: str | None = None, skip_invalid: bool = False
) -> tuple[list[LoadedResult], list[str]]:
    """Every valid result under ``results_root`` (sorted by path), each run result verified
    against its ``per_image.csv`` (:func:`verify_per_image`). A file that cannot be used
    raises (naming it) unless ``skip_invalid`` — then it is left out with one warning: a
    corrupt file never changes a table or a gate in silence."""
    loaded: list[LoadedResult] = []
    warnings: list[str] = []
    for path in find_result_files(results_root):
        try:
            data = read_result(path)
            if data["kind"] == "run":
                verify_per_image(data, path)
        except ResultFileError as e:
            if not skip_invalid:
                raise ResultFileError(
                    f"{e} Fix or remove it (a rerun of its cell recomputes it), or pass --skip-bad to leave "
                    "such files out."
                ) from None
            warnings.append(f"skipped {e}")
            continue
        if kind is None or data["kind"] == kind:
            loaded.append(LoadedResult(path, data))
    return loaded, warnings


# ----------------------------------------------------------------------- per_image.csv


def per_image_csv(rows: Iterable[Mapping[str, Any]], metric_ids: list[str]) -> str:
    """CSV text: id, source, seed, sr_sha256, then one column per metric. Floats use
    ``repr`` so they round-trip exactly (paired bootstrap in ``table`` reads them back)."""
    buf = io.StringIO()
    fields = ["id", "source", "seed", "sr_sha256", *metric_ids]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        out = {f: row.get(f, "") for f in fields}
        for m in metric_ids:
            v = row.get(m)
            out[m] = "" if v is None else repr(float(v))
        writer.writerow(out)
    return buf.getvalue()


def read_per_image(path: str | Path) -> dict[str, dict[str, float]]:
    """``{metric_id: {pair_id: value}}`` from a ``per_image.csv`` (empty cells skipped)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fixed = {"id", "source", "seed", "sr_sha256"}
            metrics = [c for c in (reader.fieldnames or []) if c not in fixed]
            out: dict[str, dict[str, float]] = {m: {} for m in metrics}
            for row in reader:
                for m in metrics:
                    if row.get(m) not in (None, ""):
                        out[m][row["id"]] = float(row[m])
    except FileNotFoundError:
        raise ResultFileError(f"Per-image file not found: {path}") from None
    except (csv.Error, ValueError, KeyError) as e:
        raise ResultFileError(f"Per-image file {path} is malformed: {e}") from None
    return out


def read_sources(path: str | Path) -> dict[str, str]:
    """``{pair_id: source image}`` from a ``per_image.csv`` (empty sources: the pair id)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            return {row["id"]: row.get("source") or row["id"] for row in csv.DictReader(f)}
    except FileNotFoundError:
        raise ResultFileError(f"Per-image file not found: {path}") from None
    except (csv.Error, KeyError) as e:
        raise ResultFileError(f"Per-image file {path} is malformed: {e}") from None


def finite_or_none(x: float | None) -> float | None:
    """JSON has no NaN: undefined values are stored as null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
