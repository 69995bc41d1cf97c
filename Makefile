# The two commands a fresh machine needs: `make rehearsal` and `make test`.
# Every target runs the Python of venv/, the virtual environment scripts/install-deps creates and
# `pulumi up` uses too (Pulumi.yaml: runtime.options.virtualenv).
PYTHON := venv/bin/python
STACK ?= dev
# Debian installs haproxy and nginx in /usr/sbin, which not every user's PATH has.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: deps rehearsal test lint bench

deps:
	scripts/install-deps

# The whole flow on this machine, no AWS account: replicas + HAProxy on loopback, then verify.
rehearsal: deps
	$(PYTHON) -m rehearsal --stack $(STACK)

lint: deps
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

test: deps lint
	$(PYTHON) -m pytest

# verify against hey on the same rehearsal; prints both rates and their ratio.
bench: deps
	$(PYTHON) bench/verify_vs_hey.py
