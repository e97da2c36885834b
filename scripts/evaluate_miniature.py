"""Evaluate a Miniature v2 sweep under its pre-registered plan (docs/MINIATURE.md).

Reads the sweep's ``LOG.json`` (``scripts/run_miniature_sweep.py``), finds every finished
model — the ×2 teachers, the arms ``direct`` (a), ``distill`` (b), ``control`` (c) at ×4 / ×8,
the decoder fine-tunings — and runs, with the project's own ``yonos-bench run`` (so every
number is an ordinary, cached, provenance-stamped result cell):

* 1 DDIM step, every model and seed: ``sample`` (×4), ``sample-x8`` (×8), ``sample-x2``
  (teachers) with PSNR-Y, SSIM-Y, KID, FID (real Inception; n = 210, flagged) and SWD;
* 1 step, seed 0 (the shipped seed), arms and decoders: ``sample-dist-x4`` / ``-x8``
  (1,050 crops) with the same metrics;
* Fig. 3, seed 0: DDIM steps 2, 4, 8 on ``sample`` / ``sample-x8`` (PSNR-Y, SSIM-Y, KID);
* bicubic and Lanczos on every protocol used;
* the diagnostics (``scripts/miniature_diagnostics.py``): per-t v-MSE for every model
  (teacher-target error for (b)), the 1-step noise sensitivity for seed 0 on 5 pairs/photo.

Everything is resumable: the runner never recomputes a finished cell, the diagnostics
reuse entries of unchanged models. ``scripts/miniature_analysis.py`` turns the results into
the tables. Usage::

    python scripts/evaluate_miniature.py SWEEP_ROOT --out docs/miniature-v2/eval [--jobs 2]
"""

from __future__ import annotations

import argparse
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
FIG3_STEPS = (2, 4, 8)  # plus 1 (amendment 2026-12-02: not 16-64)
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
    tag = f"{protocol}-steps{steps}-{len(models)}models-{abs(hash(tuple(map(str, models)))) % 10**8}"
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
    """The evaluation calls (closures), cheapest-and-most-needed first."""
    fig3_metrics = [m for m in ("psnr-y", "ssim-y", "kid-clean") if m in metrics]
    by_name = {m.name: m for m in models}
    logs = out / "logs"
    jobs = []
    for n in (2, 4, 8):
        with_snapshots = [m for m in models if m.scale == n]
        at_n = [m for m in with_snapshots if not m.snapshot]
        if not at_n:
            continue
        proto = PAIR_PROTOCOL[n]
        if "pairs" in what:
            jobs.append(lambda p=proto, ms=at_n: run_cell(p, ms, 1, metrics, results, logs))
            jobs.append(lambda p=proto: run_cell(p, list(BASELINES), None, metrics, results, logs))
        undecoded = [m for m in with_snapshots if not m.decoder]
        if "diagnostics" in what and undecoded:
            jobs.append(lambda p=proto, ms=undecoded, n=n: run_diagnostics(
                p, ms, by_name, out / f"diagnostics-x{n}.json", noise=False, per_photo=None, log_dir=logs))
            seed0 = [m for m in undecoded if m.seed == 0 and not m.snapshot]
            if seed0:
                jobs.append(lambda p=proto, ms=seed0, n=n: run_diagnostics(
                    p, ms, by_name, out / f"noise-x{n}-s0.json", noise=True, per_photo=5, log_dir=logs))
        if n in DIST_PROTOCOL:
            seed0 = [m for m in at_n if m.seed == 0]
            if "dist" in what and seed0:
                jobs.append(lambda p=DIST_PROTOCOL[n], ms=seed0: run_cell(p, ms, 1, metrics, results, logs))
                jobs.append(lambda p=DIST_PROTOCOL[n]: run_cell(p, list(BASELINES), None, metrics, results, logs))
            arms0 = [m for m in seed0 if not m.decoder]
            if "fig3" in what and arms0:
                for k in FIG3_STEPS:
                    jobs.append(lambda p=proto, ms=arms0, k=k: run_cell(p, ms, k, fig3_metrics, results, logs))
    return jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="the sweep folder (with LOG.json)")
    ap.add_argument("--out", type=Path, required=True, help="evaluation folder (results/, diagnostics, logs)")
    ap.add_argument("--jobs", type=int, default=2, help="evaluation calls at a time (1 thread each)")
    ap.add_argument("--what", nargs="+", default=["pairs", "dist", "fig3", "diagnostics"],
                    choices=["pairs", "dist", "fig3", "diagnostics"])  # fmt: skip
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
    failed = sum(1 for o in outcomes if o is False or (isinstance(o, dict) and not o.get("ok")))
    print(f"{len(jobs) - failed}/{len(jobs)} evaluation calls succeeded; results in {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
