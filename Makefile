# Every target creates .venv if missing and installs the project into it; nothing needs root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

# constraints.txt: the exact versions the suite last passed with (a new ruff, mypy or aiohttp cannot break
# a fresh machine's build); pyproject.toml keeps the ranges.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c constraints.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/resolver demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/loadtest bench --output BENCHMARKS.md

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
