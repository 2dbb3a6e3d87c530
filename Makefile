# Two commands set up everything on a fresh machine with Python 3.11:
#   make run    create .venv, install, serve the web app on the demo world
#   make test   create .venv, install (and Debian's chromium for browser tests), run the suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# one stamp per extra installed: `make run` needs the web app, the rest the dev tools
STAMP := $(VENV)/.installed-dev
WEB_STAMP := $(VENV)/.installed-web

.PHONY: run test lint format bench bench-quality bench-scaling clean browser-deps stress audit

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (natsched needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP) $(WEB_STAMP)

# [dev] holds [web]: a venv made by `make test` serves without installing again
$(WEB_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e '.[web]'
	touch $(WEB_STAMP)

# The web app on the embedded SQLite database with the demo world and the
# re-planning worker; the URL and the demo accounts are printed.
run: $(WEB_STAMP)
	$(BIN)/natsched serve --demo --host $(HOST) --port $(PORT)

HOST ?= 127.0.0.1
PORT ?= 8000

# Browser tests drive Debian's chromium (Playwright's own download is not
# reachable here); fonts-noto-cjk makes Chinese text readable in screenshots.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
		echo "installing Debian's chromium and fonts-noto-cjk for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		( $$SUDO apt-get install -y chromium fonts-noto-cjk >/dev/null 2>&1 \
		  || { $$SUDO apt-get update >/dev/null 2>&1 && $$SUDO apt-get install -y chromium fonts-noto-cjk >/dev/null 2>&1; } ) \
		|| echo "could not install chromium: browser tests will skip (and fail under CI)"; \
	fi

# Known vulnerabilities in the installed packages, from PyPI's advisory records
# (tools/audit.py; pip-audit's data, also where the index serves only project
# records). A vulnerability fails; an unreachable index fails only under CI.
audit: $(STAMP)
	@$(BIN)/python -m tools.audit; rc=$$?; \
	if [ $$rc -eq 2 ] && ! $(BIN)/python -m tests.support.ci; then echo "audit skipped: the package index is not reachable"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

test: $(STAMP) browser-deps audit
	$(BIN)/python -m pytest

# ruff, mypy, then the direction of every import (import-linter; contracts in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check natsched scheduler webui tests benchmarks
	$(BIN)/ruff format --check natsched scheduler webui tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format natsched scheduler webui tests benchmarks
	$(BIN)/ruff check --fix natsched scheduler webui tests benchmarks

# Speed tier: work of fixed size per preset (generation, network, greedy, SPEC
# bound, a search of a fixed number of iterations), timed in CPU time and
# checked. Scores and bounds must stay within the committed baseline's
# tolerance (benchmarks/baseline_scores.json, refreshed as
# benchmarks/compare_scores.py says); a case 10 % slower (BENCH_TIME_LIMIT=0.10)
# or scoring 10 % worse than in the previous saved run fails.
# BENCH_PRESETS=county,city,province,surge adds the large presets.
bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --bench -p no:cacheprovider \
		--bench-presets $${BENCH_PRESETS:-county,city} --benchmark-timer time.process_time \
		--benchmark-autosave --benchmark-storage=build/bench/speed
	$(BIN)/python -m benchmarks.compare_scores build/bench/speed \
		--score-limit 0.10 --time-limit $${BENCH_TIME_LIMIT:-0.10}

# Quality tier: seeds x presets x time limits; tables and plots in build/bench/
# (QUALITY_ARGS narrows it, e.g. QUALITY_ARGS="--preset city --preset province --limit 60")
bench-quality: $(STAMP)
	$(BIN)/python -m benchmarks.study quality $(QUALITY_ARGS)

# Scaling study: 1k-100k batches, fitted growth exponent
bench-scaling: $(STAMP)
	$(BIN)/python -m benchmarks.study scaling

# Robustness, long form: fuzzing with 20x the cases, then a province morning
# driven by Locust (headless, its own process) against real servers: SQLite +
# in-process worker, PostgreSQL + separate worker, 2 gunicorn processes with 800
# coordinators (3 minutes each), the scale table (100-800 coordinators, 90 s
# each), then the faults. About 40 minutes on 2 cores; report and Locust's CSV
# files in build/stress/ (report.md, report.json, <run>_stats.csv)
stress: $(STAMP)
	rm -f build/stress/fuzz.jsonl
	NATSCHED_FUZZ_PROFILE=stress $(BIN)/python -m pytest -q -p no:cacheprovider tests/robustness -k fuzz
	$(BIN)/python -m benchmarks.stress --out build/stress/report.md

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
