"""Evaluate a Miniature v2 sweep under its pre-registered plan (docs/MINIATURE.md).

Reads the sweep's ``LOG.json`` (``scripts/run_miniature_sweep.py``), finds every finished
model — the ×2 teachers, the arms ``direct`` (a), ``distill`` (b), ``control`` (c) at ×4 / ×8,
the decoder fine-tunings — and runs, with the project's own ``yonos-bench run`` (so every
number is an ordinary, cached, provenance-stamped result cell):

the cells of the plan's second amendment (2026-12-02): 1 DDIM step for every model and seed
(×4 with PSNR-Y, SSIM-Y, KID, FID, SWD on ``sample``, n = 210 flagged; ×8 PSNR-Y/SSIM-Y on
``sample-x8``, distribution metrics for seed 0's arms; ×2 teachers on ``sample-x2``), the
1,050-crop ``sample-dist-x4`` for seed 0's fine-tuned-decoder models and bicubic, Fig. 3 for
seed 0 (×4 at 2, 4, 8 steps, ×8 at 4), bicubic and Lanczos as references, and the diagnostics
(``scripts/miniature_diagnostics.py``): per-t v-MSE on 10 pairs per photo for every model
(teacher-target error for (b); the teacher's 0.8·S_T snapshot for the plateau), the 1-step
noise sensitivity for seed 0's ×4 arms on 5 pairs per photo.

Everything is resumable: the runner never recomputes a finished cell, the diagnostics
reuse entries of unchanged models. ``scripts/miniature_analysis.py`` turns the results into
the tables. Usage::

    python scripts/evaluate_miniature.py SWEEP_ROOT --out docs/miniature-v2/eval [--jobs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PAIR_PROTOCOL = {2: "sample-x2", 4: "sample", 8: "sample-x8"}
DIST_PROTOCOL = {4: "sample-dist-x4", 8: "sample-dist-x8"}
BASELINES = ("bicubic", "lanczos")
NAME = re.compile(
    r"^(?:(?P<dec>decoder)-)?(?P<arm>teacher|direct|distill|control)-x(?P<n>\d+)(?P<p80>-p80)?-s(?P<seed>\d+)$"
)


@dataclass(frozen=True)
class Model:
    name: str  # the stage name, e.g. distill-x4-s0, decoder-direct-x8-s1
    path: Path  # its pipeline folder
    arm: str  # teacher | direct | distill | control
    scale: int
    seed: int
    decoder: bool  # fine-tuned decoder
    snapshot: bool = False  # the teacher's 0.8·S_T snapshot: diagnostics only (the plateau check)

    @property
    def teacher_name(self) -> str | None:
        """The stage that taught a distilled model (×4: the ×2 teacher; ×8: the distilled ×4)."""
        if self.arm != "distill" or self.decoder:
            return None
        return f"teacher-x2-s{self.seed}" if self.scale == 4 else f"distill-x{self.scale // 2}-s{self.seed}"


def finished_models(root: Path) -> list[Model]:
    """Every model of the sweep recorded as done in LOG.json whose pipeline is on disk."""
    log_path = root / "LOG.json"
    if not log_path.is_file():
        sys.exit(f"{root}: no LOG.json (not a sweep folder of scripts/run_miniature_sweep.py)")
    log = json.loads(log_path.read_text())
    out = []
    for name, rec in sorted(log.get("stages", {}).items()):
        m = NAME.match(name)
        pipe = root / name / "pipeline"
        if not m or rec.get("status") != "done" or not (pipe / "model_index.json").is_file():
            continue
        out.append(Model(name, pipe, m["arm"], int(m["n"]), int(m["seed"]), bool(m["dec"]), bool(m["p80"])))
    return out


def available_metrics() -> set[str]:
    from yonos_bench.metrics.presets import list_presets

    return {p.id for p in list_presets()}


def run_cell(protocol: str, models: list[Model], steps: int | None, metrics: list[str], results: Path,
             log_dir: Path) -> dict:  # fmt: skip
    """One ``yonos-bench run`` call (several models); returns its JSON summary."""
    args = [sys.executable, "-m", "yonos_bench", "run", protocol, "--metrics", ",".join(metrics),
            "--results", str(results), "--data-root", str(results.parent / "data"), "--seed", "0", "--quiet",
            "--json", "--strict"]  # fmt: skip
    for m in models:
        args += ["-m", f"{m.name}={m.path}"] if isinstance(m, Model) else ["-m", m]
    if steps is not None:
        args += ["--steps", str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    names = ",".join(m.name if isinstance(m, Model) else m for m in models)
    tag = f"{protocol}-steps{steps}-{len(models)}models-{hashlib.sha256(names.encode()).hexdigest()[:8]}"
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO)
    (log_dir / f"{tag}.log").write_text(" ".join(args) + "\n\n" + proc.stdout[-20000:] + proc.stderr[-20000:])
    if proc.returncode != 0:
        print(f"!!! {protocol} steps={steps}: exit {proc.returncode}; see {log_dir / (tag + '.log')}", flush=True)
        return {"ok": False}
    print(f"=== {protocol} steps={steps}: {len(models)} model(s) done", flush=True)
    return {"ok": True}


def run_diagnostics(protocol: str, models: list[Model], by_name: dict[str, Model], out: Path, *,
                    noise: bool, per_photo: int | None, log_dir: Path) -> bool:  # fmt: skip
    args = [sys.executable, str(REPO / "scripts" / "miniature_diagnostics.py"), "--protocol", protocol,
            "--out", str(out), "--threads", "1", "--data-root", str(out.parent / "data")]  # fmt: skip
    if not noise:
        args.append("--no-noise")
    if per_photo:
        args += ["--per-photo", str(per_photo)]
    for m in models:
        args += ["--model", f"{m.name}={m.path}"]
        t = m.teacher_name
        if t and t in by_name:
            args += ["--teacher", f"{m.name}={by_name[t].path}"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})  # fmt: skip
    (log_dir / f"diag-{out.stem}.log").write_text(" ".join(args) + "\n\n" + proc.stdout[-20000:] + proc.stderr[-20000:])
    print(f"{'===' if proc.returncode == 0 else '!!!'} diagnostics {out.name}: exit {proc.returncode}", flush=True)
    return proc.returncode == 0


def jobs_for(models: list[Model], metrics: list[str], results: Path, out: Path, what: set[str]) -> list:
    """The evaluation calls (closures) of the plan's second amendment (2026-12-02), the
    primary comparison's cells first."""
    pair_only = [m for m in metrics if m in ("psnr-y", "ssim-y")]
    by_name = {m.name: m for m in models}
    logs = out / "logs"
    jobs: list = []
    real = [m for m in models if not m.snapshot]

    def cell(protocol, ms, steps, mets):
        if ms:
            jobs.append(lambda: run_cell(protocol, ms, steps, mets, results, logs))

    x4 = [m for m in real if m.scale == 4]
    x8 = [m for m in real if m.scale == 8]
    diagnostics = [
        lambda n=n, ms=[m for m in models if m.scale == n and not m.decoder]: ms and run_diagnostics(
            PAIR_PROTOCOL[n], ms, by_name, out / f"diagnostics-x{n}.json", noise=False, per_photo=10, log_dir=logs)
        for n in (2, 4, 8)
    ]  # fmt: skip
    # Order = priority (a cut-off loses the end): the primary comparison's cells, the teacher
    # check, the shipped model on 1,050 crops, then x8, Fig. 3, the noise sensitivity, x2.
    if "pairs" in what:
        cell("sample", x4, 1, metrics)  # item 1: every x4 model, every seed, all metrics
        cell("sample", list(BASELINES), None, metrics)
    if "diagnostics" in what:  # item 6: v-MSE of the teachers (x2) and the x4 arms
        jobs.extend(diagnostics[:2])
    if "dist" in what:  # item 4
        shipped = sorted((m for m in x4 if m.seed == 0 and m.decoder), key=lambda m: m.arm != "distill")
        cell(DIST_PROTOCOL[4], ["bicubic"], None, metrics)
        for m in shipped:
            cell(DIST_PROTOCOL[4], [m], 1, metrics)
    if "pairs" in what:  # item 2
        cell("sample-x8", [m for m in x8 if m.seed == 0 and not m.decoder], 1, metrics)
        cell("sample-x8", [m for m in x8 if not (m.seed == 0 and not m.decoder)], 1, pair_only)
        cell("sample-x8", list(BASELINES), None, metrics)
    if "diagnostics" in what:
        jobs.append(diagnostics[2])
    if "fig3" in what:  # item 5
        for n, steps in ((4, (2, 4, 8)), (8, (4,))):
            arms0 = [m for m in real if m.scale == n and m.seed == 0 and not m.decoder]
            for k in steps:
                cell(PAIR_PROTOCOL[n], arms0, k, pair_only)
    if "diagnostics" in what:
        noise = [m for m in x4 if m.seed == 0 and not m.decoder]
        if noise:
            jobs.append(lambda: run_diagnostics("sample", noise, by_name, out / "noise-x4-s0.json", noise=True,
                                                per_photo=5, log_dir=logs))  # fmt: skip
    if "pairs" in what:  # item 3
        cell("sample-x2", [m for m in real if m.scale == 2], 1, pair_only)
        cell("sample-x2", list(BASELINES), None, pair_only)
    if "fig3-seeds" in what:  # the original plan's Fig. 3 for every seed, run last if time allows
        for k in (2, 4, 8):
            cell("sample", [m for m in x4 if m.seed != 0 and not m.decoder], k, pair_only)
        cell("sample-x8", [m for m in x8 if m.seed != 0 and not m.decoder], 4, pair_only)
    if "fig3-x8" in what:  # x8 at the remaining Fig. 3 steps, every seed
        for k in (2, 8):
            cell("sample-x8", [m for m in x8 if not m.decoder], k, pair_only)
    return jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="the sweep folder (with LOG.json)")
    ap.add_argument("--out", type=Path, required=True, help="evaluation folder (results/, diagnostics, logs)")
    ap.add_argument("--jobs", type=int, default=2, help="evaluation calls at a time (1 thread each)")
    ap.add_argument("--what", nargs="+", default=["pairs", "dist", "fig3", "diagnostics"],
                    choices=["pairs", "dist", "fig3", "diagnostics", "fig3-seeds", "fig3-x8"])  # fmt: skip
    ap.add_argument("--seeds", type=int, nargs="+", help="only these training seeds")
    ns = ap.parse_args(argv)
    models = finished_models(ns.root.resolve())
    if ns.seeds is not None:
        models = [m for m in models if m.seed in ns.seeds]
    if not models:
        sys.exit(f"{ns.root}: no finished model in LOG.json yet: nothing to evaluate")
    known = available_metrics()
    metrics = [m for m in ("psnr-y", "ssim-y", "kid-clean", "fid-clean", "swd") if m in known]
    if "swd" not in metrics:
        print("note: metric 'swd' is not registered in this checkout: SWD not computed", flush=True)
    out = ns.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    jobs = jobs_for(models, metrics, out / "results", out, set(ns.what))
    print(f"{len(models)} models, {len(jobs)} evaluation calls, metrics {metrics}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, ns.jobs)) as pool:
        outcomes = list(pool.map(lambda job: job(), jobs))
    failed = sum(1 for o in outcomes if o is False or (isinstance(o, dict) and not o.get("ok")))  # [] = no model
    print(f"{len(jobs) - failed}/{len(jobs)} evaluation calls succeeded; results in {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
