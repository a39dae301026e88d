# Two commands matter: `make dev` (serve the API locally) and `make test` (everything CI checks).
SHELL := /bin/bash
# Lambda runs python3.13, so the venv does too where one is installed (pyenv's, else PATH's), else python3.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: dev test lint typecheck templates openapi unit integration e2e artifacts bench install clean lock build deploy destroy

install: $(STAMP)

# The layer's lock first (hash-checked: the very files `sam build` ships), then the tools; a test fails if the
# second step moved any locked package.
$(STAMP): pyproject.toml layers/shared/requirements.txt
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing pinned dependencies into $(VENV) (first run takes about a minute)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r layers/shared/requirements.txt
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Re-resolve the layer's lock (every transitive dependency, with hashes) from its short input list.
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file layers/shared/requirements.txt layers/shared/requirements.in

# `make dev PORT=8080` (AWS_PORT=, LAMBDA_PORT=): make passes them on in the environment, where `serve` reads
# them; the defaults live in src/httpep/local/defaults.py.
dev: $(STAMP)
	$(BIN)/httpep serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy layers/shared src functions tests bench

templates: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template-file template.yaml --region $(AWS_DEFAULT_REGION)

# openapi.yaml from the functions' routes and models (tests/unit/project/test_openapi.py fails when it is stale).
openapi: $(STAMP)
	$(BIN)/python -m httpep.openapi --template template.yaml --output openapi.yaml

# Two workers for most tests; the sandbox's hostile-handler tests then run alone (they exhaust shared limits).
unit: $(STAMP)
	$(BIN)/pytest -n 2 -m "not serial" tests/unit
	$(BIN)/pytest -m serial tests/unit

# Function handlers and stores on moto's in-process AWS.
integration: $(STAMP)
	$(BIN)/pytest -n 2 tests/integration

# The local stack over HTTP (`pytest tests/e2e --stack NAME` runs the suite against a deployed stack).
e2e: $(STAMP)
	$(BIN)/pytest -n 2 tests/e2e

# `sam build` from the layer's lock, then every built function in a clean Python 3.13 against moto.
artifacts: $(STAMP)
	$(BIN)/pytest tests/artifacts

test: lint typecheck templates unit integration e2e artifacts

bench: $(STAMP)
	$(BIN)/python -m bench

# --- deployment. ENV picks a samconfig.toml environment (dev or prod). `sam build` looks for `python3.13` on
# PATH: the venv's own interpreter (Lambda's version) is put first.
ENV ?= dev

build: $(STAMP)
	@test -x $(BIN)/python3.13 || { echo "sam build needs Python 3.13: make clean, install it, make install"; exit 1; }
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build --config-env $(ENV)

deploy: build
	$(BIN)/sam deploy --config-env $(ENV)

# Deletes the stack; the tables and the script bucket are kept (DeletionPolicy: Retain, see README).
destroy: $(STAMP)
	$(BIN)/sam delete --config-env $(ENV)

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache bench/results-partial.json
