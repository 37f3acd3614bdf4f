# Everything the project needs is installed by these targets: a fresh clone runs
# `make local` or `make test` and nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON ?= $(shell if [ -x "$(PYENV_ROOT)/versions/$(PYTHON_VERSION)/bin/python3" ]; then echo "$(PYENV_ROOT)/versions/$(PYTHON_VERSION)/bin/python3"; else command -v python3.13; fi)
UV_VERSION := 0.13.9
SAM_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
# The AWS CLI for make deploy-web; [crt]: CloudFront KeyValueStore's API is signed with SigV4A.
AWSCLI_VERSION := 1.46.3
TOOLS := .tools
UV := $(TOOLS)/uv/bin/uv
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
AWS := $(TOOLS)/awscli/bin/aws
# make deploy-waf / deploy-web ENV=dev|prod: the environment of samconfig.toml, and its main
# stack's name.
STACK ?= nexus-sales-$(ENV)
CHECK_ENV = @case "$(ENV)" in dev|prod) ;; *) echo "ENV=dev or ENV=prod, not '$(ENV)'"; exit 1;; esac
# The browser tests' browser: Debian's package (Playwright's own download is not reachable).
CHROMIUM := /usr/bin/chromium
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# sam build resolves python3.13 on PATH
export PATH := $(dir $(PYTHON)):$(PATH)

.PHONY: help
help:
	@echo "make local   start the local stack (HTTP API on 127.0.0.1:3000, web app on 127.0.0.1:8080)"
	@echo "make test    requirements drift, ruff, mypy, cfn-lint, checkov, sam build, all tests"
	@echo "make unit    unit tests only (no PostgreSQL, no network, no local stack): seconds"
	@echo "make bench   benchmarks: cold start, API, ingestion, Graph, isolation, funnel, plans, scale, web (page weights in Chromium)"
	@echo "make screens screenshots of every web page into docs/screens/ (Chromium, a stack of its own)"
	@echo "make chromium  install Debian's chromium for the browser tests (apt-get, as root or with sudo)"
	@echo "make walkthrough ARGS=account|commerce|connect|metrics   a README walk-through against make local"
	@echo "make invoke ARGS=events/<name>.json      a SAM CLI event through make local's Lambda API"
	@echo "make stripe ARGS=\"trigger <type> --order <id>\"   an event from make local's sandbox Stripe (also: events, resend, sessions)"
	@echo "make meta ARGS=\"deauthorize|data-deletion --user 5050\"   a signed Meta compliance callback to make local (also: status <code>)"
	@echo "make deploy-waf ENV=dev|prod   the web distribution's WAF stack (us-east-1; docs/deploy.md)"
	@echo "make deploy-web ENV=dev|prod   web/ onto the deployed stack: upload, file list, CloudFront invalidation"

$(PYTHON):
	@command -v pyenv >/dev/null && pyenv install -s $(PYTHON_VERSION) || { echo "Python $(PYTHON_VERSION) not found (install pyenv or python3.13)"; exit 1; }

$(UV): | $(PYTHON)
	@test -n "$(PYTHON)" || { echo "python $(PYTHON_VERSION) not found: run 'pyenv install $(PYTHON_VERSION)'"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON) --quiet
	@touch $@

$(SAM): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(TOOLS)/sam
	VIRTUAL_ENV=$(TOOLS)/sam $(UV) pip install --quiet aws-sam-cli==$(SAM_VERSION)

$(CHECKOV): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(TOOLS)/checkov
	VIRTUAL_ENV=$(TOOLS)/checkov $(UV) pip install --quiet checkov==$(CHECKOV_VERSION)

$(AWS): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(TOOLS)/awscli
	VIRTUAL_ENV=$(TOOLS)/awscli $(UV) pip install --quiet "awscli[crt]==$(AWSCLI_VERSION)"

# Node.js runs the CloudFront Functions' code in tests/toolchain; the machine image has it,
# a clean Debian machine without it gets Debian's package (CI runs as root).
.PHONY: node
node:
	@command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs; }

.PHONY: venv
venv: $(VENV)/.synced

$(CHROMIUM):
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq \
	  --no-install-recommends chromium fonts-dejavu-core

.PHONY: chromium
chromium: $(CHROMIUM)

EXPORT := $(UV) export --frozen --no-hashes --no-header --no-annotate --format requirements-txt --quiet

.PHONY: requirements
requirements: | $(UV)
	$(EXPORT) --no-dev -o layers/shared/requirements.txt
	$(EXPORT) --only-group crypto -o layers/crypto/requirements.txt

