"""The model-card schema: top-level keys, weight/hf_repo/pipeline/reported entries, and the
options each adapter accepts, with the value checks the registry applies.

Each schema maps a key to ``(accepted types, may be null, required)``; adapter options map
to ``(accepted types, may be null, extra check)``. Errors are
:class:`~yonos_bench.core.errors.SpecError` naming the file (``where``) and the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from yonos_bench.core.errors import SpecError, did_you_mean

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


def _int_list(v):
    if not v or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v):
        return "must be a non-empty list of positive integers"
    return None


def _step_values(v):
    for field, by_steps in v.items():
        if not isinstance(field, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", field):
            return f"must map template field names (lowercase) to {{steps: value}}; bad field {field!r}"
        if not isinstance(by_steps, dict) or not by_steps:
            return f"field {field!r} must map step counts to values"
        for k, val in by_steps.items():
            if not isinstance(k, int) or isinstance(k, bool) or k < 1 or not isinstance(val, str):
                return f"field {field!r}: keys must be step counts (positive integers), values strings"
    return None


#: Adapter options: name -> (accepted types, may be null, extra check or None).
ADAPTER_OPTIONS: Mapping[str, Mapping[str, tuple[tuple[type, ...], bool, Callable | None]]] = (
    MappingProxyType(
        {
            "interp": {"method": (_STR, False, _one_of("bicubic", "lanczos"))},
            "spandrel": {
                "tile": (_INT, True, _min(0)),
                "tile_overlap": (_INT, False, _min(0)),
                "extra_arches": (_BOOL, False, None),  # needs spandrel-extra-arches (FeMaSR...)
                "pad": (_STR, True, _one_of("femasr")),  # the authors' test-time padding
            },
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
                # the sampling steps the outputs were made with (matches paper numbers)
                "outputs_steps": (_INT, True, _min(1)),
            },
            "command": {
                "command": (_STR, False, None),
                "outputs_template": (_STR, False, None),
                "cwd": (_STR, True, None),
                "timeout_s": (_FLOAT, False, _min(1)),
                # the authors' checkout (overrides the card's setup.checkout_env)
                "checkout": (_STR, True, None),
                # models released for fixed step counts only (SinSR, OSEDiff: [1])
                "allowed_steps": (list, False, _int_list),
                # template fields whose value depends on the steps: {version: {4: v3, 15: v1}}
                "step_values": (dict, False, _step_values),
                "outputs_steps": (_INT, True, _min(1)),  # a template without {steps}: steps it uses
                # part of the cell key beside the hashed files the template names (bump it
                # when code the template does not name changes: imported modules, weights dirs)
                "version": (_STR, True, None),
            },
            "paper-only": {},
        }
    )
)
REQUIRED_OPTIONS = MappingProxyType(
    {"interp": ("method",), "diffusers": ("pipeline",), "command": ("command",)}
)

TOP_KEYS = {
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
    "setup": (dict, False, False),
}
#: Template fields the command adapter fills per run, and those a ``setup:`` provides.
COMMAND_FIELDS = ("input", "output", "scale", "steps", "seed")
SETUP_TEMPLATE_FIELDS = ("python", "launcher", "checkout")
#: ``setup:`` of a command card: how to get and check the authors' code (``models show``).
SETUP_KEYS = {
    "repo": (_STR, False, True),  # git URL to clone
    "commit": (_STR, False, True),  # the commit the card's command line was read from
    "checkout_env": (_STR, False, True),  # env var naming the checkout (the command's cwd)
    "python_env": (_STR, False, True),  # env var naming the interpreter of the authors' environment
    "install": (list, False, True),  # shell lines, in the checkout
    "files": (list, False, False),  # checkpoints the command needs
    "verify": (_STR, False, True),  # a command that checks the setup
    "source": (_STR, False, True),  # where the command line comes from (README section, script)
    "workaround": (_STR, False, False),  # why the command differs from the authors' line, if it does
}
SETUP_FILE_KEYS = {
    "name": (_STR, False, True),
    "path": (_STR, False, True),  # default location, relative to the checkout or absolute
    "field": (_STR, True, False),  # template field that receives the path ({ckpt})
    "env": (_STR, True, False),  # env var that overrides the location
    "url": (_STR, True, True),
    "note": (_STR, False, False),
    "steps": (_INT, True, False),  # needed only when running with this many steps
    "kind": (_STR, False, False),  # "file" (default) or "folder"
}
WEIGHT_KEYS = {
    "name": (_STR, False, True),
    "file": (_STR, False, True),
    "url": (_STR, True, True),
    "sha256": (_STR, True, False),
    "subdir": (_STR, False, False),
    "note": (_STR, False, False),
}
HF_KEYS = {
    "repo": (_STR, False, True),
    "revision": (_STR, False, True),
    "folder": (_STR, False, True),
    "files": (list, False, True),
}
PIPELINE_KEYS = {"folder": (_STR, False, True), "env": (_STR, True, False)}
REPORTED_KEYS = {
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
    # bool is an int subclass in Python: `scale: true` must not pass as an integer
    ok = isinstance(value, types) and (types is _BOOL or not isinstance(value, bool))
    if not ok:
        raise SpecError(
            f"{where}: key '{key}' must be {_type_word(types)}, got {type(value).__name__} {value!r}."
        )


def check_mapping(data: Any, schema: Mapping, where: str, prefix: str = "") -> dict:
    if not isinstance(data, dict):
        raise SpecError(
            f"{where}: key '{prefix.rstrip('.') or '<top>'}' must be a mapping, got {type(data).__name__}."
        )
    for k in data:
        if k not in schema:
            from yonos_bench.core.strict_yaml import at_line

            hint = did_you_mean("key", str(k), list(schema))
            raise SpecError(f"{where}: unknown key '{prefix}{k}'{at_line(data, k)}. {hint}")
    for k, (types, nullable, required) in schema.items():
        if k not in data:
            if required:
                raise SpecError(f"{where}: missing required key '{prefix}{k}'.")
            continue
        _check_value(data[k], types, nullable, where, prefix + k)
    return data


def str_list(value: list, where: str, key: str) -> tuple[str, ...]:
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise SpecError(f"{where}: key '{key}[{i}]' must be a string, got {type(v).__name__} {v!r}.")
    return tuple(value)


def validate_options(adapter: str, data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """Check adapter options against :data:`ADAPTER_OPTIONS`; returns a read-only copy."""
    schema = ADAPTER_OPTIONS[adapter]
    for k, v in data.items():
        if k not in schema:
            allowed = ", ".join(sorted(schema)) or "none"
            close = difflib.get_close_matches(str(k), list(schema), n=1)
            hint = f" Did you mean: {close[0]}?" if close else ""
            from yonos_bench.core.strict_yaml import at_line

            raise SpecError(
                f"{where}: unknown key 'options.{k}'{at_line(data, k)} for adapter '{adapter}'.{hint} "
                f"Allowed: {allowed}"
            )
        types, nullable, check = schema[k]
        _check_value(v, types, nullable, where, f"options.{k}")
        if v is not None and check is not None and (msg := check(v)):
            raise SpecError(f"{where}: key 'options.{k}' {msg}, got {v!r}.")
    for k in REQUIRED_OPTIONS.get(adapter, ()):
        if k not in data:
            raise SpecError(f"{where}: missing required key 'options.{k}' for adapter '{adapter}'.")
    return MappingProxyType(dict(data))
