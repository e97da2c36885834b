"""Pair preparation: materialise a protocol's LR/HR PNGs and ``manifest.json``.

``<prepared_root>/<name>-v<version>/`` (``<data_root>/prepared/`` unless ``--prepared-root`` or
``$YONOS_PREPARED`` says otherwise, so datasets can live on a read-only mount) holds ``lr/<id>.png``, ``hr/<id>.png`` and
``manifest.json`` (layout and fields: docs/CONTRACTS.md). Guarantees:

* Deterministic: pairs depend only on the spec and the source pixels (per-image seeds are
  hashed from the protocol seed and the image name, see :mod:`yonos_bench.protocols.pair_rules`), so
  any machine and any number of workers give the same pixels and the same digest.
* The digest hashes name, version, scale and each pair's id and *pixel* hashes, so it does
  not depend on the PNG encoder; file sha256s are kept for integrity checks.
* Idempotent: a second ``prepare`` verifies every file hash and does nothing. A missing or
  corrupted file is detected and the protocol is prepared again.
* Atomic: everything is written into a hidden temporary folder that is renamed into place
  once complete, so an interrupted prepare (even SIGKILL) never leaves a folder that looks
  prepared. Folders get 0777 minus the umask (not ``mkdtemp``'s 0700), so other users of a
  shared root can read them when the umask allows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.atomic import write_json_atomic
from yonos_bench.core.errors import FileWriteError, SpecError
from yonos_bench.core.imageio import sha256_file
from yonos_bench.core.paths import PREPARED_ENV
from yonos_bench.core.paths import prepared_root as resolve_prepared_root
from yonos_bench.protocols.pair_rules import make_source_pairs, select_subset
from yonos_bench.protocols.sources import SourceImage, resolve_sources
from yonos_bench.protocols.spec import ProtocolSpec, load_protocol

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Pair:
    """One LR/HR pair of a prepared protocol (``hr_path`` is None for LR-only protocols)."""

    id: str
    lr_path: Path
    hr_path: Path | None
    source: str
    crop_box_hr: tuple[int, int, int, int] | None
    crop_box_lr: tuple[int, int, int, int] | None
    seed: int
    degradation: dict | None = field(default=None, hash=False, compare=False)
    lr_sha256: str = ""
    hr_sha256: str | None = None
    lr_pixels_sha256: str = ""
    hr_pixels_sha256: str | None = None


@dataclass(frozen=True)
class PreparedProtocol:
    spec: ProtocolSpec
    path: Path
    digest: str
    pairs: list[Pair]
    skipped: tuple[dict, ...] = ()  # {"source", "reason"} for images the protocol's rule skipped
    action: str = "loaded"  # "prepared" | "verified" | "regenerated" | "loaded"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST


PathLike = str | os.PathLike | None


def prepared_dir(spec: ProtocolSpec, data_root: PathLike = None, prepared_root: PathLike = None) -> Path:
    return resolve_prepared_root(prepared_root, data_root) / spec.instance_name


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new uniquely named folder with the umask's permissions (``mkdtemp`` forces 0700,
    which hides prepared pairs from the other users of a shared data root)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _unwritable(parent: Path, e: OSError) -> FileWriteError:
    return FileWriteError(
        f"Cannot write prepared pairs under {parent}: {e.strerror or e}. Datasets may stay on a "
        f"read-only data root: point --prepared-root (or ${PREPARED_ENV}) at a writable folder."
    )


def compute_digest(protocol: str, version: int, scale: int, records: list[dict]) -> str:
    """The manifest digest: protocol identity + each pair's id and pixel hashes (CONTRACTS.md)."""
    payload = {
        "protocol": protocol,
        "version": version,
        "scale": scale,
        "pairs": [[r["id"], r["lr_pixels_sha256"], r["hr_pixels_sha256"]] for r in records],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _make_source_pairs_job(args: tuple[ProtocolSpec, SourceImage, Path]) -> tuple[list[dict], list[dict]]:
    if args[0].pairs.lr_from == "degrade":
        import torch

        torch.set_num_threads(1)  # one process per core; results never depend on thread count
    return make_source_pairs(*args)


# ----------------------------------------------------------------------- prepare / verify


def _load_manifest(path: Path) -> dict | None:
    try:
        return json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _problems(spec: ProtocolSpec, path: Path, manifest: dict | None, check_hashes: bool) -> list[str]:
    """Why the prepared folder cannot be used as is (empty list: it is valid)."""
    if manifest is None:
        return [f"{path / MANIFEST} is missing or unreadable"]
    want = {
        "protocol": spec.name,
        "version": spec.version,
        "scale": spec.scale,
        "spec_sha256": spec.spec_sha256,
    }
    bad = [
        f"manifest {k} is {manifest.get(k)!r}, expected {v!r}"
        for k, v in want.items()
        if manifest.get(k) != v
    ]
    if bad:
        return bad
    try:
        records = manifest["pairs"]
        if compute_digest(spec.name, spec.version, spec.scale, records) != manifest["digest"]:
            return ["manifest digest does not match its pairs"]
        problems = []
        for r in records:
            for kind in ("lr", "hr"):
                if r[kind] is None:
                    continue
                f = path / r[kind]
                if not f.is_file():
                    problems.append(f"{f} is missing")
                elif check_hashes and sha256_file(f) != r[f"{kind}_sha256"]:
                    problems.append(f"{f} does not match its sha256 in the manifest (corrupted)")
        return problems
    except (KeyError, TypeError):
        return ["manifest is malformed"]


def _to_prepared(spec: ProtocolSpec, path: Path, manifest: dict, action: str) -> PreparedProtocol:
    pairs = []
    for r in manifest["pairs"]:
        pairs.append(
            Pair(
                id=r["id"],
                lr_path=path / r["lr"],
                hr_path=None if r["hr"] is None else path / r["hr"],
                source=r["source"],
                crop_box_hr=None if r["crop_box_hr"] is None else tuple(r["crop_box_hr"]),
                crop_box_lr=None if r["crop_box_lr"] is None else tuple(r["crop_box_lr"]),
                seed=r["seed"],
                degradation=r["degradation"],
                lr_sha256=r["lr_sha256"],
                hr_sha256=r["hr_sha256"],
                lr_pixels_sha256=r["lr_pixels_sha256"],
                hr_pixels_sha256=r["hr_pixels_sha256"],
            )
        )
    return PreparedProtocol(spec, path, manifest["digest"], pairs, tuple(manifest.get("skipped", ())), action)


def _clean_stale(parent: Path, instance: str) -> None:
    """Remove temporary folders of earlier prepares whose process is gone."""
    for d in parent.glob(f".{instance}.*"):
        try:
            pid = int(d.name.rsplit("-", 2)[-2])
            os.kill(pid, 0)
            continue  # still running (a concurrent prepare): leave it alone
        except (ValueError, IndexError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        shutil.rmtree(d, ignore_errors=True)


def _build(spec: ProtocolSpec, sources: list[SourceImage], tmp: Path, progress: bool, workers: int):
    (tmp / "lr").mkdir(parents=True)
    if not spec.lr_only:
        (tmp / "hr").mkdir()
    jobs = [(spec, src, tmp) for src in sources]
    records: list[dict] = []
    skipped: list[dict] = []
    with _progress(progress, f"Preparing {spec.instance_name}", len(jobs)) as advance:
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for recs, skip in pool.map(_make_source_pairs_job, jobs):  # results in source order
                    records += recs
                    skipped += skip
                    advance()
        else:
            for job in jobs:
                recs, skip = make_source_pairs(*job)
                records += recs
                skipped += skip
                advance()
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise SpecError(f"Protocol '{spec.name}': two pairs get the id '{dup}' (source names collide).")
    return records, skipped


class _progress:
    """A Rich progress bar on stderr (stdout stays clean for --json), or nothing."""

    def __init__(self, enabled: bool, label: str, total: int):
        self.enabled, self.label, self.total = enabled, label, total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.__exit__(*exc)
        return False


def prepare(
    spec: ProtocolSpec | str,
    data_root: PathLike = None,
    *,
    prepared_root: PathLike = None,
    progress: bool = True,
    workers: int = 1,
) -> PreparedProtocol:
    """Prepare ``spec``'s pairs under ``<prepared_root>/<name>-v<version>/`` (default prepared
    root: ``<data_root>/prepared``; see :func:`yonos_bench.core.paths.prepared_root`).

    If a valid prepared copy exists (every file hash checked) this does nothing and returns
    it (``action == "verified"``). Raises :class:`~yonos_bench.core.errors.DataMissingError` when
    the source is missing or incomplete, :class:`~yonos_bench.core.errors.ImageError` naming the
    file for unreadable or unusable images."""
    spec = load_protocol(spec) if isinstance(spec, str) else spec
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    final = prepared_dir(spec, data_root, prepared_root)
    existing = final.is_dir()
    if existing and not _problems(spec, final, _load_manifest(final), check_hashes=True):
        return _to_prepared(spec, final, _load_manifest(final), "verified")

    sources = select_subset(resolve_sources(spec, data_root), spec.pairs.subset)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(parent, spec.instance_name)
        tmp = _new_dir(parent, f".{spec.instance_name}.tmp-{os.getpid()}-")
    except OSError as e:  # a read-only data root ends here, not in a traceback
        raise _unwritable(parent, e) from None
    try:
        records, skipped = _build(spec, sources, tmp, progress, workers)
        manifest = {
            "format": MANIFEST_FORMAT,
            "protocol": spec.name,
            "version": spec.version,
            "scale": spec.scale,
            "seed": spec.seed,
            "spec_sha256": spec.spec_sha256,
            "lr_only": spec.lr_only,
            "digest": compute_digest(spec.name, spec.version, spec.scale, records),
            "skipped": skipped,
            "pairs": records,
        }
        write_json_atomic(tmp / MANIFEST, manifest)  # last: a folder with a manifest is complete
        _install(tmp, final, spec)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _to_prepared(spec, final, manifest, "regenerated" if existing else "prepared")


def _install(tmp: Path, final: Path, spec: ProtocolSpec) -> None:
    """Rename the finished temporary folder into place (replacing a broken copy)."""
    if final.exists():
        other = _load_manifest(final)
        if other is not None and not _problems(spec, final, other, check_hashes=True):
            shutil.rmtree(tmp)  # a concurrent prepare finished first with a valid copy
            return
        trash = _new_dir(final.parent, f".{spec.instance_name}.trash-{os.getpid()}-")
        os.replace(final, trash / "old")
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def load_prepared(
    spec: ProtocolSpec | str,
    data_root: PathLike = None,
    *,
    prepared_root: PathLike = None,
    verify: bool = False,
) -> PreparedProtocol:
    """The prepared pairs of ``spec``; prepares them first if needed (which raises
    :class:`~yonos_bench.core.errors.DataMissingError`, with the layout and URL, when the source is
    missing). Without ``verify`` only file presence is checked (fast)."""
    spec = load_protocol(spec) if isinstance(spec, str) else spec
    final = prepared_dir(spec, data_root, prepared_root)
    manifest = _load_manifest(final)
    if manifest is not None and not _problems(spec, final, manifest, check_hashes=verify):
        return _to_prepared(spec, final, manifest, "loaded")
    return prepare(spec, data_root, prepared_root=prepared_root, progress=False)


def prepared_digest(
    spec: ProtocolSpec, data_root: PathLike = None, prepared_root: PathLike = None
) -> str | None:
    """The digest of the prepared copy if one exists for this spec version (not verified)."""
    manifest = _load_manifest(prepared_dir(spec, data_root, prepared_root))
    if manifest is None or manifest.get("spec_sha256") != spec.spec_sha256:
        return None
    return manifest.get("digest")
