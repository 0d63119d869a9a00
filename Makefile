# The README's commands. Each target creates .venv and installs what it needs on first use.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve on SQLite (./videolikes.db) with the demo videos at http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/videolikes db upgrade
	$(BIN)/videolikes seed --demo
	$(BIN)/videolikes serve

## The whole test suite (PostgreSQL and Redis tests skip when those are unreachable, outside CI)
test: $(STAMP)
	$(BIN)/pytest

## Load benchmark against a local PostgreSQL (needs wrk and pgbench; see README "Benchmark").
## Options go in BENCH_ARGS, e.g. make bench BENCH_ARGS="--runs 2" or "--scale large".
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
