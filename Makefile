# smart_control developer commands. Every target that needs Python installs the
# pinned stack into .venv first when it is missing or older than setup.cfg.
SHELL := /bin/bash
VENV ?= .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python
# dm-reverb 0.14 has wheels for CPython 3.9-3.11 only.
PYTHON ?= $(shell for p in python3.11 python3.10 python3.9 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
PYTEST_ARGS ?=
# pytest-xdist workers for make test: the suite waits on subprocesses, Slurm
# and Reverb much of the time, so two workers fit two cores (tests/conftest.py
# groups them). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

.PHONY: install test test-fast lint format run run-long sweep-demo bench clean help

help:
	@echo "make run    - quickstart: the main job end to end on the embedded default"
	@echo "make run-long - the building experiment trained until it beats the schedule"
	@echo "make sweep-demo - a small local capacity sweep"
	@echo "make test   - the test suite (installs .venv first if needed)"
	@echo "make test-fast - the fast tier: no slow or Slurm tests (under 5 min on 2 cores)"
	@echo "make lint   - ruff check + format check"
	@echo "make bench  - performance suite, writes bench/results/latest.json"

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; ok = (3, 9) <= v <= (3, 11); \
	  ok or sys.exit("smart_control needs Python 3.9-3.11 (dm-reverb 0.14 ships no wheels for %d.%d); set PYTHON=python3.11" % v)'
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip setuptools wheel
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The fast tier: the pure and in-process tests, without the `slow` ones
# (binaries and launchers in subprocesses, training runs) and the `slurm` ones
# (a real Slurm); `make test` above runs everything and is what CI runs.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not slurm" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The quickstart experiment: a starter buffer from the schedule policy, a short
# SAC run from it in the embedded synthetic-weather office building, and an
# evaluation against the schedule baseline (a few minutes on 2 cores).
run: $(STAMP)
	$(PY) -m launchers.run_experiment --gin_file=experiments/quickstart.gin --root_dir=runs/quickstart

# The building experiment long enough to beat the schedule reliably (20,000
# train steps from a 10-week starter buffer; see the README for its wall time).
run-long: $(STAMP)
	$(PY) -m launchers.run_experiment --gin_file=experiments/building_sac_long.gin --root_dir=runs/building_sac_long

# A small local capacity sweep sharing one starter buffer.
sweep-demo: $(STAMP)
	$(PY) -m launchers.sweep --gin_file=experiments/sweep_demo.gin --root_dir=runs/sweep_demo \
	    --sweep='ReplayBufferManager.capacity=[2500, 25000]' --max_parallel=2

# The performance suite (6-8 minutes on 2 cores); BENCH_ARGS=--full adds
# the heavy variants and the sweep (see bench/README.md).
bench: $(STAMP)
	$(PY) -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info
