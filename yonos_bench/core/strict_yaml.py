"""YAML for protocol specs and model cards: ``yaml.safe_load`` semantics, strictly.

Plain YAML silently keeps the *last* value of a key given twice in one mapping, so a spec
with two ``seed:`` lines would run with a seed its author may not have meant. Here a
repeated key is a :class:`~yonos_bench.core.errors.SpecError` naming the file, the key and both
lines; malformed YAML names the file and the line. Only the safe loader is used (no
Python object tags). Mappings come back as :class:`KeyLines` (a plain ``dict`` that also
remembers each key's line), so validators can say *where* an unknown key is
(:func:`at_line`).
"""

from __future__ import annotations

from typing import Any

from yonos_bench.core.errors import SpecError


def _loader(where: str):
    import yaml

    class StrictSafeLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are YAML's own, deliberate overriding
            key = loader.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the safe constructor reports it below
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise SpecError(
                    f"{where}: key '{key}' appears twice (lines {first} and {line}); "
                    "remove one (YAML would silently keep the last)."
                )
            seen[key] = line
        out = KeyLines(loader.construct_mapping(node, deep=deep))
        out.key_lines = dict(seen)
        return out

    StrictSafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictSafeLoader


class KeyLines(dict):
    """A mapping from YAML that knows the (1-based) line of each of its keys."""

    key_lines: dict[Any, int]

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.key_lines = {}


def at_line(data: Any, key: Any) -> str:
    """`` (line N)`` for ``key`` of a mapping read by :func:`load_yaml`, else ``""``."""
    line = getattr(data, "key_lines", {}).get(key)
    return f" (line {line})" if line else ""


def load_yaml(text: str, where: str) -> Any:
    """Parse ``text`` (``where`` names it in messages); repeated keys and syntax errors raise."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader(where))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        loc = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown line"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{where}: malformed YAML at {loc}: {problem}.") from None
