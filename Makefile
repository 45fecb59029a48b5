# LiveStock: every habit is a target. `make demo` and `make test` bootstrap themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first python3.13 that runs (a pyenv shim may exist without working).
PY313 := $(shell for p in $(HOME)/.pyenv/versions/3.13*/bin/python3.13 $$(command -v python3.13); do "$$p" --version >/dev/null 2>&1 && { echo "$$p"; break; }; done)
VENV := .venv
SAM_VENV := .sam-venv
BIN := $(VENV)/bin
# sam build needs the runtime's interpreter (python3.13) on PATH.
export PATH := $(dir $(PY313)):$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: openapi java-check help bootstrap demo up invoke chaos test lint format typecheck template build unit integration bench bench-events bench-console clean

help:
	@echo "make demo   - run a simulated live sale on the local stack (no AWS account)"
	@echo "make test   - lint, type checks, template checks, then the test suite"
	@echo "make up     - run the local stack in the foreground (Ctrl-C stops it)"
	@echo "make invoke FN=<LogicalId> EVENT=events/...json - one function on one event (sam local invoke, without Docker)"
	@echo "make chaos  - the local stack's fault probes (bypass, stops, kill -9, catch-up, abuse) -> RELIABILITY.md"
	@echo "make bench  - flash-sale benchmark on DynamoDB Local"
	@echo "make bench-events - event latency, decrement to signed webhook, during a 64-client burst"
	@echo "make bench-console - console push latency (decrement -> DOM in headless Chromium) and 50 consoles' message rate"
	@echo "make lint | format | build | clean"

$(VENV)/.stamp: pyproject.toml layers/livestock/pyproject.toml
	@test -n "$(PY313)" || { echo "python3.13 is required (pyenv carries it on this kind of machine)"; exit 1; }
	@test -x $(BIN)/python || $(PY313) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e layers/livestock -e ".[dev]"
	@touch $@

$(SAM_VENV)/.stamp:
	@test -x $(SAM_VENV)/bin/python || $(PY313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

java-check:
	@command -v java >/dev/null || { echo "Java 17+ is required to run DynamoDB Local (apt-get install openjdk-17-jre-headless)"; exit 1; }

bootstrap: $(VENV)/.stamp node_modules/.stamp java-check

# make demo DEMO_ARGS="--watch-delay 20 --linger 600": time to open the console, and to look after.
demo: bootstrap
	$(BIN)/python -m livestock_local.demo $(DEMO_ARGS)

up: bootstrap
	$(BIN)/python -m livestock_local.stack

invoke: bootstrap
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=HoldsApiFunction EVENT=events/holds_api/place_hold.json"; exit 2; }
	$(BIN)/python -m livestock_local.invoke $(FN) $(EVENT)

# About 17 minutes: 10 stops, 10 kill -9 restarts, a 100,000-record stream history, the abuse probe,
# 2 minutes of schemathesis (`python -m livestock_local.chaos --only-fuzz` runs that alone).
chaos: bootstrap
	$(BIN)/python -m livestock_local.chaos

format: $(VENV)/.stamp
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: $(VENV)/.stamp $(SAM_VENV)/.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/livestock/livestock functions local tests
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1

build: $(SAM_VENV)/.stamp
	$(SAM_VENV)/bin/sam build --region us-east-1

# Unit tests (moto, in-process) run apart from the tests that start a local stack per worker.
test: bootstrap lint build
	$(BIN)/python -m pytest tests/unit -q
	$(BIN)/python -m pytest tests/integration tests/e2e -q -n 2 --dist loadfile

unit: $(VENV)/.stamp
	$(BIN)/python -m pytest tests/unit

bench: bootstrap
	$(BIN)/python -m livestock_local.bench

bench-events: bootstrap
	$(BIN)/python -m livestock_local.event_latency

# Needs Debian's chromium (apt-get install chromium).
bench-console: bootstrap
	$(BIN)/python -m livestock_local.console_bench $(BENCH_ARGS)

clean:
	rm -rf .aws-sam .state .pytest_cache .mypy_cache .ruff_cache

openapi: $(VENV)/.stamp
	$(BIN)/python -m livestock_local.openapi
