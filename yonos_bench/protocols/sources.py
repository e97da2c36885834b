"""Finding a protocol's source images: dataset folders under the data root, or images that
ship inside installed packages (the ``sample`` protocol).

Every problem a user can fix (folder missing, wrong image count, LR without HR, a changed
package file) is a :class:`~yonos_bench.core.errors.DataMissingError` whose one-paragraph
message gives the expected layout, the counts and the download URL. Names are matched before
the count is checked, so the message names the culprits (an HR without LR, an LR without HR,
an image with another extension, a symlink that points nowhere); dot-files are ignored,
extensions compare case-insensitively, and a layout found one folder deeper is pointed out.
"""

from __future__ import annotations

import fnmatch
import hashlib
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


_GLOB_CHARS = set("*?[")


def _split_pattern(pattern: str) -> tuple[str, str, str | None]:
    """``dir/pattern/stem.ext`` -> (dir pattern, name-or-stem pattern, ``.ext`` or None).

    The extension is split off (and later compared case-insensitively, so ``*.png`` also
    finds ``0801.PNG``) when it holds no glob character."""
    dir_pat, _, name_pat = pattern.rpartition("/")
    stem, dot, ext = name_pat.rpartition(".")
    if dot and stem and ext and not (_GLOB_CHARS & set(ext)):
        return dir_pat, stem, f".{ext}"
    return dir_pat, name_pat, None


@dataclass(frozen=True)
class _Scan:
    """What one source pattern finds: the files it matches and the ones that look like
    mistakes (same name pattern, another extension; symlinks that point nowhere)."""

    files: list[Path]
    wrong_extension: list[Path]
    dangling: list[Path]


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _scan(base: Path, pattern: str) -> _Scan:
    """Image files matching ``pattern`` under ``base``, sorted by relative path (the order
    every "sorted by name" rule refers to). Dot-files and dot-folders (macOS ``._0801.png``,
    ``.DS_Store``, ``.Trash``) are ignored; extensions compare case-insensitively."""
    dir_pat, name_pat, ext = _split_pattern(pattern)
    dirs = [base] if not dir_pat else [d for d in base.glob(dir_pat) if d.is_dir()]
    files: list[Path] = []
    wrong: list[Path] = []
    dangling: list[Path] = []
    for d in dirs:
        if _hidden(d.relative_to(base)):
            continue
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            stem, suffix = (path.stem, path.suffix) if ext else (path.name, "")
            if not fnmatch.fnmatchcase(stem, name_pat):
                continue
            if path.is_symlink() and not path.exists():
                dangling.append(path)
            elif not path.is_file():
                continue
            elif ext is None or suffix.lower() == ext.lower():
                if is_image_file(path):
                    files.append(path)
            elif is_image_file(path):
                wrong.append(path)

    def order(paths: list[Path]) -> list[Path]:
        return sorted(paths, key=lambda p: p.relative_to(base).as_posix())

    return _Scan(order(files), order(wrong), order(dangling))


def _glob(root: Path, pattern: str) -> list[Path]:
    """Image files matching ``pattern`` under ``root``, sorted by relative path."""
    return _scan(root, pattern).files


def names_digest(relative_paths: list[str]) -> str:
    """sha256 of the sorted relative paths (POSIX ``/``), joined by a newline: the
    ``source.names_sha256`` that pins a file list (e.g. I2SB's ImageNet 10k list)."""
    return hashlib.sha256("\n".join(sorted(relative_paths)).encode("utf-8")).hexdigest()


def _some(paths: list, limit: int = 8) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _missing(spec: ProtocolSpec, root: Path, problem: str) -> DataMissingError:
    s = spec.source
    url = f" Download it from {s.url} and unpack it there," if s.url else " Put the files there,"
    return DataMissingError(
        f"Protocol '{spec.name}' needs {s.dataset}: {problem} Expected layout under the data root "
        f"{root}: {expected_layout(spec)}.{url} or point --data-root (or $YONOS_DATA) at the folder "
        f"that holds {s.root}/. Run `yonos-bench data status` to check every protocol."
    )


def _nested_root_hint(root: Path, rel: str) -> str:
    """When ``<root>/<rel>`` is missing but ``<root>/<X>/<rel>`` exists (an archive that
    unpacks into a folder of its own name, e.g. ``StableSR_testsets/StableSR_testsets/``)."""
    found = sorted(c for c in root.glob(f"*/{rel}") if c.is_dir() and not _hidden(c.relative_to(root)))
    if not found:
        return ""
    outer = found[0].parents[len(Path(rel).parts) - 1]
    return (
        f" It was found one level deeper, at {found[0]} (the archive unpacked into an extra folder): "
        f"move it to {root / rel} or use --data-root {outer}."
    )


