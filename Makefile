# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint soak bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## Replay weeks of production traffic for a real model and watch it go wrong (SQLite, no setup).
demo: $(STAMP)
	$(BIN)/driftwatch --config demo/config.toml demo

## Install with test extras and run the whole suite (SQLite + PostgreSQL on 127.0.0.1:5432 + Chromium),
## after ruff and the import-linter contracts of pyproject.toml (dependencies run one way).
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider -n 2 -m "not slow"

## Headless Chromium for the report tests (Debian's package; skipped where apt is unavailable).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null) || \
		echo "chromium not installed: browser tests will be skipped"; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Long crash/fuzz runs (see docs/RELIABILITY.md).
soak: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m slow

clean:
	rm -rf $(VENV) demo-out reports *.db test-artifacts
