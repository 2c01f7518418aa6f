# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
FTS := $(VENV)/bin/fts
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# The library asks for a torch range; the install step pins the CPU wheel it is tested with.
# Give TORCH_INDEX=https://download.pytorch.org/whl/cpu where the default index serves CUDA wheels.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: venv demo test lint bench clean help

help:
	@echo "make demo   - create .venv, install, ingest the sample, build tiers, search, report, audit"
	@echo "make test   - run the whole test suite (creates .venv if needed)"
	@echo "make lint   - ruff + import-linter"
	@echo "make bench  - run the benchmarks in bench/"

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '$(TORCH)' $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(FTS) ingest sample
	$(FTS) sql "select ticker, count(*) as rows, min(date) as first, max(date) as last from raw.ohlcv group by 1 order by 1"
	$(FTS) build-tier a100
	$(FTS) sql "select ticker, count(*) as rows, min(date) as first, max(date) as last from a100 group by 1"
	$(FTS) run studies/demo.toml
	$(FTS) sql "select study, state, count(*) as trials from hpo_trials group by all order by all"
	$(FTS) report demo
	$(FTS) audit
	@echo "demo done: see data/reports/demo/report.md"

test: $(STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check fts models_torch tests bench
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) data warehouse.duckdb warehouse.duckdb.wal .pytest_cache
