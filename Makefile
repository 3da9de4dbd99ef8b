# Everything a fresh machine (Python 3.11, pip, make, git) needs is installed here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test lint types drift pytest regenerate

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: every gate: lint, format, types, drift check, tests
test: lint types drift pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy --strict wrapper scripts
	$(BIN)/mypy generated/polymarket_us_api generated/limitless_api

drift: $(STAMP)
	$(BIN)/python scripts/regenerate.py --check

pytest: $(STAMP)
	$(BIN)/pytest

## regenerate: rewrite generated/ from specs/ (after a spec update)
regenerate: $(STAMP)
	$(BIN)/python scripts/regenerate.py

## demo: the main job on the embedded sandbox
.PHONY: demo
demo: $(STAMP)
	$(BIN)/cancelkit demo
