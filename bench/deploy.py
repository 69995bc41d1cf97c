"""The deploy rehearsals: how long each strategy takes, how many requests fail, and the smallest clean drain.

First a 3-replica deploy at the dev stack's own timings (`python -m rehearsal --deploy`: health
checks every 5 s, 2 to healthy, a deregistration delay of 5 s), timed from start to exit. Then the
same deploy at shortened health checks (--time-scale) for each deregistration delay of --delays (in
the rehearsal's seconds), --repeats times each, and once without draining. Then each strategy of
--strategies beside a rolling deploy, at the same time scale and the dev stack's bake times
(`python -m rehearsal --deploy --strategy S --time-scale F`). Prints each run's deploy time,
verify's verdict and its failed requests. Every wait is bounded; every process started is stopped,
also on Ctrl-C or an error.

    python bench/deploy.py [--delays 0,0.1,0.5] [--repeats 2] [--time-scale 0.1]
                           [--strategies rolling,blue-green,linear:34,canary:10]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

# Run as a script (`python bench/deploy.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal import Plan, Rehearsal, RehearsalError
from rehearsal.deploy import deploy_while_verifying
from settings import from_stack_file
from stack_config import PROJECT_DIR

# A whole deploy rehearsal at dev's timings takes about 38 s; this only catches a hang.
RUN_TIMEOUT_S = 120


def dev_deploy() -> None:
    """`python -m rehearsal --deploy` as a person runs it, on free ports, timed from start to exit."""
    plan = Plan.from_settings(from_stack_file("dev")).on_free_ports()
    argv = [sys.executable, "-m", "rehearsal", "--deploy", "--port", str(plan.port)]
    argv += ["--replica-port", str(plan.replicas[0].port), "--", "--json"]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    report = json.loads(done.stdout)
    deploy_line = next((line for line in done.stderr.splitlines() if "deploy took" in line), "no deploy line")
    print(
        f"dev timings, 3 replicas: rehearsal {elapsed:.1f} s from start to exit (exit {done.returncode}); "
        f"{deploy_line.removeprefix('rehearsal: ')}; {report['requests']} requests, "
        f"{sum(report['errors'].values())} failed; verdict {report['verdict']}"
    )


def strategy_run(strategy: str, time_scale: float) -> None:
    """One `python -m rehearsal --deploy --strategy` run on free ports, timed from start to exit."""
    plan = Plan.from_settings(from_stack_file("dev")).on_free_ports()
    argv = [sys.executable, "-m", "rehearsal", "--deploy", "--strategy", strategy, "--time-scale", str(time_scale)]
    argv += ["--port", str(plan.port), "--replica-port", str(plan.replicas[0].port), "--", "--json"]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    report = json.loads(done.stdout)
    took = next((line for line in done.stderr.splitlines() if " took " in line or "rolled back" in line), "")
    seconds = took.split(" took ", 1)[1].split(" s", 1)[0] if " took " in took else "?"
    print(
        f"{strategy:<11} deploy {seconds:>5} s, {elapsed:5.1f} s from start to exit (exit {done.returncode}); "
        f"{report['requests']} requests, {sum(report['errors'].values())} failed; verdict {report['verdict']}"
    )


def sweep_run(plan: Plan, *, drain: bool) -> tuple[float, int, int, str]:
    """One deploy on a fresh rehearsal: (deploy seconds, requests, failed requests, verdict)."""
    with Rehearsal(plan) as running, tempfile.TemporaryFile("w+") as report_file:
        _, result = deploy_while_verifying(
            running, drain=drain, verify_extra=["--json"], out=io.StringIO(), verify_stdout=report_file
        )
        report_file.seek(0)
        report = json.load(report_file)
    return result.seconds, report["requests"], sum(report["errors"].values()), report["verdict"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the deploy rehearsal's duration and failed requests")
    parser.add_argument("--delays", default="0,0.1,0.5", help="deregistration delays to try, in seconds")
    parser.add_argument("--repeats", type=int, default=2, help="deploys per delay (default 2)")
    parser.add_argument("--time-scale", type=float, default=0.1, help="health check timings x this (default 0.1)")
    parser.add_argument(
        "--strategies",
        default="rolling,blue-green,linear:34,canary:10",
        help="deploy strategies to run side by side at --time-scale (default rolling,blue-green,linear:34,canary:10)",
    )
    args = parser.parse_args(argv)
    delays = [float(text) for text in args.delays.split(",")]

    try:
        dev_deploy()
        base = replace(
            Plan.from_settings(from_stack_file("dev")).on_free_ports(), time_scale=args.time_scale, immediate_stop=True
        ).with_deploy_slots()
        interval, lag = base.seconds(base.health.interval_seconds), base.seconds(base.node_lag_seconds)
        print(
            f"shortened: health checks every {interval:g} s, the last node learns of a deregistration "
            f"{lag:g} s after the first; deregistration delay as listed (dev: 5 s)"
        )
        for delay in delays:
            # The delay is a whole number of stack seconds, scaled: ask for it in the rehearsal's seconds.
            plan = replace(base, deregistration_delay_seconds=round(delay / args.time_scale))
            for _ in range(args.repeats):
                seconds, requests, failed, verdict = sweep_run(plan, drain=True)
                print(
                    f"delay {plan.seconds(plan.deregistration_delay_seconds):g} s: deploy {seconds:.1f} s, "
                    f"{requests} requests, {failed} failed, verdict {verdict}"
                )
        seconds, requests, failed, verdict = sweep_run(base, drain=False)
        print(f"no drain (killed): deploy {seconds:.1f} s, {requests} requests, {failed} failed, verdict {verdict}")
        dev = from_stack_file("dev")
        print(
            f"strategies at time scale {args.time_scale:g}, {dev.replicas} replicas, the dev stack's bake times "
            f"({base.seconds(dev.deployment_bake_minutes * 60):g} s bake, "
            f"{base.seconds(dev.deployment_step_bake_minutes * 60):g} s step bake):"
        )
        for strategy in args.strategies.split(","):
            strategy_run(strategy, args.time_scale)
    except (RehearsalError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
