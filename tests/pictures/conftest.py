"""Fixtures of the picture tests: real results of real models (bicubic, lanczos and the shipped
``yonos-tiny-x4`` on the first 4 pairs of ``sample``, PSNR-Y only: a few seconds on CPU), and
headless Chromium (the Debian package, installed by ``make chromium``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS_NO_STEPS = ("bicubic", "lanczos")
MODEL_STEPS = "yonos-tiny-x4"
N_PAIRS = 4


@pytest.fixture(scope="session")
def picture_results(tmp_path_factory) -> tuple[Path, Path]:
    """(results root, data root) with three real cells of `sample` (4 pairs each)."""
    import torch

    from yonos_bench.runs.runner import RunOptions, run_benchmark

    base = tmp_path_factory.mktemp("pictures")
    data, results = base / "data", base / "results"
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny models' small ops stall with 2 threads on a loaded box
    try:
        opts = RunOptions(device="cpu", metrics=("psnr-y",), data_root=data, results_root=results,
                          limit=N_PAIRS, progress=False)  # fmt: skip
        run_benchmark("sample", MODELS_NO_STEPS, (None,), opts)
        run_benchmark("sample", (MODEL_STEPS,), (1,), opts)
    finally:
        torch.set_num_threads(before)
    return results, data


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "headless Chromium is not installed and could not be: `make chromium` installs the Debian "
            "package when run as root with apt-get (as in CI); install `chromium` to run this test."
        )
    return path


def run_chromium(browser: str, url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url``; ``--virtual-time-budget`` lets the page's script and image
    loads finish before the DOM is dumped / the screenshot taken. ``--no-sandbox``: CI runs as root."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args, url]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
