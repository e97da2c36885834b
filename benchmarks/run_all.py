"""`make bench`: every performance ratio of issue 9 in one table, each with its goal and command.

    .venv/bin/python benchmarks/run_all.py [--quick] [--threads N] [--only NAME ...]
        [--skip NAME ...] [--out FILE.json]

Each benchmark runs in its own subprocess (so a crash, a thread setting or a memory peak
stays its own) and returns rows ``{name, value, unit, goal, met, note}`` plus details; the
table is printed at the end and written as JSON (default
``results/bench/bench-<UTC time>.json``; ``results/`` is git-ignored). Ratios are measured
within one run on one machine, so background load biases both sides alike; the machine
(CPU model, cores, load average before and after, torch version) is recorded with them.

Benchmarks (module in ``benchmarks/`` → what it measures):

* ``overhead``  run_overhead.py   — `run` wall time vs the raw network forwards (tiny)
* ``steps``     bench_steps.py    — 1-step vs 200-step speed-up vs the stage-time ideal
* ``tiling``    bench_tiling.py   — time and peak RSS at 512², 1024², 2048² outputs
* ``metrics``   bench_metrics.py  — one-pass engine vs a per-metric pyiqa loop
* ``degradation`` bench_degradation.py — batched vs one-at-a-time Real-ESRGAN
* ``training``  bench_training.py — distill vs standard samples/s; SD v1.5 step memory
* ``data``      bench_data_loading.py — loader samples/s, whole 4096² sources vs prepared tiles
* ``jpeg``      bench_jpeg_codec.py — Pillow vs torchvision JPEG round trip (CPU; CUDA if present)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK = "@@BENCH-RESULT "

#: name -> module in benchmarks/ (each exposes ``run(quick: bool, threads: int) -> dict``).
BENCHES = {
    "overhead": "run_overhead",
    "steps": "bench_steps",
    "tiling": "bench_tiling",
    "metrics": "bench_metrics",
    "degradation": "bench_degradation",
    "training": "bench_training",
    "data": "bench_data_loading",
    "jpeg": "bench_jpeg_codec",
}


def row(
    name: str, value: float | None, unit: str, goal: str = "", met: bool | None = None, note: str = ""
) -> dict:
    """One table row; ``met`` is None where there is no goal (a figure reported for context)."""
    return {"name": name, "value": value, "unit": unit, "goal": goal, "met": met, "note": note}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int) -> dict:
    import torch

    return {
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m": os.getloadavg()[0],
    }


def _child(module_name: str, quick: bool, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    module = importlib.import_module(module_name)
    t0 = time.perf_counter()
    result = module.run(quick=quick, threads=threads)
    result["seconds"] = time.perf_counter() - t0
    print(MARK + json.dumps(result), flush=True)


def run_one(name: str, quick: bool, threads: int, timeout: float) -> dict:
    """Run benchmark ``name`` in a subprocess; a failure becomes a result with an error row."""
    cmd = [sys.executable, str(Path(__file__)), "--child", BENCHES[name], "--threads", str(threads)]
    if quick:
        cmd.append("--quick")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"rows": [row(name, None, "", note=f"timed out after {timeout:.0f} s")], "error": "timeout",
                "seconds": time.perf_counter() - t0}  # fmt: skip
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"rows": [row(name, None, "", note=f"failed (exit {proc.returncode}): {tail[0][:200]}")],
            "error": proc.stderr[-4000:], "seconds": time.perf_counter() - t0}  # fmt: skip


def _fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "–"
    if unit == "x":
        return f"{v:.2f}x"
    return f"{v:.3g} {unit}".strip()


def format_table(results: dict[str, dict]) -> str:
    lines = [f"{'measure':58s} {'value':>12s}  {'goal':14s} {'status':8s} note"]
    lines.append("-" * len(lines[0]))
    for res in results.values():
        for r in res["rows"]:
            status = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
            lines.append(
                f"{r['name'][:58]:58s} {_fmt_value(r['value'], r['unit']):>12s}  {r['goal'][:14]:14s} "
                f"{status:8s} {r['note']}"
            )
        if res.get("command"):
            lines.append(f"    └ {res['command']}   ({res.get('seconds', 0):.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes/repeats (the `make bench` setting)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads per benchmark (1: robust on a shared machine)"
    )
    ap.add_argument("--only", nargs="+", choices=list(BENCHES), default=None)
    ap.add_argument("--skip", nargs="+", choices=list(BENCHES), default=[])
    ap.add_argument(
        "--out", type=Path, default=None, help="JSON file (default results/bench/bench-<time>.json)"
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # a module name: run it, print its result
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.quick, args.threads)
        return
    names = [n for n in (args.only or BENCHES) if n not in args.skip]
    info = machine(args.threads)
    print(f"machine: {info['cpu']}, {info['nproc']} CPUs, torch {info['torch']} ({args.threads} threads), "
          f"load {info['loadavg_1m']:.1f}; {'quick' if args.quick else 'full'} mode", flush=True)  # fmt: skip
    results, t0 = {}, time.perf_counter()
    for name in names:
        print(f"[{name}] running {BENCHES[name]}.py ...", flush=True)
        results[name] = run_one(name, args.quick, args.threads, args.timeout)
        print(format_table({name: results[name]}).split("\n", 2)[2], flush=True)
    info["loadavg_1m_end"] = os.getloadavg()[0]
    total = time.perf_counter() - t0
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "results" / "bench" / f"bench-{stamp}.json"
    doc = {
        "created": stamp,
        "quick": args.quick,
        "machine": info,
        "total_seconds": total,
        "benchmarks": results,
    }
    sys.path.insert(0, str(ROOT))
    from yonos_bench.core.atomic import write_json_atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, doc)
    print()
    print(format_table(results))
    missed = sum(1 for res in results.values() for r in res["rows"] if r["met"] is False)
    failed = [n for n, res in results.items() if res.get("error")]
    print(
        f"\n{len(names)} benchmarks in {total / 60:.1f} min; goals missed: {missed}; failed: {failed or 'none'}"
    )
    print(f"load average {info['loadavg_1m']:.1f} at start, {info['loadavg_1m_end']:.1f} at end "
          f"({info['nproc']} CPUs); JSON: {out}")  # fmt: skip
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
