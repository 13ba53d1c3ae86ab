# One entry point for everything an operator or developer does locally.
# `make demo` and `make test` do all set-up on a fresh machine (Python 3.11, no AWS account).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
IAM_SIM := tools/iam-simulate/node_modules/.installed
LAKE   ?= ./demo-lake
DEMO_PROVINCE ?= 42
DEMO_ENTITIES ?= 20000

.PHONY: help install demo test test-all suite fuzz lint typecheck unit serve bench clean

help:
	@echo "make demo      generate a sample province, ingest it, classify it, draw a plan"
	@echo "make test      ruff + mypy + pytest (what CI runs)"
	@echo "make serve     serve the REST API locally on the demo lake"
	@echo "make bench     run the benchmarks under bench/"
	@echo "make package  build the deployment artifacts (STAGE=dev|prod) under build/package/"
	@echo "make checks   cfn-lint + checkov + parliament (IAM) on the CloudFormation templates"
	@echo "make rehearse the stacks on a moto server, per-role credentials, IAM simulator (docs/rehearsal.md)"

# uv (from PyPI, pinned) installs both venvs: one resolver pass, parallel downloads, no bytecode
# compiled for modules never imported; pip stays in .venv for `chalice package` (docs/adr/0135).
UV_VERSION := 0.13.8
UV := $(BIN)/uv
$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(UV)
	# chalice 1.34 requires pip<26.3
	$(UV) pip install --quiet --python $(BIN)/python "pip>=23,<26.3" -r requirements-dev.txt
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m functions.demo --lake $(LAKE) --province $(DEMO_PROVINCE) --entities $(DEMO_ENTITIES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Headless Chromium + CJK fonts for the report test (issue 6); idempotent, apt only when missing.
CHROMIUM := $(VENV)/.chromium
$(CHROMIUM): | $(STAMP)
	@if [ ! -x /usr/bin/chromium ] || ! fc-list :lang=zh family 2>/dev/null | grep -q .; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk; \
	fi
	@test -x /usr/bin/chromium || { echo "chromium could not be installed; the report test will fail" >&2; exit 1; }
	touch $(CHROMIUM)

# Bytecode for the test steps (docs/adr/0159). uv installs without compiling (ADR 0135: a module
# is compiled when first imported), but where PYTHONDONTWRITEBYTECODE is set (it is in the shells
# the fresh-clone runs were measured in) nothing is ever written, so every process the suite starts
# (each CLI subprocess) compiled pandas, pyarrow, botocore and the project from source again.
# These steps write it, into one folder in the venv rather than __pycache__ beside the sources.
PYC := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache

unit: $(STAMP)
	$(PYC) $(BIN)/pytest tests/unit

# `make test` = a parallel make of test-all (docs/adr/0135): the set-up steps run side by side,
# then the suite, the fuzz, lint, mypy and the IaC checks all share the two cores. Output is
# grouped per step (--output-sync); the first failing step fails `make test`, the others finish.
TEST_JOBS ?= 6
test:
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target -k test-all

test-all: lint typecheck checks suite fuzz

# Both cores: a file's tests stay on one worker (module fixtures). After infra-templates: the
# infra tests reuse build/package/dev by input hash instead of rebuilding it under checkov's feet.
FUZZ := tests/functional/test_api_openapi.py
suite: $(STAMP) $(CHROMIUM) $(IAM_SIM) infra-templates
	$(PYC) $(BIN)/pytest -n 2 --dist loadfile --ignore=$(FUZZ) --durations=15

# The schemathesis fuzz in its own process, beside the suite: its cases share one node id, which
# xdist cannot schedule, and its summary test reads what the cases recorded in the same process.
# Own cache dir: two pytest processes must not rewrite one lastfailed file.
fuzz: $(STAMP)
	$(PYC) $(BIN)/pytest $(FUZZ) -o cache_dir=.pytest_cache/fuzz --durations=5

serve: $(STAMP)
	CREDITRISK_LAKE_URI=$(LAKE) $(BIN)/chalice local --port 8000 --no-autoreload

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache demo-lake

# -- deployment (issue 5, docs/deploy.md) --------------------------------------------------------
STAGE    ?= dev
IAC_VENV ?= .venv-iac
IAC_BIN  := $(IAC_VENV)/bin
IAC_STAMP := $(IAC_VENV)/.installed

.PHONY: package checks checks-cfn-lint checks-checkov checks-iam infra-templates

# Its own venv (docs/adr/0056), installed by .venv's uv: files shared with .venv come from uv's cache.
$(IAC_STAMP): infra/requirements-iac.txt | $(UV)
	test -x $(IAC_BIN)/python || $(PYTHON) -m venv --without-pip $(IAC_VENV)
	$(UV) pip install --quiet --python $(IAC_BIN)/python -r infra/requirements-iac.txt
	touch $(IAC_STAMP)

# The bootstrap and platform templates are generated; fail if the committed ones are stale.
infra-templates: $(STAMP)
	$(PYC) $(BIN)/python -m infra.bootstrap --check
	$(PYC) $(BIN)/python -m infra.platform --check
	$(PYC) $(BIN)/python -m infra.package --stage $(STAGE) --template-only

package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE)

TEMPLATES = infra/bootstrap.yaml infra/platform.yaml build/package/$(STAGE)/app.yaml

# Three independent linters: separate targets, so a parallel make (make test) runs them side by side.
checks: checks-cfn-lint checks-checkov checks-iam

checks-cfn-lint: $(IAC_STAMP) infra-templates
	$(IAC_BIN)/cfn-lint $(TEMPLATES)

checks-checkov: $(IAC_STAMP) infra-templates
	$(IAC_BIN)/checkov --quiet --compact --skip-download --framework cloudformation \
		$(addprefix -f ,$(TEMPLATES))

checks-iam: $(IAC_STAMP) infra-templates
	$(IAC_BIN)/python -m infra.iam_lint $(TEMPLATES)

# -- rehearsal (issue 12, docs/rehearsal.md) ------------------------------------------------------
# The IAM simulator is an npm package pinned by tools/iam-simulate/package-lock.json.
$(IAM_SIM): tools/iam-simulate/package.json tools/iam-simulate/package-lock.json
	cd tools/iam-simulate && npm ci --no-audit --no-fund --loglevel=error
	touch $(IAM_SIM)

.PHONY: rehearse rehearse-tools
rehearse-tools: $(IAM_SIM)

rehearse: $(STAMP) $(IAM_SIM)
	$(PYC) $(BIN)/pytest tests/rehearsal -p no:cacheprovider
