"""The training loop shared by all stages, on accelerate.

A stage builds its models, then hands the engine a *step function*
``step_fn(hr_uint8, indices, step) -> StepOutput`` that computes, for one micro-batch, one
loss per optimizer (in backward order). The engine owns everything else:

* one process or many (``accelerate launch --multi_gpu``), mixed precision (``bf16`` /
  ``fp16`` with its loss scaler), gradient accumulation (``no_sync`` on all but the last
  micro-batch), gradient clipping, optional gradient checkpointing and EMA;
* a learning rate that is a pure function of the step (linear warm-up, then constant),
  set on the optimizer before each update, so it never needs restoring;
* data and all randomness as functions of the step (:mod:`yonos_train.data`), so a resumed
  run sees exactly what the uninterrupted one would have;
* checkpoints every K steps with ``save_state`` into a temp folder renamed into place
  (a crash never leaves a half checkpoint), pruned to the newest ``keep_checkpoints``;
  EMA weights are saved beside them as safetensors (accelerate's custom-object path
  unpickles, which we do not allow);
* ``resume``: continue a run from its newest checkpoint, refusing a run folder whose
  ``training_options.json`` holds a different config (names the keys);
* a non-finite loss or gradient norm stops the run before the update: the last good
  checkpoint is left intact and :class:`TrainingDivergedError` names it;
* ``metrics.jsonl`` (one JSON record every ``log_every`` steps: losses, lr, samples/s,
  peak memory) and a rich progress bar with loss and samples/s.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from yonos_bench.core.atomic import write_json_atomic, write_text_atomic
from yonos_bench.core.errors import DataMissingError, SpecError, YonosError

from .config import RUN_CONTROL_FIELDS, TrainConfig, config_digest, describe, load_config, to_dict
from .data import ImageSource, hr_loader
from .run_control import StopRequest, choose_threads

CHECKPOINTS = "checkpoints"
OPTIONS_FILE = "training_options.json"
METRICS_FILE = "metrics.jsonl"
_CKPT_RE = re.compile(r"^step-(\d{7})$")


class TrainingDivergedError(YonosError):
    """A loss or gradient norm became NaN/inf; the run stopped before corrupting weights."""


class TrainingInterrupted(YonosError):
    """Ctrl-C (SIGINT/SIGTERM): the run finished its step, saved a checkpoint and stopped."""

    def __init__(self, message: str, run_dir: Path, step: int):
        super().__init__(message)
        self.run_dir, self.step = run_dir, step


class ProbeFinished(Exception):
    """``--probe``: the probe steps ran; ``report`` holds what was measured (not an error)."""

    def __init__(self, report: dict[str, Any]):
        super().__init__("probe finished")
        self.report = report


def resume_command(cfg: TrainConfig, run_dir: Path) -> str:
    return f"yonos-bench train {cfg.stage} --resume {run_dir}"


@dataclass
class Optim:
    """One optimizer and the parameters it updates (for clipping, warm-up and EMA)."""

    name: str
    optimizer: torch.optim.Optimizer
    params: list[nn.Parameter]
    lr: float


@dataclass
class StepOutput:
    losses: dict[str, torch.Tensor]  # optimizer name → loss to backpropagate, in order
    logs: dict[str, float] = field(default_factory=dict)


StepFn = Callable[[torch.Tensor, torch.Tensor, int], StepOutput]


# --------------------------------------------------------------------------- run folders


def _next_run_dir(runs_dir: Path, stage: str) -> Path:
    nums = [
        int(m.group(1)) for p in runs_dir.glob(f"{stage}-*") if (m := re.fullmatch(rf"{stage}-(\d+)", p.name))
    ]
    return runs_dir / f"{stage}-{max(nums, default=0) + 1:03d}"


def _latest_run_dir(runs_dir: Path, stage: str) -> Path:
    runs = sorted(p for p in runs_dir.glob(f"{stage}-*") if re.fullmatch(rf"{stage}-\d+", p.name))
    if not runs:
        raise DataMissingError(f"--resume: no {stage} run in {runs_dir} to resume; pass --out RUN_DIR.")
    return runs[-1]


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if _CKPT_RE.match(p.name) and (p / "trainer_state.json").is_file()
    )


def _has_result(run_dir: Path) -> bool:
    """A finished run holds its result: a pipeline (UNet stages) or a VAE (autoencoder)."""
    return (run_dir / "pipeline" / "model_index.json").is_file() or (
        run_dir / "vae" / "config.json"
    ).is_file()


def resolve_run_dir(cfg: TrainConfig) -> Path:
    """The run folder for ``cfg`` (checks a resumed run's config). No side effects."""
    if cfg.resume:
        run_dir = Path(cfg.out) if cfg.out else _latest_run_dir(Path(cfg.runs_dir), cfg.stage)
        opts = run_dir / OPTIONS_FILE
        if not opts.is_file():
            raise DataMissingError(f"--resume: {run_dir} is not a training run (no {OPTIONS_FILE}).")
        saved = load_config(opts)
        if config_digest(saved) != config_digest(cfg):
            a, b = to_dict(saved), to_dict(cfg)
            keys = sorted(k for k in set(a) | set(b) if k not in RUN_CONTROL_FIELDS and a.get(k) != b.get(k))
            diff = [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in keys]
            raise SpecError(
                f"--resume: the checkpoint in {run_dir} was made with another config ({'; '.join(diff)}). "
                "Resume with the same settings, or start a new run."
            )
        if not checkpoints(run_dir):
            raise DataMissingError(
                f"--resume: {run_dir} has no complete checkpoint yet; start a new run instead."
            )
        return run_dir
    if cfg.out:
        run_dir = Path(cfg.out)
        if (run_dir / OPTIONS_FILE).exists() and (checkpoints(run_dir) or _has_result(run_dir)):
            raise SpecError(f"--out {run_dir} already holds a training run; use --resume or another folder.")
        # A run that stopped before its first checkpoint saved nothing to resume from: the same
        # command simply starts it again (its options and metrics log are rewritten).
        return run_dir
    return _next_run_dir(Path(cfg.runs_dir), cfg.stage)


def _bare_optimizer(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The torch optimizer inside accelerate's ``AcceleratedOptimizer`` wrapper(s)."""
    while hasattr(opt, "optimizer") and isinstance(opt.optimizer, torch.optim.Optimizer):
        opt = opt.optimizer
    return opt


# --------------------------------------------------------------------------- memory


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------- the run


class Run:
    """One training run: accelerator, run folder, checkpoints, logs, the loop."""

    def __init__(self, cfg: TrainConfig, *, log: Callable[[str], None] | None = None):
        from accelerate import Accelerator
        from accelerate.utils import broadcast_object_list

        self.cfg = cfg
        self.probe_steps = cfg.probe_steps
        self.accelerator = Accelerator(
            mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.grad_accum, cpu=cfg.cpu
        )
        acc = self.accelerator
        # Every process checks (so a bad --resume fails everywhere, not only on rank 0); rank
        # 0's answer is broadcast so that all agree on an auto-numbered folder.
        box = [str(resolve_run_dir(cfg))]
        self.dir = Path(broadcast_object_list(box)[0] if acc.num_processes > 1 else box[0])
        self._log = log or (lambda msg: None)
        self.start_step = 0
        self._data_wait = 0.0  # seconds spent waiting for the loader (the probe's data share)
        self.num_threads, why = choose_threads(cfg.num_threads, acc.num_processes)
        torch.set_num_threads(self.num_threads)
        self.log(f"torch CPU threads: {self.num_threads} ({why}; --set num_threads=N to change).")
        if acc.is_main_process:
            self.dir.mkdir(parents=True, exist_ok=True)
            if not cfg.resume:
                write_json_atomic(self.dir / OPTIONS_FILE, describe(cfg, acc.num_processes))
                (self.dir / METRICS_FILE).unlink(missing_ok=True)  # from a restarted, never-saved run
        acc.wait_for_everyone()

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def log(self, msg: str) -> None:
        if self.accelerator.is_main_process:
            self._log(msg)

    # ------------------------------------------------------------------ checkpoints

    def _save_checkpoint(self, step: int, ema: Any | None) -> Path:
        acc = self.accelerator
        final = self.dir / CHECKPOINTS / f"step-{step:07d}"
        tmp = self.dir / CHECKPOINTS / f".tmp-step-{step:07d}"
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        if acc.is_main_process:
            if ema is not None:
                from safetensors.torch import save_file

                save_file({f"{i}": p.detach().cpu().contiguous() for i, p in enumerate(ema.shadow_params)},
                          str(tmp / "ema.safetensors"))  # fmt: skip
            write_json_atomic(
                tmp / "trainer_state.json",
                {"step": step, "config_digest": config_digest(self.cfg),
                 "ema_optimization_step": ema.optimization_step if ema is not None else None},
            )  # fmt: skip
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            for old in checkpoints(self.dir)[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old)
        acc.wait_for_everyone()
        return final

    def _load_checkpoint(self, ema: Any | None) -> int:
        ckpt = checkpoints(self.dir)[-1]
        state = json.loads((ckpt / "trainer_state.json").read_text())
        if state["config_digest"] != config_digest(self.cfg):
            raise SpecError(f"--resume: checkpoint {ckpt} belongs to another config.")
        self.accelerator.load_state(str(ckpt))
        if ema is not None:
            from safetensors.torch import load_file

            if not (ckpt / "ema.safetensors").is_file():
                raise DataMissingError(f"--resume: {ckpt} has no EMA weights but ema_decay > 0.")
            saved = load_file(str(ckpt / "ema.safetensors"))
            for i, p in enumerate(ema.shadow_params):
                p.data.copy_(saved[f"{i}"].to(p.device))
            ema.optimization_step = state["ema_optimization_step"]
        self._truncate_metrics(state["step"])
        self.log(f"Resumed {self.dir} from {ckpt.name}.")
        return int(state["step"])

    def _truncate_metrics(self, step: int) -> None:
        path = self.dir / METRICS_FILE
        if self.accelerator.is_main_process and path.is_file():
            keep = [
                ln for ln in path.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= step
            ]
            write_text_atomic(path, "".join(ln + "\n" for ln in keep))

    def _append_metrics(self, record: dict[str, Any]) -> None:
        if self.accelerator.is_main_process:
            with open(self.dir / METRICS_FILE, "a") as f:
                f.write(json.dumps(record, allow_nan=True) + "\n")

    # ------------------------------------------------------------------ the loop

    def make_ema(self, params: Sequence[nn.Parameter]):
        """diffusers' EMAModel over ``params`` when ``ema_decay > 0``, else None."""
        if self.cfg.ema_decay <= 0:
            return None
        from diffusers.training_utils import EMAModel

        return EMAModel(params, decay=self.cfg.ema_decay)

    def lr_factor(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps`` optimizer steps, then constant."""
        w = self.cfg.warmup_steps
        return 1.0 if w <= 0 else min(1.0, (step + 1) / w)

    def fit(
        self,
        step_fn: StepFn,
        source: ImageSource,
        *,
        trainables: Sequence[nn.Module],
        optims: Sequence[Optim],
        ema: Any | None = None,
        ema_params: Sequence[nn.Parameter] = (),
    ) -> None:
        """Train until ``cfg.steps`` optimizer steps are done. ``trainables``/``optims`` prepared."""
        cfg, acc = self.cfg, self.accelerator
        if cfg.resume:
            self.start_step = self._load_checkpoint(ema)
        loader = hr_loader(
            source, crop=cfg.crop, seed=cfg.stream_seed, batch=cfg.batch_size, accum=cfg.grad_accum,
            start_step=self.start_step, rank=acc.process_index, world=acc.num_processes,
            num_workers=cfg.num_workers,
        )  # fmt: skip
        batches = iter(loader)
        last_ckpt = checkpoints(self.dir)[-1] if checkpoints(self.dir) else None
        window: dict[str, list[float]] = {}
        t_window, n_window = time.perf_counter(), 0
        end = cfg.steps if not self.probe_steps else min(cfg.steps, self.start_step + self.probe_steps)
        self._data_wait, step_times = 0.0, []
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        with self._progress() as bar, StopRequest() as stop:
            task = bar.add_task(cfg.stage, total=cfg.steps, completed=self.start_step, loss=math.nan, sps=0.0)
            for step in range(self.start_step, end):
                t0, wait0 = time.perf_counter(), self._data_wait
                logs = self._one_step(step_fn, batches, step, trainables, optims, last_ckpt)
                if ema is not None:
                    ema.step(ema_params)
                step_times.append((time.perf_counter() - t0, self._data_wait - wait0))
                for k, v in logs.items():
                    window.setdefault(k, []).append(v)
                n_window += cfg.samples_per_step * acc.num_processes
                done = step + 1
                sps = n_window / max(time.perf_counter() - t_window, 1e-9)
                bar.update(task, completed=done, loss=logs.get("loss", math.nan), sps=sps)
                if done % cfg.log_every == 0 or done == cfg.steps:
                    record = {"step": done, **{k: sum(v) / len(v) for k, v in window.items()}}
                    record.update(lr=optims[0].lr * self.lr_factor(step), samples_per_s=round(sps, 3),
                                  peak_mem_mb=round(peak_memory_mb(self.device), 1))  # fmt: skip
                    self._append_metrics(record)
                    window, t_window, n_window = {}, time.perf_counter(), 0
                if self.probe_steps:
                    continue
                saved = False
                if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                    last_ckpt, saved = self._save_checkpoint(done, ema), True
                if done < cfg.steps and self._agreed(stop.requested):
                    if not saved:
                        last_ckpt = self._save_checkpoint(done, ema)
                    bar.stop()
                    raise TrainingInterrupted(
                        f"Interrupted after step {done}/{cfg.steps}: checkpoint saved ({last_ckpt}). "
                        f"Resume with: {resume_command(cfg, self.dir)}", self.dir, done,
                    )  # fmt: skip
        if self.probe_steps:
            from .probe import probe_report

            raise ProbeFinished(probe_report(self, step_times, ema))

    def _agreed(self, flag: bool) -> bool:
        """Whether any process was asked to stop (all processes must stop at the same step)."""
        if self.accelerator.num_processes == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        return float(self.accelerator.reduce(t, reduction="sum")) > 0

    def _one_step(self, step_fn, batches, step, trainables, optims, last_ckpt) -> dict[str, float]:
        cfg, acc = self.cfg, self.accelerator
        logs: dict[str, list[float]] = {}
        for micro in range(cfg.grad_accum):
            t_wait = time.perf_counter()
            hr, indices = next(batches)
            self._data_wait += time.perf_counter() - t_wait
            sync = micro == cfg.grad_accum - 1
            with contextlib.ExitStack() as stack:
                if not sync:  # DDP: all-reduce gradients only on the last micro-batch
                    for m in trainables:
                        stack.enter_context(acc.no_sync(m))
                with acc.autocast():
                    out = step_fn(hr, indices, step)
                for name, loss in out.losses.items():
                    self._check_finite(loss.detach(), f"loss '{name}'", step, last_ckpt)
                    acc.backward(loss)
            for name, loss in out.losses.items():
                logs.setdefault(f"loss_{name}" if len(optims) > 1 else "loss", []).append(
                    float(loss.detach())
                )
            for k, v in out.logs.items():
                logs.setdefault(k, []).append(v)
        if len(optims) > 1:
            logs["loss"] = logs.get("loss_" + optims[0].name, [math.nan])
        self._update(optims, step, last_ckpt)
        return {k: sum(v) / len(v) for k, v in logs.items()}

    def _update(self, optims: Sequence[Optim], step: int, last_ckpt: Path | None) -> None:
        """Clip, set the lr and step every optimizer that received gradients; then zero them.

        fp16 (a loss scaler): the PyTorch recipe for several optimizers — each optimizer's
        gradients unscaled exactly once (``scaler.unscale_`` of that optimizer only, not
        accelerate's ``clip_grad_norm_``, which unscales *all* prepared optimizers), one
        ``scaler.step`` per optimizer, ONE ``scaler.update`` at the end (accelerate's
        ``AcceleratedOptimizer.step`` updates after each optimizer, which forgets that the
        next one was already unscaled and unscales it again). An optimizer without gradients
        (the discriminator before ``disc_start``) is skipped: the scaler refuses to step an
        optimizer it recorded no inf check for."""
        cfg, acc = self.cfg, self.accelerator
        scaler = (
            acc.scaler if cfg.mixed_precision == "fp16" and getattr(acc, "scaler", None) is not None else None
        )
        factor = self.lr_factor(step)
        stepped = False
        for o in optims:
            if not any(p.grad is not None for p in o.params):
                continue
            inner = _bare_optimizer(o.optimizer)
            if scaler is not None:
                scaler.unscale_(inner)
            if cfg.max_grad_norm > 0:
                norm = torch.nn.utils.clip_grad_norm_(o.params, cfg.max_grad_norm)
                if scaler is None:  # fp16: the loss scaler skips inf steps itself
                    self._check_finite(torch.as_tensor(norm), f"gradient norm of '{o.name}'", step, last_ckpt)
            for group in o.optimizer.param_groups:
                group["lr"] = o.lr * factor
            if scaler is not None:
                scaler.step(inner)
            else:
                o.optimizer.step()
            stepped = True
        if scaler is not None and stepped:
            scaler.update()
        for o in optims:
            o.optimizer.zero_grad(set_to_none=True)

    def _check_finite(self, value: torch.Tensor, what: str, step: int, last_ckpt: Path | None) -> None:
        ok = torch.isfinite(value.float()).all().to(self.device, torch.float32).reshape(1)
        ok = self.accelerator.reduce(ok, reduction="sum") if self.accelerator.num_processes > 1 else ok
        if float(ok) == self.accelerator.num_processes:
            return
        self._append_metrics({"step": step + 1, "event": f"non-finite {what}"})
        where = (
            f"the last good checkpoint is {last_ckpt}" if last_ckpt else "no checkpoint had been written yet"
        )
        raise TrainingDivergedError(
            f"Non-finite {what} at step {step + 1} of {self.dir}; stopped before updating weights, "
            f"{where}. Lower lr (or use bf16 instead of fp16) and resume with --resume."
        )

    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        return Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4g}"), TextColumn("{task.fields[sps]:.2f} samples/s"),
            TimeRemainingColumn(), disable=not (self.cfg.progress and self.accelerator.is_main_process),
        )  # fmt: skip

    # ------------------------------------------------------------------ the result

    def save_result(self, name: str, save: Callable[[Path], None]) -> Path:
        """``save(tmp_folder)`` on the main process, then rename to ``<run>/<name>`` atomically."""
        acc = self.accelerator
        target = self.dir / name
        if acc.is_main_process:
            tmp = self.dir / f".tmp-{name}"
            if tmp.exists():
                shutil.rmtree(tmp)
            save(tmp)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        acc.wait_for_everyone()
        return target
