"""Fargate Spot interruptions rehearsed: failed requests with the replica's stop delay and without it.

`python -m rehearsal --interrupt N` as a person runs it, at the dev stack's own timings (or shortened
with --time-scale): SIGTERM to N registered replicas while verify measures, each replica failing its
health checks while it serves before it stops gracefully; then the same with --no-drain, the stop at
once that the replicas had before. Prints, for each, the time the stop took, verify's requests and
its failed requests, and the exit code. Every wait is bounded; every process started is stopped.

    python bench/interrupt.py [--interrupt 1] [--time-scale 1] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

# Run as a script (`python bench/interrupt.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal import Plan
from settings import from_stack_file
from stack_config import PROJECT_DIR

# An interruption rehearsal at dev's timings takes about 25 s; this only catches a hang.
RUN_TIMEOUT_S = 120


def interrupt_run(count: int, time_scale: float, *, immediate: bool) -> str:
    """One `python -m rehearsal --interrupt` on free ports: a line with its numbers."""
    plan = Plan.from_settings(from_stack_file("dev")).on_free_ports()
    argv = [sys.executable, "-m", "rehearsal", "--interrupt", str(count), *(["--no-drain"] if immediate else [])]
    argv += ["--port", str(plan.port), "--replica-port", str(plan.replicas[0].port)]
    argv += ["--time-scale", f"{time_scale:g}", "--", "--json"]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    report = json.loads(done.stdout)
    took = re.search(r"the stop took ([\d.]+) s", done.stderr)
    failed = sum(report["errors"].values())
    return (
        f"{'immediate stop (--no-drain)' if immediate else 'stop delay'}: the stop took "
        f"{took.group(1) if took else '?'} s; {failed} of {report['requests']} requests failed; verdict "
        f"{report['verdict']}; exit {done.returncode}; rehearsal {elapsed:.1f} s from start to exit"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spot interruptions rehearsed: failed requests with and without")
    parser.add_argument("--interrupt", type=int, default=1, help="replicas interrupted at once (default 1)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="the stack's timings x this (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (default 1)")
    args = parser.parse_args(argv)

    plan = Plan.from_settings(from_stack_file("dev"))
    stop = plan.stop_timing
    print(
        f"dev stack, {len(plan.replicas)} replicas, --interrupt {args.interrupt}, timings x {args.time_scale:g}: "
        f"stop delay {stop.delay_seconds} s (unhealthy threshold {plan.health.unhealthy_threshold} x "
        f"{plan.health.interval_seconds} s + {plan.node_lag_seconds} s node lag), stop timeout {stop.timeout_seconds} s"
    )
    try:
        for _ in range(args.repeats):
            for immediate in (False, True):
                print(interrupt_run(args.interrupt, args.time_scale, immediate=immediate), flush=True)
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
