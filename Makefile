# One entry point for people and CI. Every target bootstraps what it needs:
# a fresh machine needs make, a Python >= 3.11 (found by scripts/find-python: PYTHON=..., Homebrew
# python@3.13/3.12, uv, or python3 on PATH) and (for tests) root on Debian 12.
#
#   make converge   bootstrap the controller, then converge the Mac with site.yml
#   make setup      bootstrap everything the tests need (venv, collections, podman, test image,
#                   kube-apiserver built once per version from the Go module proxy)
#   make test       run every test: yamllint, ansible-lint, ansible-test sanity, units, molecule
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Empty: scripts/find-python searches. Set it to force one interpreter (refused if older than 3.11).
PYTHON ?=
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTIONS := .collections
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(abspath $(BIN)):$(PATH)
PLAYBOOK_ARGS ?=
MOLECULE_SCENARIOS ?= $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- bootstrap
# A venv built from a Python older than 3.11 (macOS's Command Line Tools ship 3.9) cannot hold
# ansible-core 2.19: when the one present is such, its stamp is always out of date, and
# find-python --venv rebuilds it with --clear.
ifneq ($(wildcard $(BIN)/python),)
ifneq ($(shell bash scripts/find-python --check-venv $(VENV) 2>/dev/null && echo ok),ok)
.PHONY: $(BIN)/ansible-playbook
endif
endif

# pip's hash-checking mode: each file pip may install is named by its sha256 in a lock (make lock),
# a file whose hash is not listed is refused, and only wheels are taken (no sdist build runs setup
# code at install time). pip is upgraded first, to the pinned release, by hash too.
PIP_INSTALL = $(BIN)/python -m pip install --quiet --require-hashes --only-binary :all:

$(BIN)/ansible-playbook: requirements-pip.lock requirements.lock scripts/find-python
	PYTHON='$(PYTHON)' bash scripts/find-python --venv $(VENV)
	$(PIP_INSTALL) -r requirements-pip.lock
	$(PIP_INSTALL) -r requirements.lock
	touch $@

$(BIN)/molecule: requirements-test.lock $(BIN)/ansible-playbook
	$(PIP_INSTALL) -r requirements-test.lock
	touch $@

$(COLLECTIONS)/.stamp: requirements.yml tests/requirements.yml scripts/offline_collections.py $(BIN)/ansible-playbook
	$(BIN)/python scripts/offline_collections.py $(COLLECTIONS)
	touch $@

.PHONY: venv collections test-host kube-apiserver restic setup
venv: $(BIN)/ansible-playbook ## Create .venv with the pinned controller packages.
collections: $(COLLECTIONS)/.stamp ## Install pinned collections (offline route, no Galaxy).
test-host: ## Install podman and build the local Debian systemd image (cached).
	bash scripts/setup_test_host.sh
kube-apiserver: ## Build (or reuse, cached by version outside the tree) the kube-apiserver of the k8s tests.
	bash scripts/build-kube-apiserver.sh
restic: ## Build (or reuse, cached by version) the restic of the offsite tests; install OpenSSH's sshd for SFTP.
	bash scripts/build-restic.sh --with-sshd
setup: venv collections $(BIN)/molecule test-host kube-apiserver restic ## Everything the tests need, on a fresh Debian 12 machine.

# ---------------------------------------------------------------- main job
# Every playbook runs through scripts/run-playbook: the inventory is INVENTORY=..., else
# ANSIBLE_INVENTORY, else inventory/local.yml (the owner's copy), else the sample inventory/hosts.yml;
# --ask-vault-pass is added when that inventory (or group_vars/host_vars) holds "$$ANSIBLE_VAULT;"
# data and no vault password source is given (the script's header says exactly what it looks at).
# INVENTORY, BACKUP, CONFIRM and SHA reach the script through the environment: GNU make exports the
# variables given on its command line to every recipe.
RUN_PLAYBOOK = ANSIBLE_PLAYBOOK=$(abspath $(BIN))/ansible-playbook bash scripts/run-playbook

.PHONY: converge check health backup restore restore-verify upgrade
converge: venv collections ## Converge the Mac: ansible-playbook site.yml (PLAYBOOK_ARGS='--tags phase0').
	$(RUN_PLAYBOOK) converge $(PLAYBOOK_ARGS)
check: venv collections ## Dry run of site.yml with diffs.
	$(RUN_PLAYBOOK) check $(PLAYBOOK_ARGS)
