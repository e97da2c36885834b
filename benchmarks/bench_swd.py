"""Cost of ``swd`` (metrics/swd.py) on the Miniature v2 distribution set: 1,050 crops of 128².

Pairs: the embedded ``sample-dist-x4`` protocol (1,050 HR crops of 128², seed 17), prepared
in a temp folder; SR = PIL bicubic x4 of the LR. Stages timed separately on the decoded
images (descriptors of both sets, then the distance), then the whole one-pass engine
(``evaluate(..., ["swd"])``: decoding included), with the peak resident memory.

    .venv/bin/python benchmarks/bench_swd.py [--pairs 1050] [--threads 1]

Absolute seconds on this machine (not a ratio): they say whether the metric fits a CPU run,
nothing more; background load inflates them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1050)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    from PIL import Image

    from yonos_bench.core.imageio import read_rgb8
    from yonos_bench.metrics.engine import evaluate
    from yonos_bench.metrics.swd import SWDConfig, image_descriptors, swd_from_descriptors
    from yonos_bench.protocols import pairs
    from yonos_bench.protocols import spec as registry

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepared = pairs.prepare(registry.load_protocol("sample-dist-x4"), root / "data", progress=False)
        chosen = list(prepared.pairs)[: args.pairs]
        (root / "sr").mkdir()
        sr_paths = []
        for p in chosen:
            hr = Image.open(p.hr_path)
            sr_paths.append(root / "sr" / f"{p.id}.png")
            Image.open(p.lr_path).resize(hr.size, Image.BICUBIC).save(sr_paths[-1])
        hr_paths = [p.hr_path for p in chosen]
        sr = [read_rgb8(p) for p in sr_paths]
        hr = [read_rgb8(p) for p in hr_paths]
        cfg, idx = SWDConfig(), list(range(len(sr)))

        t0 = time.perf_counter()
        d_sr = image_descriptors(sr, idx, cfg)
        d_hr = image_descriptors(hr, idx, cfg)
        t1 = time.perf_counter()
        res = swd_from_descriptors(d_sr, d_hr, cfg)
        t2 = time.perf_counter()
        del d_sr, d_hr
        ev = evaluate(sr_paths, hr_paths, ["swd"], weights_dir=root / "w")
        t3 = time.perf_counter()
    levels = ", ".join(f"{k}: {v:.2f}" for k, v in res.components().items())
    print(
        f"swd on {len(sr)} pairs ({sr[0].shape[1]}x{sr[0].shape[0]}), bicubic x4 vs HR, {args.threads} thread(s)"
    )
    print(f"  descriptors (both sets)  {t1 - t0:7.1f} s")
    print(f"  distance (4 levels)      {t2 - t1:7.1f} s")
    print(f"  engine evaluate(swd)     {t3 - t2:7.1f} s  (decoding included)")
    print(f"  value x1e3               {res.mean:.3f}  ({levels}); engine: {ev.summary['swd'].mean:.3f}")
    print(f"  peak RSS                 {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"  load average             {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not np.isclose(res.mean, ev.summary["swd"].mean, rtol=1e-12):
        raise SystemExit("engine and direct values differ")


if __name__ == "__main__":
    main()
