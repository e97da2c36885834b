"""GPU speed of YONOS next to its peers: full SD v1.5 architecture, random weights, 128² → 512².

    benchmarks/gpu.sh                       # on a CUDA machine, within ~5 minutes
    benchmarks/gpu.sh --cpu-reduced         # tiny preset, few steps: what the tests run
    .venv/bin/python benchmarks/gpu_speed.py [--cpu-reduced] [--out DIR] [--budget-s 270]
        [--variants eager-attn sdpa sdpa+cl sdpa+cl+compile] [--batches 1 8] [--steps 1 200]

Measured, per variant and batch size (bf16 on CUDA): seconds per image of the whole
pipeline call (bicubic upsampling, VAE encode, UNet × steps, VAE decode; the median of
``--repeats`` calls after warm-up, each bracketed by ``cuda.synchronize``), its stage
breakdown (a separate call with :class:`yonos_train.timing.StageTimer`, which synchronises
at each stage), and peak CUDA memory. Variants, applied cumulatively to one pipeline:

* ``eager-attn``: diffusers' classic attention (``AttnProcessor``: matmul + softmax);
* ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` (``AttnProcessor2_0``,
  the diffusers default, flash/memory-efficient kernels);
* ``sdpa+cl``: UNet and VAE in channels-last memory format;
* ``sdpa+cl+compile``: ``torch.compile`` of the UNet (inductor, static shapes; the
  compile time is reported separately and excluded from the timings).

Also: images/s of the one-pass metric engine on the device (PSNR-Y, SSIM-Y through pyiqa
and LPIPS with a random-init AlexNet — no weights can be fetched — on 512² PNG pairs,
decode included). The 200-step runs and compilation are skipped, and say so, when they
would not fit in ``--budget-s``; Ctrl-C / SIGINT (``gpu.sh`` sends it at its time limit)
stops the measurements and still prints the table and writes the JSON.

Peers (published, 512² outputs, A100): StableSR 11.50 s (200 steps), ResShift 0.71 s,
SinSR 0.16 s, OSEDiff 0.35 s (OSEDiff's own script: 0.10 s). Goal: YONOS one step
≤ 0.05 s per 512² image on an H100 at batch 8.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PEERS = [  # (method, steps, seconds per 512² image, device, source)
    ("StableSR", 200, 11.50, "A100", "published (OSEDiff paper, Table)"),
    ("ResShift", 15, 0.71, "A100", "published (OSEDiff paper, Table)"),
    ("SinSR", 1, 0.16, "A100", "published (OSEDiff paper, Table)"),
    ("OSEDiff", 1, 0.35, "A100", "published (OSEDiff paper, Table)"),
    ("OSEDiff (own script)", 1, 0.10, "A100", "OSEDiff repository's inference script"),
]
GOAL_S = 0.05  # s per 512² image, one step, batch 8, H100
VARIANTS = ("eager-attn", "sdpa", "sdpa+cl", "sdpa+cl+compile")


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def apply_variant(pipe, variant: str, state: dict, compile_backend: str) -> float:
    """Put ``pipe`` in ``variant`` (cumulative, in VARIANTS order); returns seconds spent."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    t0 = time.perf_counter()
    if variant == "eager-attn":
        pipe.unet.set_attn_processor(AttnProcessor())
        pipe.vae.set_attn_processor(AttnProcessor())
    else:
        if state.get("attn") != "sdpa":
            pipe.unet.set_attn_processor(AttnProcessor2_0())
            pipe.vae.set_attn_processor(AttnProcessor2_0())
            state["attn"] = "sdpa"
        if "+cl" in variant and not state.get("cl"):
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
            state["cl"] = True
        if variant.endswith("+compile") and not state.get("compiled"):
            # static shapes: one graph per batch size (no dynamic-shape kernels)
            torch._dynamo.config.automatic_dynamic_shapes = False
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
            pipe.unet.compile(backend=compile_backend)  # nn.Module.compile: in place, keeps .config
            state["compiled"] = True
    return time.perf_counter() - t0