health: venv collections ## One line per probe: playbooks/health.yml.
	$(RUN_PLAYBOOK) health $(PLAYBOOK_ARGS)
backup: venv collections ## A verified backup set now, then retention: playbooks/backup.yml.
	$(RUN_PLAYBOOK) backup $(PLAYBOOK_ARGS)
restore: venv collections ## Replace ALL data with a backup: BACKUP=latest|<zip name>; asks for the instance name (or CONFIRM=).
	$(RUN_PLAYBOOK) restore $(PLAYBOOK_ARGS)
restore-verify: venv collections ## Verify a backup set without restoring it: BACKUP=latest|<zip name>.
	$(RUN_PLAYBOOK) restore-verify $(PLAYBOOK_ARGS)
upgrade: venv collections ## Upgrade backend and dashboard: SHA=<full image sha>; export first, health gate after.
	$(RUN_PLAYBOOK) upgrade $(PLAYBOOK_ARGS)

# ---------------------------------------------------------------- tests
.PHONY: test lint yamllint ansible-lint sanity units molecule bench lock changelog
test: setup lint changelog sanity units molecule ## Run every test; fails on the first failure (and on an unexpected pytest skip).

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

units: $(BIN)/molecule collections ## Unit tests (pytest; the Convex stand-in runs in-process), role tests, script tests.
	bash scripts/ansible_test.sh units
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup tests/roles tests/scripts

molecule: $(BIN)/molecule collections ## molecule test for every scenario.
	@for s in $(MOLECULE_SCENARIOS); do \
	  echo "== molecule test -s $$s"; \
	  $(BIN)/molecule test -s $$s || exit 1; \
	done

changelog: $(BIN)/molecule ## Lint the changelog fragments.
	$(BIN)/antsibull-changelog lint

# The locks (*.lock) are written by pip-tools from the *.txt files: every package, dependencies
# included, pinned with the sha256 of every wheel of that release on the index (all platforms), so
# the controller lock installs on the Mac (macOS arm64, Homebrew Python 3.12/3.13) as well as here.
# Existing pins are kept unless an input changed (deterministic); LOCK_ARGS=--upgrade moves them.
# The test lock is resolved under the controller lock (-c), so both venvs share every version.
# Run it on the Debian 12 test machine (Python 3.11): the header records the Python it ran on.
LOCK_VENV := .lockvenv
LOCK_ARGS ?=
MAC_PLATFORM := macosx_14_0_arm64
MAC_PYTHONS := 3.12 3.13
PIP_COMPILE = CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_VENV)/bin/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url \
	--no-emit-trusted-host --pip-args '--only-binary :all:' $(LOCK_ARGS)
lock: ## Re-resolve the hash-pinned locks (requirements*.lock) from requirements*.txt; needs PyPI only.
	rm -rf $(LOCK_VENV) && PYTHON='$(PYTHON)' bash scripts/find-python --venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --require-hashes --only-binary :all: -r requirements-pip.lock
	$(LOCK_VENV)/bin/python -m pip install --quiet --require-hashes --only-binary :all: -r requirements-piptools.lock
	$(PIP_COMPILE) --output-file requirements-pip.lock requirements-pip.txt
	$(PIP_COMPILE) -c requirements-pip.lock --output-file requirements-piptools.lock requirements-piptools.txt
	$(PIP_COMPILE) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) -c requirements.lock --output-file requirements-test.lock requirements-test.txt
	@# The controller lock must install on the Mac: fetch its wheels for macOS arm64 under each
	@# Homebrew Python, in hash-checking mode (a release without such a wheel, or a hash missing
	@# from the lock, stops here).
	for py in $(MAC_PYTHONS); do \
	  $(LOCK_VENV)/bin/python -m pip download --quiet --require-hashes --only-binary :all: \
	    --platform $(MAC_PLATFORM) --implementation cp --python-version $$py --abi cp$${py/./} \
	    -r requirements-pip.lock -r requirements.lock -d $(LOCK_VENV)/mac-$$py; \
	done
	rm -rf $(LOCK_VENV)

bench: $(BIN)/molecule collections ## Run every shipped benchmark (tests/bench/bench_*.py); fails after all ran if one missed its target.
	@rc=0; for f in tests/bench/bench_*.py; do [ -e "$$f" ] || continue; echo "== $$f"; $(BIN)/python "$$f" || rc=1; done; exit $$rc
