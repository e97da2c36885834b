"""Shared runner of the Miniature v2 scripts (``train_small_models.py``, ``run_miniature_sweep.py``).

A *plan* is a list of :class:`Stage` s — one ``yonos-bench train`` command each, with the
stages it needs. :func:`run_plan` runs them in dependency order, up to ``jobs`` at a time
(each a subprocess with its own thread count), and keeps ``<root>/LOG.json`` up to date
after every stage: the exact command, wall and CPU time, final losses, config digest and
the sha256 of every result file. It is resumable at two levels:

* a stage recorded as done with the *same command* and whose result is still on disk is
  skipped;
* a stage whose run folder exists without a result (killed, machine rebooted) continues
  from its last checkpoint (``--resume``: the engine refuses a changed training config).

An *extension* stage (``extends=...``) continues a finished run to more steps in a copy of
its folder (the lr is constant after warm-up, so the shorter run is a prefix of the longer
one): the direct arm evaluated both at the stage budget and at the whole chain's budget,
the teacher's plateau check at 0.8·S_T and S_T, from one training each.

See docs/MINIATURE.md ("Miniature v2 — pre-registered plan") for what the stages are.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LOG_NAME = "LOG.json"


@dataclass
class Stage:
    """One training command: ``yonos-bench train <stage> <args> --out <root>/<name>``."""

    name: str
    train: str  # standard | distill | decoder | autoencoder
    args: list[str]  # everything after `train <stage>` except --out / --resume
    needs: list[str] = field(default_factory=list)  # stage names that must be done first
    extends: str | None = None  # continue a copy of this stage's finished run instead of a new run


def stage_steps(base: int, factor: float) -> int:
    """A step count scaled by ``--steps-factor`` (at least 2: one warm-up-free update + one more)."""
    return max(2, round(base * factor))


def result_files(run: Path) -> dict[str, dict]:
    """{relative path: {bytes, sha256}} of a finished run's result (pipeline/ or vae/)."""
    from yonos_bench.core.imageio import sha256_file

    files = {}
    for sub in ("pipeline", "vae"):
        for p in sorted((run / sub).rglob("*")) if (run / sub).is_dir() else []:
            if p.is_file():
                files[str(p.relative_to(run))] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    return files


def has_result(run: Path) -> bool:
    return (run / "pipeline" / "model_index.json").is_file() or (run / "vae" / "config.json").is_file()


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:].endswith(".py")]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "dirty_python_files": dirty}


def _last_metrics(run: Path) -> dict:
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else {}


def command_for(stage: Stage, root: Path) -> list[str]:
    """The yonos-bench arguments of ``stage`` (``--resume`` is added at run time when needed)."""
    out = root / stage.name
    if stage.extends:
        return ["train", stage.train, "--resume", str(out), *stage.args]
    return ["train", stage.train, *stage.args, "--out", str(out)]


class Plan:
    """A plan's stages and its log under ``root``."""

    def __init__(self, root: Path, stages: list[Stage], what: str, threads: int):
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names in plan: {names}")
        known = set(names)
        for s in stages:
            missing = [n for n in [*s.needs, *([s.extends] if s.extends else [])] if n not in known]
            if missing:
                raise ValueError(f"stage {s.name} needs unknown stages {missing}")
        self.root, self.stages, self.what, self.threads = root, stages, what, threads
        self.log_path = root / LOG_NAME
        self.log = json.loads(self.log_path.read_text()) if self.log_path.is_file() else {}
        self.log.setdefault("stages", {})

    def is_done(self, stage: Stage) -> bool:
        rec = self.log["stages"].get(stage.name)
        cmd = "yonos-bench " + " ".join(command_for(stage, self.root))
        return bool(rec) and rec.get("status") == "done" and rec.get("command") == cmd and has_result(
            self.root / stage.name
        )

    def save(self) -> None:
        import torch

        from yonos_bench.core.atomic import write_json_atomic

        self.log.update({
            "what": self.what,
            "git": git_state(),
            "threads_per_stage": self.threads,
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                        "python": sys.version.split()[0]},
            "stage_order": [s.name for s in self.stages],
        })  # fmt: skip
        done = [r for r in self.log["stages"].values() if r.get("status") == "done"]
        self.log["training_wall_s_sum"] = round(sum(r["wall_s"] for r in done), 1)
        self.log["training_cpu_s_sum"] = round(sum(r["cpu_s"] for r in done), 1)
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.log_path, self.log)


def _start(stage: Stage, plan: Plan, env: dict) -> tuple[subprocess.Popen, list[str], float, object]:
    out = plan.root / stage.name
    args = command_for(stage, plan.root)
    if stage.extends and not out.exists():
        src = plan.root / stage.extends
        tmp = plan.root / f".copy-{stage.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        tmp.rename(out)
    elif not stage.extends and (out / "training_options.json").is_file() and not has_result(out):
        args = [*args, "--resume"]  # an interrupted run: continue from its last checkpoint
    elif not stage.extends and out.exists() and not plan.is_done(stage):
        shutil.rmtree(out)  # a result from another command (changed plan): train again
    log_file = open(plan.root / f"{stage.name}.log", "a")  # noqa: SIM115 (closed when the stage ends)
    log_file.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} yonos-bench {' '.join(args)}\n")
    log_file.flush()
    proc = subprocess.Popen([sys.executable, "-m", "yonos_bench", *args], cwd=REPO, env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)  # fmt: skip
    return proc, args, time.perf_counter(), log_file


