"""``speed``: seconds per image at a fixed output size, with a per-stage breakdown for YONOS.

Protocol (what OSEDiff's Table reports, 512×512 outputs): ``warmup`` untimed calls, then
``repeats`` timed calls on a batch of ``batch_size`` random LR images of side
``size / scale``, each call bracketed by device synchronisation. Reported: median and
p90 seconds per image (call time / batch size), images per second (1 / median), peak
memory (CUDA max allocated, else the process's peak RSS) and, for YONOS pipelines, the
seconds per stage (VAE encode, UNet — all steps, VAE decode, the rest) that
:class:`yonos_train.timing.StageTimer` measured inside the median call itself, so the
parts add up to that call's measured total. A result file is written under ``<results>/speed/`` for ``table``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from yonos_bench.core.errors import YonosError
from yonos_bench.core.paths import results_root as resolve_results_root
from yonos_bench.core.provenance import (
    describe_device,
    peak_memory,
    provenance,
    reset_peak_memory,
    resolve_device,
    synchronize,
)
from yonos_bench.runs.results import RESULT_FILE, SCHEMA, SPEED_DIR, safe_name, write_result

STAGES = ("encode", "unet", "decode", "other")


@dataclass
class SpeedOutcome:
    path: Path
    data: dict[str, Any]


def p90(values: Sequence[float]) -> float:
    """90th percentile by linear interpolation between order statistics (numpy's default)."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), 90))


def measure_speed(
    model_name: str,
    *,
    size: int = 512,
    steps: Sequence[int | None] = (None,),
    batch_size: int = 1,
    repeats: int = 5,
    warmup: int = 1,
    device: str | None = None,
    dtype: str = "fp32",
    weights_dir: Path | None = None,
    results_root: Path | None = None,
    seed: int = 0,
) -> list[SpeedOutcome]:
    """Time ``model_name`` at each step count; write and return one speed result per count."""
    import torch

    from yonos_bench.models import load_model
    from yonos_bench.models.base import DTYPES
    from yonos_bench.runs.results import image_seed

    for name, value, lo in (("--size", size, 1), ("--batch-size", batch_size, 1), ("--repeats", repeats, 1)):
        if value < lo:
            raise YonosError(f"{name} must be >= {lo}, got {value}")
    if warmup < 0:
        raise YonosError(f"--warmup must be >= 0, got {warmup}")
    if dtype not in DTYPES:
        raise YonosError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    device = resolve_device(device)
    root = resolve_results_root(results_root)
    from yonos_bench.runs.runner import check_writable

    check_writable(root)
    model = load_model(model_name, device=device, dtype=dtype, weights_dir=weights_dir)
    if size % model.scale:
        raise YonosError(f"--size {size} is not a multiple of model '{model.name}''s scale x{model.scale}.")
    given = [s for s in steps if s is not None]
    if given and not model.supports_steps:
        raise YonosError(
            f"--steps {','.join(map(str, given))}: model '{model.name}' takes no sampling steps."
        )
    gen = torch.Generator().manual_seed(seed)
    lr = torch.rand(batch_size, 3, size // model.scale, size // model.scale, generator=gen).to(device)
    seeds = [image_seed(seed, f"speed-{i}") for i in range(batch_size)]
    pipe = _yonos_pipeline(model)
    outcomes = []
    for s in dict.fromkeys(steps):
        resolved = s if s is not None else (model.default_steps if model.supports_steps else None)
        call = _timed_call(model, pipe, lr, resolved, seeds, device)
        for _ in range(warmup):
            call()
        reset_peak_memory(device)
        totals, stages = [], []
        for _ in range(repeats):
            total, parts = call()
            totals.append(total / batch_size)
            if parts is not None:
                stages.append({k: v / batch_size for k, v in parts.items()})
        nbytes, kind = peak_memory(device)
        data = _speed_result(
            model, resolved, dtype, device, size, batch_size, repeats, warmup, totals, stages
        )
        data["timing"].update({"peak_memory_bytes": nbytes, "peak_memory_kind": kind})
        folder = root / SPEED_DIR / safe_name(model.name)
        steps_part = "na" if resolved is None else str(resolved)
        path = (
            folder
            / f"size{size}-steps{steps_part}-bs{batch_size}-{dtype}-{torch.device(device).type}"
            / RESULT_FILE
        )
        write_result(path, data)
        outcomes.append(SpeedOutcome(path, data))
    return outcomes


def _yonos_pipeline(model: Any):
    """The YonosSRPipeline behind a YONOS adapter (None for other models)."""
    pipe = getattr(model, "pipe", None)
    try:
        from yonos_train.pipeline import YonosSRPipeline
    except ImportError:  # pragma: no cover - yonos_train ships with yonos_bench
        return None
    return pipe if isinstance(pipe, YonosSRPipeline) else None


def _timed_call(model, pipe, lr, steps, seeds, device):
    """A closure running one timed call: returns (seconds, stage seconds | None)."""
    import torch

    from yonos_bench.models.base import generators

    def call():
        if pipe is None:
            synchronize(device)
            t0 = time.perf_counter()
            model.upscale(lr, steps=steps, seeds=seeds)
            synchronize(device)
            return time.perf_counter() - t0, None
        from yonos_train.timing import StageTimer

        timer = StageTimer(device=device)
        synchronize(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            # The adapter's own call (YonosModel._upscale) with a timer attached.
            pipe(
                lr,
                num_inference_steps=steps,
                generator=generators(seeds, device),
                tile_size=getattr(model, "tile_size", None),
                tile_overlap=getattr(model, "tile_overlap", None),
                timer=timer,
            )
        synchronize(device)
        total = time.perf_counter() - t0
        summary = timer.summary()
        return total, {k: float(summary[k]) for k in STAGES}

    return call


def _speed_result(model, steps, dtype, device, size, batch_size, repeats, warmup, totals, stages) -> dict:
    median = statistics.median(totals)
    # The breakdown of the median call itself (not medians of parts, which need not add up).
    mid = sorted(range(len(totals)), key=totals.__getitem__)[(len(totals) - 1) // 2]
    stage_medians = dict(stages[mid]) if stages else {}
    return {
        "schema": SCHEMA,
        "kind": "speed",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "name": model.name,
            "weights_digest": model.weights_digest,
            "scale": int(model.scale),
            "supports_steps": bool(model.supports_steps),
        },
        "steps": steps,
        "dtype": dtype,
        "device": describe_device(device),
        "size": size,
        "lr_size": size // model.scale,
        "batch_size": batch_size,
        "repeats": repeats,
        "warmup": warmup,
        "timing": {
            "median_s_per_image": median,
            "p90_s_per_image": p90(totals),
            "images_per_second": 1.0 / median if median > 0 else 0.0,
            "seconds_per_image_all": totals,
            "seconds_per_image": median,
            "peak_memory_bytes": None,
            "peak_memory_kind": "unknown",
        },
        "stages": stage_medians,
        "reportable": True,
        "provenance": provenance(device),
    }


def format_speed(data: dict) -> str:
    t = data["timing"]
    steps = "–" if data["steps"] is None else data["steps"]
    mem = t.get("peak_memory_bytes")
    lines = [
        f"{data['model']['name']}  steps {steps}  {data['size']}² out  batch {data['batch_size']}  "
        f"{data['dtype']}  {data['device']}",
        f"  median {t['median_s_per_image']:.4g} s/img   p90 {t['p90_s_per_image']:.4g} s/img   "
        f"{t['images_per_second']:.3g} img/s   peak memory "
        + ("–" if mem is None else f"{mem / 2**20:.0f} MiB ({t['peak_memory_kind']})"),
    ]
    if data["stages"]:
        st = data["stages"]
        parts = sum(st.values())
        lines.append(
            "  stages of the median call (s/img): "
            + "  ".join(f"{k} {st[k]:.4g}" for k in STAGES)
            + f"  = {parts:.4g} ({100 * parts / t['median_s_per_image']:.0f}% of the total)"
        )
    return "\n".join(lines)
