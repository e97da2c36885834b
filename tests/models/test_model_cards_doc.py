"""docs/MODEL_CARDS.md stays true: every schema key and adapter option is documented, and
every example card in it is valid (one per adapter)."""

from __future__ import annotations

import re
from pathlib import Path

from yonos_bench.models.card_schema import (
    ADAPTER_OPTIONS,
    HF_KEYS,
    PIPELINE_KEYS,
    REPORTED_KEYS,
    TOP_KEYS,
    WEIGHT_KEYS,
)
from yonos_bench.models.registry import parse_card

DOC = Path(__file__).resolve().parents[2] / "docs" / "MODEL_CARDS.md"


def test_every_key_and_option_is_documented():
    text = DOC.read_text()
    for schema in (TOP_KEYS, WEIGHT_KEYS, HF_KEYS, PIPELINE_KEYS, REPORTED_KEYS):
        for key in schema:
            assert f"| `{key}` |" in text, key
    for adapter, options in ADAPTER_OPTIONS.items():
        assert f"### `{adapter}`" in text, adapter
        for opt in options:
            assert f"`{opt}`" in text, (adapter, opt)


def test_every_example_is_a_valid_card_one_per_adapter():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    cards = [parse_card(b, f"{DOC.name} example {i}") for i, b in enumerate(blocks)]
    assert sorted(c.adapter for c in cards) == sorted(ADAPTER_OPTIONS)
