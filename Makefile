# Two commands set up everything on a fresh machine with Python 3.11:
#   make run    create .venv, install, plan the demo instance
#   make test   create .venv, install, run the whole suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-quality bench-scaling clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (natsched needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/natsched plan fixtures/demo -o build/demo-plan.csv --time-limit 20
	$(BIN)/natsched check fixtures/demo build/demo-plan.csv

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check scheduler webui tests benchmarks
	$(BIN)/ruff format --check scheduler webui tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format scheduler webui tests benchmarks
	$(BIN)/ruff check --fix scheduler webui tests benchmarks

# Speed tier: each preset timed and checked; saved runs compare over time and
# a 10 % regression of time (mean) or of a plan's score fails the run.
bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --bench -p no:cacheprovider \
		--benchmark-autosave --benchmark-storage=build/bench/speed \
		$$(ls build/bench/speed/*/*.json >/dev/null 2>&1 && echo --benchmark-compare --benchmark-compare-fail=mean:10%)
	$(BIN)/python -m benchmarks.compare_scores build/bench/speed --limit 0.10

# Quality tier: seeds x presets x time limits; tables and plots in build/bench/
bench-quality: $(STAMP)
	$(BIN)/python -m benchmarks.study quality

# Scaling study: 1k-100k batches, fitted growth exponent
bench-scaling: $(STAMP)
	$(BIN)/python -m benchmarks.study scaling

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