def time_calls(pipe, lr, steps: int, repeats: int, device: str) -> list[float]:
    """Seconds per call of ``repeats`` synchronised pipeline calls."""
    import torch

    out = []
    for _ in range(repeats):
        gens = [torch.Generator().manual_seed(i) for i in range(lr.shape[0])]
        _sync(device)
        t0 = time.perf_counter()
        pipe(lr, steps, gens)
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def stage_call(pipe, lr, steps: int, device: str) -> dict:
    import torch

    from yonos_train.timing import StageTimer

    timer = StageTimer(device=device)
    pipe(lr, steps, [torch.Generator().manual_seed(i) for i in range(lr.shape[0])], timer=timer)
    s = timer.summary()
    return {k: s[k] for k in ("encode", "unet", "decode", "other", "total", "steps")}


def measure_variant(pipe, variant, batch, cfg, budget: Budget, rec: dict) -> None:
    """Fill ``rec`` with this (variant, batch)'s figures; skips what the budget cannot afford."""
    import torch

    device, size = cfg.device, cfg.size
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(batch, 3, size // 4, size // 4, generator=g).to(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(cfg.warmup):  # the first call of a compiled UNet compiles (per batch size)
        pipe(lr, 1, [torch.Generator().manual_seed(i) for i in range(batch)])
    _sync(device)
    rec["warmup_s"] = time.perf_counter() - t0
    for steps in cfg.steps:
        key = f"steps{steps}"
        if steps == 1:
            calls = time_calls(pipe, lr, 1, cfg.repeats, device)
            rec[key] = {"s_per_image": statistics.median(calls) / batch, "calls_s": calls}
            rec[key]["stages_per_image"] = {
                k: v / batch if k != "steps" else v for k, v in stage_call(pipe, lr, 1, device).items()
            }
            continue
        one = rec.get("steps1", {}).get("stages_per_image")
        estimate = (one["total"] + (steps - 1) * one["unet"]) * batch if one else 0.0
        if estimate > budget.left() - cfg.reserve_s:
            rec[key] = {"skipped": f"needs ~{estimate:.0f} s, {budget.left():.0f} s of budget left"}
            continue
        calls = time_calls(pipe, lr, steps, 1, device)
        rec[key] = {"s_per_image": calls[0] / batch, "calls_s": calls, "estimate_s": estimate}
    if device.startswith("cuda"):
        rec["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20


def metric_throughput(device: str, n: int, size: int, batch_size: int) -> dict:
    """Images/s of ``metrics.engine.evaluate`` on ``n`` synthetic PNG pairs (decode included)."""
    import lpips
    import numpy as np
    import torch
    from PIL import Image

    from yonos_bench.metrics.engine import evaluate

    torch.manual_seed(0)
    net = lpips.LPIPS(pnet_rand=True, pretrained=False, verbose=False).eval().to(device)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        sr, hr = [], []
        base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        for i in range(n):
            img = Image.fromarray(np.roll(base, i, axis=0)).resize((size, size), Image.BICUBIC)
            noisy = np.clip(np.asarray(img, dtype=np.int16) + rng.integers(-8, 9, (size, size, 3)), 0, 255)
            sr.append(Path(tmp) / f"sr{i:04d}.png")
            hr.append(Path(tmp) / f"hr{i:04d}.png")
            Image.fromarray(noisy.astype(np.uint8)).save(sr[-1])
            img.save(hr[-1])
        metrics = ["psnr-y", "ssim-y", "lpips-alex"]
        backends = {"lpips-alex": lambda s, h: net(s, h, normalize=True).reshape(-1)}
        evaluate(
            sr[:batch_size], hr[:batch_size], metrics, device=device, batch_size=batch_size, backends=backends
        )
        _sync(device)
        t0 = time.perf_counter()
        ev = evaluate(sr, hr, metrics, device=device, batch_size=batch_size, backends=backends)
        _sync(device)
        seconds = time.perf_counter() - t0
    return {"pairs": n, "size": size, "batch_size": batch_size, "seconds": seconds, "images_per_s": n / seconds,
            "metrics": metrics, "n_scored": min(len(v) for v in ev.per_image.values())}  # fmt: skip


def format_report(doc: dict) -> str:
    cfg = doc["config"]
    lines = [
        f"YONOS speed, {cfg['preset']} architecture (random weights), {cfg['size'] // 4}² -> {cfg['size']}², "
        f"{cfg['dtype']}, device: {doc['device']}",
        f"torch {doc['versions']['torch']}, diffusers {doc['versions']['diffusers']}",
        "",
        f"{'variant':18s} {'batch':>5s} {'steps':>5s} {'s/img':>9s} {'img/s':>8s}  stages/img (enc|unet|dec)  peak MiB",
    ]
    for key, rec in doc["runs"].items():
        variant, batch = key.rsplit("@b", 1)
        for steps in cfg["steps"]:
            r = rec.get(f"steps{steps}")
            if r is None:
                continue
            if "skipped" in r:
                lines.append(f"{variant:18s} {batch:>5s} {steps:5d}   skipped: {r['skipped']}")
                continue
            st = r.get("stages_per_image")
            stages = f"{st['encode']:.4f}|{st['unet']:.4f}|{st['decode']:.4f}" if st else ""
            mem = f"{rec['peak_memory_mib']:.0f}" if "peak_memory_mib" in rec else "–"
            lines.append(
                f"{variant:18s} {batch:>5s} {steps:5d} {r['s_per_image']:9.4f} {1 / r['s_per_image']:8.2f}  "
                f"{stages:26s} {mem}"
            )
        if rec.get("error"):
            lines.append(f"{variant:18s} {batch:>5s}   error: {rec['error']}")
    if doc.get("compile_s") is not None:
        lines.append(
            f"(torch.compile of the UNet + first calls: {doc['compile_s']:.0f} s, not in the timings)"
        )
    lines += ["", "peers (published figures, 512² outputs; not measured here):"]
    lines += [f"  {m:22s} {st:4d} step(s) {s:6.2f} s/img  {d}  ({src})" for m, st, s, d, src in PEERS]
    best = doc.get("best_one_step_b8")
    if best:
        verdict = "met" if best["s_per_image"] <= GOAL_S else f"missed by {best['s_per_image'] / GOAL_S:.2f}x"
        if cfg["preset"] != "sd15" or not cfg["device"].startswith("cuda"):
            verdict = "no verdict (reduced mode, not the goal's setting)"
        elif "H100" not in doc["device"]:
            verdict += " (not an H100: indicative only)"
        lines.append(
            f"goal: one step <= {GOAL_S} s per 512² image at batch 8 on an H100 — best here "
            f"{best['s_per_image']:.4f} s ({best['variant']}, batch {best['batch']}): {verdict}"
        )
    if doc.get("metrics"):
        m = doc["metrics"]
        lines.append(
            f"metric engine on {doc['device']}: {m['images_per_s']:.1f} pairs/s ({', '.join(m['metrics'])}; "
            f"{m['pairs']} pairs of {m['size']}², batch {m['batch_size']}, PNG decode included)"
        )
    if doc.get("interrupted"):
        lines.append(f"INTERRUPTED: {doc['interrupted']} (the figures above are what finished)")
    return "\n".join(lines)


def _write(doc: dict, out_dir: Path | None) -> Path | None:
    if out_dir is None:
        return None
    from yonos_bench.core.atomic import write_json_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "gpu_speed.json"
    write_json_atomic(path, doc)
    return path


def config(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cpu-reduced", action="store_true", help="tiny preset, fp32, CPU, few steps (for tests)"
    )
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    ap.add_argument(
        "--budget-s", type=float, default=None, help="measurement budget (default 270 GPU, 120 CPU)"
    )
    ap.add_argument("--reserve-s", type=float, default=None, help="kept back for the metric engine")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=None)
    ap.add_argument("--batches", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, nargs="+", default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compile-backend", default=None, help="inductor on GPU; eager in --cpu-reduced")
    ap.add_argument("--metric-pairs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    red = args.cpu_reduced
    args.device = args.device or ("cpu" if red else "cuda")
    args.preset, args.dtype = ("tiny", "fp32") if red else ("sd15", "bf16")
    args.size = 128 if red else 512
    args.variants = args.variants or list(VARIANTS)
    args.batches = args.batches or ([1, 2] if red else [1, 8])
    args.steps = args.steps or ([1, 4] if red else [1, 200])
    args.repeats = args.repeats or (2 if red else 5)
    args.budget_s = args.budget_s or (120.0 if red else 270.0)
    args.reserve_s = args.reserve_s if args.reserve_s is not None else (5.0 if red else 30.0)
    args.compile_backend = args.compile_backend or ("eager" if red else "inductor")
    args.metric_pairs = args.metric_pairs or (8 if red else 128)
    if 1 not in args.steps:
        args.steps = [1, *args.steps]  # the 1-step stage times size the budget of the others
    return args


def main(argv: list[str] | None = None) -> dict:
    cfg = config(argv)
    import diffusers
    import torch

    from yonos_bench.core.provenance import describe_device
    from yonos_train.presets import build_pipeline

    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_speed: no CUDA device here; use --cpu-reduced (or --device cpu) to run on CPU")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    budget = Budget(cfg.budget_s)
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    doc = {
        "device": describe_device(cfg.device),
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "peers": [
            dict(zip(("method", "steps", "s_per_image", "device", "source"), p, strict=True)) for p in PEERS
        ],
        "goal_s_per_image": GOAL_S,
        "runs": {},
    }
    try:
        t0 = time.perf_counter()
        pipe = build_pipeline(cfg.preset, scale=4, seed=0, device=cfg.device)
        if cfg.dtype == "bf16":
            pipe = pipe.to(cfg.device, torch.bfloat16)
        doc["build_s"] = time.perf_counter() - t0
        state: dict = {}
        with torch.inference_mode():
            for variant in cfg.variants:
                if variant.endswith("+compile") and budget.left() < cfg.reserve_s + 60:
                    doc["runs"][f"{variant}@b{cfg.batches[0]}"] = {
                        "error": f"skipped: compiling needs ~1-2 min, {budget.left():.0f} s left"
                    }
                    continue
                apply_variant(pipe, variant, state, cfg.compile_backend)
                for batch in cfg.batches:
                    rec = doc["runs"].setdefault(f"{variant}@b{batch}", {})
                    if budget.left() < cfg.reserve_s:
                        rec["error"] = "skipped: out of budget"
                        continue
                    try:
                        measure_variant(pipe, variant, batch, cfg, budget, rec)
                    except torch.cuda.OutOfMemoryError as exc:  # report and go on with the rest
                        rec["error"] = f"out of memory: {str(exc).splitlines()[0]}"
                        torch.cuda.empty_cache()
                    if variant.endswith("+compile"):
                        doc["compile_s"] = doc.get("compile_s", 0.0) + rec.get("warmup_s", 0.0)
                    _write(doc, cfg.out)
        del pipe
        b8 = [
            {"variant": k.rsplit("@b", 1)[0], "batch": max(cfg.batches), **v["steps1"]}
            for k, v in doc["runs"].items()
            if k.endswith(f"@b{max(cfg.batches)}") and "s_per_image" in v.get("steps1", {})
        ]
        doc["best_one_step_b8"] = min(b8, key=lambda r: r["s_per_image"]) if b8 else None
        doc["metrics"] = metric_throughput(
            cfg.device, cfg.metric_pairs, cfg.size, 16 if not cfg.cpu_reduced else 4
        )
    except KeyboardInterrupt:
        doc["interrupted"] = "time limit (SIGINT)"
    path = _write(doc, cfg.out)
    print(format_report(doc))
    if path:
        print(f"JSON: {path}")
    return doc


if __name__ == "__main__":
    main()
