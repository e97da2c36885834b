"""Real-ESRGAN degradation throughput: batch of 8 at 512x512, batched vs one image at a time.

    .venv/bin/python benchmarks/bench_degradation.py [--preset realesrgan] [--size 512]
        [--batch 8] [--repeats 3] [--device cpu] [--threads N]

Prints images/s for both ways and their ratio, measured in this one run (interleaved
repeats, best of N, after a warm-up). Also checks that both ways give identical bytes.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from yonos_bench.degradations import RealESRGANDegradation


def _time(fn, sync) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="realesrgan")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    deg = RealESRGANDegradation(args.preset)
    hr = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(dev)
    seeds = list(range(1000, 1000 + args.batch))

    batched_out = {}
    single_out = {}

    def batched():
        batched_out["lr"] = deg(hr, args.scale, seeds).lr

    def one_at_a_time():
        single_out["lr"] = torch.cat([deg(hr[i : i + 1], args.scale, [s]).lr for i, s in enumerate(seeds)])

    batched()
    one_at_a_time()  # warm-up (oneDNN / cuDNN initialisation)
    tb, ts = [], []
    for _ in range(args.repeats):
        tb.append(_time(batched, sync))
        ts.append(_time(one_at_a_time, sync))
    same = torch.equal(batched_out["lr"], single_out["lr"])
    b, s = args.batch / min(tb), args.batch / min(ts)
    print(
        f"device={dev} threads={torch.get_num_threads()} preset={args.preset} "
        f"HR={args.size}x{args.size} x{args.scale} batch={args.batch} repeats={args.repeats} "
        f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f}"
    )
    print(f"batched:          {b:7.2f} images/s  (best {min(tb):.3f} s per batch)")
    print(f"one at a time:    {s:7.2f} images/s  (best {min(ts):.3f} s per {args.batch} images)")
    print(f"ratio batched / one-at-a-time: {b / s:.2f}x   identical outputs: {same}")


if __name__ == "__main__":
    main()
