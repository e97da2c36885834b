"""YonosSRPipeline cost: per-stage time breakdown and peak memory of tiled inference.

    .venv/bin/python benchmarks/bench_pipeline.py timing [--preset tiny|sd15] [--size 512]
        [--steps 1 4] [--repeats 3] [--device cpu] [--dtype fp32|bf16|fp16] [--threads N]
    .venv/bin/python benchmarks/bench_pipeline.py memory [--sizes 512 1024 2048] [--untiled]
        [--device cpu] [--threads N]

``timing`` upscales one random LR image (output ``--size``², scale 4) and prints encode /
UNet per step / decode / other wall seconds and the process CPU time of the call (best of
``--repeats`` after a warm-up; the full
sd15 architecture with random weights takes one repeat and no warm-up by default, as each
call costs tens of seconds on CPU).

``memory`` runs the tiny preset, tiled (default tile: 32 latents = 256 px, overlap 8),
once per output size, each in a fresh subprocess, and prints the peak resident memory
above the process's level after loading the model and one warm-up call (``ru_maxrss``,
a high-water mark, so allocator caching cannot hide a peak); on CUDA it prints
``torch.cuda.max_memory_allocated`` instead. With ``--untiled`` the same sizes are run
with ``tiled=False`` for comparison. The input/latents/output tensors themselves grow
with the size (a 2048² float32 output is 48 MiB); the activations do not.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _lr(size: int, scale: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size // scale,) * 2, mode="bilinear").clamp(0, 1)


def timing(args: argparse.Namespace) -> None:
    from yonos_train.presets import build_pipeline
    from yonos_train.timing import StageTimer

    t0 = time.perf_counter()
    pipe = build_pipeline(args.preset, scale=4, seed=0, device=args.device)
    pipe = pipe.to(args.device, DTYPES[args.dtype])
    print(
        f"build {args.preset} ({args.dtype}, {args.device}): {time.perf_counter() - t0:.1f}s; threads {torch.get_num_threads()}"
    )
    lr = _lr(args.size).to(args.device)
    repeats = args.repeats if args.repeats is not None else (1 if args.preset == "sd15" else 3)
    warmup = args.preset != "sd15" if args.warmup is None else args.warmup
    for steps in args.steps:
        if warmup:
            pipe(lr, steps, [torch.Generator().manual_seed(0)])
        best: StageTimer | None = None
        for _ in range(repeats):
            timer = StageTimer()
            cpu0 = time.process_time()
            pipe(lr, steps, [torch.Generator().manual_seed(0)], timer=timer)
            timer.cpu_seconds = time.process_time() - cpu0  # type: ignore[attr-defined]
            if best is None or timer.total < best.total:
                best = timer
        s = best.summary()
        per_step = s["unet"] / s["steps"]
        print(
            f"{args.preset} {args.size}² out, {steps} step(s): encode {s['encode']:.3f}s | "
            f"unet {per_step:.3f}s/step ({s['unet']:.3f}s) | decode {s['decode']:.3f}s | "
            f"other {s['other']:.3f}s | total {s['total']:.3f}s | process CPU {best.cpu_seconds:.1f}s "
            f"({best.cpu_seconds / s['total']:.2f} cores busy on average: well below the thread count "
            "means the machine was contended)"
        )


def _memory_child(size: int, tiled: bool, device: str) -> dict:
    from yonos_train.presets import build_pipeline

    pipe = build_pipeline("tiny", scale=4, seed=0, device=device)
    pipe(_lr(128).to(device), 1, [torch.Generator().manual_seed(0)])  # warm-up at a small size
    lr = _lr(size).to(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    out = pipe(lr, 1, [torch.Generator().manual_seed(0)], tiled=tiled)
    seconds = time.perf_counter() - t0
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {
        "size": size,
        "tiled": tiled,
        "peak_mib": peak / 2**20,
        "seconds": seconds,
        "out": list(out.shape),
    }


def memory(args: argparse.Namespace) -> None:
    modes = [True, False] if args.untiled else [True]
    print(f"tiny preset, 1 step, tile 32 latents (256 px) overlap 8, device {args.device}")
    for tiled in modes:
        for size in args.sizes:
            cmd = [
                sys.executable,
                __file__,
                "_child",
                str(size),
                str(int(tiled)),
                args.device,
                str(args.threads or 0),
            ]
            res = json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
            )
            what = "peak RSS above warm model" if args.device == "cpu" else "peak CUDA allocation above model"
            out_mib = 3 * size * size * 4 / 2**20
            print(
                f"{'tiled  ' if tiled else 'untiled'} {size:5d}² out: {what} {res['peak_mib']:8.1f} MiB "
                f"(output tensor {out_mib:.0f} MiB), {res['seconds']:.2f}s"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        size, tiled, device, threads = int(sys.argv[2]), bool(int(sys.argv[3])), sys.argv[4], int(sys.argv[5])
        if threads:
            torch.set_num_threads(threads)
        print(json.dumps(_memory_child(size, tiled, device)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--preset", default="tiny", choices=["tiny", "sd15"])
    t.add_argument("--size", type=int, default=512)
    t.add_argument("--steps", type=int, nargs="+", default=[1, 4])
    t.add_argument("--repeats", type=int, default=None)
    t.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--device", default="cpu")
    t.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    t.add_argument("--threads", type=int, default=None)
    m = sub.add_parser("memory")
    m.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    m.add_argument("--untiled", action="store_true")
    m.add_argument("--device", default="cpu")
    m.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.inference_mode():
        timing(args) if args.cmd == "timing" else memory(args)


if __name__ == "__main__":
    main()
