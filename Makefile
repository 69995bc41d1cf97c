# The two commands a fresh machine needs: `make rehearsal` and `make test`.
# Every target runs the Python of venv/, the virtual environment scripts/install-deps creates and
# `pulumi up` uses too (Pulumi.yaml: runtime.options.virtualenv).
PYTHON := venv/bin/python
STACK ?= dev
# Debian installs haproxy and nginx in /usr/sbin, which not every user's PATH has.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: deps rehearsal test test-under-load lint bench bench-deploy bench-interrupt bench-logs bench-report bench-ipv6 bench-hook

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

# The tests while stress-ng --cpu 4 runs beside them (load 8 or more on 2 cores), RUNS times in a row
# (default 1); the hog stops whatever happens. HOG_CPUS=8 for a harder one.
test-under-load: deps lint
	scripts/test-under-load

# verify against hey on the same rehearsal; prints both rates and their ratio.
bench: deps
	$(PYTHON) bench/verify_vs_hey.py

# verify's request rate over IPv6 next to IPv4 on loopback (one nginx replica on 127.0.0.1 and ::1): medians, ratio.
bench-ipv6: deps
	$(PYTHON) bench/verify_ipv6.py

# verify --access-logs' reader against the simplest plain Python loop over 8 million generated ALB log lines
# in 4 gzip files: the machine's load, lines per second of each, the ratio, peak memory.
bench-logs: deps
	$(PYTHON) bench/logs.py

# verify --report's HTML page: matplotlib's load time, each page's render time and size, up to the largest run.
bench-report: deps
	$(PYTHON) bench/report.py

# The deploy rehearsal at dev's timings, then by deregistration delay: durations and failed requests.
bench-deploy: deps
	$(PYTHON) bench/deploy.py

# A Fargate Spot interruption rehearsed at dev's timings, with the replica's stop delay and without
# it (--no-drain): the time the stop took and the failed requests of each.
bench-interrupt: deps
	$(PYTHON) bench/interrupt.py

# The deploy hook: its package's size, its handler's cold import, and each stage's decision time in a
# canary:10 rehearsal at dev's timings (about 7 minutes).
bench-hook: deps
	$(PYTHON) bench/hook.py

# The policy pack's own virtualenv, the one PulumiPolicy.yaml names (`virtualenv: venv`, in policy/), for
# `pulumi preview --policy-pack policy`; made again when policy/requirements.txt changes.
.PHONY: policy-venv
policy-venv: policy/venv/.installed

# The distribution's python3, as scripts/install-deps uses for venv/ (which may not exist yet).
policy/venv/.installed: policy/requirements.txt
	python3 -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@
