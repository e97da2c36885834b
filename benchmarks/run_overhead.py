"""Toolkit overhead of `run`: wall time per image of the SR-generation phase vs the sum of
the pipeline's raw network forwards (VAE encode + UNet + VAE decode).

    .venv/bin/python benchmarks/run_overhead.py [--limit 96] [--batch-size 8] [--device cpu] [--repeats 5]

Builds the tiny random YONOS pipeline, prepares `sample` in a temporary folder and
factors the ratio into two parts, each measured so that a busy, shared machine cannot
bias it (contention only ever adds time, and both sides of each ratio share a window):

* A = generation wall / model-call seconds, both from the same `run` (reading LR, PNG
  encoding, hashing, atomic writes and the progress log, minus what the reader/writer
  threads hide behind the model);
* B = adapter `upscale` / raw forwards, interleaved per batch on the same batches and
  seeds, the fastest of ``--repeats`` kept for each (input checks, output checks,
  the pipeline's resize/noise/DDIM glue).

Reported: A, B and A×B (the overhead ratio; goal <= 1.10, issue 9). ``run(quick)`` is the
entry point of ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

GOAL = 1.10
COMMAND = ".venv/bin/python benchmarks/run_overhead.py"


def run(quick: bool = False, threads: int | None = None) -> dict:
    """Entry point of ``run_all.py``: the overhead ratio as table rows."""
    from run_all import row

    limit, repeats = (96, 5) if quick else (192, 5)
    args = argparse.Namespace(limit=limit, batch_size=8, device="cpu", preset="tiny", repeats=repeats)
    m = measure(args)
    ratio = m["overhead_ratio"]
    return {
        "command": f"{COMMAND} --limit {limit} --repeats {repeats}",
        "rows": [
            row(
                "overhead: run wall / raw forwards (tiny, A*B)",
                ratio,
                "x",
                f"<= {GOAL:.2f}",
                ratio <= GOAL,
                note=f"A (wall/model calls) {m['A']:.3f}, B (upscale/forwards) {m['B']:.3f}; "
                f"{m['raw_ms_per_image']:.1f} ms/img of forwards",
            ),
        ],  # fmt: skip
        "details": m,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--repeats", type=int, default=5)
    m = measure(ap.parse_args())
    for line in m["lines"]:
        print(line)


def measure(args: argparse.Namespace) -> dict:
    """Run the measurement described in the module docstring; returns figures and report lines."""
    import torch

    from yonos_bench.core.imageio import read_rgb8, to_tensor
    from yonos_bench.core.provenance import synchronize
    from yonos_bench.models import load_model
    from yonos_bench.models.base import generators
    from yonos_bench.protocols.pairs import prepare
    from yonos_bench.runs.generate import chunks
    from yonos_bench.runs.results import image_seed
    from yonos_bench.runs.runner import RunOptions, run_benchmark
    from yonos_train.presets import build_pipeline
    from yonos_train.timing import StageTimer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pipe_dir = tmp / "tiny-yonos"
        build_pipeline(args.preset, scale=4).save_pretrained(pipe_dir)
        prepared = prepare("sample", tmp / "data", progress=False)
        opts = RunOptions(
            device=args.device, batch_size=args.batch_size, metrics=("psnr-y",), data_root=tmp / "data",
            results_root=tmp / "results", weights_dir=tmp / "weights", limit=args.limit, progress=False,
        )  # fmt: skip
        t0 = time.perf_counter()
        (outcome,) = run_benchmark("sample", [str(pipe_dir)], (1,), opts)
        run_wall = time.perf_counter() - t0
        timing, n = outcome.result["timing"], outcome.result["n"]
        gen, calls = timing["session_generation_wall_seconds"], timing["compute_seconds"]

        model = load_model(str(pipe_dir), device=args.device, scale=4)
        pairs = prepared.pairs[:n]
        ids = [p.id for p in pairs]
        best_up, best_raw, best_parts = 0.0, 0.0, {"encode": 0.0, "unet": 0.0, "decode": 0.0}
        with torch.inference_mode():
            for chunk in chunks(ids, args.batch_size):
                lr = torch.stack([to_tensor(read_rgb8(pairs[i].lr_path)) for i in chunk]).to(args.device)
                seeds = [image_seed(0, ids[i]) for i in chunk]
                ups, raws = [], []
                for _ in range(args.repeats):
                    synchronize(args.device)
                    t = time.perf_counter()
                    model.upscale(lr, steps=1, seeds=seeds)
                    synchronize(args.device)
                    ups.append(time.perf_counter() - t)
                    timer = StageTimer(device=args.device)
                    model.pipe(lr, 1, generators(seeds), timer=timer)
                    raws.append({k: getattr(timer, k) for k in best_parts})
                best_up += min(ups)
                fastest = min(raws, key=lambda r: sum(r.values()))
                best_raw += sum(fastest.values())
                for k in best_parts:
                    best_parts[k] += fastest[k]
        a, b = gen / calls, best_up / best_raw
    lines = [
        f"device {outcome.result['device']}; {n} pairs of sample (32->128 px); batch {args.batch_size}",
        f"run: generation wall {gen:.3f} s ({gen / n * 1e3:.2f} ms/img), model calls {calls:.3f} s; "
        f"metrics {timing['metric_seconds']:.2f} s; whole run_benchmark {run_wall:.2f} s",
        f"best of {args.repeats} per batch: upscale {best_up:.3f} s; raw forwards "
        + " + ".join(f"{k} {v:.3f}" for k, v in best_parts.items())
        + f" = {best_raw:.3f} s ({best_raw / n * 1e3:.2f} ms/img)",
        f"A (generation wall / model calls) = {a:.3f}",
        f"B (upscale / raw forwards)        = {b:.3f}",
        f"overhead ratio A*B                = {a * b:.3f}  (goal <= {GOAL:.2f})",
    ]
    return {"n": n, "A": a, "B": b, "overhead_ratio": a * b, "generation_wall_s": gen, "model_calls_s": calls,
            "upscale_s": best_up, "raw_forwards_s": best_raw, "raw_parts_s": best_parts,
            "raw_ms_per_image": best_raw / n * 1e3, "lines": lines}  # fmt: skip


if __name__ == "__main__":
    main()
