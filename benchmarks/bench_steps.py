"""Steps: measured speed-up of 1 DDIM step over 200 for the same pipeline, next to the ideal.

    .venv/bin/python benchmarks/bench_steps.py [--preset tiny] [--size 128] [--repeats 5]
        [--many 200] [--threads N]

One random LR image (output ``--size``², ×4), the same pipeline, seed and tiling for both
step counts. Calls alternate (1 step, ``--many`` steps, 1 step, ...) so background load
hits both alike; the median of each is kept. The ideal ratio is what the stage times
allow if only the network forwards cost anything:

    ideal = (encode + decode + many · unet_step) / (encode + decode + unet_step)

with encode/decode from the 1-step calls and ``unet_step`` the median UNet seconds per
step over all calls (:class:`yonos_train.timing.StageTimer`). measured / ideal < 1 means
per-step work outside the UNet (DDIM arithmetic, tiling glue) or per-call overhead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMAND = ".venv/bin/python benchmarks/bench_steps.py"


def measure(preset: str = "tiny", size: int = 128, repeats: int = 5, many: int = 200) -> dict:
    import torch

    from yonos_train.presets import build_pipeline
    from yonos_train.timing import StageTimer

    pipe = build_pipeline(preset, scale=4, seed=0)
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 3, size // 4, size // 4, generator=g)

    def call(steps: int) -> StageTimer:
        timer = StageTimer()
        pipe(lr, steps, [torch.Generator().manual_seed(1)], timer=timer)
        return timer

    with torch.inference_mode():
        call(1)  # warm-up (oneDNN primitive creation)
        one, lots = [], []
        for _ in range(repeats):
            one.append(call(1))
            lots.append(call(many))
    t1 = statistics.median(t.total for t in one)
    tn = statistics.median(t.total for t in lots)
    enc = statistics.median(t.encode for t in one)
    dec = statistics.median(t.decode for t in one)
    unet_step = statistics.median([s for t in one + lots for s in t.unet_steps])
    other_n = statistics.median(t.other for t in lots)
    ideal = (enc + dec + many * unet_step) / (enc + dec + unet_step)
    measured = tn / t1
    return {
        "preset": preset, "size": size, "repeats": repeats, "many": many,
        "one_step_s": t1, "many_steps_s": tn, "encode_s": enc, "decode_s": dec,
        "unet_step_s": unet_step, "other_many_s": other_n,
        "measured_speedup": measured, "ideal_speedup": ideal, "efficiency": measured / ideal,
    }  # fmt: skip


def run(quick: bool = False, threads: int | None = None) -> dict:
    from run_all import row

    size, repeats = (128, 3) if quick else (256, 5)
    m = measure("tiny", size, repeats, 200)
    cmd = f"{COMMAND} --size {size} --repeats {repeats}" + (f" --threads {threads}" if threads else "")
    return {
        "command": cmd,
        "rows": [
            row(
                "steps: 1-step speed-up over 200 steps (tiny, measured)",
                m["measured_speedup"],
                "x",
                note=f"{m['many_steps_s']:.2f} s vs {m['one_step_s'] * 1e3:.0f} ms per {size}² image",
            ),
            row(
                "steps: ideal speed-up from the stage times",
                m["ideal_speedup"],
                "x",
                note=f"enc {m['encode_s'] * 1e3:.0f} + dec {m['decode_s'] * 1e3:.0f} ms, "
                f"UNet {m['unet_step_s'] * 1e3:.1f} ms/step",
            ),
            row(
                "steps: measured / ideal",
                m["efficiency"],
                "x",
                ">= 0.90",
                m["efficiency"] >= 0.90,
                note="per-step cost outside the UNet (DDIM glue)",
            ),
        ],  # fmt: skip
        "details": m,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=["tiny", "sd15"])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--many", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    m = measure(args.preset, args.size, args.repeats, args.many)
    print(f"{args.preset} preset, {args.size}² output, batch 1, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats} alternating calls")  # fmt: skip
    print(f"  1 step: {m['one_step_s'] * 1e3:.1f} ms (encode {m['encode_s'] * 1e3:.1f}, decode "
          f"{m['decode_s'] * 1e3:.1f}, UNet {m['unet_step_s'] * 1e3:.2f} ms/step)")  # fmt: skip
    print(f"  {args.many} steps: {m['many_steps_s']:.3f} s (outside the stages: {m['other_many_s']:.3f} s)")
    print(f"  speed-up of 1 step: measured {m['measured_speedup']:.1f}x, ideal {m['ideal_speedup']:.1f}x "
          f"(measured/ideal {m['efficiency']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
