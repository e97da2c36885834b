"""Train the embedded tiny models from scratch and ship them inside the package (`make tiny-models`).

The chain is the paper's, in miniature, run with the project's own ``yonos-bench train``
commands (preset ``tiny``, procedural dead-leaves images only — never the ``sample`` test
images), every stage seeded (``seed=0``):

1. ``autoencoder``  a small KL autoencoder (no small pretrained VAE exists offline);
2. ``standard`` ×2  the teacher (eq. 2);
3. ``distill`` ×4   the student, initialised from and supervised by the ×2 teacher (eq. 3);
4. ``standard`` ×4  the SD-SR ablation: trained directly at ×4 from random init with as many
   optimizer steps as the distilled model's whole chain (teacher + student), so distillation
   cannot win by training longer;
5. ``decoder``      decoder fine-tuning on the frozen one-step UNet, for both ×4 models.

The four ×4 pipelines are copied to ``yonos_bench/assets/tiny/<card name>/`` with their
weights stored in fp16 (``from_pretrained`` loads them as fp32; the four folders are ~11 MB
instead of ~21 MB). ``TRAINING_LOG.json`` beside them records the exact commands, the wall
and CPU time of every stage, the thread count, the git commit, the final losses and the
sha256 of every shipped file.

CPU results depend on the thread count and the CPU's instruction set (float summation
order), so a rerun on another machine gives close, not bit-identical, weights; on the same
machine with the same ``--threads`` it is deterministic.

    python scripts/train_tiny_models.py [--threads 2] [--runs runs/tiny-models] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
ASSETS = REPO / "yonos_bench" / "assets" / "tiny"

# Step counts (the only knobs; everything else is the `tiny` recipe of yonos_train/recipes.py).
AE_STEPS = 3000
TEACHER_STEPS = 1500
DISTILL_STEPS = 1500
DECODER_STEPS = 400
#: The procedural dataset: 512 images of 96 px (the recipe's 2048 cost 60 s per stage to draw).
COMMON = ["--set", "procedural_images=512", "--set", "checkpoint_every=100000", "--set", "log_every=50"]


def stages(runs: Path) -> list[tuple[str, list[str]]]:
    """(name, yonos-bench arguments) of every stage, in order."""
    ae, x2, x4d, x4s = runs / "autoencoder", runs / "teacher-x2", runs / "distill-x4", runs / "standard-x4"
    tiny = ["--preset", "tiny", *COMMON]
    return [
        ("autoencoder", ["train", "autoencoder", *tiny, "--out", str(ae), "--set", f"steps={AE_STEPS}",
                         "--set", f"disc_start={AE_STEPS + 1}"]),
        ("teacher-x2", ["train", "standard", *tiny, "--scale", "2", "--vae", str(ae), "--out", str(x2),
                        "--set", f"steps={TEACHER_STEPS}"]),
        ("distill-x4", ["train", "distill", *tiny, "--teacher", str(x2), "--out", str(x4d),
                        "--set", f"steps={DISTILL_STEPS}"]),
        ("standard-x4", ["train", "standard", *tiny, "--scale", "4", "--vae", str(ae), "--out", str(x4s),
                         "--set", f"steps={TEACHER_STEPS + DISTILL_STEPS}"]),
        ("decoder-distill-x4", ["train", "decoder", *tiny, "--model", str(x4d), "--out", f"{x4d}-decoder",
                                "--set", f"steps={DECODER_STEPS}"]),
        ("decoder-standard-x4", ["train", "decoder", *tiny, "--model", str(x4s), "--out", f"{x4s}-decoder",
                                 "--set", f"steps={DECODER_STEPS}"]),
    ]  # fmt: skip


#: Shipped card name -> run folder (under --runs) whose pipeline/ it is.
SHIP = {
    "yonos-tiny-x4": "distill-x4-decoder",
    "yonos-tiny-x4-orig-decoder": "distill-x4",
    "sd-sr-tiny-x4": "standard-x4-decoder",
    "sd-sr-tiny-x4-orig-decoder": "standard-x4",
}


def git_commit() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:].endswith(".py")]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "dirty_python_files": dirty}


def last_metrics(run: Path) -> dict:
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    return json.loads(lines[-1]) if lines else {}


def run_stage(name: str, args: list[str], env: dict) -> dict:
    cmd = [sys.executable, "-m", "yonos_bench", *args]
    print(f"\n=== {name}: yonos-bench {' '.join(args)}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"Stage {name} failed (exit {proc.returncode}): {' '.join(cmd)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"=== {name}: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    return {"stage": name, "command": "yonos-bench " + " ".join(args), "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1)}  # fmt: skip


def ship(runs: Path, assets: Path) -> dict:
    """Copy each pipeline into ``assets/<card>/`` in fp16; returns {card: {file: {bytes, sha256}}}."""
    from miniature_chain import ship_pipelines

    return ship_pipelines(runs, assets, SHIP)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "tiny-models", help="training run folders")
    ap.add_argument("--assets", type=Path, default=ASSETS, help="where the pipelines are shipped")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--force", action="store_true", help="delete an existing --runs folder first")
    ns = ap.parse_args()
    if ns.runs.exists():
        if not ns.force:
            sys.exit(f"{ns.runs} exists: pass --force to train from scratch again (it is deleted).")
        shutil.rmtree(ns.runs)
    ns.runs.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(ns.threads), "MKL_NUM_THREADS": str(ns.threads)}
    t0 = time.perf_counter()
    records = []
    for name, args in stages(ns.runs):
        rec = run_stage(name, args, env)
        out = Path(args[args.index("--out") + 1])
        rec["final_log"] = last_metrics(out)
        rec["config_digest"] = json.loads((out / "training_options.json").read_text())["config_digest"]
        records.append(rec)
    train_wall = time.perf_counter() - t0
    ns.assets.mkdir(parents=True, exist_ok=True)
    files = ship(ns.runs, ns.assets)
    total = sum(f["bytes"] for card in files.values() for f in card.values())
    import torch

    log = {
        "what": "yonos-bench tiny models: autoencoder -> standard x2 -> distill x4; standard x4; decoder x2",
        "reproduce": "make tiny-models  (python scripts/train_tiny_models.py --force)",
        "git": git_commit(),
        "threads": ns.threads,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "load_average_at_end": list(os.getloadavg())},
        "training_wall_s": round(train_wall, 1),
        "training_cpu_s": round(sum(r["cpu_s"] for r in records), 1),
        "stages": records,
        "shipped": {card: {"from_run": SHIP[card], "files": f} for card, f in files.items()},
        "shipped_bytes": total,
        "storage": "weights saved in fp16 (safetensors); from_pretrained loads them as fp32",
    }  # fmt: skip
    from yonos_bench.core.atomic import write_json_atomic

    write_json_atomic(ns.assets / "TRAINING_LOG.json", log)
    print(f"\nTrained in {train_wall / 60:.1f} min wall; shipped {total / 1e6:.2f} MB to {ns.assets}")


if __name__ == "__main__":
    main()
