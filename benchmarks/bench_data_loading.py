"""Training data loading: samples/s of 512² crops from whole source images vs prepared tiles.

    .venv/bin/python benchmarks/bench_data_loading.py [--size 4096] [--images 4] [--workers 0 2]
        [--batches 6] [--batch 4] [--threads 1] [--quick]

Synthetic photo-like PNG sources (smooth colour fields + fine noise, so PNG compresses as it
does on photographs) of ``size``² px — 4096² stands in for DIV8K-class images (DIV2K is
~2040×1400) — are loaded through the training loader (:func:`yonos_train.data.hr_loader`,
random 512 crop + flip per sample) straight from the sources, then after ``train
prepare-data`` (640² tiles, stride 320). Reported: samples/s per worker count (after one
warm-up batch), and the one-time preparation cost. A whole-image source decodes the full
image for every crop; a tile decodes 640² px. Measured in one run, so background load
biases both sides alike.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _photo_like(size: int, seed: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(4, size // 64), max(4, size // 64), generator=g)
    img = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    img = img + 0.04 * torch.randn(1, 3, size, size, generator=g)
    return (img.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _loader_rate(folder: Path, workers: int, batches: int, batch: int, crop: int = 512) -> float:
    from yonos_train.data import FolderImages, hr_loader

    src = FolderImages([folder], crop)
    it = iter(hr_loader(src, crop=crop, seed=0, batch=batch, accum=1, start_step=0, num_workers=workers))
    next(it)  # warm-up: workers start, first decode
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t0)


def run(quick: bool = False, threads: int = 1, size: int = 4096, images: int = 4, workers=(0, 2),
        batches: int = 6, batch: int = 4) -> dict:  # fmt: skip
    import torch

    from yonos_bench.core.imageio import write_png
    from yonos_train.prepare_data import prepare_tiles

    torch.set_num_threads(threads)
    if quick:
        size, images, batches = 2048, 2, 4
    rows, details = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        src, tiles = Path(tmp) / "src", Path(tmp) / "tiles"
        src.mkdir()
        for i in range(images):
            write_png(src / f"{i:04d}.png", _photo_like(size, i))
        t0 = time.perf_counter()
        manifest = prepare_tiles([src], tiles, tile=640, stride=320, min_size=512)
        prep_s = time.perf_counter() - t0
        details["prepare"] = {"seconds": prep_s, "tiles": len(manifest["tiles"]), "images": images}
        for w in workers:
            whole = _loader_rate(src, w, batches, batch)
            tiled = _loader_rate(tiles, w, batches, batch)
            details[f"workers={w}"] = {"whole_image_samples_per_s": whole, "tiles_samples_per_s": tiled}
            rows.append({"name": f"data loading {size}² sources, {w} workers: tiles / whole",
                         "value": tiled / whole, "unit": "x", "goal": "", "met": None,
                         "note": f"{whole:.2f} vs {tiled:.2f} samples/s"})  # fmt: skip
    return {
        "command": ".venv/bin/python benchmarks/bench_data_loading.py",
        "rows": rows,
        "details": details,
        "size": size,
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    out = run(a.quick, a.threads, a.size, a.images, tuple(a.workers), a.batches, a.batch)
    p = out["details"]["prepare"]
    print(f"{out['size']}² PNG sources x {p['images']}, 512 crops, batch {a.batch}, {out['threads']} torch thread(s), "
          f"load {os.getloadavg()[0]:.1f}:")  # fmt: skip
    print(f"  prepare-data (640 tiles, stride 320): {p['tiles']} tiles in {p['seconds']:.1f} s (once)")
    for k, v in out["details"].items():
        if k.startswith("workers="):
            print(f"  {k:<10} whole images {v['whole_image_samples_per_s']:7.2f} samples/s   "
                  f"tiles {v['tiles_samples_per_s']:7.2f} samples/s   "
                  f"({v['tiles_samples_per_s'] / v['whole_image_samples_per_s']:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
