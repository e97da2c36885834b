"""Finding a protocol's source images: dataset folders under the data root, or images that
ship inside installed packages (the ``sample`` protocol).

Every problem a user can fix (folder missing, wrong image count, LR without HR, a changed
package file) is a :class:`~yonos_bench.core.errors.DataMissingError` whose one-paragraph
message gives the expected layout, the counts and the download URL.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from yonos_bench.core.errors import DataMissingError
from yonos_bench.core.imageio import is_image_file, sha256_file
from yonos_bench.core.paths import data_root as resolve_data_root
from yonos_bench.protocols.spec import ProtocolSpec


@dataclass(frozen=True)
class SourceImage:
    """One source image (or LR/HR file pair); ``key`` names its pairs and is unique."""

    key: str
    hr: Path | None
    lr: Path | None


@dataclass(frozen=True)
class SourceStatus:
    """What ``data status`` reports for one protocol."""

    protocol: str
    state: str  # "found" | "missing" | "incomplete" | "embedded"
    found: int | None  # images found (HR, or LR for LR-only), None when the folder is missing
    expected: int
    layout: str
    url: str | None
    message: str  # empty when found


def expected_layout(spec: ProtocolSpec) -> str:
    """The folder layout a protocol expects, relative to the data root."""
    s = spec.source
    if s.kind == "package":
        return ", ".join(s.files)
    parts = []
    for kind, pattern in (("HR", s.hr), ("LR", s.lr)):
        if pattern:
            parts.append(f"{s.root}/{pattern} ({s.count} {kind} images)")
    return "; ".join(parts)


def _key(path: Path, suffix: str) -> str:
    stem = path.stem
    return stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem


def _glob(root: Path, pattern: str) -> list[Path]:
    """Image files matching ``pattern`` under ``root``, sorted by relative path (the order
    every "sorted by name" rule refers to)."""
    found = [p for p in root.glob(pattern) if p.is_file() and is_image_file(p)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _missing(spec: ProtocolSpec, root: Path, problem: str) -> DataMissingError:
    s = spec.source
    url = f" Download it from {s.url} and unpack it there," if s.url else " Put the files there,"
    return DataMissingError(
        f"Protocol '{spec.name}' needs {s.dataset}: {problem} Expected layout under the data root "
        f"{root}: {expected_layout(spec)}.{url} or point --data-root (or $YONOS_DATA) at the folder "
        f"that holds {s.root}/. Run `yonos-bench data status` to check every protocol."
    )


def _package_file(entry: str) -> Path | None:
    pkg, _, rest = entry.partition("/")
    try:
        found = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for base in found.submodule_search_locations:
        path = Path(base) / rest
        if path.is_file():
            return path
    return None


def _package_sources(spec: ProtocolSpec) -> list[SourceImage]:
    images: list[SourceImage] = []
    for entry in spec.source.files:
        path = _package_file(entry)
        key = Path(entry).stem
        if path is None:
            pkg = entry.partition("/")[0]
            raise DataMissingError(
                f"Protocol '{spec.name}' needs the file '{entry}', which is not present in the installed "
                f"package '{pkg}' (install or reinstall it: pip install --force-reinstall "
                f"{'scikit-image' if pkg == 'skimage' else pkg})."
            )
        images.append(SourceImage(key=key, hr=path, lr=None))
    return images


def _check_pinned_hashes(spec: ProtocolSpec, images: list[SourceImage]) -> None:
    """Files whose sha256 the spec pins (``source.sha256``, by key) must match it."""
    for img in images:
        want = spec.source.sha256.get(img.key)
        path = img.lr if spec.lr_only else img.hr
        if want is None or path is None:
            continue
        got = sha256_file(path)
        if got != want:
            raise DataMissingError(
                f"Protocol '{spec.name}': source file {path} has sha256 {got}, but version {spec.version} "
                f"of the protocol was defined on a file with sha256 {want}. This is a different image, so "
                "the pairs would not be the registered ones."
            )


def _folder_sources(spec: ProtocolSpec, root: Path) -> list[SourceImage]:
    s = spec.source
    base = root / s.root
    if not base.is_dir():
        raise _missing(spec, root, f"the folder {base} does not exist.")
    main_pattern, main_suffix = (s.lr, s.lr_suffix) if spec.lr_only else (s.hr, s.hr_suffix)
    main = _glob(base, main_pattern)
    if len(main) != s.count:
        raise _missing(
            spec,
            root,
            f"found {len(main)} images matching {base}/{main_pattern}, expected {s.count}.",
        )
    keys: dict[str, Path] = {}
    for p in main:
        k = _key(p, main_suffix)
        if k in keys:
            raise _missing(spec, root, f"two source images share the name '{k}': {keys[k]} and {p}.")
        keys[k] = p
    if spec.lr_only:
        return [SourceImage(key=k, hr=None, lr=p) for k, p in keys.items()]
    lrs: dict[str, Path] = {}
    if s.lr:
        lr_files = _glob(base, s.lr)
        for p in lr_files:
            lrs.setdefault(_key(p, s.lr_suffix), p)
        if len(lr_files) != s.count:
            raise _missing(
                spec, root, f"found {len(lr_files)} LR images matching {base}/{s.lr}, expected {s.count}."
            )
        unmatched = [k for k in keys if k not in lrs]
        if unmatched:
            raise _missing(
                spec,
                root,
                f"{len(unmatched)} HR images have no LR image (e.g. '{unmatched[0]}' has no "
                f"{s.lr.rsplit('/', 1)[0]}/{unmatched[0]}{s.lr_suffix}.*).",
            )
    return [SourceImage(key=k, hr=p, lr=lrs.get(k)) for k, p in keys.items()]


def resolve_sources(spec: ProtocolSpec, data_root: str | os.PathLike | None = None) -> list[SourceImage]:
    """The protocol's source images in their canonical (sorted) order, counts checked."""
    if spec.source.kind == "package":
        images = _package_sources(spec)
    else:
        images = _folder_sources(spec, resolve_data_root(data_root))
    _check_pinned_hashes(spec, images)
    return images


def source_status(spec: ProtocolSpec, data_root: str | os.PathLike | None = None) -> SourceStatus:
    """Found / missing / incomplete, with counts, for ``data status`` (never raises for data)."""
    s = spec.source
    layout = expected_layout(spec)
    if s.kind == "package":
        try:
            images = _package_sources(spec)
            _check_pinned_hashes(spec, images)
            found = len(images)
            return SourceStatus(spec.name, "embedded", found, s.count, layout, s.url, "")
        except DataMissingError as e:
            return SourceStatus(spec.name, "missing", None, s.count, layout, s.url, str(e))
    root = resolve_data_root(data_root)
    base = root / s.root
    if not base.is_dir():
        return SourceStatus(spec.name, "missing", None, s.count, layout, s.url, f"{base} does not exist")
    pattern = s.lr if spec.lr_only else s.hr
    found = len(_glob(base, pattern))
    try:
        _folder_sources(spec, root)
    except DataMissingError as e:
        return SourceStatus(spec.name, "incomplete", found, s.count, layout, s.url, str(e))
    return SourceStatus(spec.name, "found", found, s.count, layout, s.url, "")
