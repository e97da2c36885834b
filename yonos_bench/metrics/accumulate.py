"""Per-image values and Inception features accumulated in torchmetrics ``Metric`` states.

Each update stores the *global pair index* next to the values, with
``dist_reduce_fx="cat"``: when evaluation is sharded over processes (each handling a
subset of the pairs), torchmetrics gathers every shard's states on ``compute()`` and we
re-order by index, so the result is identical to a single process whatever the sharding.
Tests simulate two shards with :meth:`torchmetrics.Metric.merge_state`.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from yonos_bench.core.errors import YonosError


class IndexedValues(Metric):
    """Rows (scalars or feature vectors) keyed by global pair index."""

    full_state_update = False
    higher_is_better = None
    is_differentiable = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def update(self, index: torch.Tensor, values: torch.Tensor) -> None:
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        values = torch.as_tensor(values).detach()
        if values.ndim == 0 or values.shape[0] != index.shape[0]:
            raise ValueError(f"values must have one row per index: {tuple(values.shape)} vs {index.shape[0]}")
        # float64 keeps per-image values exact to what the backend returned (float32 → float64
        # is lossless); features are stored as float32 like clean-fid's own arrays.
        values = values.to("cpu", torch.float64 if values.ndim == 1 else torch.float32)
        self.index.append(index.cpu())
        self.values.append(values)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(sorted indices, rows in that order). Duplicated indices (a pair scored by two
        shards) are an error: the sharding was wrong."""
        if isinstance(self.index, list) and not self.index:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.float64)
        index = dim_zero_cat(self.index)
        values = dim_zero_cat(self.values)
        order = torch.argsort(index, stable=True)
        if not bool((order == torch.arange(order.numel())).all()):  # in order already: no copy
            index, values = index[order], values[order]
        if index.numel() > 1 and bool((index[1:] == index[:-1]).any()):
            dup = index[1:][index[1:] == index[:-1]][:5].tolist()
            raise YonosError(f"Pair indices {dup} were scored more than once (overlapping shards).")
        return index, values


def computed_rows(state: IndexedValues) -> tuple[torch.Tensor, torch.Tensor]:
    """``state.compute()`` with shapes restored: torchmetrics squeezes a one-element result
    to a 0-dim tensor (a single scored pair), which would break indexing downstream."""
    index, values = state.compute()
    index = index.reshape(-1)
    if values.ndim == 0:
        values = values.reshape(1)
    return index, values
