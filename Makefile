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

.PHONY: openapi java-check help bootstrap demo up invoke sam-api sam-test chaos test lint format typecheck template build unit integration bench bench-events bench-sync bench-console clean

help:
	@echo "make demo   - run a simulated live sale on the local stack (no AWS account)"
	@echo "make test   - lint, type checks, template checks, then the test suite"
	@echo "make up     - run the local stack in the foreground (Ctrl-C stops it)"
	@echo "make invoke FN=<LogicalId> EVENT=events/...json - one function on one event (sam local invoke; in-process without Docker)"
	@echo "make sam-api - SAM's own local gateway (sam local start-api, Docker) on port 3001"
	@echo "make sam-test - the SAM CLI tests alone (Docker)"
	@echo "make chaos  - the local stack's fault probes (bypass, stops, kill -9, catch-up, abuse, fuzz, kill -9 mid-burst) -> RELIABILITY.md"
	@echo "make bench  - flash-sale benchmark on DynamoDB Local"
	@echo "make bench-events - event latency, decrement to signed webhook, during a 64-client burst"
	@echo "make bench-sync - platform sync lag, rate limits, stale overwrites, duplicate deltas during the burst"
	@echo "make bench-console - console push latency (decrement -> DOM in headless Chromium) and 50 consoles' message rate"
	@echo "make lint | format | build | clean"

$(VENV)/.stamp: pyproject.toml layers/livestock/pyproject.toml
	@test -n "$(PY313)" || { echo "python3.13 is required (pyenv carries it on this kind of machine)"; exit 1; }
	@test -x $(BIN)/python || $(PY313) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e "layers/livestock[review]" -e ".[dev]"
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

# `sam local invoke` in Docker against DynamoDB Local (data kept in .state/sam); where no Docker
# daemon answers, one line says so and the in-process invoker runs the function instead.
invoke: bootstrap $(SAM_VENV)/.stamp
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=HoldsApiFunction EVENT=events/holds_api/place_hold.json"; exit 2; }
	@$(BIN)/python -m livestock_local.sam invoke $(FN) $(EVENT)

# SAM's own local gateway (`sam local start-api`) on LIVESTOCK_SAM_API_PORT (3001): no API keys.
sam-api: bootstrap $(SAM_VENV)/.stamp
	@$(BIN)/python -m livestock_local.sam api

# The SAM CLI tests (tests/sam) need Docker and the Lambda Python 3.13 image. Where they cannot run,
# one line says why; LIVESTOCK_REQUIRE_SAM=1 (CI) makes that a failure. SAM_TIMING_FILE, if set,
# receives how many seconds they took.
define SAM_TESTS
	@reason="$$($(BIN)/python -m livestock_local.sam why-not)"; \
	if [ -z "$$reason" ]; then \
	  started=$$(date +%s); $(BIN)/python -m pytest tests/sam -q || exit 1; \
	  took=$$(( $$(date +%s) - started )); echo "SAM tests (tests/sam) took $$took s"; \
	  if [ -n "$$SAM_TIMING_FILE" ]; then echo "$$took" > "$$SAM_TIMING_FILE"; fi; \
	elif [ -n "$$LIVESTOCK_REQUIRE_SAM" ]; then echo "SAM tests (tests/sam) cannot run: $$reason" >&2; exit 1; \
	else echo "SAM tests (tests/sam) not run: $$reason"; fi
endef

sam-test: bootstrap build
	$(SAM_TESTS)

# About 17 minutes: 10 stops, 10 kill -9 restarts, a 100,000-record stream history, the abuse probe,
# 2 minutes of schemathesis (`python -m livestock_local.chaos --only-fuzz` runs that alone); then
# 3 kill -9 mid-burst runs each of the group, the stream consumer and the sweeper, 64 clients
# ordering 2,000 units' worth of 1,000 (`--only-burst` runs those alone; minutes each on this machine).
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

build: $(VENV)/.stamp $(SAM_VENV)/.stamp
	$(SAM_VENV)/bin/sam build --region us-east-1
	$(BIN)/python -c "from livestock_local.sam import compile_build; compile_build()"

# Unit tests (moto, in-process) run apart from the tests that start a local stack per worker; the
# tests that assert a latency or a deadline (marker `timing`) run after those, one stack alone.
test: bootstrap lint build
	$(BIN)/python -m pytest tests/unit -q -n 2
	$(BIN)/python -m pytest tests/integration tests/e2e -q -n 2 --dist loadfile -m "not timing"
	$(BIN)/python -m pytest tests/integration tests/e2e -q -m timing
	$(SAM_TESTS)

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

# Platform sync during the 8,000-order burst: lag to platform acknowledgement, rate limits, stale
# overwrites and duplicate deltas (the local stack with its fake platforms) -> BENCHMARKS.md.
bench-sync: bootstrap
	LIVESTOCK_FAKE_PLATFORMS=1 $(BIN)/python -m livestock_local.sync_bench
