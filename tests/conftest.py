"""Suite-wide test isolation: no network, no user caches, deterministic CPU torch.

Every test runs with its own data root, weights folder, results root and TORCH_HOME, so
nothing a developer has downloaded (or not) changes the outcome.
"""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import settings

# CI replays the same examples every run (no random search, no example database): a property
# test cannot pass on one submission and fail on the next. Locally the search stays random.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


class _NoNetwork(socket.socket):
    def connect(self, address):  # noqa: D401
        if isinstance(address, tuple) and address and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise RuntimeError(f"tests must not touch the network (tried to connect to {address!r})")
        return super().connect(address)


@pytest.fixture(autouse=True, scope="session")
def _block_network():
    original = socket.socket
    socket.socket = _NoNetwork  # type: ignore[misc]
    yield
    socket.socket = original  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("yonos_env")
    monkeypatch.setenv("YONOS_DATA", str(base / "data"))
    monkeypatch.setenv("YONOS_WEIGHTS", str(base / "weights"))
    monkeypatch.setenv("YONOS_RESULTS", str(base / "results"))
    monkeypatch.setenv("TORCH_HOME", str(base / "torch_home"))
    monkeypatch.delenv("YONOS_PREPARED", raising=False)  # prepared pairs: <data>/prepared unless a test says
    yield
