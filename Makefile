# The two commands a newcomer needs are `make demo` and `make test`; the rest are for developers.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed-stamp
# Debian packages the test suite needs (installed only when missing).
TEST_DEBS = chromium systemd iproute2 openssh-server nftables

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

soak: setup
	$(BIN)/pytest -m soak

bench: setup
	scripts/system-packages.sh gcc libc6-dev
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build artifacts .pytest_cache .mypy_cache .ruff_cache
