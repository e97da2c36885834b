"""Run control of the training loop: the CPU thread default and a graceful Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def choose_threads(requested: int, processes: int = 1) -> tuple[int, str]:
    """torch's intra-op thread count and why: ``requested`` > 0, else ``$OMP_NUM_THREADS``,
    else the usable cores split over the local processes, at most 8 (more threads only add
    synchronisation for these CPU-side ops; on a loaded box one thread ran 17x faster than
    two — 35 vs 2 samples/s on the tiny preset)."""
    if requested > 0:
        return requested, "num_threads"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), "$OMP_NUM_THREADS"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(
        1, min(8, cores // max(1, processes) // 2 or 1)
    ), f"auto: {cores} usable cores / {processes} process(es) / 2"


class StopRequest:
    """While active, the first SIGINT/SIGTERM only *asks* the loop to stop (it finishes the
    current step and saves a checkpoint); a second one interrupts at once as usual."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint "
              "(again to abort without saving)...", file=sys.stderr, flush=True)  # fmt: skip

    def __enter__(self) -> StopRequest:
        import threading

        if threading.current_thread() is threading.main_thread():  # signals only go to it
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
