# The two commands a newcomer needs are `make demo` and `make test`; the rest are for developers.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed-stamp
# Debian packages the test suite needs (installed only when missing).
TEST_DEBS = chromium systemd iproute2 faketime poppler-utils

.PHONY: setup demo test soak bench lint clean

$(STAMP): pyproject.toml
	scripts/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

test: setup
	scripts/system-packages.sh $(TEST_DEBS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest
	@echo "== the unit tests again with the clock a year ahead (no test may depend on today's date)"
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '+365d' $(BIN)/pytest -q -p no:cacheprovider tests/unit

soak: setup
	$(BIN)/pytest -m soak

bench: setup
	scripts/system-packages.sh gcc libc6-dev iproute2 ethtool
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build artifacts .pytest_cache .mypy_cache .ruff_cache
