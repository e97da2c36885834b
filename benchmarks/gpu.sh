#!/usr/bin/env bash
# GPU speed benchmark of issue 9 (see benchmarks/gpu_speed.py for what is measured).
#
#   benchmarks/gpu.sh                 # CUDA: full SD v1.5 architecture, bf16, 128² -> 512², ~5 min
#   benchmarks/gpu.sh --cpu-reduced   # CPU: tiny preset, few steps (what tests/bench runs)
#
# Prints a table with the device name; writes gpu_speed.json to $OUT (if set) or to
# results/bench/. Python: $PY, else .venv/bin/python, else python3 (needs `pip install -e .`).
# The whole run is capped at $GPU_BENCH_LIMIT seconds (default 290): at the cap the script
# gets SIGINT, stops measuring, and still prints and writes what it has.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PY:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT_DIR="${OUT:-results/bench}"
LIMIT="${GPU_BENCH_LIMIT:-290}"

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
fi
# budget for the measurements: the cap minus ~20 s for start-up, metrics and the report
BUDGET=$(( LIMIT > 60 ? LIMIT - 20 : LIMIT ))
exec timeout --signal=INT --kill-after=20 "$LIMIT" \
  "$PY" benchmarks/gpu_speed.py --out "$OUT_DIR" --budget-s "$BUDGET" "$@"
