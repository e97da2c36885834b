"""JPEG round trip of the Real-ESRGAN stages: Pillow vs torchvision, on CPU (and CUDA if present).

    .venv/bin/python benchmarks/bench_jpeg_codec.py [--size 128] [--images 32] [--repeats 3]
        [--threads 1] [--quick]

``yonos_bench.degradations.ops.jpeg`` on ``images`` random-quality (30–95) photo-like images
of ``size``² px (the Real-ESRGAN stage-2 JPEG runs at about the LR size: 128² for sd15 ×4),
one image at a time as the degradation calls it; best of ``repeats``, interleaved. Also
checks that both codecs give identical pixels on CPU (they share libjpeg-turbo's defaults).
On CUDA the torchvision path is nvJPEG on the device (no host round trip); not measured
here (no GPU).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F


def run(quick: bool = False, threads: int = 1, size: int = 128, images: int = 32, repeats: int = 3) -> dict:
    from yonos_bench.degradations.ops import jpeg

    torch.set_num_threads(threads)
    if quick:
        images, repeats = 8, 2
    g = torch.Generator().manual_seed(0)
    xs = [F.avg_pool2d(torch.rand(1, 3, 2 * size, 2 * size, generator=g), 2) for _ in range(images)]
    qs = [int(q) for q in torch.randint(30, 96, (images,), generator=g)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    best: dict[str, float] = {}
    for _ in range(repeats):
        for dev in devices:
            for codec in ("pillow", "torchvision"):
                if dev == "cuda" and codec == "pillow":
                    continue
                batch = [x.to(dev) for x in xs]
                t0 = time.perf_counter()
                for x, q in zip(batch, qs, strict=True):
                    jpeg(x, q, codec)
                if dev == "cuda":
                    torch.cuda.synchronize()
                key = f"{codec}@{dev}"
                best[key] = min(best.get(key, float("inf")), time.perf_counter() - t0)
    same = all(
        torch.equal(jpeg(x, q, "pillow"), jpeg(x, q, "torchvision")) for x, q in zip(xs, qs, strict=True)
    )
    rate = {k: images / v for k, v in best.items()}
    rows = [{"name": f"JPEG {size}² torchvision / Pillow (CPU)", "value": rate["torchvision@cpu"] / rate["pillow@cpu"],
             "unit": "x", "goal": "", "met": None,
             "note": f"{rate['pillow@cpu']:.0f} vs {rate['torchvision@cpu']:.0f} images/s; identical pixels: {same}"}]  # fmt: skip
    return {
        "command": ".venv/bin/python benchmarks/bench_jpeg_codec.py",
        "rows": rows,
        "images_per_s": rate,
        "identical_on_cpu": same,
        "size": size,
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    for size in (a.size, 512):
        out = run(a.quick, a.threads, size, a.images, a.repeats)
        print(f"JPEG round trip {size}², {a.images} images one at a time, {a.threads} thread(s), "
              f"load {os.getloadavg()[0]:.1f}:")  # fmt: skip
        for k, v in out["images_per_s"].items():
            print(f"  {k:<18} {v:8.1f} images/s")
        print(f"  identical pixels on CPU: {out['identical_on_cpu']}")


if __name__ == "__main__":
    main()
