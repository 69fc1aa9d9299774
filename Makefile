# The README's commands. `make synth` and `make test` install what they need first.
SHELL := /bin/bash
export PIPENV_VENV_IN_PROJECT := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_EC2_METADATA_DISABLED := true
export CHECKPOINT_DISABLE := 1
# Machines without registry access keep the AWS provider in a filesystem mirror (tools/mirror.py:
# TF_PROVIDER_MIRROR, or the default folder when it exists).
MIRROR_CONFIG := $(shell python3 -m tools.mirror)
ifneq ($(MIRROR_CONFIG),)
export TF_CLI_CONFIG_FILE := $(MIRROR_CONFIG)
endif

PYTHON := .venv/bin/python
# `make test` runs the suite on one worker more than the cores (pytest-xdist): much of it waits (the provider's
# fixed delays, health-check windows), and a third worker on 2 cores took it from 755 s to 615 s. TEST_WORKERS=0
# runs it in one process. Units (a module, or modules sharing one deployment or synth) stay whole on one
# worker: tests/conftest.py.
TEST_WORKERS := $(shell echo $$(( $$(nproc) + 1 )))
PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)
# `make demo ENV=prod`: the environment to run locally (default: the first in infra/environments.py). Taken
# from the command line only: an ENV in the shell's environment is often something else (sh's startup file).
# Quoted for the shell whatever it holds (python -m demo says when it names no environment).
DEMO_STACK := $(if $(filter command line,$(origin ENV)),--stack '$(subst ','\'',$(value ENV))')

.PHONY: setup paths synth test demo demo-down test-deploy mutation docs
setup: paths .venv/.synced node_modules/.synced

# Before anything is installed: a checkout too deep for Linux's path limit stops here, naming the limit
# (local/paths.py; standard library only). Run roots and sockets live in /tmp/notes-*, whatever the depth.
paths:
	@python3 -m local.paths --workdir .local-deploy

.venv/.synced: Pipfile.lock
	tools/setup.sh python
	touch $@

node_modules/.synced: package-lock.json
	tools/setup.sh node
	touch $@

## Write Terraform JSON for every stack into cdktf.out/
synth: setup
	$(PYTHON) main.py

## Regenerate the README's configuration reference from the field docs in infra/config.py (a test checks it)
docs: setup
	$(PYTHON) -m tools.config_reference --write

## Run every test (infra synth-and-assert, terraform validate, checkov, the app against PostgreSQL, the emulator)
test: setup
	tools/setup.sh postgres containers checkov check
	$(PYTHON) -m pytest $(PARALLEL)

## Deploy an environment's stack (ENV=name; default the first, dev) onto a local AWS emulator (moto, started in
## the background), run it here and print its URL. No AWS account or credentials; the emulator keeps running
## until `make demo-down`.
demo: setup
	tools/setup.sh containers check
	$(PYTHON) -m demo up $(DEMO_STACK)

## Destroy the demo deployment, then stop the emulator
demo-down:
	$(if $(wildcard $(PYTHON)),$(PYTHON) -m demo down $(DEMO_STACK),@echo "Nothing to stop: make demo has not run here.")

## Only the deploy cycle on the emulator (init, plan, apply, re-plan, change, lock, destroy; ~6 min)
test-deploy: setup
	tools/setup.sh check
	$(PYTHON) -m pytest tests/deploy

## Mutation testing of the validation code (infra/config.py, infra/policy.py, app/settings.py) against the
## fast tests, then each file's score (not part of `make test`; a few minutes; results in mutants/)
mutation: setup
	rm -rf mutants
	$(PYTHON) -m mutmut run
	$(PYTHON) bench/mutation_scores.py
