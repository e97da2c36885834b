"""Model-card registry: ``yonos_bench/baselines/<name>.yaml`` validated into :class:`ModelCard`.

Validation is as strict as for protocols: an unknown key (with did-you-mean), a wrong
type or a missing field is a :class:`~yonos_bench.errors.SpecError` naming the file and the
key; two cards with the same name are rejected; the name must equal the file stem.
Reported numbers must use a known metric ID and a registered protocol (or one of the
non-protocol contexts below). No torch import here: ``models list`` stays instant.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import SpecError, did_you_mean
from ..weights import WeightFile
from .card import ADAPTER_MODULES, MODELS_SUBDIR, HFRepo, ModelCard, PipelineFolder, Reported

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")

#: Reported numbers that belong to no protocol of ours (the report shows them apart).
CONTEXTS = MappingProxyType(
    {"cost-512-a100": "inference cost, 512x512 input, one A100 GPU (OSEDiff Table 2)"}
)
#: Reported quantities that are not metric presets.
EXTRA_METRICS = MappingProxyType({"seconds-per-image": "wall-clock seconds per image"})

_STR, _INT, _FLOAT, _BOOL = (str,), (int,), (int, float), (bool,)


def _one_of(*choices):
    def check(v):
        return None if v in choices else f"must be one of {', '.join(map(repr, choices))}"

    return check


def _min(lo):
    def check(v):
        return None if v >= lo else f"must be >= {lo}"

    return check


#: Adapter options: name -> (accepted types, may be null, extra check or None).
ADAPTER_OPTIONS: Mapping[str, Mapping[str, tuple[tuple[type, ...], bool, Callable | None]]] = (
    MappingProxyType(
        {
            "interp": {"method": (_STR, False, _one_of("bicubic", "lanczos"))},
            "spandrel": {"tile": (_INT, True, _min(0)), "tile_overlap": (_INT, False, _min(0))},
            "diffusers": {
                "pipeline": (_STR, False, _one_of("ldm", "sd-upscaler")),
                "eta": (_FLOAT, False, _min(0)),
                "noise_level": (_INT, False, _min(0)),
                "prompt": (_STR, False, None),
                "negative_prompt": (_STR, False, None),
                "guidance_scale": (_FLOAT, False, _min(0)),
            },
            "yonos": {"tile_size": (_INT, True, _min(1)), "tile_overlap": (_INT, True, _min(0))},
            "folder": {
                "outputs": (_STR, True, None),
                "template": (_STR, False, None),
                "map": (_STR, True, None),
                "allow_extra": (_BOOL, False, None),
            },
            "command": {
                "command": (_STR, False, None),
                "outputs_template": (_STR, False, None),
                "cwd": (_STR, True, None),
                "timeout_s": (_FLOAT, False, _min(1)),
            },
            "paper-only": {},
        }
    )
)
REQUIRED_OPTIONS = MappingProxyType(
    {"interp": ("method",), "diffusers": ("pipeline",), "command": ("command",)}
)

_TOP = {
    "name": (_STR, False, True),
    "display_name": (_STR, False, False),
    "paper_names": (list, False, False),
    "adapter": (_STR, False, True),
    "scale": (_INT, False, True),
    "steps": (_INT, True, True),
    "description": (_STR, False, True),
    "citation": (_STR, False, True),
    "license": (_STR, False, True),
    "homepage": (_STR, False, False),
    "weights": (list, False, False),
    "hf_repo": (dict, False, False),
    "pipeline": (dict, False, False),
    "options": (dict, False, False),
    "reported": (list, False, False),
    "notes": (list, False, False),
}
_WEIGHT = {
    "name": (_STR, False, True),
    "file": (_STR, False, True),
    "url": (_STR, True, True),
    "sha256": (_STR, True, False),
    "subdir": (_STR, False, False),
    "note": (_STR, False, False),
}
_HF = {
    "repo": (_STR, False, True),
    "revision": (_STR, False, True),
    "folder": (_STR, False, True),
    "files": (list, False, True),
}
_PIPE = {"folder": (_STR, False, True), "env": (_STR, True, False)}
_REPORTED = {
    "protocol": (_STR, False, True),
    "metric": (_STR, False, True),
    "label": (_STR, False, True),
    "value": (_FLOAT, False, True),
    "steps": (_INT, True, True),
    "source": (_STR, False, True),
    "note": (_STR, False, False),
}


def _type_word(types: tuple) -> str:
    if types is list:
        return "a list"
    if types is dict:
        return "a mapping"
    return {_STR: "a string", _INT: "an integer", _FLOAT: "a number", _BOOL: "a boolean"}.get(
        types, str(types)
    )


def _check_value(value: Any, types, nullable: bool, where: str, key: str) -> None:
    if value is None:
        if nullable:
            return
        raise SpecError(f"{where}: key '{key}' must be {_type_word(types)}, got null.")
    ok = isinstance(value, types) if isinstance(types, type) else isinstance(value, types)
    if isinstance(value, bool) and types is not _BOOL:
        ok = False
    if not ok:
        raise SpecError(
            f"{where}: key '{key}' must be {_type_word(types)}, got {type(value).__name__} {value!r}."
        )


def _check_mapping(data: Any, schema: Mapping, where: str, prefix: str = "") -> dict:
    if not isinstance(data, dict):
        raise SpecError(
            f"{where}: key '{prefix.rstrip('.') or '<top>'}' must be a mapping, got {type(data).__name__}."
        )
    for k in data:
        if k not in schema:
            hint = did_you_mean("key", str(k), list(schema))
            raise SpecError(f"{where}: unknown key '{prefix}{k}'. {hint}")
    for k, (types, nullable, required) in schema.items():
        if k not in data:
            if required:
                raise SpecError(f"{where}: missing required key '{prefix}{k}'.")
            continue
        _check_value(data[k], types, nullable, where, prefix + k)
    return data


def _str_list(value: list, where: str, key: str) -> tuple[str, ...]:
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise SpecError(f"{where}: key '{key}[{i}]' must be a string, got {type(v).__name__} {v!r}.")
    return tuple(value)


def _known_protocols() -> set[str]:
    from ..registry import list_protocols

    return {p.name for p in list_protocols()}


def _check_metric(metric: str, where: str, key: str) -> None:
    if metric in EXTRA_METRICS:
        return
    from ..metrics.presets import get_preset

    try:
        get_preset(metric)
    except KeyError as e:  # UnknownNameError carries the did-you-mean text
        raise SpecError(f"{where}: key '{key}': {e}") from None


def validate_options(adapter: str, data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """Check adapter options against :data:`ADAPTER_OPTIONS`; returns a read-only copy."""
    schema = ADAPTER_OPTIONS[adapter]
    for k, v in data.items():
        if k not in schema:
            allowed = ", ".join(sorted(schema)) or "none"
            close = difflib.get_close_matches(str(k), list(schema), n=1)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise SpecError(
                f"{where}: unknown key 'options.{k}' for adapter '{adapter}'.{hint} Allowed: {allowed}"
            )
        types, nullable, check = schema[k]
        _check_value(v, types, nullable, where, f"options.{k}")
        if v is not None and check is not None and (msg := check(v)):
            raise SpecError(f"{where}: key 'options.{k}' {msg}, got {v!r}.")
    for k in REQUIRED_OPTIONS.get(adapter, ()):
        if k not in data:
            raise SpecError(f"{where}: missing required key 'options.{k}' for adapter '{adapter}'.")
    return MappingProxyType(dict(data))


def _parse_weights(items: list, card_name: str, where: str) -> tuple[WeightFile, ...]:
    out: list[WeightFile] = []
    for i, item in enumerate(items):
        key = f"weights[{i}]"
        w = _check_mapping(item, _WEIGHT, where, key + ".")
        sha = w.get("sha256")
        if sha is not None and not SHA_RE.match(sha):
            raise SpecError(
                f"{where}: key '{key}.sha256' must be 64 lowercase hex digits or null, got {sha!r}."
            )
        if "/" in w["file"] or "\\" in w["file"]:
            raise SpecError(
                f"{where}: key '{key}.file' must be a plain file name (use subdir), got {w['file']!r}."
            )
        url = w["url"] or ""
        note = w.get("note", "")
        if not url and not note:
            raise SpecError(
                f"{where}: key '{key}.note' is required when url is null (say how to get the file)."
            )
        out.append(
            WeightFile(
                name=w["name"],
                filename=w["file"],
                url=url,
                sha256=sha,
                subdir=w.get("subdir", MODELS_SUBDIR),
                used_by=(card_name,),
                note=note,
            )
        )
    names = [w.name for w in out]
    if len(set(names)) != len(names):
        raise SpecError(
            f"{where}: key 'weights' lists the name {next(n for n in names if names.count(n) > 1)!r} twice."
        )
    return tuple(out)


def _parse_hf(data: dict, card_name: str, where: str) -> tuple[HFRepo, tuple[WeightFile, ...]]:
    h = _check_mapping(data, _HF, where, "hf_repo.")
    files = _str_list(h["files"], where, "hf_repo.files")
    if not files or "model_index.json" not in files:
        raise SpecError(
            f"{where}: key 'hf_repo.files' must list the repository's files, model_index.json included."
        )
    if not re.fullmatch(r"[0-9a-f]{40}", h["revision"]):
        raise SpecError(
            f"{where}: key 'hf_repo.revision' must be a full 40-digit commit hash (pinned), got {h['revision']!r}."
        )
    repo = HFRepo(h["repo"], h["revision"], h["folder"], files)
    weights = []
    for f in files:
        sub, _, fname = f.rpartition("/")
        weights.append(
            WeightFile(
                name=f"{card_name}/{f}",
                filename=fname,
                url=f"https://huggingface.co/{repo.repo}/resolve/{repo.revision}/{f}",
                subdir="/".join(p for p in (MODELS_SUBDIR, repo.folder, sub) if p),
                used_by=(card_name,),
            )
        )
    return repo, tuple(weights)


def _parse_reported(items: list, where: str, protocols: set[str]) -> tuple[Reported, ...]:
    out: list[Reported] = []
    seen: dict[tuple, int] = {}
    for i, item in enumerate(items):
        key = f"reported[{i}]"
        r = _check_mapping(item, _REPORTED, where, key + ".")
        if r["protocol"] not in protocols and r["protocol"] not in CONTEXTS:
            hint = did_you_mean("protocol", r["protocol"], sorted(protocols | set(CONTEXTS)))
            raise SpecError(f"{where}: key '{key}.protocol': {hint}")
        _check_metric(r["metric"], where, f"{key}.metric")
        if r["steps"] is not None and r["steps"] < 1:
            raise SpecError(f"{where}: key '{key}.steps' must be >= 1 or null, got {r['steps']!r}.")
        rep = Reported(
            r["protocol"],
            r["metric"],
            r["label"],
            float(r["value"]),
            r["steps"],
            r["source"],
            r.get("note", ""),
        )
        k = (rep.protocol, rep.metric, rep.steps, rep.source)
        if k in seen:
            raise SpecError(
                f"{where}: key '{key}' repeats reported[{seen[k]}] (same protocol, metric, steps and source)."
            )
        seen[k] = i
        out.append(rep)
    return tuple(out)


def _check_adapter_rules(c: dict, where: str) -> None:
    a = c["adapter"]

    def fail(key: str, msg: str) -> None:
        raise SpecError(f"{where}: key '{key}' {msg}")

    has = {k: k in c for k in ("weights", "hf_repo", "pipeline")}
    needs = {"spandrel": "weights", "diffusers": "hf_repo", "yonos": "pipeline"}.get(a)
    for k, present in has.items():
        if k == needs and not present:
            fail(k, f"is required for adapter '{a}'.")
        if k != needs and present:
            fail(k, f"is not used by adapter '{a}'.")
    if a == "spandrel" and len(c["weights"]) != 1:
        fail("weights", "must list exactly one file for adapter 'spandrel'.")
    steps = c["steps"]
    if steps is not None and steps < 1:
        fail("steps", f"must be >= 1 or null, got {steps!r}.")
    if a in ("diffusers", "yonos") and steps is None:
        fail("steps", f"must be a positive integer for adapter '{a}' (the default number of sampling steps).")
    if a in ("interp", "spandrel") and steps is not None:
        fail("steps", f"must be null: adapter '{a}' takes no sampling steps.")
    if a == "command" and ("{steps}" in c.get("options", {}).get("command", "")) != (steps is not None):
        fail("steps", "must be set exactly when the command template uses {steps}.")


def parse_card(text: str, where: str, *, protocols: set[str] | None = None) -> ModelCard:
    """Parse and validate one card's YAML text; ``where`` names it in error messages."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        loc = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown line"
        raise SpecError(f"{where}: malformed YAML at {loc}: {getattr(e, 'problem', None) or e}.") from None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a model card must be a YAML mapping, got {type(data).__name__}.")
    c = _check_mapping(data, _TOP, where)
    if not NAME_RE.match(c["name"]):
        raise SpecError(f"{where}: key 'name' must match {NAME_RE.pattern}, got {c['name']!r}.")
    if c["adapter"] not in ADAPTER_MODULES:
        raise SpecError(
            f"{where}: key 'adapter': {did_you_mean('adapter', c['adapter'], list(ADAPTER_MODULES))}"
        )
    if c["scale"] < 1:
        raise SpecError(f"{where}: key 'scale' must be >= 1, got {c['scale']!r}.")
    options = validate_options(c["adapter"], c.get("options", {}), where)
    _check_adapter_rules(c, where)
    name = c["name"]
    weights: tuple[WeightFile, ...] = ()
    hf = pipe = None
    if "weights" in c:
        weights = _parse_weights(c["weights"], name, where)
    if "hf_repo" in c:
        hf, weights = _parse_hf(c["hf_repo"], name, where)
    if "pipeline" in c:
        p = _check_mapping(c["pipeline"], _PIPE, where, "pipeline.")
        if p.get("env") is not None and not ENV_RE.match(p["env"]):
            raise SpecError(
                f"{where}: key 'pipeline.env' must be an environment variable name, got {p['env']!r}."
            )
        pipe = PipelineFolder(p["folder"], p.get("env"))
    reported = _parse_reported(
        c.get("reported", []), where, protocols if protocols is not None else _known_protocols()
    )
    return ModelCard(
        name=name,
        adapter=c["adapter"],
        scale=c["scale"],
        steps=c["steps"],
        description=c["description"].strip(),
        citation=c["citation"].strip(),
        license=c["license"].strip(),
        display_name=c.get("display_name", name),
        paper_names=_str_list(c.get("paper_names", []), where, "paper_names"),
        homepage=c.get("homepage", ""),
        weights=weights,
        hf_repo=hf,
        pipeline=pipe,
        options=options,
        reported=reported,
        notes=_str_list(c.get("notes", []), where, "notes"),
        file=where,
    )


