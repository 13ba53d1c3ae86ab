# One entry point for everything an operator or developer does locally.
# `make demo` and `make test` do all set-up on a fresh machine (Python 3.11, no AWS account).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAKE   ?= ./demo-lake
DEMO_PROVINCE ?= 42
DEMO_ENTITIES ?= 20000

.PHONY: help install demo test lint typecheck unit serve bench clean

help:
	@echo "make demo      generate a sample province, ingest it, classify it, draw a plan"
	@echo "make test      ruff + mypy + pytest (what CI runs)"
	@echo "make serve     serve the REST API locally on the demo lake"
	@echo "make bench     run the benchmarks under bench/"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m functions.demo --lake $(LAKE) --province $(DEMO_PROVINCE) --entities $(DEMO_ENTITIES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: lint typecheck
	$(BIN)/pytest

serve: $(STAMP)
	CREDITRISK_LAKE_URI=$(LAKE) $(BIN)/chalice local --port 8000 --no-autoreload

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache demo-lake
