"""`python -m verify [URL] [options]`: is every replica serving, and is the split even?

`main(argv) -> int` is the one place where exceptions become exit codes (`ExitCode`).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import NoReturn

from verify.client import Identity, Target, Workload
from verify.errors import CouldNotMeasure
from verify.judge import ALGORITHMS, ROUND_ROBIN, Expectation, default_requests, judge
from verify.readiness import wait_for_ready
from verify.render import ProgressPrinter, error_json, render_report, report_json, write_json
from verify.sending import send_requests
from verify.stack import read_stack_outputs


class ExitCode(IntEnum):
    EVEN = 0  # every replica answered, the split is even, errors within bounds, nothing sticky
    UNEVEN = 1  # any of those failed: the reason line says which, with numbers
    COULD_NOT_MEASURE = 2  # bad URL or arguments, no name, nothing answering in time
    INTERRUPTED = 130  # Ctrl-C


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a CouldNotMeasure (one line, exit 2), not usage text on stderr."""

    def error(self, message: str) -> NoReturn:
        raise CouldNotMeasure(f"{message} (see python -m verify --help)")


def _number(
    kind: Callable[[str], float], low: float, high: float | None = None, *, above: bool = False
) -> Callable[[str], float]:
    """An argparse type: a number in [low, high] (or above low), naming the bad value and the range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        too_low = value <= low if above else value < low
        if too_low or (high is not None and value > high):
            bound = f"above {low:g}" if above else f"at least {low:g}"
            raise argparse.ArgumentTypeError(
                f"{text} must be {bound}" + (f" and at most {high:g}" if high is not None else "")
            )
        return value

    return parse


def _subnet(text: str) -> tuple[str, str]:
    cidr, _, zone = text.partition("=")
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use CIDR=ZONE, e.g. 10.0.1.0/24=us-east-1a") from None
    if not zone.strip():
        raise argparse.ArgumentTypeError(f"{text!r} names no zone: use CIDR=ZONE, e.g. 10.0.1.0/24=us-east-1a")
    return str(network), zone.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m verify",
        description=(
            "Send requests to the load balancer and judge whether every replica answers and the split is even. "
            "Exit 0 even, 1 uneven, 2 could not measure, 130 interrupted."
        ),
    )
    parser.add_argument(
        "url", nargs="?", help="http:// or https:// URL to measure; without it, the Pulumi stack's outputs are read"
    )
    parser.add_argument("--stack", metavar="NAME", help="Pulumi stack to read outputs from (default: the current one)")
    parser.add_argument(
        "--requests",
        type=_number(int, 1),
        metavar="N",
        help="requests to send (default: max(300, 130 x expected replicas), enough to catch one replica at 1.5x"
        " its share 90%% of the time at alpha 0.01)",
    )
    parser.add_argument(
        "--concurrency", type=_number(int, 1, 1000), default=10, metavar="C", help="kept-alive connections (default 10)"
    )
    parser.add_argument(
        "--timeout", type=_number(float, 0, above=True), default=5.0, metavar="SECONDS", help="per request (default 5)"
    )
    parser.add_argument(
        "--wait",
        type=_number(float, 0),
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the name to resolve and every replica to answer once (default 300)",
    )
    parser.add_argument(
        "--expect-replicas",
        type=_number(int, 1),
        metavar="K",
        help="replicas that must answer (default: the stack's replicas, up to max_replicas when it autoscales;"
        " with a bare URL, the replicas seen while warming up, count not checked)",
    )
    parser.add_argument(
        "--identity",
        default="json:replica",
        metavar="SPEC",
        help="how to tell which replica answered: json:FIELD, header:NAME or body (default json:replica)",
    )
    parser.add_argument(
        "--subnet",
        type=_subnet,
        action="append",
        default=[],
        metavar="CIDR=ZONE",
        help="zone of the replicas whose id is an IP in CIDR, for a per-zone breakdown (repeatable; also read"
        " from the stack's replica_subnets output)",
    )
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        help="the target group's routing algorithm (default: the stack's algorithm output, else round_robin)",
    )
    parser.add_argument(
        "--nodes",
        type=_number(int, 1),
        metavar="N",
        help="balancer nodes behind the name, for --strict (default: the number of addresses it resolves to)",
    )
    parser.add_argument(
        "--alpha",
        type=_number(float, 0, 1, above=True),
        default=0.01,
        help="significance level of the chi-square test (default 0.01)",
    )
    parser.add_argument(
        "--max-error-rate",
        type=_number(float, 0, 1),
        default=0.01,
        metavar="FRACTION",
        help="largest fraction of failed requests that still passes (default 0.01)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also demand max - min <= balancer nodes (round robin only: each node's rotation is exact)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else there")
    return parser


@dataclasses.dataclass(frozen=True)
class _Run:
    target: Target
    workload: Workload
    requests: int | None  # None: the default for the replicas expected (or seen while warming up)
    expectation: Expectation
    json: bool


def _settle(args: argparse.Namespace) -> _Run:
    """The run's settings: flags first, then the stack's outputs (read only when there is no URL)."""
    stack = None if args.url else read_stack_outputs(args.stack)
    target = Target.parse(args.url or stack.url)
    if args.expect_replicas is not None:
        replica_range: tuple[int, int] | None = (args.expect_replicas, args.expect_replicas)
    elif stack is not None and stack.replicas is not None:
        replica_range = (stack.replicas, max(stack.replicas, stack.max_replicas or stack.replicas))
    else:
        replica_range = None
    algorithm = args.algorithm or (stack.algorithm if stack else None) or ROUND_ROBIN
    if algorithm not in ALGORITHMS:
        raise CouldNotMeasure(f"the stack's algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    subnets = dict(stack.subnets if stack else ())
    subnets.update(args.subnet)  # a flag overrides the stack for the same CIDR
    workload = Workload(
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        wait_s=args.wait,
        identity=Identity.parse(args.identity),
        expected_replicas=replica_range[0] if replica_range else None,
    )
    expectation = Expectation(
        replica_range=replica_range,
        algorithm=algorithm,
        alpha=args.alpha,
        max_error_rate=args.max_error_rate,
        strict=args.strict,
        nodes=args.nodes,
        subnets=tuple(subnets.items()),
    )
    return _Run(target, workload, args.requests, expectation, args.json)


def _measure_and_report(run: _Run) -> ExitCode:
    progress = ProgressPrinter(sys.stderr, bar=sys.stderr.isatty())
    addresses, warmup = wait_for_ready(run.target, run.workload, progress=progress)
    expected = run.workload.expected_replicas if run.workload.expected_replicas is not None else len(warmup)
    workload = dataclasses.replace(run.workload, requests=run.requests or default_requests(expected))
    try:
        tally = send_requests(run.target, workload, addresses, warmup, progress=progress)
    finally:
        progress.finish()
    if tally.answers == 0:
        errors = ", ".join(f"{kind}: {count}" for kind, count in tally.errors.items()) or "no request was sent"
        raise CouldNotMeasure(f"no replica answered while measuring ({errors})")
    verdict = judge(tally, run.expectation)
    if run.json:
        write_json(report_json(verdict, tally), sys.stdout)
    else:
        render_report(verdict, tally, sys.stdout, color=sys.stdout.isatty())
    return ExitCode.EVEN if verdict.even else ExitCode.UNEVEN


def main(argv: list[str] | None = None) -> int:
    """Run verify; returns the exit code (never raises, never exits)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in argv  # known even when the arguments themselves are bad
    run: _Run | None = None
    try:
        args = build_parser().parse_args(argv)
        run = _settle(args)
        return _measure_and_report(run)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except CouldNotMeasure as error:
        print(f"verify: {error}", file=sys.stderr)
        if wants_json:
            write_json(error_json(str(error), run.target.url if run else None), sys.stdout)
        return ExitCode.COULD_NOT_MEASURE
    except KeyboardInterrupt:
        print("\nverify: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
