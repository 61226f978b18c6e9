# cstp — the verbs a newcomer expects. Every target creates .venv from the lock file if needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export ORT_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format check bench bench-quick image clean

$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("cstp needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## run: start the server on the embedded defaults (data in ./data, offline embeddings)
run: $(STAMP)
	$(BIN)/cstp-server

## lint: ruff (lint + format check), mypy --strict and the import-linter layer contracts
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## test: lint, type checks and the whole test suite (Chroma server, embedded store, Docker)
test: lint
	$(BIN)/pytest

check: test

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## bench: full benchmark suite (under 30 min); bench-quick: under 3 min
bench: $(STAMP)
	$(BIN)/python -m bench --mode full

bench-quick: $(STAMP)
	$(BIN)/python -m bench --mode quick

## image: build the Docker image (classic builder, host network for pip)
image:
	docker build --network host -t cstp:latest .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info src/*.egg-info
