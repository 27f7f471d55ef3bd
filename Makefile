# Ratebook developer commands. Everything installs into .venv from the project's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(RUNSTAMP)

## make demo: install and run the demo month on an embedded SQLite file in ./demo-run
demo: $(RUNSTAMP)
	mkdir -p demo-run
	cd demo-run && ../$(BIN)/ratebook demo

## make test: install dev dependencies and run the whole suite
test: $(STAMP)
	$(BIN)/python -m pytest -n $(or $(WORKERS),2) --durations=10

## make lint: ruff, mypy --strict, and the import layers (import-linter)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## make bench: throughput figures (not a pass/fail test); ONLY=ingest|statement|api|stream|report|console runs one part
bench: $(STAMP)
	$(BIN)/python bench/run.py $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf $(VENV) demo-run .pytest_cache .mypy_cache .ruff_cache
