"""Where things live: data root, weights folder, results root.

Precedence everywhere: explicit argument (CLI option) > environment variable > default.
A root that exists but is a file is an error naming the option (not a NotADirectoryError
deep inside whatever first writes under it).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "YONOS_DATA"
PREPARED_ENV = "YONOS_PREPARED"
WEIGHTS_ENV = "YONOS_WEIGHTS"
RESULTS_ENV = "YONOS_RESULTS"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "yonos-bench"


def _folder(path: Path, option: str, env: str) -> Path:
    if path.exists() and not path.is_dir():
        from yonos_bench.core.errors import YonosError

        raise YonosError(f"{option} {path} is a file, not a folder (give a folder, via {option} or ${env}).")
    return path


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """Datasets are looked for under ``<data_root>/<dataset folder>``; prepared pairs go to
    ``<data_root>/prepared/`` unless :func:`prepared_root` says otherwise. Default:
    ``$YONOS_DATA`` or ``~/.cache/yonos-bench/data``."""
    if explicit is not None:
        return _folder(Path(explicit).expanduser(), "--data-root", DATA_ENV)
    if os.environ.get(DATA_ENV):
        return _folder(Path(os.environ[DATA_ENV]).expanduser(), "--data-root", DATA_ENV)
    return _cache_home() / "data"


def prepared_root(
    explicit: str | os.PathLike | None = None, data_root_dir: str | os.PathLike | None = None
) -> Path:
    """Where prepared pairs are written: ``--prepared-root`` > ``$YONOS_PREPARED`` >
    ``<data_root>/prepared``. A separate root lets the datasets live on a read-only mount."""
    if explicit is not None:
        return Path(explicit).expanduser()
    if os.environ.get(PREPARED_ENV):
        return Path(os.environ[PREPARED_ENV]).expanduser()
    return data_root(data_root_dir) / "prepared"


def weights_dir(explicit: str | os.PathLike | None = None) -> Path:
    """One folder for every weight file (metric backbones, baselines, clean-fid Inception).
    Default: ``$YONOS_WEIGHTS`` or ``~/.cache/yonos-bench/weights``."""
    if explicit is not None:
        return _folder(Path(explicit).expanduser(), "--weights-dir", WEIGHTS_ENV)
    if os.environ.get(WEIGHTS_ENV):
        return _folder(Path(os.environ[WEIGHTS_ENV]).expanduser(), "--weights-dir", WEIGHTS_ENV)
    return _cache_home() / "weights"


def results_root(explicit: str | os.PathLike | None = None) -> Path:
    """Default: ``$YONOS_RESULTS`` or ``./results``."""
    if explicit is not None:
        return _folder(Path(explicit).expanduser(), "--results", RESULTS_ENV)
    if os.environ.get(RESULTS_ENV):
        return _folder(Path(os.environ[RESULTS_ENV]).expanduser(), "--results", RESULTS_ENV)
    return Path("results")


#: Inside an installed wheel the top-level ``protocols/`` and ``baselines/`` folders of the
#: repository are shipped as ``yonos_bench/_registry/<kind>/`` (pyproject ``package-dir``).
REGISTRY_KINDS = ("protocols", "baselines")


def package_dir() -> Path:
    """The installed ``yonos_bench`` package folder (``package:`` card paths are relative to it)."""
    return Path(__file__).resolve().parent.parent


def registry_dir(kind: str) -> Path:
    """The shipped registry folder ``kind`` (``protocols`` or ``baselines``): the repository's
    top-level folder in a source checkout or editable install, else the copy inside the wheel."""
    if kind not in REGISTRY_KINDS:
        raise ValueError(f"registry kind must be one of {REGISTRY_KINDS}, got {kind!r}")
    installed = package_dir() / "_registry" / kind
    if installed.is_dir():
        return installed
    return package_dir().parent / kind
