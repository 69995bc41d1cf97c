"""verify against hey on the same rehearsal: how fast verify sends requests, next to a Go load generator.

Starts a rehearsal (3 nginx replicas behind HAProxy's round robin, on free loopback ports), then, for
each round, runs verify and `hey -n N -c C -disable-compression URL` against one balancer node with
the same request count and concurrency. Prints each rate, the medians, verify/hey, and the machine.
Every wait is bounded; the rehearsal stops every process it started, also on Ctrl-C or an error.

    python bench/verify_vs_hey.py [--requests 20000] [--concurrency 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

# Run as a script (`python bench/verify_vs_hey.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal import Plan, Rehearsal, RehearsalError
from settings import parse_settings
from verify.cli import main as verify_main

HEY_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
# Per run: generous for 20,000 local requests (about 3 s for verify on 2 cores), short of a hang.
RUN_TIMEOUT_S = 120


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    models = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text()) if cpuinfo.exists() else []
    model = models[0].strip() if models else platform.processor() or "unknown CPU"
    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores ({model}), {system}"


def verify_rate(url_args: list[str], requests: int, concurrency: int) -> float:
    """Requests per second verify measured at, from its own report (sending time only, as hey's)."""
    argv = [*url_args, "--json", "--requests", str(requests), "--concurrency", str(concurrency), "--wait", "10"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = verify_main(argv)
    if code not in (0, 1):
        raise RuntimeError(f"verify could not measure (exit {code}): {stderr.getvalue().strip()}")
    report = json.loads(stdout.getvalue())
    return report["requests"] / report["elapsed_s"]


def hey_rate(hey: str, url: str, requests: int, concurrency: int) -> float:
    argv = [hey, "-n", str(requests), "-c", str(concurrency), "-t", "5", "-disable-compression", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True)
    found = HEY_RATE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"no Requests/sec in hey's output:\n{done.stdout}")
    return float(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="verify's request rate next to hey's, on one local rehearsal")
    parser.add_argument("--requests", type=int, default=20000, help="requests per run, both tools (default 20000)")
    parser.add_argument("--concurrency", type=int, default=10, help="connections, both tools (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool; medians are compared (default 3)")
    args = parser.parse_args(argv)

    hey = shutil.which("hey")
    if hey is None:
        print("bench: hey not found on PATH: install it with `apt-get install hey` or run `make deps`", file=sys.stderr)
        return 2
    settings = parse_settings({"replicas": 3, "algorithm": "round_robin"}, project="alb-replicas", stack="bench")
    plan = Plan.from_settings(settings).on_free_ports()
    print(f"machine: {machine()}")
    try:
        with Rehearsal(plan):
            # One node for both tools: hey cannot be told the rehearsal's name resolves to every node.
            node_url = f"http://{plan.node_ips[0]}:{plan.port}/"
            print(f"rehearsal: 3 replicas behind HAProxy {plan.haproxy_balance}, one node at {node_url}")
            print(f"each run: {args.requests} requests over {args.concurrency} connections")
            verify_rates, hey_rates = [], []
            for round_ in range(1, args.rounds + 1):
                started = time.monotonic()
                verify_args = [node_url, "--expect-replicas", "3"]
                verify_rates.append(verify_rate(verify_args, args.requests, args.concurrency))
                hey_rates.append(hey_rate(hey, node_url, args.requests, args.concurrency))
                print(
                    f"round {round_}: verify {verify_rates[-1]:,.0f} req/s, hey {hey_rates[-1]:,.0f} req/s"
                    f" ({time.monotonic() - started:.1f} s)"
                )
    except RehearsalError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    verify_median, hey_median = statistics.median(verify_rates), statistics.median(hey_rates)
    print(
        f"median: verify {verify_median:,.0f} req/s, hey {hey_median:,.0f} req/s,"
        f" verify/hey {verify_median / hey_median:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
