# One entry point for people and CI. Every target bootstraps what it needs:
# a fresh machine needs only python3, make and (for tests) root on Debian 12.
#
#   make converge   bootstrap the controller, then converge the Mac with site.yml
#   make setup      bootstrap everything the tests need (venv, collections, podman, test image,
#                   kube-apiserver built once per version from the Go module proxy)
#   make test       run every test: yamllint, ansible-lint, ansible-test sanity, units, molecule
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTIONS := .collections
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)
PLAYBOOK_ARGS ?=
MOLECULE_SCENARIOS ?= $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- bootstrap
$(BIN)/ansible-playbook: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(BIN)/molecule: requirements-test.txt constraints.txt $(BIN)/ansible-playbook
	$(BIN)/python -m pip install --quiet -r requirements-test.txt -c constraints.txt
	touch $@

$(COLLECTIONS)/.stamp: requirements.yml scripts/offline_collections.py $(BIN)/ansible-playbook
	$(BIN)/python scripts/offline_collections.py $(COLLECTIONS)
	touch $@

.PHONY: venv collections test-host kube-apiserver setup
venv: $(BIN)/ansible-playbook ## Create .venv with the pinned controller packages.
collections: $(COLLECTIONS)/.stamp ## Install pinned collections (offline route, no Galaxy).
test-host: ## Install podman and build the local Debian systemd image (cached).
	bash scripts/setup_test_host.sh
kube-apiserver: ## Build (or reuse, cached by version outside the tree) the kube-apiserver of the k8s tests.
	bash scripts/build-kube-apiserver.sh
setup: venv collections $(BIN)/molecule test-host kube-apiserver ## Everything the tests need, on a fresh Debian 12 machine.

# ---------------------------------------------------------------- main job
.PHONY: converge check
converge: venv collections ## Converge the Mac: ansible-playbook site.yml (PLAYBOOK_ARGS='--tags phase0').
	$(BIN)/ansible-playbook site.yml $(PLAYBOOK_ARGS)
check: venv collections ## Dry run of site.yml with diffs.
	$(BIN)/ansible-playbook site.yml --check --diff $(PLAYBOOK_ARGS)

# ---------------------------------------------------------------- tests
.PHONY: test lint yamllint ansible-lint sanity units molecule bench lock changelog
test: setup lint sanity units molecule ## Run every test; fails on the first failure.

lint: yamllint ansible-lint ## yamllint + ansible-lint (production profile, offline).
yamllint: $(BIN)/molecule
	$(BIN)/yamllint --strict .
# ansible-lint installs the linted collection into $$HOME/.ansible and then prefers that copy,
# which goes stale between runs: give it a throwaway HOME so it always sees this tree.
ansible-lint: $(BIN)/molecule collections
	rm -rf .cache/lint-home && mkdir -p .cache/lint-home
	HOME=$(CURDIR)/.cache/lint-home $(BIN)/ansible-lint --offline --profile production

sanity: $(BIN)/molecule collections ## ansible-test sanity, every test, offline pip bootstrap.
	bash scripts/ansible_test.sh sanity

units: $(BIN)/molecule collections ## Unit tests (pytest; the Convex stand-in runs in-process).
	bash scripts/ansible_test.sh units
	$(BIN)/python -m pytest -q -n 2 tests/roles

molecule: $(BIN)/molecule collections ## molecule test for every scenario.
	@for s in $(MOLECULE_SCENARIOS); do \
	  echo "== molecule test -s $$s"; \
	  $(BIN)/molecule test -s $$s || exit 1; \
	done

changelog: $(BIN)/molecule ## Lint the changelog fragments.
	$(BIN)/antsibull-changelog lint

lock: ## Re-resolve constraints.txt from requirements-test.txt.
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -r requirements-test.txt
	{ echo "# Full lock of the test venv (transitive pins). Regenerate with: make lock"; \
	  .lockvenv/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lockvenv

bench: $(BIN)/molecule collections ## Run every shipped benchmark (tests/bench/bench_*.py); fails after all ran if one missed its target.
	@rc=0; for f in tests/bench/bench_*.py; do [ -e "$$f" ] || continue; echo "== $$f"; $(BIN)/python "$$f" || rc=1; done; exit $$rc
