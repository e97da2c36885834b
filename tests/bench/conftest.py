"""One torch thread in these tests: on a shared 2-core machine, two OpenMP threads per
process turn the many small ops of the tiny pipeline into barrier waits (10x slower)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