def _nested_pattern_hint(base: Path, pattern: str) -> str:
    """When a pattern finds nothing in ``base`` but finds files in a sub-folder of it."""
    for sub in sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")):
        deeper = _scan(sub, pattern).files
        if deeper:
            return (
                f" {len(deeper)} files matching {pattern} were found one level deeper, under {sub}/ "
                f"(the layout has an extra folder): move its contents up to {base}/."
            )
    return ""


def _scan_problems(kind: str, scan: _Scan, pattern: str) -> list[str]:
    problems = []
    if scan.dangling:
        problems.append(f"{len(scan.dangling)} {kind} symlink(s) point to nothing: {_some(scan.dangling)}.")
    if scan.wrong_extension:
        ext = _split_pattern(pattern)[2]
        problems.append(
            f"{len(scan.wrong_extension)} {kind} image(s) have another extension than {ext} and are not "
            f"used: {_some(scan.wrong_extension)}."
        )
    return problems


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
    """Match names first (naming every culprit), then check the count, then the pinned list."""
    s = spec.source
    base = root / s.root
    if not base.is_dir():
        raise _missing(spec, root, f"the folder {base} does not exist.{_nested_root_hint(root, s.root)}")
    main_kind = "LR" if spec.lr_only else "HR"
    main_pattern, main_suffix = (s.lr, s.lr_suffix) if spec.lr_only else (s.hr, s.hr_suffix)
    main = _scan(base, main_pattern)
    # Stray files (another extension, broken symlinks) are not used; they are named when
    # something else is wrong, since they are then the likely culprits.
    strays = _scan_problems(main_kind, main, main_pattern)
    problems: list[str] = []
    keys: dict[str, Path] = {}
    for p in main.files:
        k = _key(p, main_suffix)
        if k in keys:
            problems.append(f"two source images share the name '{k}': {keys[k]} and {p}.")
        keys.setdefault(k, p)
    lrs: dict[str, Path] = {}
    if s.lr and not spec.lr_only:
        lr_scan = _scan(base, s.lr)
        strays += _scan_problems("LR", lr_scan, s.lr)
        for p in lr_scan.files:
            k = _key(p, s.lr_suffix)
            if k in lrs:
                problems.append(f"two LR images share the name '{k}': {lrs[k]} and {p}.")
            lrs.setdefault(k, p)
        no_lr = [keys[k] for k in keys if k not in lrs]
        no_hr = [lrs[k] for k in lrs if k not in keys]
        lr_dir = s.lr.rpartition("/")[0] or "."
        if no_lr:
            problems.append(
                f"{len(no_lr)} HR image(s) have no LR image (looked for {base}/{lr_dir}/<name>{s.lr_suffix}"
                f"{_split_pattern(s.lr)[2] or ''}): {_some(no_lr)}."
            )
        if no_hr:
            problems.append(f"{len(no_hr)} LR image(s) have no HR image: {_some(no_hr)}.")
    n = len(main.files)
    if n != s.count:
        hint = _nested_pattern_hint(base, main_pattern) if n == 0 else ""
        problems.append(
            f"found {n} {main_kind} images matching {base}/{main_pattern}, expected {s.count}.{hint}"
        )
    if problems:
        raise _missing(spec, root, " ".join(strays + problems))
    if s.names_sha256 is not None:
        got = names_digest([p.relative_to(base).as_posix() for p in main.files])
        if got != s.names_sha256:
            raise DataMissingError(
                f"Protocol '{spec.name}': the {n} files under {base} are not the file list version "
                f"{spec.version} of the protocol is defined on (sha256 of their sorted relative paths is "
                f"{got}, expected {s.names_sha256}; see the spec's notes for the list and how the digest "
                "is computed). Another selection of images would give other pairs under the same name."
            )
    if spec.lr_only:
        return [SourceImage(key=k, hr=None, lr=p) for k, p in keys.items()]
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
        hint = _nested_root_hint(root, s.root)
        why = f"{base} does not exist" + (f".{hint}" if hint else "")
        return SourceStatus(spec.name, "missing", None, s.count, layout, s.url, why)
    pattern = s.lr if spec.lr_only else s.hr
    found = len(_glob(base, pattern))
    try:
        _folder_sources(spec, root)
    except DataMissingError as e:
        return SourceStatus(spec.name, "incomplete", found, s.count, layout, s.url, str(e))
    return SourceStatus(spec.name, "found", found, s.count, layout, s.url, "")