.PHONY: check-requirements
check-requirements: | $(UV)
	@$(EXPORT) --no-dev | diff -u layers/shared/requirements.txt - \
	  || { echo "layers/shared/requirements.txt drifted from uv.lock: run 'make requirements'"; exit 1; }
	@$(EXPORT) --only-group crypto | diff -u layers/crypto/requirements.txt - \
	  || { echo "layers/crypto/requirements.txt drifted from uv.lock: run 'make requirements'"; exit 1; }

.PHONY: lint
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/pylint --rcfile=pyproject.toml layers/shared/nexus functions

# sam validate --lint runs cfn-lint and fails on any error or warning; checkov fails on any
# failed check (the deliberate exceptions, each with its reason, are in .checkov.yaml).
.PHONY: validate
validate: $(SAM) $(CHECKOV)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template waf.yaml
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --config-file .checkov.yaml -f template.yaml -f waf.yaml --framework cloudformation --quiet --compact --skip-download

.PHONY: test
test: venv node $(AWS) check-requirements lint validate build chromium
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The inner loop: tests/unit never starts PostgreSQL nor spawns a tool (tests/toolchain does,
# and runs in make test). No unit test uses hypothesis: its plugin's import is 2 s saved.
.PHONY: unit
unit: venv
	$(VENV)/bin/pytest tests/unit -q -p no:hypothesispytest $(PYTEST_ARGS)

.PHONY: local
local: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_local $(ARGS)

.PHONY: bench
bench: venv
	PYTHONPATH=layers/shared:tools:. $(VENV)/bin/python -m bench $(ARGS)

# docs/screens/*.png: every page of the web app in Chromium, against a stack of its own.
.PHONY: screens
screens: venv chromium
	PYTHONPATH=layers/shared:tools:. $(VENV)/bin/python -m tests.browser.screens

# Lambda's code directories are read-only, so without shipped .pyc every cold start compiles
# from source (3.3x slower imports, see make bench). unchecked-hash: the zip's 2-second
# mtimes would otherwise invalidate timestamp-based .pyc files.
.PHONY: build
build: $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) build
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
	@test -n "$$(find .aws-sam/build/SharedLayer -name 'settings*.pyc' | head -1)" \
	  || { echo "build: no bytecode in SharedLayer"; exit 1; }

.PHONY: clean
clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .mypy_cache .ruff_cache .pytest_cache

.PHONY: openapi
openapi: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_local.openapi

.PHONY: migrate
migrate: venv
	PYTHONPATH=layers/shared $(VENV)/bin/python -m nexus.db.migrate

.PHONY: ops
ops: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_ops $(ARGS)

# The README's walk-throughs, run against the stack `make local` started (found through
# .local/stack.json): make walkthrough ARGS=account, commerce, connect or metrics; no ARGS for all.
.PHONY: walkthrough
walkthrough: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m walkthroughs $(ARGS)

# SAM CLI events (events/*.json) through the local stack's Lambda invoke API, each refreshed
# first (webhook signature, demo token); ARGS="<files> --output DIR" writes them for sam local.
.PHONY: invoke
invoke: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_local.invoke $(ARGS)

# make local's sandbox Stripe by hand, as `stripe trigger` does for a real account:
# ARGS="trigger <event type> [--order ID | --session cs_...]", "events", "resend evt_...", "sessions".
.PHONY: stripe
stripe: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_local.stripe_cli $(ARGS)

# Meta's compliance callbacks by hand, as Meta posts them: a signed_request (the stack's
# META_APP_SECRET) to make local's webhooks: ARGS="deauthorize --user 5050",
# "data-deletion --user 5050", "status <confirmation code>".
.PHONY: meta
meta: venv
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_local.meta_cli $(ARGS)

# The web distribution's WAF web ACL: its own stack in us-east-1, where CloudFront's web ACLs
# must be (samconfig.toml's waf-<env>); its WebAclArn output is the main stack's parameter.
.PHONY: deploy-waf
deploy-waf: $(SAM)
	$(CHECK_ENV)
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-env waf-$(ENV)

# web/ onto the stack STACK (nexus-sales-<ENV>), read from its outputs: upload with
# Cache-Control per kind of file, the file list in WebFilesStore, then CloudFront's
# invalidation (tools/nexus_ops/deploy_web.py; AWS credentials and the stack's region from
# the environment, as for sam deploy).
.PHONY: deploy-web
deploy-web: venv $(AWS)
	$(CHECK_ENV)
	PYTHONPATH=layers/shared:tools $(VENV)/bin/python -m nexus_ops.deploy_web --stack $(STACK) --aws $(AWS) $(ARGS)
