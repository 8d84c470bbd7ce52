# Set-up is part of each target: on a fresh machine `make quickstart` and `make test`
# need nothing else than python3 (and npm, for the Azure emulator used by the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: quickstart test bench lint check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml $(wildcard package-lock.json) | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; fi
	touch $@ $(VENV)/.core

$(VENV)/.bench: pyproject.toml $(wildcard package-lock.json) | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; fi
	touch $@ $(VENV)/.test $(VENV)/.core

quickstart: $(VENV)/.core
	$(BIN)/python examples/quickstart.py

test: $(VENV)/.test
	$(BIN)/python -m pytest

# Every benchmark, one table on stdout (about 7 minutes on 2 cores); see README "Performance".
bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks

lint: $(VENV)/.test
	$(BIN)/python -m ruff check src tests benchmarks examples
	$(BIN)/python -m mypy

check: lint test

clean:
	rm -rf $(VENV) node_modules .data .pytest_cache .mypy_cache .hypothesis
