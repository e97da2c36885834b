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

``--real N`` (and ``run_all.py``'s second metrics row): the same comparison with the real
networks that ship in the offline-assets packages — NIQE (MATLAB-release parameters) and
fid-clean (TF-FID Inception; peers: clean-fid's folder API) — on N 256² crops of real photos
(NIQE needs several 96-px blocks per image; the 128² sample images have one).
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
REAL_METRICS = ("psnr-y", "ssim-y", "niqe", "fid-clean")


def offline_weights(root: Path) -> Path | None:
    """A weights folder with the real Inception and NIQE parameters (from the offline-assets
    packages and the cached source archive; no download), or None when they are absent."""
    from yonos_bench.catalog import fetch
    from yonos_bench.core.errors import YonosError

    try:
        fetch(["fid-clean", "niqe"], root, allow_network=False)
    except YonosError:
        return None
    return root


def build_photo_pairs(root: Path, n: int, size: int = 256) -> tuple[list[Path], list[Path]]:
    """``n`` HR crops (``size``²: NIQE needs several 96-px blocks; the 128² ``sample`` images
    give one, and NaN) of real photos (sporco, scikit-image), SR = bicubic x4 down and up."""
    import sporco
    from skimage import data

    photos = [Image.open(p).convert("RGB") for p in sorted((Path(sporco.__file__).parent / "data").glob("*.png"))]
    photos += [Image.fromarray(getattr(data, k)()) for k in ("astronaut", "chelsea", "coffee")]
    rng = np.random.default_rng(0)
    (root / "sr").mkdir()
    (root / "hr").mkdir()
    sr_paths, hr_paths = [], []
    for i in range(n):
        ph = photos[i % len(photos)]
        x, y = int(rng.integers(0, ph.width - size)), int(rng.integers(0, ph.height - size))
        hr = ph.crop((x, y, x + size, y + size))
        sr = hr.resize((size // 4, size // 4), Image.BICUBIC).resize((size, size), Image.BICUBIC)
        name = f"{i:04d}.png"
        hr.save(root / "hr" / name)
        sr.save(root / "sr" / name)
        sr_paths.append(root / "sr" / name)
        hr_paths.append(root / "hr" / name)
    return sr_paths, hr_paths


def peers_real(sr_paths, hr_paths, wdir: Path) -> dict[str, list[float]]:
    """Peers' way with the real networks: pyiqa per metric and per file (NIQE given the same
    MATLAB-release parameters as a .mat), clean-fid's folder API for FID."""
    import pyiqa
    import scipy.io
    import torch
    from cleanfid import fid

    from yonos_bench.metrics.features import load_inception
    from yonos_bench.metrics.presets import NIQE_PARAMS

    out = {}
    for mid, name in (("psnr-y", "psnr"), ("ssim-y", "ssim")):
        metric = pyiqa.create_metric(name, test_y_channel=True, color_space="ycbcr", device="cpu")
        out[mid] = [metric(str(s), str(h)).item() for s, h in zip(sr_paths, hr_paths, strict=True)]
    with np.load(NIQE_PARAMS.path(wdir)) as z:
        mat = wdir / "niqe-params.mat"
        scipy.io.savemat(mat, {"mu_prisparam": z["mu_pris_param"], "cov_prisparam": z["cov_pris_param"]})
    niqe = pyiqa.create_metric("niqe", device="cpu", pretrained_model_path=str(mat))
    out["niqe"] = [niqe(str(s)).item() for s in sr_paths]
    net = load_inception(wdir, "cpu")
    with torch.no_grad():
        out["fid-clean"] = [
            float(fid.compute_fid(str(sr_paths[0].parent), str(hr_paths[0].parent), mode="clean",
                                  custom_feat_extractor=net, num_workers=0, batch_size=16, verbose=False,
                                  device=torch.device("cpu")))
        ]  # fmt: skip
    return out


def engine_real(sr_paths, hr_paths, wdir: Path, batch_size: int) -> dict[str, list[float]]:
    from yonos_bench.metrics.engine import evaluate

    ev = evaluate(sr_paths, hr_paths, list(REAL_METRICS), batch_size=batch_size, weights_dir=wdir, n_boot=10)
    if ev.unavailable:
        raise RuntimeError(f"real metrics unavailable: {ev.unavailable}")
    return {**ev.per_image, "fid-clean": [ev.summary["fid-clean"].mean]}


def measure_real(n_pairs: int = 64, batch_size: int = 16) -> dict | None:
    """Both paths with the real Inception and NIQE on 256² photo crops (None: assets absent)."""
    import pyiqa  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        wdir = offline_weights(Path(tmp) / "weights")
        if wdir is None:
            return None
        sr, hr = build_photo_pairs(Path(tmp), n_pairs)
        t0 = time.perf_counter()
        ours = engine_real(sr, hr, wdir, batch_size)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = peers_real(sr, hr, wdir)
        t_peers = time.perf_counter() - t0
    diffs = {m: float(np.max(np.abs(np.subtract(ours[m], theirs[m])))) for m in ours}
    return {"pairs": n_pairs, "engine_s": t_ours, "peers_s": t_peers, "speedup": t_peers / t_ours,
            "max_abs_diff": diffs}  # fmt: skip


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
    rows = [
        row(
            "metrics: per-metric pyiqa loop / one-pass engine (300 pairs)",
            m["speedup"],
            "x",
            f">= {GOAL:.1f}",
            m["speedup"] >= GOAL,
            note=f"{m['peers_s']:.1f} s vs {m['engine_s']:.1f} s; max |diff| {m['max_abs_diff']:.1e}",
        ),
    ]
    real = measure_real(32 if quick else 64)
    if real is None:
        rows.append(row("metrics, real Inception + NIQE", None, "x", note="offline assets absent: make offline-assets"))
    else:
        d = real["max_abs_diff"]
        rows.append(
            row(
                f"metrics, real Inception + NIQE: pyiqa loop + clean-fid folders / engine ({real['pairs']} pairs 256²)",
                real["speedup"],
                "x",
                note="context (no goal: the Inception forward, the same on both sides, dominates); "
                + f"{real['peers_s']:.1f} s vs {real['engine_s']:.1f} s; max |diff| niqe {d['niqe']:.1e}, fid {d['fid-clean']:.1e}",
            )
        )
    return {"command": COMMAND + " --pairs 300 --real 64", "rows": rows, "details": {**m, "real": real}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--real", type=int, default=0, metavar="N", help="also N 256² pairs with real Inception + NIQE")
    args = ap.parse_args()
    import torch

    print(f"torch threads: {torch.get_num_threads()}")
    if args.real:
        r = measure_real(args.real, args.batch_size)
        print("real metrics:", r if r is not None else "offline assets absent (make offline-assets)")
    m = measure(args.pairs, args.batch_size)
    print(f"{args.pairs} pairs (128x128), metrics psnr-y, ssim-y, lpips-alex (random AlexNet)")
    print(f"per-metric loop through pyiqa (peers): {m['peers_s']:7.2f} s")
    print(f"one-pass engine (batch {args.batch_size}):          {m['engine_s']:7.2f} s")
    print(
        f"speed-up: {m['speedup']:.2f}x (goal >= {GOAL:.0f}x)   max per-image difference: {m['max_abs_diff']:.2e}"
    )


if __name__ == "__main__":
    main()
