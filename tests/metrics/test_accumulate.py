"""torchmetrics states: two simulated shards merged give the single-process result."""

from __future__ import annotations

import pytest
import torch

from yonos_bench.core.errors import YonosError
from yonos_bench.metrics.accumulate import IndexedValues


def test_two_shards_merge_to_the_single_process_result_in_pair_order():
    vals = torch.linspace(0, 1, 10, dtype=torch.float64)
    feats = torch.randn(10, 5)
    single_v, single_f = IndexedValues(), IndexedValues()
    single_v.update(torch.arange(10), vals)
    single_f.update(torch.arange(10), feats)
    shards = [(IndexedValues(), IndexedValues()) for _ in range(2)]
    for rank, (v, f) in enumerate(shards):
        idx = torch.arange(rank, 10, 2)  # strided sharding, like the engine
        for chunk in idx.split(2):  # several updates per shard
            v.update(chunk, vals[chunk])
            f.update(chunk, feats[chunk])
    # merge the *later* shard first: order must come from the indices, not the merge order
    shards[1][0].merge_state(shards[0][0])
    shards[1][1].merge_state(shards[0][1])
    i1, v1 = shards[1][0].compute()
    i0, v0 = single_v.compute()
    assert torch.equal(i1, torch.arange(10)) and torch.equal(i1, i0) and torch.equal(v1, v0)
    _, f1 = shards[1][1].compute()
    assert torch.equal(f1, feats) and f1.dtype == torch.float32


def test_overlapping_shards_and_bad_shapes_are_errors():
    a, b = IndexedValues(), IndexedValues()
    a.update(torch.tensor([0, 1]), torch.tensor([1.0, 2.0]))
    b.update(torch.tensor([1, 2]), torch.tensor([3.0, 4.0]))
    a.merge_state(b)
    with pytest.raises(YonosError, match=r"Pair indices \[1\] were scored more than once"):
        a.compute()
    with pytest.raises(ValueError, match="one row per index"):
        IndexedValues().update(torch.tensor([0, 1]), torch.tensor([1.0]))
    idx, vals = IndexedValues().compute()
    assert idx.numel() == 0 and vals.numel() == 0
