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
count (tests use it; the plan's budget rule scales S and S_T together).

``--ship`` then copies the four seed-0 ×4 pipelines of the shipping rule (docs/MINIATURE.md)
into ``yonos_bench/assets/small/<card>/`` in fp16 and writes ``TRAINING_LOG.json`` there (the
stages' commands, times, sha256s and the shipped files). ``--ship-only`` ships from an
existing ``--runs`` folder (a finished chain, or the seed sweep's root: same stage names).

    python scripts/train_small_models.py [--runs runs/small-models] [--jobs 2] [--x8] [--plan] [--ship]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
AE_STEPS = 2100  # the shipped autoencoder's (2103, cut for time); 1500 steps: 27.44 dB recon PSNR-Y (bicubic x4: 28.52)
#: The plan's S_T = 3000, S = 1500, decoder 400, × 0.25 by the budget rule (amendment 2026-12-02).
TEACHER_STEPS = 750
STAGE_STEPS = 375
DECODER_STEPS = 100


ASSETS = REPO / "yonos_bench" / "assets" / "small"
#: The shipping rule (docs/MINIATURE.md): arm (b) seed 0 and its SD-SR twin (a) seed 0, each
#: with the fine-tuned and the original decoder (×4 only: ×8 would double the 25 MB).
SHIP = {
    "yonos-small-x4": "decoder-distill-x4-s0",
    "yonos-small-x4-orig-decoder": "distill-x4-s0",
    "sd-sr-small-x4": "decoder-direct-x4-s0",
    "sd-sr-small-x4-orig-decoder": "direct-x4-s0",
}


def ship(runs: Path, assets: Path, command_wall_s: float | None = None) -> int:
    """Ship :data:`SHIP` from ``runs`` and write ``assets/TRAINING_LOG.json`` (with
    ``command_wall_s``, the whole training command's wall time, when it just ran)."""
    from miniature_chain import ship_pipelines

    from yonos_bench.core.atomic import write_json_atomic

    files = ship_pipelines(runs, assets, SHIP)
    log_path = runs / "LOG.json"
    log = json.loads(log_path.read_text()) if log_path.is_file() else {}
    needed = {"autoencoder"} | set(SHIP.values())
    for run in list(needed):  # every stage the shipped models descend from
        for dep in ("teacher-x2-p80-s0", "teacher-x2-s0"):
            if run.endswith("distill-x4-s0"):
                needed.add(dep)
    stages = {k: v for k, v in log.get("stages", {}).items() if k in needed}
    total = sum(f["bytes"] for card in files.values() for f in card.values())
    write_json_atomic(assets / "TRAINING_LOG.json", {
        "what": "yonos-bench small models (Miniature v2, seed 0): autoencoder -> standard x2 -> distill x4; "
                "standard x4; decoder fine-tuning of both",
        "reproduce": "make small-models  (python scripts/train_small_models.py --ship)",
        "from": str(runs), "log_what": log.get("what"), "git": log.get("git"), "machine": log.get("machine"),
        "threads_per_stage": log.get("threads_per_stage"), "stages": stages,
        "training_wall_s_sum": round(sum(r.get("wall_s", 0) for r in stages.values()), 1),
        "training_cpu_s_sum": round(sum(r.get("cpu_s", 0) for r in stages.values()), 1),
        "shipped": {card: {"from_run": SHIP[card], "files": f} for card, f in files.items()},
        "shipped_bytes": total, "storage": "weights saved in fp16 (safetensors); from_pretrained loads them as fp32",
        # stages overlap (--jobs), so the sum above is not the time a user waits; this is
        "command_wall_s": round(command_wall_s, 1) if command_wall_s is not None else None,
    })  # fmt: skip
    print(f"shipped {total / 1e6:.2f} MB to {assets}")
    return 0


def build(ns: argparse.Namespace) -> Plan:
    root = ns.runs.resolve()
    data = training_data(root, ns.data, ns.procedural) if not ns.plan else (ns.data or root / "data")
    budget = Budget.scaled(TEACHER_STEPS, STAGE_STEPS, DECODER_STEPS, ns.steps_factor)
    ae_steps = stage_steps(AE_STEPS, ns.steps_factor)
    ae = Stage("autoencoder", "autoencoder",
               ["--preset", ns.preset, "--data", str(data), "--set", f"steps={ae_steps}",
                "--set", f"disc_start={ae_steps + 1}", "--set", "progress=false", "--set", "log_every=50",
                "--set", "checkpoint_every=250",
                # it runs alone (every other stage needs it): all the plan's cores, 1.5x faster
                # than 1 thread when idle (probe: 25.8 vs 17.2 samples/s on 2 cores)
                "--set", f"num_threads={ns.threads * ns.jobs}"])  # fmt: skip
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
    ap.add_argument("--ship", action="store_true", help="after training, ship the x4 models into --assets")
    ap.add_argument("--ship-only", action="store_true", help="ship from --runs without training")
    ap.add_argument("--assets", type=Path, default=ASSETS, help="where --ship writes the pipelines")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    if ns.ship_only:
        return ship(ns.runs.resolve(), ns.assets)
    t0 = time.perf_counter()
    rc = run_cli(build(ns), show_plan=ns.plan, jobs=ns.jobs)
    if rc == 0 and ns.ship and not ns.plan:
        return ship(ns.runs.resolve(), ns.assets, command_wall_s=time.perf_counter() - t0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
