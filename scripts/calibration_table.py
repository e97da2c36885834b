"""Print the calibration table of docs/CALIBRATION.md: our presets on pyiqa's 5 calibration
pairs vs the official values (metric, image, official, ours, |diff|, tolerance).

    .venv/bin/python scripts/calibration_table.py [--weights-dir D]

Needs the offline assets (`make offline-assets`); scores in a temporary weights folder made
from them when --weights-dir is not given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights-dir", type=Path)
    args = ap.parse_args()
    from yonos_bench.catalog import fetch
    from yonos_bench.metrics import calibration as cal
    from yonos_bench.metrics.backends import build_scorer
    from yonos_bench.metrics.presets import MetricPreset

    with tempfile.TemporaryDirectory() as tmp:
        wdir = args.weights_dir or Path(tmp)
        fetch(["offline-assets"], wdir, allow_network=False)
        ev = cal.score_official(["psnr-rgb", "psnr-y", "ssim-y", "niqe"], wdir, n_boot=10)
        ssim_off = MetricPreset("ssim-official", "fr", False, "pyiqa", {"metric_name": "ssim"})
        ev_ssim = cal.score_official(
            ["psnr-y"], wdir, backends={"psnr-y": build_scorer(ssim_off, "cpu", wdir)}, n_boot=10
        )
        official = cal.read_official(wdir)
        summary = cal.read_official(wdir, "calibration_summary.csv")
    rows = [("psnr-rgb", "psnr", ev.per_image["psnr-rgb"], cal.TOLERANCE["psnr-rgb"][1])]
    rows.append(("pyiqa `ssim` default (official convention)", "ssim", ev_ssim.per_image["psnr-y"], cal.SSIM_OFFICIAL_CONVENTION))
    rows.append(("niqe vs MATLAB", "niqe", ev.per_image["niqe"], cal.NIQE_VS_MATLAB))
    rows.append(("niqe vs pyiqa's own", "niqe(ours)", ev.per_image["niqe"], cal.NIQE_VS_PYIQA))
    rows.append(("ssim-y (SR convention; not comparable)", "ssim", ev.per_image["ssim-y"], None))
    rows.append(("psnr-y (SR convention; not comparable)", "psnr", ev.per_image["psnr-y"], None))
    print("| metric | image | official | ours | abs diff | tolerance |")
    print("|---|---|---|---|---|---|")
    for label, method, ours, tol in rows:
        ref = summary[method] if method.endswith("(ours)") else official[method]
        for img, v in zip(cal.IMAGES, ours, strict=True):
            d = abs(v - ref[img])
            t = "—" if tol is None else f"{tol:g}" + (" ✓" if d <= tol else " ✗")
            print(f"| {label} | {img} | {ref[img]:.4f} | {v:.4f} | {d:.4f} | {t} |")


if __name__ == "__main__":
    main()
