# The two commands a fresh machine needs: `make rehearsal` and `make test`.
PYTHON ?= python3
STACK ?= dev
# Debian installs haproxy and nginx in /usr/sbin, which not every user's PATH has.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: deps rehearsal test lint bench

deps:
	scripts/install-deps

# The whole flow on this machine, no AWS account: replicas + HAProxy on loopback, then verify.
rehearsal: deps
	$(PYTHON) -m rehearsal --stack $(STACK)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

test: deps lint
	$(PYTHON) -m pytest

# verify against hey on the same rehearsal; prints both rates and their ratio.
bench: deps
	$(PYTHON) bench/verify_vs_hey.py

# The policy pack's own virtualenv, the one PulumiPolicy.yaml names (`virtualenv: venv`, in policy/), for
# `pulumi preview --policy-pack policy`; made again when policy/requirements.txt changes.
.PHONY: policy-venv
policy-venv: policy/venv/.installed

policy/venv/.installed: policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@
