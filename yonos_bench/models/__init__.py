"""SR models behind one interface: model cards, adapters, and :func:`load_model`.

``load_model`` accepts

* a card name (``yonos-bench models list``), or a :class:`ModelCard` built in code;
* a weight file (``.pth`` / ``.safetensors`` / ``.ckpt`` / ``.pt`` / ``.bin``): any
  single-image SR checkpoint spandrel recognises;
* a diffusers pipeline folder (``model_index.json``): a ``YonosSRPipeline``,
  ``LDMSuperResolutionPipeline`` or ``StableDiffusionUpscalePipeline``;
* a folder of images: outputs produced elsewhere, matched to the pairs by id (give ``scale``);
* a model-card YAML file anywhere (a user's own card, e.g. one with ``adapter: command``);
* ``NAME=PATH``: any of the paths above under a name of your choosing (two ``.../sr``
  folders would otherwise both be called ``sr`` and share a results cell).

Adapters are imported only here, when a model is loaded, so listing cards imports no
backend (torch, diffusers, spandrel).
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import YonosError, did_you_mean
from yonos_bench.models.base import ScaleMismatchError, SRModel, require_scale
from yonos_bench.models.card import ADAPTER_MODULES, ModelCard
from yonos_bench.models.registry import list_cards, load_card, validate_options

__all__ = [
    "ModelCard",
    "SRModel",
    "ScaleMismatchError",
    "list_cards",
    "load_card",
    "load_model",
    "require_scale",
    "resolve_card",
    "split_named_path",
]

WEIGHT_SUFFIXES = (".pth", ".safetensors", ".ckpt", ".pt", ".bin")
#: Adapters that work at any scale (the card's scale is only their default).
ANY_SCALE = ("interp", "folder", "command")
_PIPELINE_CLASSES = {
    "YonosSRPipeline": ("yonos", {}),
    "LDMSuperResolutionPipeline": ("diffusers", {"pipeline": "ldm"}),
    "StableDiffusionUpscalePipeline": ("diffusers", {"pipeline": "sd-upscaler"}),
}


def load_model(
    name_or_card_or_path: str | os.PathLike | ModelCard,
    *,
    device: Any = "cpu",
    dtype: Any = "fp32",
    weights_dir: str | os.PathLike | None = None,
    scale: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> SRModel:
    """Build the adapter for a card, a weight file or a folder.

    ``scale``: the scale the caller needs (a protocol's). Fixed-scale models whose scale
    differs raise :class:`ScaleMismatchError` before any weight is read; interpolation,
    folder and command adapters run at this scale. ``options`` override the card's adapter
    options (validated like the card's, e.g. ``{"outputs": "/path/to/stablesr_out"}``).
    """
    from yonos_bench.models.base import parse_device, parse_dtype

    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise ValueError(f"scale: must be a positive integer, got {scale!r}")
    card, path = resolve_card(name_or_card_or_path, scale=scale)
    if not card.runnable:
        raise YonosError(
            f"Model '{card.name}' is a paper-only row: no code or weights are wrapped, so it cannot run. "
            f"Its published numbers ({len(card.reported)}) appear beside measured ones in tables."
        )
    if scale is not None and card.adapter not in ANY_SCALE and path is None and card.scale != scale:
        raise ScaleMismatchError(
            f"Model '{card.name}' upscales x{card.scale} but x{scale} is needed; "
            f"choose a x{scale} model (yonos-bench models list shows each model's scale)."
        )
    merged = dict(card.options)
    if options:
        merged.update(options)
    opts = validate_options(card.adapter, merged, where=f"options for model '{card.name}'")
    module = importlib.import_module(ADAPTER_MODULES[card.adapter])
    model = module.build(
        card,
        device=parse_device(device),
        dtype=parse_dtype(dtype),
        weights_dir=weights_dir,
        options=opts,
        scale=scale if card.adapter in ANY_SCALE else None,
        path=path,
    )
    if scale is not None:
        require_scale(model, scale, what="the caller")
    return model


def resolve_card(
    name_or_card_or_path: str | os.PathLike | ModelCard, *, scale: int | None = None
) -> tuple[ModelCard, Path | None]:
    """(card, path) for a card name, a card, or a path (an ad-hoc card is made for paths)."""
    if isinstance(name_or_card_or_path, ModelCard):
        return name_or_card_or_path, None
    if not isinstance(name_or_card_or_path, (str, os.PathLike)):
        raise ValueError(f"model: expected a card name, a ModelCard or a path, got {name_or_card_or_path!r}")
    text = os.fspath(name_or_card_or_path)
    names = [c.name for c in list_cards()]
    if text in names and not isinstance(name_or_card_or_path, Path):
        return load_card(text), None
    named = split_named_path(text) if not isinstance(name_or_card_or_path, Path) else None
    if named is not None:
        import dataclasses

        card, path = resolve_card(Path(named[1]), scale=scale)
        return dataclasses.replace(card, name=named[0], display_name=named[0]), path
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        from yonos_bench.models.registry import load_card_file

        return load_card_file(path), None
    if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES:
        return _adhoc(path, "spandrel", 0, {}), path
    if (
        path.is_dir()
        and not (path / "model_index.json").is_file()
        and (path / "pipeline" / "model_index.json").is_file()
    ):
        path = path / "pipeline"  # a training run folder: its result pipeline
    if path.is_dir() and (path / "model_index.json").is_file():
        adapter, opts = _pipeline_kind(path)
        return _adhoc(path, adapter, 0, opts), path
    if path.is_dir() and any((path / m).exists() for m in TRAINING_RUN_MARKERS):
        stage = _run_stage(path)
        raise YonosError(
            f"{path} is a training run that never finished: it has no pipeline/ folder (written when "
            f"training ends). Resume it with `yonos-bench train {stage} --out {path} --resume` "
            "(same options as it was started with), or give a finished run."
        )
    if path.is_dir():
        if scale is None:
            raise ValueError(f"scale: a folder of outputs ({path}) needs the scale it was produced at")
        return _adhoc(path, "folder", scale, {"outputs": str(path)}), None
    if path.exists():
        raise YonosError(
            f"Cannot load {path} as a model: expected a weight file ({', '.join(WEIGHT_SUFFIXES)}), "
            "a diffusers pipeline folder (model_index.json) or a folder of SR outputs."
        )
    err = did_you_mean("model", text, names)
    raise type(err)(f"{err} (or give the path of a weight file, a pipeline folder or an outputs folder)")


def split_named_path(text: str) -> tuple[str, str] | None:
    """``NAME=PATH`` → (NAME, PATH) when PATH exists; None for anything else (card names,
    plain paths). NAME must be a valid model name (it names the results cell)."""
    name, sep, rest = text.partition("=")
    if not sep or not rest or not Path(rest).expanduser().exists():
        return None
    from yonos_bench.models.card_schema import NAME_RE

    if not NAME_RE.match(name):
        raise YonosError(
            f"--model {text}: the name before '=' must match {NAME_RE.pattern} "
            "(lower-case letters, digits, '.', '-'), e.g. my-run=path/to/run."
        )
    return name, rest


#: What ``yonos-bench train`` writes into a run folder before ``pipeline/`` (yonos_train.engine).
TRAINING_RUN_MARKERS = ("training_options.json", "checkpoints")


def _run_stage(run_dir: Path) -> str:
    """The stage a training run folder was started for (from its options file), or STAGE."""
    try:
        stage = json.loads((run_dir / "training_options.json").read_text()).get("stage")
    except (OSError, ValueError, AttributeError):
        stage = None
    return stage if isinstance(stage, str) and stage.isidentifier() else "STAGE"


def _pipeline_kind(folder: Path) -> tuple[str, dict]:
    try:
        cls = json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
    except (OSError, ValueError) as e:
        raise YonosError(f"Cannot read {folder / 'model_index.json'}: {e}") from None
    if cls not in _PIPELINE_CLASSES:
        raise YonosError(
            f"{folder} holds a {cls or 'unknown'} pipeline; supported: {', '.join(_PIPELINE_CLASSES)}."
        )
    return _PIPELINE_CLASSES[cls]


def _adhoc(path: Path, adapter: str, scale: int, options: dict) -> ModelCard:
    """A card for a model given by path (scale 0 = read from the model when it loads)."""
    stem = path.name if path.is_dir() else path.stem
    if path.is_dir() and stem == "pipeline" and path.parent.name:
        stem = path.parent.name  # `<run>/pipeline/` (training output): name it after the run
    name = re.sub(r"[^a-z0-9.-]+", "-", stem.lower()).strip("-.") or "model"
    return ModelCard(
        name=name,
        adapter=adapter,
        scale=scale,
        steps={"yonos": 1, "diffusers": 50}.get(adapter),
        description=f"Loaded from {path}.",
        citation="",
        license="",
        display_name=stem,
        options=options,
        file=str(path),
    )
