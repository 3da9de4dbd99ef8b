# Everything a fresh machine (Python 3.11, pip, make, git) needs is installed here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test lint types drift pytest docs bench-smoke bench bench-kalshi regenerate stress refresh refresh-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox]' --group dev
	touch $(STAMP)

## test: every gate: lint, format, types, drift check, tests, API reference, benchmark smoke run
# The quick gates first (a lint error fails in seconds); then the tests, with the API
# reference and the benchmark smoke run beside them: the smoke run mostly waits on its
# sandbox and subprocesses (about 20 s of CPU in its 70 s), so after pytest it was a
# minute of idle cores.
test: lint types drift
	$(MAKE) --no-print-directory -j3 pytest docs bench-smoke

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy --strict wrapper scripts  # the generated clients too (cancelkit._generated: the link to generated/)
	# Users' code as they write it: 0 errors, and every listed mistake caught.
	$(BIN)/mypy --strict tests/typing
	$(BIN)/basedpyright -p tests/typing/pyrightconfig.json

## docs: the API reference (mkdocs + mkdocstrings) into site/; any warning fails it
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

drift: $(STAMP)
	$(BIN)/python scripts/regenerate.py --check
	$(BIN)/python scripts/unasync.py --check  # each venue's sync client, from its async one

# Four workers on two cores: most tests wait on servers, subprocesses and deadlines
# (see pyproject), and the suite took 8.9 min with two, 4.7 with four.
pytest: $(STAMP)
	$(BIN)/pytest -n 4

## stress: every fault, soak and kill-switch test 20 times, and a 100,000-order kill
## switch through the CLI (not part of `make test`)
stress: $(STAMP)
	$(BIN)/pytest -m faults --count 20 -q -n 4
	CANCELKIT_STRESS=1 $(BIN)/pytest tests/test_operator.py -k hundred_thousand -q

# A few iterations of every benchmark, so the runner cannot rot; writes nothing.
bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks --smoke > /dev/null

## bench: the full benchmarks (a few minutes); rewrites benchmarks/RESULTS.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## bench-kalshi: Kalshi's benchmarks alone (a few minutes); rewrites their sections of RESULTS.md
bench-kalshi: $(STAMP)
	$(BIN)/python -m benchmarks --only kalshi

## regenerate: rewrite generated/ from specs/ (after a spec update)
regenerate: $(STAMP)
	$(BIN)/python scripts/regenerate.py

## refresh: fetch every page in specs/sources.yaml, report changes, update specs/ and the generated code
refresh: $(STAMP)
	$(BIN)/python scripts/refresh.py

## refresh-check: the same report; exit 1 if anything changed, write nothing (scheduled CI)
refresh-check: $(STAMP)
	$(BIN)/python scripts/refresh.py --check

## demo: the main job on the embedded sandbox
.PHONY: demo
demo: $(STAMP)
	$(BIN)/cancelkit demo
