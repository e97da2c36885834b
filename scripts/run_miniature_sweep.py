"""The Miniature v2 seed sweep: the pre-registered three-arm test of scale distillation.

For every training seed (default 0 1 2) and scale (×4, and ×8 unless ``--no-x8``) it
trains, with one autoencoder (``--vae``, e.g. ``runs/small-models/autoencoder``):

* T₂ the ×2 teacher (S_T steps; snapshot at 0.8·S_T for the plateau check);
* (a) ``direct-xN``   eq. 2 from random init, S steps (``--long``: also ``direct-xN-long``,
  extended to the whole chain's budget — dropped by the 2026-12-02 amendment);
* (b) ``distill-xN``  eq. 3 from the frozen ×N/2 model (×8: the distilled ×4 model);
* (c) ``control-xN``  eq. 2 initialised from that same ×N/2 model;
* decoder fine-tuning of (b) and (a) for Table 3.

All seeds' ×4 stages run before any ×8 stage.

All ×N arms of a seed share one data stream (``stream_salt`` 100+N; the teacher 2): same
crops, noise and timesteps. Resumable (rerun the same command), runs ``--jobs`` stages at
a time, records every command, time and result sha256 in ``ROOT/LOG.json``; start it in
the background with ``nohup python scripts/run_miniature_sweep.py ROOT --vae VAE &``.
See docs/MINIATURE.md for the plan, budgets and the analysis rule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from miniature_chain import Budget, Plan, run_cli, scale_major, seed_stages, training_data  # noqa: E402
from train_small_models import DECODER_STEPS, STAGE_STEPS, TEACHER_STEPS  # noqa: E402


def build(ns: argparse.Namespace) -> Plan:
    root = ns.root.resolve()
    vae = ns.vae.resolve()
    if not ns.plan and not ((vae / "vae" / "config.json").is_file() or (vae / "config.json").is_file()):
        sys.exit(f"--vae {vae}: no trained autoencoder there (expected an autoencoder run folder or a VAE folder).")
    data = training_data(root, ns.data, ns.procedural) if not ns.plan else (ns.data or root / "data")
    budget = Budget.scaled(TEACHER_STEPS, STAGE_STEPS, DECODER_STEPS, ns.steps_factor)
    stages = []
    for seed in ns.seeds:
        stages += seed_stages(seed, vae=str(vae), data=data, budget=budget, preset=ns.preset, x8=not ns.no_x8,
                              control=True, decoders=not ns.no_decoders, root=root, long=ns.long)  # fmt: skip
    return Plan(root, scale_major(stages), f"Miniature v2 seed sweep, seeds {ns.seeds}, budget {budget}", ns.threads)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="folder for the runs and LOG.json")
    ap.add_argument("--vae", type=Path, required=True, help="the trained autoencoder (run folder or VAE folder)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", type=Path, help="HR training folder (default: packaged photos + dead-leaves)")
    ap.add_argument("--procedural", type=int, default=256)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--no-x8", action="store_true", help="×4 only")
    ap.add_argument("--long", action="store_true",
                    help="also extend the direct arm to the whole chain's budget (dropped 2026-12-02)")
    ap.add_argument("--no-decoders", action="store_true", help="skip decoder fine-tuning (Table 3)")
    ap.add_argument("--steps-factor", type=float, default=1.0, help="multiply every step count (S and S_T together)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per stage")
    ap.add_argument("--jobs", type=int, default=2, help="stages run at the same time")
    ap.add_argument("--plan", action="store_true", help="print the stages (done/todo) and exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    return run_cli(build(ns), show_plan=ns.plan, jobs=ns.jobs)


if __name__ == "__main__":
    sys.exit(main())
