"""One-pass metrics engine vs the way peers' evaluation scripts work.

Peers' scripts (StableSR / OSEDiff / ResShift lineage) loop once per metric and let pyiqa
read every SR and HR file again inside that loop, one image at a time. Our engine decodes
each image once, batches, and applies every metric to the batch.

Pairs: the embedded ``sample`` protocol (210 pairs, 128x128 HR), prepared in a temp folder;
SR = PIL bicubic x4 of the LR; cycled to ``--pairs`` pairs (default 300) under distinct
names. Metrics that run offline: psnr-y, ssim-y (pyiqa, real presets) and LPIPS with a
random-init AlexNet (the `lpips` package; the same network object on both sides).

    .venv/bin/python benchmarks/bench_metrics.py [--pairs 300] [--batch-size 16]

Prints both timings, the ratio, and the largest per-image disagreement (must be ~0).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_pairs(root: Path, n: int) -> tuple[list[Path], list[Path]]:
    from yonos_bench.protocols import pairs
    from yonos_bench.protocols import spec as registry

    prepared = pairs.prepare(registry.load_protocol("sample"), root / "data", progress=False)
    (root / "sr").mkdir()
    (root / "hr").mkdir()
    sr_paths, hr_paths = [], []
    for i in range(n):
        p = prepared.pairs[i % len(prepared.pairs)]
        hr = Image.open(p.hr_path)
        sr = Image.open(p.lr_path).resize(hr.size, Image.BICUBIC)
        name = f"{i:04d}_{p.id}.png"
        sr.save(root / "sr" / name)
        shutil.copyfile(p.hr_path, root / "hr" / name)
        sr_paths.append(root / "sr" / name)
        hr_paths.append(root / "hr" / name)
    return sr_paths, hr_paths


def random_lpips():
    import lpips
    import torch

    torch.manual_seed(0)
    return lpips.LPIPS(pnet_rand=True, pretrained=False, verbose=False).eval()


def peers_loop(sr_paths, hr_paths, net) -> dict[str, list[float]]:
    """One loop per metric; pyiqa re-reads both files for every pair, one pair at a time."""
    import pyiqa
    import torch
    from pyiqa.utils.img_util import imread2tensor

    out = {}
    for mid, name in (("psnr-y", "psnr"), ("ssim-y", "ssim")):
        metric = pyiqa.create_metric(name, test_y_channel=True, color_space="ycbcr", device="cpu")
        out[mid] = [metric(str(s), str(h)).item() for s, h in zip(sr_paths, hr_paths, strict=True)]
    vals = []
    with torch.no_grad():
        for s, h in zip(sr_paths, hr_paths, strict=True):
            a, b = imread2tensor(str(s)).unsqueeze(0), imread2tensor(str(h)).unsqueeze(0)
            vals.append(net(a, b, normalize=True).item())
    out["lpips-alex"] = vals
    return out


def engine(sr_paths, hr_paths, net, batch_size: int) -> dict[str, list[float]]:
    from yonos_bench.metrics.engine import evaluate

    ev = evaluate(
        sr_paths,
        hr_paths,
        ["psnr-y", "ssim-y", "lpips-alex"],
        batch_size=batch_size,
        backends={"lpips-alex": lambda s, h: net(s, h, normalize=True).reshape(-1)},
    )
    return ev.per_image


GOAL = 2.0
COMMAND = ".venv/bin/python benchmarks/bench_metrics.py"


def measure(n_pairs: int = 300, batch_size: int = 16) -> dict:
    """Both timings on the same pairs (after a warm-up of both paths) and their agreement."""
    import pyiqa  # noqa: F401  (import cost outside both timings)

    with tempfile.TemporaryDirectory() as tmp:
        sr, hr = build_pairs(Path(tmp), n_pairs)
        net = random_lpips()
        engine(sr[:4], hr[:4], net, batch_size)  # warm-up both paths (allocators, kernels)
        peers_loop(sr[:4], hr[:4], net)
        t0 = time.perf_counter()
        ours = engine(sr, hr, net, batch_size)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = peers_loop(sr, hr, net)
        t_peers = time.perf_counter() - t0
    diff = max(float(np.max(np.abs(np.subtract(ours[m], theirs[m])))) for m in ours)
    return {"pairs": n_pairs, "batch_size": batch_size, "engine_s": t_ours, "peers_s": t_peers,
            "speedup": t_peers / t_ours, "max_abs_diff": diff}  # fmt: skip


def run(quick: bool = False, threads: int | None = None) -> dict:
    """Entry point of ``run_all.py`` (300 pairs in both modes: the issue's setting)."""
    from run_all import row

    m = measure(300, 16)
    return {
        "command": COMMAND + " --pairs 300",
        "rows": [
            row(
                "metrics: per-metric pyiqa loop / one-pass engine (300 pairs)",
                m["speedup"],
                "x",
                f">= {GOAL:.1f}",
                m["speedup"] >= GOAL,
                note=f"{m['peers_s']:.1f} s vs {m['engine_s']:.1f} s; max |diff| {m['max_abs_diff']:.1e}",
            ),
        ],  # fmt: skip
        "details": m,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    import torch

    print(f"torch threads: {torch.get_num_threads()}")
    m = measure(args.pairs, args.batch_size)
    print(f"{args.pairs} pairs (128x128), metrics psnr-y, ssim-y, lpips-alex (random AlexNet)")
    print(f"per-metric loop through pyiqa (peers): {m['peers_s']:7.2f} s")
    print(f"one-pass engine (batch {args.batch_size}):          {m['engine_s']:7.2f} s")
    print(
        f"speed-up: {m['speedup']:.2f}x (goal >= {GOAL:.0f}x)   max per-image difference: {m['max_abs_diff']:.2e}"
    )


if __name__ == "__main__":
    main()
