"""Where a number came from: package versions, git commit, device, host.

Recorded in every ``result.json`` so that a number can be traced to the code, the
libraries and the hardware that produced it (DESIGN.md "Results").
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions move numbers (DESIGN.md names torch, diffusers, pyiqa,
#: clean-fid); the others are recorded because they run in the pipeline too.
TRACKED_PACKAGES = (
    "yonos-bench",
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "accelerate",
    "pyiqa",
    "clean-fid",
    "lpips",
    "spandrel",
    "kornia",
    "numpy",
    "pillow",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """Commit of the checkout this package was imported from (None outside a git checkout,
    e.g. an installed wheel) and whether tracked files differ from it."""
    src = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(src), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def describe_device(device: str) -> str:
    """Human-readable device: ``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``cpu (x86_64, 2 threads)``."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if dev.type == "cpu":
        return f"cpu ({platform.machine() or 'unknown'}, {torch.get_num_threads()} threads)"
    return str(dev)


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` → ``cuda`` when available, else ``cpu``; anything else is checked."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        from yonos_bench.core.errors import DeviceError

        raise DeviceError(
            f"--device: '{device}' is not a torch device ({str(e).splitlines()[0][:80]}…); "
            "use cpu, cuda, cuda:N or auto"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        from yonos_bench.core.errors import DeviceError

        raise DeviceError(f"--device {device}: CUDA is not available on this machine; use --device cpu.")
    return str(dev)


def provenance(device: str) -> dict[str, Any]:
    """The provenance block of a result file."""
    state = git_state()
    return {
        "packages": package_versions(),
        "git_commit": state["commit"],
        "git_dirty": state["dirty"],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": describe_device(device),
    }


def reset_peak_memory(device: str) -> None:
    """Start a fresh CUDA peak (process RSS peaks cannot be reset: they are lifetime peaks)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def peak_memory(device: str) -> tuple[float, str]:
    """(bytes, kind): CUDA max allocated on a GPU, else the process's peak resident set size."""
    import torch

    if torch.device(device).type == "cuda":
        return float(torch.cuda.max_memory_allocated(torch.device(device))), "cuda_max_allocated"
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return float(peak if sys.platform == "darwin" else peak * 1024), "process_peak_rss"


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a wall-clock interval measures the computation."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))
