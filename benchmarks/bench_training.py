"""Training cost: tiny ``standard`` vs ``distill`` samples/s (+ peak memory), and one full-size
SD v1.5 training step on CPU at random weights (with and without gradient checkpointing).

Each measurement runs in its own subprocess so that peak RSS (``ru_maxrss``) is its own.
Ratios are measured in one run, on one machine; nothing here is asserted.

    python benchmarks/bench_training.py                    # tiny standard vs distill
    python benchmarks/bench_training.py --sd15 --sd15-crop 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tiny_stage(stage: str, steps: int, batch: int, threads: int) -> dict:
    """Per-step time of the tiny ×4 ``standard`` or ``distill`` training step in this process.

    The step is the stages' own: on-device LR synthesis, the VAE encodes, eq. 2 / eq. 3 with
    (for distill) the frozen teacher's forward, backward and an AdamW update — data loading
    excluded (procedural images are cached after their first use). Returns the median and
    the minimum over ``steps`` steps after two warm-up steps (the minimum is the least
    disturbed by other processes on a shared machine)."""
    import copy

    import torch

    torch.set_num_threads(threads)
    from yonos_train.data import synthesize_lr
    from yonos_train.presets import build_pipeline
    from yonos_train.stages.common import randn_per_sample, uniform_per_sample
    from yonos_train.stages.distill import distill_loss_batch
    from yonos_train.stages.standard import v_loss_batch

    pipe = build_pipeline("tiny", 4, seed=0)
    vae, cpu = pipe.vae.requires_grad_(False), torch.device("cpu")
    unet = pipe.unet.train()
    teacher = copy.deepcopy(unet).requires_grad_(False).eval()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    ctx = pipe.null_embedding(batch)
    times = []
    for i in range(steps + 2):
        seeds = list(range(i * batch, (i + 1) * batch))
        hr = torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(i))
        t0 = time.perf_counter()
        eps = randn_per_sample((4, 8, 8), seeds, cpu)
        t = uniform_per_sample(seeds, cpu)
        if stage == "standard":
            lr = synthesize_lr(hr, 4, "bicubic", seeds)[0]
            loss = v_loss_batch(unet, vae, ctx, hr, lr, 4, eps, t)
        else:
            lr4, lr2 = synthesize_lr(hr, (4, 2), "bicubic", seeds)
            loss = distill_loss_batch(unet, teacher, vae, ctx, hr, lr4, 4, lr2, 2, eps, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    steady = sorted(times[2:])
    return {"stage": stage, "median_step_s": steady[len(steady) // 2], "min_step_s": steady[0], "batch": batch,
            "peak_rss_mb": _peak_mb()}  # fmt: skip


def sd15_step(crop: int, checkpointing: bool, optimizer: str, threads: int) -> dict:
    """One full SD v1.5 training step (eq. 2, batch 1) at random weights on CPU."""
    import torch

    torch.set_num_threads(threads)
    from yonos_train.data import synthesize_lr
    from yonos_train.presets import build_pipeline
    from yonos_train.stages.common import randn_per_sample, uniform_per_sample
    from yonos_train.stages.standard import v_loss_batch

    pipe = build_pipeline("sd15", 2, seed=0)
    unet, vae = pipe.unet.train(), pipe.vae.requires_grad_(False)
    if checkpointing:
        unet.enable_gradient_checkpointing()
    opt = (torch.optim.AdamW if optimizer == "adamw" else torch.optim.SGD)(unet.parameters(), lr=1e-5)
    before = _peak_mb()
    hr = torch.rand(1, 3, crop, crop)
    cpu = torch.device("cpu")
    t0 = time.perf_counter()
    lr = synthesize_lr(hr, 2, "bicubic", [0])[0]
    eps = randn_per_sample((4, crop // 8, crop // 8), [1], cpu)
    loss = v_loss_batch(unet, vae, pipe.null_embedding(1), hr, lr, 2, eps, uniform_per_sample([2], cpu))
    loss.backward()
    opt.step()
    step_s = time.perf_counter() - t0
    return {"crop": crop, "gradient_checkpointing": checkpointing, "optimizer": optimizer, "step_s": step_s,
            "peak_rss_mb": _peak_mb(), "rss_after_build_mb": before}  # fmt: skip


def _sub(kind: str, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps({"kind": kind, **kw})]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


GOAL = 1.5
COMMAND = ".venv/bin/python benchmarks/bench_training.py"


def run(quick: bool = False, threads: int | None = None) -> dict:
    """Entry point of ``run_all.py``: tiny distill/standard ratio, then (unless the environment
    sets ``YONOS_BENCH_SD15_CROP=0``) one SD v1.5 step with and without gradient checkpointing
    at a small crop with SGD (no optimizer moments, so the activations are visible)."""
    import os

    from run_all import row

    threads = threads or 1
    steps, rounds = (10, 2) if quick else (20, 3)
    runs = {"standard": [], "distill": []}
    for _ in range(rounds):  # alternate, so both see the same background load
        for stage in runs:
            runs[stage].append(_sub("tiny", stage=stage, steps=steps, batch=8, threads=threads))
    med = {k: sorted(r["median_step_s"] for r in rs)[len(rs) // 2] for k, rs in runs.items()}
    ratio = med["distill"] / med["standard"]
    cmd = f"{COMMAND} --steps {steps} --rounds {rounds} --threads {threads}"
    rows = [
        row("training: distill / standard cost per sample (tiny)", ratio, "x", f"<= {GOAL:.1f}", ratio <= GOAL,
            note=f"{8 / med['standard']:.1f} vs {8 / med['distill']:.1f} samples/s (median step, batch 8)"),
    ]  # fmt: skip
    crop = int(os.environ.get("YONOS_BENCH_SD15_CROP", "256"))
    sd15 = []
    if crop:
        sd15 = [
            _sub("sd15", crop=crop, checkpointing=c, optimizer="sgd", threads=threads) for c in (False, True)
        ]
        off, on = sd15
        cmd += f"; {COMMAND} --sd15 --sd15-crop {crop} --sd15-optimizer sgd"
        for r in sd15:
            rows.append(row(f"training: SD v1.5 step peak RSS, crop {crop}, ckpt {'on' if r['gradient_checkpointing'] else 'off'}",
                            r["peak_rss_mb"] / 1024, "GB", note=f"{r['step_s']:.1f} s; after build "
                            f"{r['rss_after_build_mb'] / 1024:.1f} GB; SGD, batch 1, random weights, CPU"))  # fmt: skip
        saved = (off["peak_rss_mb"] - on["peak_rss_mb"]) / 1024
        rows.append(row("training: memory saved by gradient checkpointing", saved, "GB",
                        note=f"at crop {crop} (512 on a GPU saves more: activations grow with pixels)"))  # fmt: skip
    return {"command": cmd, "rows": rows, "details": {"tiny": runs, "sd15": sd15}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20, help="tiny: timed steps per round")
    ap.add_argument("--rounds", type=int, default=2, help="tiny: alternating rounds per stage")
    ap.add_argument("--batch", type=int, default=8, help="tiny: batch size (crop 64)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--sd15", action="store_true", help="also time one full-size SD v1.5 step")
    ap.add_argument("--sd15-crop", type=int, default=256)
    ap.add_argument("--sd15-optimizer", choices=("adamw", "sgd"), default="adamw")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        kind = spec.pop("kind")
        print(json.dumps(tiny_stage(**spec) if kind == "tiny" else sd15_step(**spec)))
        return
    runs = {"standard": [], "distill": []}
    for _ in range(args.rounds):  # alternate, so both see the same background load
        for stage in runs:
            runs[stage].append(
                _sub("tiny", stage=stage, steps=args.steps, batch=args.batch, threads=args.threads)
            )
    print(f"tiny x4 training step, crop 64, batch {args.batch}, {args.steps} steps x {args.rounds} rounds, "
          f"{args.threads} thread(s):")  # fmt: skip
    best, med = {}, {}
    for stage, rs in runs.items():
        best[stage] = min(r["min_step_s"] for r in rs)
        med[stage] = sorted(r["median_step_s"] for r in rs)[len(rs) // 2]
        print(f"  {stage:9s} median {args.batch / med[stage]:7.1f} samples/s (best step {args.batch / best[stage]:7.1f}), "
              f"peak RSS {max(r['peak_rss_mb'] for r in rs):6.0f} MB")  # fmt: skip
    # The median is the robust figure on a shared machine; single best steps are noise.
    print(
        f"  distill / standard cost per sample (median): {med['distill'] / med['standard']:.2f}x (goal <= 1.5x)"
    )
    if args.sd15:
        for ckpt in (False, True):
            r = _sub("sd15", crop=args.sd15_crop, checkpointing=ckpt, optimizer=args.sd15_optimizer,
                     threads=args.threads)  # fmt: skip
            print(f"SD v1.5 (random weights), one step, batch 1, crop {r['crop']}, {r['optimizer']}, "
                  f"gradient checkpointing {'on ' if ckpt else 'off'}: {r['step_s']:.1f} s, "
                  f"peak RSS {r['peak_rss_mb'] / 1024:.1f} GB (after build {r['rss_after_build_mb'] / 1024:.1f} GB)")  # fmt: skip


if __name__ == "__main__":
    main()