def load_card_file(path: str | os.PathLike) -> ModelCard:
    """Load a card from a YAML file anywhere (user cards, tests); name must equal the stem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"Cannot read model card {path}: {e.strerror or e}.") from None
    card = parse_card(text, str(path))
    if card.name != path.stem:
        raise SpecError(f"{path}: key 'name' is {card.name!r} but the file is named {path.name!r}.")
    return card


def cards_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "baselines"


def load_registry(folder: str | os.PathLike | None = None) -> dict[str, ModelCard]:
    """All cards of ``folder`` (default: the shipped ``baselines/``) by name; duplicates rejected."""
    if folder is None or Path(folder).resolve() == cards_dir():
        return dict(_shipped())
    return _load_folder(Path(folder))


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[str, ModelCard], ...]:
    return tuple(_load_folder(cards_dir()).items())


def _load_folder(folder: Path) -> dict[str, ModelCard]:
    protocols = _known_protocols()
    cards: dict[str, ModelCard] = {}
    for path in sorted(folder.glob("*.y*ml")):
        card = parse_card(path.read_text(encoding="utf-8"), str(path), protocols=protocols)
        if card.name in cards:
            raise SpecError(
                f"Duplicate model name '{card.name}': defined in {cards[card.name].file} and in {path}."
            )
        if card.name != path.stem:
            raise SpecError(f"{path}: key 'name' is {card.name!r} but the file is named {path.name!r}.")
        cards[card.name] = card
    return cards


def list_cards() -> list[ModelCard]:
    """Every shipped model card, sorted by name."""
    return [card for _, card in sorted(_shipped())]


def load_card(name: str) -> ModelCard:
    """The shipped card called ``name`` (did-you-mean on unknown names)."""
    cards = dict(_shipped())
    if name not in cards:
        raise did_you_mean("model", name, list(cards))
    return cards[name]
