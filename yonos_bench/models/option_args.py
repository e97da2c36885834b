"""``--model-option [MODEL:]KEY=VALUE``: adapter options from the command line.

The value is read as a YAML scalar (``256`` → int, ``true`` → bool, anything else a
string), so it is validated exactly like the same option written in a card
(:func:`yonos_bench.models.card_schema.validate_options`) when the model loads. Without
``MODEL:`` an option applies to every model of the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yonos_bench.core.errors import YonosError

_FORM = "expected [MODEL:]KEY=VALUE, e.g. outputs=path/to/outputs or stablesr:allow_extra=true"


def parse_model_options(items: Sequence[str]) -> tuple[tuple[str | None, str, Any], ...]:
    out: list[tuple[str | None, str, Any]] = []
    for item in items:
        left, sep, raw = item.partition("=")
        target, colon, key = left.rpartition(":")
        if not sep or not key.strip() or (colon and not target.strip()):
            raise YonosError(f"--model-option '{item}': {_FORM}.")
        out.append((target.strip() or None, key.strip(), _scalar(raw)))
    return tuple(out)


def _scalar(raw: str) -> Any:
    import yaml

    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, (str, int, float, bool)) else raw
