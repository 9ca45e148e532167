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

# The modules setup.py compiles with mypyc, built in place; built again whenever a source of the three
# packages changes (compiled code relies on what it imports from them), after removing the old ones so a
# failed build leaves the sources in charge. A machine without a C compiler stays pure Python.
COMPILED_PACKAGES := protocol storage resolver
SOURCES := $(shell find $(COMPILED_PACKAGES) -name '*.py')
COMPILED := $(VENV)/.compiled

# The modules and the stamp carry the time the build started, not ended: a source edited during the build is
# newer than both, so the next `make` compiles again and the tests' check (tests/conftest.py) refuses the old
# modules, where a stamp taken at the end hid the edit.
$(COMPILED): $(STAMP) setup.py $(SOURCES)
	touch $(COMPILED).started
	find $(COMPILED_PACKAGES) -name '*.so' -delete
	$(BIN)/python setup.py --quiet build_ext --inplace
	find $(COMPILED_PACKAGES) -name '*.so' -exec touch -r $(COMPILED).started {} +  # copies keep old times
	mv $(COMPILED).started $(COMPILED)

run: $(COMPILED)
	$(BIN)/resolver demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs on the compiled modules (what the node runs), then again on their sources (what a machine
# without a compiler runs).
test: lint $(COMPILED)
	$(BIN)/python -m pytest -q
	IDNODE_PURE_PYTHON=1 $(BIN)/python -m pytest -q

bench: $(COMPILED)
	$(BIN)/loadtest bench --output BENCHMARKS.md

clean:
	rm -rf $(VENV) var build .pytest_cache .mypy_cache .ruff_cache
	find $(COMPILED_PACKAGES) -name '*.so' -delete
