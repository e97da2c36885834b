"""Producing a cell's SR images: fixed batches, sharding, per-image seeds, atomic writes.

The pairs are cut into fixed chunks of ``batch_size`` by their position in the protocol
(never by what is left to do), and a chunk is always computed whole. So a resumed run, a
run with ``--limit`` (a prefix of the pairs) and a sharded run feed the model exactly the
batches an uninterrupted single-process run does — byte-identical images even where a
backend's numerics depend on the batch. Under ``accelerate launch`` process ``r`` of
``w`` takes chunks ``r, r+w, r+2w…``.

While the model computes chunk ``k``, a writer thread quantises, PNG-encodes and writes
chunk ``k-1`` (then logs it), and a reader thread decodes chunk ``k+1``'s LR images: the
model never waits for disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yonos_bench.core.imageio import read_rgb8, to_tensor, to_uint8, write_png
from yonos_bench.core.provenance import peak_memory, reset_peak_memory, synchronize
from yonos_bench.runs.cell_cache import ProgressLog
from yonos_bench.runs.results import image_seed


@dataclass(frozen=True)
class Dist:
    """This process's place among ``accelerate launch`` processes (1 process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    state: Any = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            self.state.wait_for_everyone()


def dist_context(device: str) -> Dist:
    """Detect ``accelerate launch`` (``WORLD_SIZE`` > 1) and join its process group."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist()
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    return Dist(state.process_index, state.num_processes, state)


def chunks(ids: Sequence[str], batch_size: int) -> list[list[int]]:
    """Fixed chunks of positions ``[0..B), [B..2B)…`` — the unit of computation."""
    return [list(range(i, min(i + batch_size, len(ids)))) for i in range(0, len(ids), batch_size)]


def my_chunks(n_chunks: int, dist: Dist) -> list[int]:
    """Chunk indices this process computes (round robin: balanced, deterministic)."""
    return list(range(dist.rank, n_chunks, dist.world))


@dataclass
class GenerationStats:
    images_written: int = 0
    compute_seconds: float = 0.0


def generate_images(
    model: Any,
    pairs: Sequence[Any],
    sr_dir: Path,
    *,
    done: set[str],
    steps: int | None,
    run_seed: int,
    batch_size: int,
    device: str,
    log: ProgressLog,
    dist: Dist,
    on_progress: Callable[[int], None] | None = None,
) -> GenerationStats:
    """Compute every chunk of this process that holds an image not in ``done``; write the
    missing images (atomically, then log them). Returns what was done."""
    import torch

    ids = [p.id for p in pairs]
    all_chunks = chunks(ids, batch_size)
    mine = [all_chunks[k] for k in my_chunks(len(all_chunks), dist)]
    todo = [c for c in mine if any(ids[i] not in done for i in c)]
    stats = GenerationStats()
    sr_dir.mkdir(parents=True, exist_ok=True)
    reset_peak_memory(device)

    def load(chunk: list[int]):
        return [to_tensor(read_rgb8(pairs[i].lr_path)) for i in chunk]

    def write(chunk: list[int], out: torch.Tensor, seconds_each: float) -> int:
        written = 0
        for j, i in enumerate(chunk):
            pid = ids[i]
            if pid in done:
                continue
            sha = write_png(sr_dir / f"{pid}.png", to_uint8(out[j]))
            log.image(pid, sha, seconds_each)  # after the file: a logged image is complete
            written += 1
        if on_progress:
            on_progress(written)
        return written

    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer:
        pending_lr = reader.submit(load, todo[0]) if todo else None
        writes: list[Future] = []
        for k, chunk in enumerate(todo):
            lrs = pending_lr.result()
            if k + 1 < len(todo):
                pending_lr = reader.submit(load, todo[k + 1])
            out, seconds = _upscale_chunk(model, lrs, [ids[i] for i in chunk], steps, run_seed, device)
            stats.compute_seconds += seconds
            writes.append(writer.submit(write, chunk, out, seconds / len(chunk)))
            while len(writes) > 2:  # bound memory: at most two chunks waiting for the disk
                stats.images_written += writes.pop(0).result()
        for f in writes:
            stats.images_written += f.result()
    nbytes, kind = peak_memory(device)
    log.peak(nbytes, kind)
    return stats


def _upscale_chunk(model, lrs, chunk_ids, steps, run_seed, device):
    """Run the model on one chunk (sub-batches by image size); returns CPU output and the
    synchronised compute seconds."""
    import torch

    groups: dict[tuple, list[int]] = {}
    for j, t in enumerate(lrs):
        groups.setdefault(tuple(t.shape), []).append(j)
    outs: list[torch.Tensor | None] = [None] * len(lrs)
    seconds = 0.0
    with torch.inference_mode():
        for members in groups.values():
            batch = torch.stack([lrs[j] for j in members]).to(device)
            names = [chunk_ids[j] for j in members]
            seeds = [image_seed(run_seed, pid) for pid in names]
            synchronize(device)
            t0 = time.perf_counter()
            sr = model.upscale(batch, steps=steps, seeds=seeds, names=names)
            synchronize(device)
            seconds += time.perf_counter() - t0
            sr = sr.float().cpu()
            for k, j in enumerate(members):
                outs[j] = sr[k]
    return outs, seconds
