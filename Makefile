# qnx-hil: `make demo` and `make test` set up a fresh Debian/Ubuntu machine by themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HIL := $(VENV)/bin/hil
PYTEST_ARGS ?=

.PHONY: all deps venv image demo test quick unit hil bench dist clean distclean

all: test

deps:
	@scripts/install-host-deps

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

venv: deps $(VENV)/.installed

image: venv
	$(HIL) image build

# The `hil init` sample project's tests on the public QEMU target, with a JUnit report.
demo: image
	$(HIL) demo

# The whole suite: unit tests, qvmsim, the QEMU VMs, and the HIL suite on its four targets, on
# JOBS pytest-xdist workers grouped and ordered by tests/support/distribution.py (a VM target's
# tests on one worker, the long groups first).  JOBS=0: one process, no xdist.
JOBS ?= 4
XDIST = $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadgroup --suite-schedule)
test: image
	scripts/pytest -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

# ruff (lint and format) and mypy --strict, configured in pyproject.toml; .ci/run runs it before the tests.
LINT_PATHS := hil tests bench conftest.py
lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)
	$(VENV)/bin/ruff format $(LINT_PATHS)

unit: venv
	scripts/pytest tests/unit $(PYTEST_ARGS)

# The quick tier: model and pure-logic tests (no processes, VMs, sshd or ser2net; tests/support/tiers.py).
quick: venv
	scripts/pytest -p no:cacheprovider -q -m quick tests $(PYTEST_ARGS)

# HIL tests on one target, booting nothing else: make hil T=tests/hil/test_watchdog.py::test_no_bite_while_kicking
# (TARGET=local by default: no VM; TARGET=qemu boots that one VM).
T ?= tests/hil
TARGET ?= local
hil: venv
	scripts/pytest -p no:cacheprovider $(T) --hil-target $(TARGET) $(PYTEST_ARGS)

bench: image
	$(PY) bench/run_all.py

# The sdist and the wheel (what `pip install qnx-hil` installs), into dist/.
dist: venv
	$(PY) -m build --outdir dist .

clean:
	rm -rf artifacts reports build dist .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
