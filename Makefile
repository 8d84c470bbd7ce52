# Set-up is part of each target: on a fresh machine `make quickstart` and `make test`
# need nothing else than python3 (and npm, for the Azure emulator used by the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The lowest versions pyproject.toml allows, for the core and the s3, encryption and
# compression extras (both contracts have a zstd+aes lane).
LOWEST ?= .venv-lowest
LOWEST_TOOLS := pytest pytest-asyncio pytest-timeout pytest-xdist moto flask flask-cors
# Test workers: the suite mostly waits (emulators, client retries, child processes), so
# two workers on two cores take about half the time of one. WORKERS=0 runs in one process.
WORKERS ?= 2
# A user's environment for the pytest plugin: only the [testing] extra.
TESTING ?= .venv-testing
TESTING_MAX_PACKAGES ?= 55
LOWEST_SUITE := $(foreach class,TestMemory TestFile TestS3,\
	tests/backends/test_driver_contract.py::$(class) tests/operations/test_facade_contract.py::$(class))

.PHONY: quickstart test test-lowest test-testing-extra bench lint check clean

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

# Every direct requirement at its floor (uv's lowest-direct), then botocore at the floor
# of the aiobotocore that got in: that pair decides which S3 parameters exist.
$(LOWEST)/.installed: pyproject.toml .ci/lowest_versions.py
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q --upgrade pip uv
	$(LOWEST)/bin/python .ci/lowest_versions.py requirements s3 encryption compression --test $(LOWEST_TOOLS) \
		> $(LOWEST)/requirements.txt
	$(LOWEST)/bin/uv pip install -q --python $(LOWEST)/bin/python --resolution lowest-direct \
		-r $(LOWEST)/requirements.txt
	$(LOWEST)/bin/python .ci/lowest_versions.py floors-of aiobotocore:botocore \
		>> $(LOWEST)/requirements.txt
	$(LOWEST)/bin/uv pip install -q --python $(LOWEST)/bin/python --resolution lowest-direct \
		--upgrade -r $(LOWEST)/requirements.txt
	touch $@

# Not editable: the wheel a user gets, its fixtures and its dependencies.
$(TESTING)/.installed: pyproject.toml
	rm -rf $(TESTING)
	$(PYTHON) -m venv $(TESTING)
	$(TESTING)/bin/python -m pip install -q --upgrade pip
	$(TESTING)/bin/python -m pip install -q ".[testing]"
	touch $@

quickstart: $(VENV)/.core
	$(BIN)/python examples/quickstart.py

# The whole suite; it ends with the 15 slowest tests.
test: $(VENV)/.test
	$(BIN)/python -m pytest -n $(WORKERS) --durations=15

# Both contracts (driver and facade, plain and zstd+aes lanes) on memory, local disk and
# S3 under the lowest allowed versions.
test-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/uv pip list --python $(LOWEST)/bin/python 2>/dev/null \
		| grep -iE '^(fsspec|orjson|anyio|s3fs|aiobotocore|botocore|cryptography|zstandard|moto|pytest) '
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider -n $(WORKERS) $(LOWEST_SUITE)

# The pytest plugin in a venv with only the [testing] extra: a user's test file (outside
# this repository's conftest) passes on S3 and memory, and the extra stays small.
test-testing-extra: $(TESTING)/.installed
	n=$$($(TESTING)/bin/python -m pip list 2>/dev/null | tail -n +3 | wc -l); \
		echo "packages with only [testing]: $$n (bound $(TESTING_MAX_PACKAGES))"; \
		test $$n -le $(TESTING_MAX_PACKAGES)
	cd .ci/users_suite && $(abspath $(TESTING))/bin/python -m pytest -q -p no:cacheprovider

# Every benchmark, one table on stdout (about 7 minutes on 2 cores); see docs/performance.md.
bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks

lint: $(VENV)/.test
	$(BIN)/python -m ruff check src tests benchmarks examples
	$(BIN)/python -m mypy

check: lint test

clean:
	rm -rf $(VENV) $(LOWEST) $(TESTING) node_modules .data .pytest_cache .mypy_cache .hypothesis
