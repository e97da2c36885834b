"""``train STAGE ... --probe``: a few steps of the real recipe, to learn in minutes whether a
run fits the GPUs and how long it will take.

The stage runs exactly as it would (same models, data, degradation, precision, knobs) in a
temporary run folder, for ``steps`` optimizer steps; the engine measures each step (the
first is warm-up and excluded when there are more), the time spent waiting for data, the
peak memory (device memory on CUDA, the process's peak RSS on CPU) and the size of one real
checkpoint; then the folder is deleted. The report names the memory knobs.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from yonos_bench.core.errors import SpecError

from .config import TrainConfig
from .engine import peak_memory_mb

#: The knobs that lower peak memory, in the order to try them (all ``--set``).
MEMORY_KNOBS = (
    ("gradient_checkpointing=true", "recompute UNet activations in backward (sd15 default)"),
    (
        "frozen_dtype=bf16",
        "frozen teacher UNet / VAE encoder weights in bf16 (sd15 default; -1.7 GB teacher)",
    ),
    ("encode_chunk=8", "the frozen VAE encodes at most 8 images per call (distill encodes 3 x batch)"),
    ("batch_size=B grad_accum=A", "smaller micro-batch, more accumulation: keep B x A x GPUs = 240"),
)


def run_probe(cfg: TrainConfig, steps: int, *, log=None) -> str:
    """Run the probe and return the printed report."""
    from .engine import ProbeFinished
    from .stages import run_stage
    from .stages.common import default_log

    if steps < 1:
        raise SpecError(f"--probe {steps}: needs at least 1 step (2 or more: the first is warm-up).")
    tmp = Path(tempfile.mkdtemp(prefix="yonos-probe-"))
    probe_cfg = dataclasses.replace(cfg, out=str(tmp / "run"), resume=False, probe_steps=steps,
                                    checkpoint_every=max(cfg.checkpoint_every, steps + 1))  # fmt: skip
    try:
        run_stage(probe_cfg, log=log or default_log)
    except ProbeFinished as done:
        return format_report(cfg, done.report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raise SpecError("--probe: the stage finished without reaching the probe (steps >= the run's steps?).")


def probe_report(run, step_times: list[tuple[float, float]], ema: Any | None) -> dict[str, Any]:
    """What ``--probe`` prints: memory, speed, data share, checkpoint size, full-run estimate."""
    cfg, acc = run.cfg, run.accelerator
    timed = step_times[1:] or step_times  # the first step pays warm-up (allocator, workers)
    step_s = sum(t for t, _ in timed) / len(timed)
    data_share = sum(w for _, w in timed) / max(sum(t for t, _ in timed), 1e-9)
    peak = peak_memory_mb(run.device)
    total_mb = (torch.cuda.get_device_properties(run.device).total_memory / 2**20
                if run.device.type == "cuda" else None)  # fmt: skip
    ckpt = run._save_checkpoint(run.start_step + len(step_times), ema)
    ckpt_bytes = sum(p.stat().st_size for p in ckpt.rglob("*") if p.is_file())
    remaining = cfg.steps - run.start_step
    return {
        "stage": cfg.stage, "preset": cfg.preset, "device": str(run.device),
        "processes": acc.num_processes, "threads": run.num_threads,
        "mixed_precision": cfg.mixed_precision, "frozen_dtype": cfg.frozen_dtype,
        "gradient_checkpointing": cfg.gradient_checkpointing, "encode_chunk": cfg.encode_chunk,
        "crop": cfg.crop, "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum,
        "steps_probed": len(step_times), "step_s": step_s,
        "samples_per_s": cfg.samples_per_step * acc.num_processes / max(step_s, 1e-9),
        "data_loading_share": data_share,
        "peak_memory_mb": peak, "peak_memory_kind": "device" if total_mb else "process RSS",
        "device_memory_mb": total_mb,
        "checkpoint_mb": ckpt_bytes / 2**20,
        "checkpoints_disk_mb": ckpt_bytes / 2**20 * cfg.keep_checkpoints,
        "full_run_steps": remaining, "estimated_full_run_h": step_s * remaining / 3600,
    }  # fmt: skip


def _size(mb: float) -> str:
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.1f} MB"


def format_report(cfg: TrainConfig, r: dict[str, Any]) -> str:
    knobs = (
        f"{k}: {r[k]}" for k in ("mixed_precision", "frozen_dtype", "gradient_checkpointing", "encode_chunk")
    )
    lines = [
        f"Probe of `train {r['stage']}` ({r['preset']} preset) on {r['device']} x{r['processes']} process(es), "
        f"{r['threads']} CPU thread(s); crop {r['crop']}, batch_size {r['batch_size']}, grad_accum "
        f"{r['grad_accum']}; {', '.join(knobs)}",
        f"  steps probed        {r['steps_probed']} (timed: {max(r['steps_probed'] - 1, 1)}; the first is warm-up)",
        f"  step time           {r['step_s']:.3f} s",
        f"  samples/s           {r['samples_per_s']:.2f} (all processes)",
        f"  data-loading share  {100 * r['data_loading_share']:.1f}% of the step (raise num_workers if high)",
        f"  peak memory         {_size(r['peak_memory_mb'])} ({r['peak_memory_kind']}"
        + (f" of {_size(r['device_memory_mb'])})" if r["device_memory_mb"] else ")"),
        f"  checkpoint size     {_size(r['checkpoint_mb'])} each; keep_checkpoints {cfg.keep_checkpoints} -> "
        f"{_size(r['checkpoints_disk_mb'])} on disk",
        f"  full run estimate   {r['full_run_steps']} steps x {r['step_s']:.3f} s = {r['estimated_full_run_h']:.2f} h",
    ]
    total = r["device_memory_mb"]
    if total and r["peak_memory_mb"] > 0.9 * total:
        lines.append(f"  WARNING: peak memory is {100 * r['peak_memory_mb'] / total:.0f}% of the device: "
                     "expect OOM on a busier GPU.")  # fmt: skip
    lines.append("Memory knobs (--set KEY=VALUE), in the order to try:")
    lines += [f"  {k:<28} {why}" for k, why in MEMORY_KNOBS]
    lines.append("Launch (4 GPUs): accelerate launch --multi_gpu --num_processes 4 -m yonos_bench train "
                 f"{r['stage']} --preset {r['preset']} ... (the same options, without --probe)")  # fmt: skip
    return "\n".join(lines)