def run_plan(plan: Plan, *, jobs: int = 1, echo=print) -> int:
    """Run every stage not yet done; returns the number of stages that failed (0 = all done)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads), "MKL_NUM_THREADS": str(plan.threads),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    plan.root.mkdir(parents=True, exist_ok=True)
    pending = [s for s in plan.stages if not plan.is_done(s)]
    for s in plan.stages:
        if s not in pending:
            echo(f"--- {s.name}: done (recorded in {plan.log_path.name}), skipped")
    failed: set[str] = set()
    running: dict[int, tuple[Stage, subprocess.Popen, list[str], float, object]] = {}
    done = {s.name for s in plan.stages if s not in pending}
    while pending or running:
        blocked = [s for s in pending if any(n in failed for n in [*s.needs, *([s.extends] if s.extends else [])])]
        for s in blocked:
            pending.remove(s)
            failed.add(s.name)
            echo(f"--- {s.name}: not run (a stage it needs failed)")
        ready = [s for s in pending if all(n in done for n in [*s.needs, *([s.extends] if s.extends else [])])]
        while ready and len(running) < jobs:
            s = ready.pop(0)
            pending.remove(s)
            proc, args, t0, fh = _start(s, plan, env)
            running[proc.pid] = (s, proc, args, t0, fh)
            echo(f"=== {s.name}: yonos-bench {' '.join(args)}")
        if not running:
            if pending:  # nothing can start: an unresolvable dependency (cannot happen after Plan checks)
                raise RuntimeError(f"stages cannot start: {[s.name for s in pending]}")
            break
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        s, proc, args, t0, fh = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        fh.close()
        wall = time.perf_counter() - t0
        out = plan.root / s.name
        rec = {"stage": s.name, "command": "yonos-bench " + " ".join(command_for(s, plan.root)),
               "ran": "yonos-bench " + " ".join(args), "wall_s": round(wall, 1),
               "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "exit": proc.returncode,
               "finished": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
        if proc.returncode == 0 and has_result(out):
            opts = json.loads((out / "training_options.json").read_text())
            final = _last_metrics(out)  # training_options.json keeps the first run's steps when extended
            rec.update(status="done", final_log=final, config_digest=opts["config_digest"],
                       steps=final.get("step", opts["config"]["steps"]), result_files=result_files(out))  # fmt: skip
            done.add(s.name)
            echo(f"=== {s.name}: {wall:.0f} s wall, {rec['cpu_s']:.0f} s CPU")
        else:
            rec["status"] = "failed"
            failed.add(s.name)
            echo(f"!!! {s.name} failed (exit {proc.returncode}); see {plan.root / (s.name + '.log')}")
        plan.log["stages"][s.name] = rec
        plan.save()
    plan.save()
    return len(failed)


def training_data(root: Path, data: Path | None, procedural: int) -> Path:
    """``data`` if given, else the packaged photos + dead-leaves folder under ``root/data``."""
    if data is not None:
        return data.resolve()
    from yonos_train.packaged_photos import write_training_folder

    folder = root / "data"
    write_training_folder(folder, procedural=procedural)
    return folder.resolve()


# --------------------------------------------------------------------------- the v2 stages

#: Data-stream salts (docs/MINIATURE.md, "Data streams"): the teacher's stream, and one
#: stream per scale shared by the three arms at that scale (common random numbers).
TEACHER_SALT = 2


def arm_salt(scale: int) -> int:
    return 100 + scale


@dataclass(frozen=True)
class Budget:
    """Optimizer steps of the pre-registered plan (already multiplied by any --steps-factor)."""

    teacher: int  # S_T
    stage: int  # S, every ×N stage of every arm
    decoder: int  # decoder fine-tuning

    @classmethod
    def scaled(cls, teacher: int, stage: int, decoder: int, factor: float) -> Budget:
        return cls(stage_steps(teacher, factor), stage_steps(stage, factor), stage_steps(decoder, factor))


def seed_stages(seed: int, *, vae: str, data: Path, budget: Budget, preset: str, x8: bool, control: bool,
                decoders: bool, root: Path, needs: tuple[str, ...] = (), long: bool = False) -> list[Stage]:  # fmt: skip
    """The stages of one training seed: teacher T₂ (with its 0.8·S_T snapshot), arms (a) direct
    (S steps; with ``long`` also extended to the whole chain's budget), (b) distilled, (c) control
    at ×4 (and ×8), decoder fine-tuning of (b) and of (a) (its long run when ``long``).

    ``long`` is off since the 2026-12-02 amendment of docs/MINIATURE.md (no time for it)."""
    s = f"s{seed}"
    common = ["--preset", preset, "--data", str(data), "--set", f"seed={seed}", "--set", "progress=false",
              "--set", "log_every=50", "--set", "checkpoint_every=250"]  # fmt: skip

    def steps(n: int) -> list[str]:
        return ["--set", f"steps={n}"]

    def salt(n: int) -> list[str]:
        return ["--set", f"stream_salt={n}"]

    def pipe(name: str) -> str:
        return str(root / name / "pipeline")

    deps = list(needs)
    t80 = max(1, round(0.8 * budget.teacher))
    out = [
        Stage(f"teacher-x2-p80-{s}", "standard",
              [*common, "--scale", "2", "--vae", vae, *salt(TEACHER_SALT), *steps(t80)], deps),
        Stage(f"teacher-x2-{s}", "standard", [*steps(budget.teacher)], extends=f"teacher-x2-p80-{s}"),
    ]  # fmt: skip
    chain_total = budget.teacher
    teacher = f"teacher-x2-{s}"
    for n in (4, 8) if x8 else (4,):
        chain_total += budget.stage
        out.append(Stage(f"direct-x{n}-{s}", "standard",
                         [*common, "--scale", str(n), "--vae", vae, *salt(arm_salt(n)), *steps(budget.stage)], deps))
        if long:
            out.append(Stage(f"direct-x{n}-long-{s}", "standard", [*steps(chain_total)], extends=f"direct-x{n}-{s}"))
        out += [
            Stage(f"distill-x{n}-{s}", "distill",
                  [*common, "--teacher", pipe(teacher), *salt(arm_salt(n)), *steps(budget.stage)], [teacher]),
        ]  # fmt: skip
        if control:
            out.append(Stage(f"control-x{n}-{s}", "standard",
                             [*common, "--scale", str(n), "--init", pipe(teacher), *salt(arm_salt(n)),
                              *steps(budget.stage)], [teacher]))  # fmt: skip
        if decoders:
            for model in (f"distill-x{n}-{s}", f"direct-x{n}-long-{s}" if long else f"direct-x{n}-{s}"):
                out.append(Stage(f"decoder-{model}", "decoder",
                                 [*common, "--model", pipe(model), *steps(budget.decoder)], [model]))  # fmt: skip
        teacher = f"distill-x{n}-{s}"  # ×2 → ×4 → ×8: the distilled ×4 model teaches ×8
    return out


def stage_scale(stage: Stage) -> int:
    """The scale a stage belongs to (the teacher: 2; a decoder: its model's), for ordering."""
    for n in (8, 4, 2):
        if f"-x{n}-" in stage.name or stage.name.startswith(f"x{n}-"):
            return n
    return 0


def scale_major(stages: list[Stage]) -> list[Stage]:
    """Every seed's ×2 and ×4 stages before any ×8 stage (stable within a scale): if the
    sweep is cut off, ×8 is what is missing (docs/MINIATURE.md, amendment 2026-12-02)."""
    return sorted(stages, key=lambda s: 1 if stage_scale(s) == 8 else 0)


def print_plan(plan: Plan) -> None:
    for s in plan.stages:
        state = "done" if plan.is_done(s) else "todo"
        print(f"[{state}] {s.name}: yonos-bench {' '.join(command_for(s, plan.root))}")


def ship_pipelines(runs: Path, assets: Path, mapping: dict[str, str]) -> dict:
    """Copy ``runs/<run>/pipeline`` to ``assets/<card>/`` in fp16 for each ``card: run`` of
    ``mapping`` (``from_pretrained`` loads them back as fp32); each folder is written to a
    temporary name and renamed. Returns {card: {file: {bytes, sha256}}}."""
    import torch
    from diffusers.utils import logging as diffusers_logging

    from yonos_bench.core.imageio import sha256_file
    from yonos_train.pipeline import YonosSRPipeline

    missing = [run for run in mapping.values() if not (runs / run / "pipeline" / "model_index.json").is_file()]
    if missing:
        raise SystemExit(f"{runs}: cannot ship, no finished pipeline for {missing} (train them first)")
    diffusers_logging.set_verbosity_error()  # no "modules kept in float32" notes for a plain cast
    diffusers_logging.disable_progress_bar()
    assets.mkdir(parents=True, exist_ok=True)
    files: dict = {}
    for card, run in mapping.items():
        pipe = YonosSRPipeline.from_pretrained(runs / run / "pipeline")
        target, tmp = assets / card, assets / f".{card}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        pipe.to(torch.float16).save_pretrained(tmp, safe_serialization=True)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        files[card] = {
            str(p.relative_to(target)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(target.rglob("*"))
            if p.is_file()
        }
    return files


def run_cli(plan: Plan, *, show_plan: bool, jobs: int) -> int:
    """Both scripts' command line: ``--plan`` prints the stages, else run them (exit 1 if any failed)."""
    if show_plan:
        print_plan(plan)
        return 0
    failed = run_plan(plan, jobs=jobs)
    print(f"{'All stages done' if not failed else f'{failed} stage(s) failed or blocked'}; log: {plan.log_path}")
    return 1 if failed else 0
