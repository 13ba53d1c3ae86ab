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

.PHONY: help install demo test lint typecheck unit serve bench clean

help:
	@echo "make demo      generate a sample province, ingest it, classify it, draw a plan"
	@echo "make test      ruff + mypy + pytest (what CI runs)"
	@echo "make serve     serve the REST API locally on the demo lake"
	@echo "make bench     run the benchmarks under bench/"
	@echo "make package  build the deployment artifacts (STAGE=dev|prod) under build/package/"
	@echo "make checks   cfn-lint + checkov + parliament (IAM) on the CloudFormation templates"
	@echo "make rehearse the stacks on a moto server, per-role credentials, IAM simulator (docs/rehearsal.md)"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip>=23,<26.3"  # chalice 1.34 requires pip<26.3
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

# Headless Chromium + CJK fonts for the report test (issue 6); idempotent, apt only when missing.
CHROMIUM := $(VENV)/.chromium
$(CHROMIUM): | $(STAMP)
	@if [ ! -x /usr/bin/chromium ] || ! fc-list :lang=zh family 2>/dev/null | grep -q .; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk; \
	fi
	@test -x /usr/bin/chromium || { echo "chromium could not be installed; the report test will fail" >&2; exit 1; }
	touch $(CHROMIUM)

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Both cores: a file's tests stay on one worker (module fixtures). The schemathesis fuzz runs on
# its own afterwards: its cases share one node id, which xdist cannot schedule, and its summary
# test reads what the cases recorded in the same process.
FUZZ := tests/functional/test_api_openapi.py
test: lint typecheck checks $(CHROMIUM) $(IAM_SIM)
	$(BIN)/pytest -n 2 --dist loadfile --ignore=$(FUZZ)
	$(BIN)/pytest $(FUZZ)

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

.PHONY: package checks infra-templates

$(IAC_STAMP): infra/requirements-iac.txt
	test -x $(IAC_BIN)/python || $(PYTHON) -m venv $(IAC_VENV)
	$(IAC_BIN)/python -m pip install --quiet --upgrade pip
	$(IAC_BIN)/python -m pip install --quiet -r infra/requirements-iac.txt
	touch $(IAC_STAMP)

# The bootstrap and platform templates are generated; fail if the committed ones are stale.
infra-templates: $(STAMP)
	$(BIN)/python -m infra.bootstrap --check
	$(BIN)/python -m infra.platform --check
	$(BIN)/python -m infra.package --stage $(STAGE) --template-only

package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE)

TEMPLATES = infra/bootstrap.yaml infra/platform.yaml build/package/$(STAGE)/app.yaml

checks: $(STAMP) $(IAC_STAMP) infra-templates
	$(IAC_BIN)/cfn-lint $(TEMPLATES)
	$(IAC_BIN)/checkov --quiet --compact --skip-download --framework cloudformation \
		$(addprefix -f ,$(TEMPLATES))
	$(IAC_BIN)/python -m infra.iam_lint $(TEMPLATES)

# -- rehearsal (issue 12, docs/rehearsal.md) ------------------------------------------------------
# The IAM simulator is an npm package pinned by tools/iam-simulate/package-lock.json.
$(IAM_SIM): tools/iam-simulate/package.json tools/iam-simulate/package-lock.json
	cd tools/iam-simulate && npm ci --no-audit --no-fund --loglevel=error
	touch $(IAM_SIM)

.PHONY: rehearse rehearse-tools
rehearse-tools: $(IAM_SIM)

rehearse: $(STAMP) $(IAM_SIM)
	$(BIN)/pytest tests/rehearsal -p no:cacheprovider
