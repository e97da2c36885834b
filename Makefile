# The README's two commands live here: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install lint bench tiny-models clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip<26"
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check yonos_bench yonos_train tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/yonos-bench demo

# Retrain the embedded tiny models from scratch (fixed seeds; ~20-30 min on 2 CPU cores) and
# ship them into yonos_bench/assets/tiny/ (TRAINING_LOG.json records commands and wall times).
tiny-models: $(STAMP)
	$(BIN)/python scripts/train_tiny_models.py --force

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

# Issue 9: every performance ratio with its goal, one table + JSON under results/bench/ (< 15 min on 2 cores).
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick
