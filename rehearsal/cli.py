"""`python -m rehearsal`: the stack's replicas and a real HAProxy on loopback, then verify against them."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from enum import IntEnum
from typing import TextIO

from components.errors import SettingsError
from rehearsal.plan import DEFAULT_PORT, Plan
from rehearsal.processes import RehearsalError
from rehearsal.stage import Rehearsal, Running
from settings import from_stack_file


class ExitCode(IntEnum):
    """The rehearsal's own exit codes; otherwise it exits with verify's (0 even, 1 uneven, 2 could not measure)."""

    CANNOT_RUN = 2  # bad stack file, missing program, busy port, a process that would not start
    INTERRUPTED = 130  # Ctrl-C or SIGTERM before verify finished (verify's own code for it too)


def _port(text: str) -> int:
    if not text.isdigit() or not 1024 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1024 to 65535 (no privilege needed)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rehearsal",
        description=(
            "Rehearse the stack on this machine, no AWS account: one nginx replica per task, each on its own "
            "loopback address (zone i is 127.0.(i+1).0/24), behind a real HAProxy that routes like the ALB's "
            "target group; then run verify against it and exit with verify's exit code."
        ),
        epilog="Arguments after -- go to verify, e.g. python -m rehearsal -- --json --strict",
    )
    parser.add_argument("--stack", default="dev", help="the stack whose Pulumi.<stack>.yaml to rehearse (default: dev)")
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"HAProxy's port on 127.0.0.1 (default: {DEFAULT_PORT}; the ALB listens on 80, which needs privilege)",
    )
    parser.add_argument(
        "--replica-port",
        type=_port,
        help="the port every replica listens on, each on its own address (default: the stack's containerPort)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="after verify, leave everything up until Ctrl-C or SIGTERM, then stop it"
    )
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the rehearsal; every expected failure is one line on `out` (stderr) and exit code 2."""
    out = out if out is not None else sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    verify_extra = argv[split + 1 :]

    try:
        settings = from_stack_file(args.stack)
    except SettingsError as error:
        # One line: SettingsError lists one problem per line under a heading ("invalid stack settings:").
        heading, *problems = str(error).splitlines()
        print(f"rehearsal: {' '.join([heading, '; '.join(p.strip() for p in problems)]).strip()}", file=out)
        return ExitCode.CANNOT_RUN
    plan = Plan.from_settings(settings, port=args.port, replica_port=args.replica_port)

    # SIGTERM and SIGHUP stop the rehearsal the way Ctrl-C does: through the cleanup of `Rehearsal`.
    previous = {number: signal.signal(number, signal.default_int_handler) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with Rehearsal(plan) as running:
            _describe(running, settings.stack, out)
            code = _run_verify([*plan.verify_args(), *verify_extra], out)
            if args.keep and code != ExitCode.INTERRUPTED:  # Ctrl-C during verify stops, also with --keep
                _wait_for_stop(running, out)
        print("rehearsal: stopped the replicas and the balancer", file=out)
        return code
    except RehearsalError as error:
        print(f"rehearsal: {error}", file=out)
        if error.log:
            print(error.log.rstrip(), file=out)
        return ExitCode.CANNOT_RUN
    except KeyboardInterrupt:
        print("rehearsal: interrupted; everything it started is stopped", file=out)
        return ExitCode.INTERRUPTED
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _describe(running: Running, stack: str, out: TextIO) -> None:
    plan = running.plan
    print(f"rehearsal: stack {stack}: {len(plan.replicas)} replicas over {len(plan.zones)} zones", file=out)
    for replica in plan.replicas:
        print(f"  replica {replica.address} in {replica.zone.name} ({replica.zone.subnet})", file=out)
    print(f"  {plan.balancer} ({plan.balance}) at {plan.url}, the stand-in for the ALB on port 80", file=out)


def _run_verify(verify_argv: list[str], out: TextIO) -> int:
    from verify.cli import main as verify_main

    print(f"rehearsal: python -m verify {shlex.join(verify_argv)}", file=out)
    return verify_main(verify_argv)


def _wait_for_stop(running: Running, out: TextIO) -> None:
    """--keep: wait for Ctrl-C or SIGTERM; fail if the balancer dies meanwhile."""
    print(f"rehearsal: up at {running.url}; press Ctrl-C (or send SIGTERM) to stop everything", file=out, flush=True)
    try:
        while True:
            running.balancer.check()
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("rehearsal: stopping", file=out)
