"""Train the Miniature v2 ``small`` chain from scratch (successor of ``train_tiny_models.py``).

The shipped chain of docs/MINIATURE.md ("Miniature v2 — pre-registered plan"), training
seed 0, with the project's own ``yonos-bench train`` commands:

1. ``data``         packaged photos (sporco, scikit-image; never the ``sample`` test photos)
                    + dead-leaves, written once (``yonos_train.packaged_photos``);
2. ``autoencoder``  the factor-4 ``small`` VAE;
3. ``teacher-x2``   eq. 2 at ×2 (snapshot at 0.8·S_T, then S_T: the teacher plateau check);
4. ``direct-x4``    eq. 2 at ×4, S steps (the SD-SR ablation twin; ``--long``: also extended
                    to the whole chain's S_T + S);
5. ``distill-x4``   eq. 3 from the frozen ×2 teacher, S steps;
6. ``--x8``: the same at ×8, the distilled ×4 model as teacher;
7. ``decoder-*``    decoder fine-tuning of the distilled and the direct models.

Every stage runs as a subprocess (``--threads`` each, ``--jobs`` at a time); ``<runs>/LOG.json``
records the exact commands, wall/CPU times, final losses and the sha256 of every result
file, and is rewritten after each stage. Rerunning the same command skips finished stages
and continues an interrupted one from its checkpoint. ``--steps-factor`` scales every step
count (tests use it; the plan's budget rule scales S and S_T together). Nothing is copied
into the package: shipping the models is a separate, later decision (docs/MINIATURE.md).

    python scripts/train_small_models.py [--runs runs/small-models] [--jobs 2] [--x8] [--plan]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from miniature_chain import (  # noqa: E402
    REPO,
    Budget,
    Plan,
    Stage,
    run_cli,
    seed_stages,
    stage_steps,
    training_data,
)

#: Step counts of the shipped chain (S_T, S, decoder, autoencoder); see docs/MINIATURE.md.
AE_STEPS = 3000  # 1000 steps: 26.69 dB, 1500: 27.44 dB recon PSNR-Y on sample (bicubic x4: 28.52)
#: The plan's S_T = 3000, S = 1500, decoder 400, × 0.25 by the budget rule (amendment 2026-12-02).
TEACHER_STEPS = 750
STAGE_STEPS = 375
DECODER_STEPS = 100


def build(ns: argparse.Namespace) -> Plan:
    root = ns.runs.resolve()
    data = training_data(root, ns.data, ns.procedural) if not ns.plan else (ns.data or root / "data")
    budget = Budget.scaled(TEACHER_STEPS, STAGE_STEPS, DECODER_STEPS, ns.steps_factor)
    ae_steps = stage_steps(AE_STEPS, ns.steps_factor)
    ae = Stage("autoencoder", "autoencoder",
               ["--preset", ns.preset, "--data", str(data), "--set", f"steps={ae_steps}",
                "--set", f"disc_start={ae_steps + 1}", "--set", "progress=false", "--set", "log_every=50",
                "--set", "checkpoint_every=250"])  # fmt: skip
    stages = [ae, *seed_stages(0, vae=str(root / "autoencoder"), data=data, budget=budget, preset=ns.preset,
                               x8=ns.x8, control=False, decoders=True, root=root, needs=("autoencoder",),
                               long=ns.long)]
    return Plan(root, stages, f"yonos-bench {ns.preset} chain (Miniature v2, seed 0)", ns.threads)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "small-models", help="run folders and LOG.json")
    ap.add_argument("--data", type=Path, help="HR training folder (default: packaged photos + dead-leaves)")
    ap.add_argument("--procedural", type=int, default=256, help="dead-leaves images in the default data")
    ap.add_argument("--preset", default="small", help="model preset (tests use tiny)")
    ap.add_argument("--x8", action="store_true", help="also train the ×8 models (×2 → ×4 → ×8)")
    ap.add_argument("--long", action="store_true", help="also the direct arm at the whole chain's budget")
    ap.add_argument("--steps-factor", type=float, default=1.0, help="multiply every step count")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per stage")
    ap.add_argument("--jobs", type=int, default=2, help="stages run at the same time")
    ap.add_argument("--plan", action="store_true", help="print the stages (done/todo) and exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    return run_cli(build(ns), show_plan=ns.plan, jobs=ns.jobs)


if __name__ == "__main__":
    sys.exit(main())
