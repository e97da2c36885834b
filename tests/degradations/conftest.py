"""One intra-op thread for these tests: the images are small, and on a shared 2-core machine
OpenMP threads waiting on each other cost more than they give (results do not depend on it)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
