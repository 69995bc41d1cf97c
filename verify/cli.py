"""`python -m verify [URL] [options]`: is every replica serving, and is the split even?

`main(argv) -> int` is the one place where exceptions become exit codes (`ExitCode`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import ipaddress
import os
import ssl
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import NoReturn

from verify.boundary import (
    REPORT_LINE_MAX,
    STOP_SIGNALS,
    Sink,
    Stopped,
    is_terminal,
    signals_held,
    stop_signals,
)
from verify.core.addresses import node_address
from verify.core.errors import CouldNotMeasure
from verify.core.files import check_regular_if_there
from verify.core.numbers import (
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_NODES,
    MAX_RATE,
    MAX_REPLICAS,
    MAX_REQUESTS,
    MAX_TIMEOUT_S,
    MAX_WAIT_S,
    MAX_WEIGHT,
    BadNumber,
    read_number,
)
from verify.core.tally import Tally
from verify.core.text import redact, shown_value
from verify.judging.evidence import ALGORITHMS, ROUND_ROBIN, Expectation, WeightGroup, default_requests, expected_shares
from verify.judging.judge import judge
from verify.rendering.job_summary import error_markdown, summary_markdown
from verify.rendering.outputs import append_whole, check_apart, check_writable, write_atomically
from verify.rendering.terminal import ProgressPrinter, error_json, render_report, report_json, write_json
from verify.sources.hook.fleet import read_rule
from verify.sources.live.client import (
    IP_VERSIONS,
    Identity,
    Resolver,
    Target,
    Workload,
    family_resolver,
    pinned_resolver,
    system_resolver,
    tls_context,
)
from verify.sources.live.health import AWS_TIMEOUT_S, HealthReading, HealthSource, read_target_health
from verify.sources.live.readiness import wait_for_ready
from verify.sources.live.sending import send_requests
from verify.sources.logs.athena import AthenaTable, S3Location, read_athena_logs, read_s3_logs
from verify.sources.logs.query import ATHENA, DUCKDB, BalancerChoice, Window
from verify.sources.logs.reader import parse_window, read_local_logs
from verify.sources.phases import (
    PHASE_TEXT_MAX,
    UNTIL_MARK_TAIL_S,
    check_marked,
    check_phases_file,
    read_phases,
    until_marked,
)
from verify.sources.stack import PULUMI_TIMEOUT_S, AccessLogOutputs, StackOutputs, read_stack_outputs


class ExitCode(IntEnum):
    EVEN = 0  # every replica answered, the split is even, errors within bounds, nothing sticky
    UNEVEN = 1  # any of those failed: the reason line says which, with numbers
    COULD_NOT_MEASURE = 2  # bad URL or arguments, no name, nothing answering in time, stdout not writable
    HUNG_UP = 129  # SIGHUP: 128 + 1
    INTERRUPTED = 130  # Ctrl-C (and SIGTERM where a caller, such as the rehearsal, already maps it to Ctrl-C)
    QUIT = 131  # SIGQUIT: 128 + 3
    TERMINATED = 143  # SIGTERM: 128 + 15, as a shell reports a process it ended


# The longest text an option takes: a name, a spec, a time (longer is refused, echoed cut); a path (Linux's
# PATH_MAX); a URL (an ALB's request line is at most 16 KiB, which Target.parse says in its own words).
TEXT_MAX = 512
PATH_MAX = 4096
URL_TEXT_MAX = 64 * 1024
WEIGHTS_TEXT_MAX = 64 * 1024  # up to MAX_REPLICAS ids and weights

# Beyond the measurement's own bounds: thread start-up, the verdict, the report.
_BOUND_SLACK_S = 5.0


class _HelpShown(Exception):
    """--help was printed."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a CouldNotMeasure (one line, exit 2), not usage text on stderr;
    --help goes to `help_out` (stderr with --json, so stdout keeps its one object)."""

    help_out: Sink | None = None

    def error(self, message: str) -> NoReturn:
        raise CouldNotMeasure(f"{message} (see python -m verify --help)")

    def print_help(self, file: object = None) -> None:
        if self.help_out is not None:
            self.help_out.write(self.format_help())
        else:
            super().print_help()

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _HelpShown


def _number(kind: Callable[[str], float], low: float, high: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (or above low), read by `read_number`."""

    def parse(text: str) -> float:
        try:
            return read_number(text, low, high, whole=kind is int, above=above)
        except BadNumber as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def text_option(
    most: int, then: Callable[[str], object] | None = None, *, printable: bool = True
) -> Callable[[str], object]:
    """An argparse type for a text value: not empty, at most `most` characters, printable (unless `printable`
    is False: the URL, whose own check says why); then `then`.

    The one place a value's size is checked: a refusal echoes it cut (`shown_value`), never whole.
    """

    def parse(text: str) -> object:
        if not text.strip():
            raise argparse.ArgumentTypeError("an empty value; give one")
        if len(text) > most:
            raise argparse.ArgumentTypeError(f"{shown_value(text)} is longer than {most:,} characters")
        if printable and not text.isprintable():
            raise argparse.ArgumentTypeError(f"{shown_value(text)} holds a control character")
        return then(text) if then is not None else text

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


def _pin(text: str) -> tuple[str, tuple[str, ...]]:
    """--resolve HOST:ADDR[,ADDR...], as curl's --resolve without the port: (host, its addresses)."""
    host, _, listed = text.partition(":")
    usage = "use HOST:ADDR[,ADDR...], e.g. alb.test:127.0.1.1,[::1]"
    listed_addresses = [address.strip() for address in listed.split(",")]
    if not host.strip() or not all(listed_addresses):
        raise argparse.ArgumentTypeError(f"{text!r}: {usage}")
    addresses = []
    for address in listed_addresses:
        try:
            addresses.append(node_address(address))  # IPv6 bare or in brackets: [2600:1f18::5]
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{error} (in --resolve {text[:100]!r}); {usage}") from None
    if len(addresses) > MAX_NODES:
        raise argparse.ArgumentTypeError(f"{text!r} gives {len(addresses)} addresses; at most {MAX_NODES}")
    return host.strip().lower(), tuple(dict.fromkeys(addresses))


def _weights(text: str) -> tuple[WeightGroup, ...]:
    """--expect-weights ID=W[,ID=W...], where ID may be ID+ID+... (replicas that share W evenly)."""
    usage = "use ID=W[,ID=W...] with ID+ID=W for replicas sharing W, e.g. 10.0.1.5+10.0.2.7=10,10.0.1.9=90"
    groups: list[WeightGroup] = []
    named: list[str] = []
    for item in text.split(","):
        ids, equals, weight_text = item.rpartition("=")
        replicas = tuple(replica.strip() for replica in ids.split("+"))
        if not equals or not all(replicas):
            raise argparse.ArgumentTypeError(f"{item.strip()!r} in {text!r}: {usage}")
        try:
            label = "weight {} of " + ids.strip().replace("{", "{{").replace("}", "}}")
            weight = float(read_number(weight_text.strip(), 0, MAX_WEIGHT, whole=False, above=True, label=label))
        except BadNumber as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        groups.append(WeightGroup(replicas, weight))
        named += replicas
    twice = next((replica for replica in named if named.count(replica) > 1), None)
    if twice is not None:
        raise argparse.ArgumentTypeError(f"{twice} is named twice in {text!r}; name each replica once")
    if len(named) < 2 or len(named) > MAX_REPLICAS:
        raise argparse.ArgumentTypeError(f"{text!r} names {len(named)} replica(s); allowed: 2 to {MAX_REPLICAS}")
    return tuple(groups)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m verify",
        allow_abbrev=False,  # --js is not --json: a script's typo must fail, not guess
        description=(
            "Send requests to the load balancer and judge whether every replica answers and the split is even. "
            "Exit 0 even, 1 uneven, 2 could not measure (stdout not writable too), 130 interrupted (Ctrl-C), "
            "143 SIGTERM, 129 SIGHUP, 131 SIGQUIT; anything but a report is one line 'verify: <reason>' on "
            "stderr, and with --json stdout gets exactly one object on every path. A run ends within "
            "--wait + 3 x --timeout + the measurement (--duration, or --timeout x (ceil(requests / concurrency)"
            " + 1) + requests / --rate) + 2 x each --target-health read (--timeout for haproxy:,"
            f" {AWS_TIMEOUT_S} s for aws:) + "
            f"{_BOUND_SLACK_S:g} s, and {PULUMI_TIMEOUT_S} s more without a URL (reading the stack)."
        ),
    )
    parser.add_argument(
        "url",
        nargs="?",
        type=text_option(URL_TEXT_MAX, printable=False),
        help="http:// or https:// URL to measure; without it, the Pulumi stack's outputs are read",
    )
    parser.add_argument(
        "--stack",
        type=text_option(TEXT_MAX),
        metavar="NAME",
        help="Pulumi stack to read outputs from (default: the current one)",
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--requests",
        type=_number(int, 1, MAX_REQUESTS),
        metavar="N",
        help="requests to send (default: the fewest, at least 300, that catch one replica getting 1.5x what each"
        " other gets (1.5:1, relative to the expected split) 90%% of the time at alpha 0.01, from the noncentral"
        " chi-square power for the replicas expected)",
    )
    amount.add_argument(
        "--duration",
        type=_number(float, 0, MAX_DURATION_S, above=True),
        metavar="SECONDS",
        help="send for this long instead of a request count (a rolling deploy): a per-second timeline, the"
        " verdict over the whole run (the split over the replicas answering after the last change of the set)",
    )
    parser.add_argument(
        "--concurrency",
        type=_number(int, 1, MAX_CONCURRENCY),
        default=10,
        metavar="C",
        help="kept-alive connections (default 10)",
    )
    parser.add_argument(
        "--rate",
        type=_number(float, 0, MAX_RATE, above=True),
        metavar="PER_SECOND",
        help="at most this many requests a second while measuring, evenly spaced (default: as fast as the"
        " connections answer), so a check of production never becomes a load test of it",
    )
    parser.add_argument(
        "--timeout",
        type=_number(float, 0, MAX_TIMEOUT_S, above=True),
        default=5.0,
        metavar="SECONDS",
        help="bound on one whole answer, from connecting to its last byte (default 5)",
    )
    parser.add_argument(
        "--wait",
        type=_number(float, 0, MAX_WAIT_S),
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the name to resolve and every replica to answer once (default 300)",
    )
    parser.add_argument(
        "--resolve",
        type=text_option(TEXT_MAX, _pin),
        action="append",
        default=[],
        metavar="HOST:ADDR[,ADDR...]",
        help="answer the name lookup of HOST with these addresses instead of DNS, like curl's --resolve; each"
        " address is a balancer node (repeatable for different hosts)",
    )
    parser.add_argument(
        "--ip-version",
        choices=tuple(IP_VERSIONS),
        default="both",
        help="which of the name's addresses to measure over: 4 (A), 6 (AAAA) or both (default), each a balancer"
        " node; the report says which family each node is",
    )
    expected = parser.add_mutually_exclusive_group()
    expected.add_argument(
        "--expect-replicas",
        type=_number(int, 1, MAX_REPLICAS),
        metavar="K",
        help="replicas that must answer (default: the stack's replicas, up to max_replicas when it autoscales;"
        " with a bare URL, the replicas seen while warming up, count not checked)",
    )
    expected.add_argument(
        "--expect-weights",
        type=text_option(WEIGHTS_TEXT_MAX, _weights),
        metavar="ID=W[,ID=W...]",
        help="judge the split against these weights instead of an even split (a canary: the new replicas"
        " 10, the old 90): each replica id as it answers with its weight, or ID+ID+...=W for replicas that"
        " share W evenly; exactly the replicas named must answer. With --duration the timeline shows each"
        " group's share per second",
    )
    parser.add_argument(
        "--identity",
        type=text_option(TEXT_MAX),
        default="json:replica",
        metavar="SPEC",
        help="how to tell which replica answered: json:FIELD, header:NAME or body (default json:replica)",
    )
    parser.add_argument(
        "--subnet",
        type=text_option(TEXT_MAX, _subnet),
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
        type=_number(int, 1, MAX_NODES),
        metavar="N",
        help="balancer nodes behind the name, for --strict (default: the number of addresses it resolves to)",
    )
    parser.add_argument(
        "--alpha",
        type=_number(float, 0, 0.5, above=True),
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
    parser.add_argument(
        "--cacert",
        type=text_option(PATH_MAX),
        metavar="FILE",
        help="PEM file of the CA certificates to trust for an https URL (default: the system's)",
    )
    parser.add_argument(
        "--target-health",
        type=text_option(URL_TEXT_MAX),
        action="append",
        default=[],
        metavar="SOURCE",
        help="read the balancer's target health at the start and the end; any unhealthy target fails the run:"
        " haproxy:URL (its stats CSV), aws:TARGET_GROUP_ARN, or aws:LISTENER_RULE_ARN: the group(s) the rule"
        " forwards to now, named in a note (boto3, else the aws CLI); repeatable (default: the stack's"
        " production_listener_rule_arn output, else its target_group_arn)",
    )
    logs = parser.add_argument_group("judging the ALB's access logs instead of sending requests")
    logs.add_argument(
        "--access-logs",
        nargs="*",
        type=text_option(PATH_MAX),
        metavar="SOURCE",
        help="count the requests in the ALB's access logs instead: log folders, .log.gz files or s3://BUCKET/PREFIX"
        " (default: the stack's log bucket); AWS logs best effort (nearly every request, not all); judged by the"
        " same checks as a live run",
    )
    logs.add_argument(
        "--engine",
        choices=(DUCKDB, ATHENA),
        default=DUCKDB,
        help="with --access-logs: duckdb reads the files here (S3 objects fetched first, bounded); athena queries"
        " the stack's table where the logs lie and reports the data scanned and its cost (default duckdb)",
    )
    logs.add_argument(
        "--athena-table",
        type=text_option(TEXT_MAX),
        metavar="DATABASE.TABLE",
        help="with --engine athena: the Glue table of the logs (default: the stack's athena_database and athena_table)",
    )
    logs.add_argument(
        "--athena-workgroup",
        type=text_option(TEXT_MAX),
        metavar="NAME",
        help="with --engine athena: the workgroup to run in (default: the stack's athena_workgroup)",
    )
    logs.add_argument(
        "--since",
        type=text_option(TEXT_MAX),
        metavar="TIME",
        help="with --access-logs: the window's start, ISO 8601 (UTC unless it says) or a time ago: 90m, 2h, 1d"
        " (default: an hour before --until)",
    )
    logs.add_argument(
        "--until",
        type=text_option(TEXT_MAX),
        metavar="TIME",
        help="with --access-logs: the window's end (default: now)",
    )
    logs.add_argument(
        "--balancer",
        type=text_option(TEXT_MAX),
        metavar="NAME",
        help="with --access-logs read here: judge only this balancer's files (its name, app/NAME/ID or app.NAME.ID,"
        " as the files' names write it); one judgement is of one balancer, so logs of several need it",
    )
    logs.add_argument(
        "--region",
        type=text_option(TEXT_MAX),
        metavar="REGION",
        help="with --access-logs read here: judge only the files of this region (their names say it)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else there")
    parser.add_argument(
        "--report",
        type=text_option(PATH_MAX),
        metavar="FILE.html",
        help="also write the report as one self-contained HTML page with charts (opens offline): written whole"
        " or not at all; its folder is checked before measuring",
    )
    parser.add_argument(
        "--phases",
        type=text_option(PATH_MAX),
        metavar="FILE",
        help="lines 'UNIX_TIME TEXT' that another process appends while verify measures (the rehearsal's deploy"
        " does): marked on the --duration timeline of every report",
    )
    parser.add_argument(
        "--until-mark",
        type=text_option(PHASE_TEXT_MAX),
        metavar="TEXT",
        help="with --phases and --duration: measure until the other process marks TEXT (a line of --phases whose"
        f" text is exactly TEXT), then {UNTIL_MARK_TAIL_S:g} s more for the verdict on what runs after it;"
        " --duration is then the bound, and a run it ends before that mark is exit 2 naming the last mark",
    )
    return parser


@dataclasses.dataclass(frozen=True)
class _Run:
    target: Target
    workload: Workload
    requests: int | None  # None: the default for the replicas expected (or seen while warming up)
    expectation: Expectation
    tls: ssl.SSLContext | None
    json: bool
    resolver: Resolver
    health_sources: tuple[HealthSource, ...]
    report: str | None  # --report: the HTML page's path
    phases: str | None  # --phases: the file of marks to read once measuring has ended
    until_mark: str | None  # --until-mark: the mark of --phases that ends the measurement
    step_summary: str | None  # $GITHUB_STEP_SUMMARY: GitHub's Markdown file to append a summary to


def _settle(args: argparse.Namespace) -> _Run:
    """The run's settings: flags first, then the stack's outputs (read only when there is no URL)."""
    stack = None if args.url else read_stack_outputs(args.stack)
    target = Target.parse(args.url or stack.url)
    expectation = _expectation(args, stack)
    workload = Workload(
        concurrency=args.concurrency,
        rate=args.rate,
        timeout_s=args.timeout,
        wait_s=args.wait,
        identity=Identity.parse(args.identity),
        expected_replicas=expectation.replica_range[0] if expectation.replica_range else None,
        duration_s=args.duration,
    )
    tls = tls_context(args.cacert) if target.scheme == "https" else None
    pins = dict(args.resolve)
    if len(pins) < len(args.resolve):  # the last would silently win (in the rehearsal: over its own nodes)
        hosts = [host for host, _ in args.resolve]
        twice = next(host for host in hosts if hosts.count(host) > 1)
        raise CouldNotMeasure(
            f"--resolve gives {twice} twice; give all its addresses in one: --resolve {twice}:ADDR,ADDR "
            "(see python -m verify --help)"
        )
    unused = [host for host in pins if host != target.host.lower()]
    if unused:  # never asked: the user meant another name, or the URL is not the one meant
        raise CouldNotMeasure(
            f"--resolve gives {unused[0]}, which the URL does not use (its host is {target.host}); allowed:"
            " --resolve for the URL's host only"
        )
    resolver = family_resolver(pinned_resolver(pins) if pins else system_resolver, IP_VERSIONS[args.ip_version])
    health = [HealthSource.parse(spec) for spec in args.target_health]
    if not health and stack is not None and (stack.production_rule_arn or stack.target_group_arn):
        # Where production is forwarded now: a shifting stack's rule (ECS moves it between the two groups), else
        # the listener's default group, the primary.
        health = [HealthSource("aws", stack.production_rule_arn or stack.target_group_arn)]
    if args.until_mark is not None and (args.phases is None or args.duration is None):
        raise CouldNotMeasure("--until-mark goes with --phases FILE and --duration SECONDS (its bound)")
    until_mark = args.until_mark.strip() if args.until_mark is not None else None
    return _Run(
        target, workload, args.requests, expectation, tls, args.json, resolver, tuple(health),
        report=args.report, phases=args.phases, until_mark=until_mark, step_summary=_step_summary(),
    )  # fmt: skip


def _expectation(args: argparse.Namespace, stack: StackOutputs | None) -> Expectation:
    """What a healthy deployment looks like: flags first, then the stack's outputs."""
    weights: tuple[WeightGroup, ...] = args.expect_weights or ()
    named = sum(len(group.replicas) for group in weights)
    if weights:
        replica_range: tuple[int, int] | None = (named, named)
    elif args.expect_replicas is not None:
        replica_range = (args.expect_replicas, args.expect_replicas)
    elif stack is not None and stack.replicas is not None:
        replica_range = (stack.replicas, max(stack.replicas, stack.max_replicas or stack.replicas))
    else:
        replica_range = None
    algorithm = args.algorithm or (stack.algorithm if stack else None) or ROUND_ROBIN
    if algorithm not in ALGORITHMS:
        raise CouldNotMeasure(f"the stack's algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    subnets = dict(stack.subnets if stack else ())
    subnets.update(args.subnet)  # a flag overrides the stack for the same CIDR
    return Expectation(
        replica_range=replica_range,
        algorithm=algorithm,
        alpha=args.alpha,
        max_error_rate=args.max_error_rate,
        strict=args.strict,
        nodes=args.nodes,
        subnets=tuple(subnets.items()),
        weights=weights,
    )


def _step_summary() -> str | None:
    """GitHub's job summary file, set in every step of a workflow run; None elsewhere."""
    return os.environ.get("GITHUB_STEP_SUMMARY") or None


def _streams() -> dict[str, int | None]:
    """The descriptors of stdout and stderr (None where closed), for the outputs that must stay apart."""
    found: dict[str, int | None] = {}
    for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        try:
            found[name] = stream.fileno() if stream is not None else None
        except (OSError, ValueError, AttributeError):  # closed, or a stream without a descriptor (a test's)
            found[name] = None
    return found


def _check_files(args: argparse.Namespace) -> None:
    """Before anything is measured or read: every file named can be used as it will be, and no output is
    another's file (the report renamed over the JSON stdout writes, the summary appended to it)."""
    if args.report is not None:
        check_writable(args.report, "--report")
    if args.phases is not None:
        check_phases_file(args.phases)
    summary = _step_summary()
    if summary is not None:
        check_regular_if_there(summary, "$GITHUB_STEP_SUMMARY")
    files = {"--report": args.report, "$GITHUB_STEP_SUMMARY": summary, "--phases": args.phases}
    check_apart(files, _streams())


def _measure_and_report(
    run: _Run, stderr: Sink, on_tally: Callable[[Tally], None] | None = None
) -> tuple[ExitCode, str]:
    """The exit code and the report (terminal text or the JSON object) to write on stdout."""
    progress = ProgressPrinter(stderr, bar=stderr.isatty())  # type: ignore[arg-type]
    addresses, warmup = wait_for_ready(run.target, run.workload, run.resolver, progress=progress, tls=run.tls)
    expected = run.workload.expected_replicas if run.workload.expected_replicas is not None else len(warmup)
    if run.workload.duration_s is None:
        weights = run.expectation.weights
        shares = tuple(expected_shares(weights).values()) if weights else None
        # Replicas the warm-up never saw fail the run already: without weights, the count is sized for
        # those that answer, not for a thousand expected where three answer.
        sized_for = expected if shares is not None else min(expected, max(len(warmup), 1))
        requests = run.requests or default_requests(sized_for, shares=shares)
        workload = dataclasses.replace(run.workload, requests=requests)
    else:
        workload = run.workload
    health_at_start = [
        read_target_health(source, workload.timeout_s, read_rule=read_rule) for source in run.health_sources
    ]
    phases, mark = run.phases, run.until_mark
    until = until_marked(phases, mark) if phases is not None and mark is not None else None
    try:
        tally = send_requests(run.target, workload, addresses, warmup, progress=progress, tls=run.tls, until=until)
    finally:
        progress.finish()
    if phases is not None and mark is not None and workload.duration_s is not None:
        check_marked(phases, mark, tally.started_at, workload.duration_s)
    health_at_end = [
        read_target_health(source, workload.timeout_s, read_rule=read_rule) for source in run.health_sources
    ]
    _add_target_health(tally, {"start": health_at_start, "end": health_at_end})
    if on_tally is not None:
        on_tally(tally)
    if tally.answers == 0:
        errors = ", ".join(f"{kind}: {count}" for kind, count in tally.errors.items()) or "no request was sent"
        raise CouldNotMeasure(f"no replica answered while measuring ({errors})")
    if run.phases is not None:
        tally.phases = read_phases(run.phases, tally.started_at, tally.elapsed_s)
    return _report(tally, run.expectation, json=run.json, report=run.report, step_summary=run.step_summary)


def _report(
    tally: Tally, expectation: Expectation, *, json: bool, report: str | None, step_summary: str | None
) -> tuple[ExitCode, str]:
    """Judge the tally, write the HTML page and GitHub's summary when asked; the exit code and the report
    (terminal text or the JSON object) to write on stdout."""
    verdict = judge(tally, expectation)
    if report is not None:
        # Imported here: matplotlib takes about 0.4 s to load, and only --report draws.
        from verify.rendering.html import render_html

        page = io.StringIO()
        render_html(verdict, tally, page)
        write_atomically(report, page.getvalue(), "--report")
    if step_summary is not None:
        append_whole(step_summary, summary_markdown(verdict, tally, report), "$GITHUB_STEP_SUMMARY")
    text = io.StringIO()
    if json:
        write_json(report_json(verdict, tally), text)
    else:
        render_report(verdict, tally, text, color=is_terminal(sys.stdout))
    return (ExitCode.EVEN if verdict.even else ExitCode.UNEVEN), text.getvalue()


# The sources verify reads, and where each option applies; an option not named here judges or reports, and
# applies to every source. The deploy hook (verify.hook) takes no command line: its settings come in the
# payload's hookDetails, read strictly by verify.sources.hook.payload (a key it does not know is refused).
FROM_LIVE = "a live run (a URL, or the stack's)"
FROM_LOGS = "--access-logs read here"
FROM_ATHENA = "--access-logs --engine athena"
_LIVE_ONLY = ("url", "--requests", "--duration", "--concurrency", "--rate", "--timeout", "--wait", "--resolve",
              "--ip-version", "--identity", "--cacert", "--target-health", "--phases", "--until-mark")  # fmt: skip
_APPLIES_TO = {
    **dict.fromkeys(_LIVE_ONLY, (FROM_LIVE,)),
    **dict.fromkeys(("--access-logs", "--since", "--until", "--engine"), (FROM_LOGS, FROM_ATHENA)),
    **dict.fromkeys(("--balancer", "--region"), (FROM_LOGS,)),
    **dict.fromkeys(("--athena-table", "--athena-workgroup"), (FROM_ATHENA,)),
}


def _source_of(args: argparse.Namespace) -> str:
    if args.access_logs is None:
        return FROM_LIVE
    return FROM_ATHENA if args.engine == ATHENA else FROM_LOGS


def _check_options_apply(argv: list[str], args: argparse.Namespace) -> None:
    """Every option given applies to the source the run reads, or the run is refused in one line naming it:
    none is silently left unused (--requests with --access-logs read no request, --target-health checked
    no target)."""
    source = _source_of(args)
    for option in _given(argv):
        applies = _APPLIES_TO.get(option)
        if applies is not None and source not in applies:
            named = "a URL" if option == "url" else option
            raise CouldNotMeasure(f"{named} applies to {' and '.join(applies)}, not to {source}")


def arguments_for(argv: list[str], source: str) -> list[str]:
    """`argv` without the options that do not apply to `source`, values and all: for a caller that runs verify
    twice from one command line (the rehearsal: live, then over the access logs it filed)."""
    actions = build_parser()._option_string_actions
    kept: list[str] = []
    at = 0
    while at < len(argv):
        option = argv[at].split("=", 1)[0]
        action = actions.get(option)
        if action is None or "=" in argv[at] or action.nargs == 0:  # (no action: the URL, or what the parser refuses)
            taken, at = [argv[at]], at + 1
        elif action.nargs == "*":
            end = next((index for index in range(at + 1, len(argv)) if argv[index].startswith("--")), len(argv))
            taken, at = argv[at:end], end
        else:
            taken, at = argv[at : at + 2], at + 2
        name = "url" if action is None and not taken[0].startswith("-") else option
        if source in _APPLIES_TO.get(name, (source,)):
            kept += taken
    return kept


def _given(argv: list[str]) -> list[str]:
    """The options given on the command line, in the parser's order (not those left at their default)."""
    parser = build_parser()
    for action in parser._actions:  # every default None: what is not None was given
        action.default = None
    given = parser.parse_args(argv)
    return [
        action.option_strings[0] if action.option_strings else action.dest
        for action in parser._actions
        if action.dest != "help" and getattr(given, action.dest, None) is not None
    ]


def _judge_access_logs(args: argparse.Namespace) -> tuple[ExitCode, str]:
    """--access-logs: the same checks and report over the requests the ALB logged in the window."""
    _check_files(args)
    window = parse_window(args.since, args.until)
    stack = read_stack_outputs(args.stack) if args.stack or not args.access_logs else None
    tally = _read_access_logs(args, window, stack.access_logs if stack else None)
    if tally.answers == 0:
        reading = tally.access_logs
        skipped = ", ".join(f"{kind}: {count}" for kind, count in reading.skipped.items()) if reading else ""
        raise CouldNotMeasure(
            f"no request in the access logs reached a replica between {window.since.isoformat()} and"
            f" {window.until.isoformat()} ({tally.requests} requests in the window"
            + (f"; skipped {skipped}" if skipped else "")
            + "): widen --since/--until"
        )
    return _report(tally, _expectation(args, stack), json=args.json, report=args.report, step_summary=_step_summary())


def _read_access_logs(args: argparse.Namespace, window: Window, outputs: AccessLogOutputs | None) -> Tally:
    """The tally of the window's requests, from the engine and source the flags (or the stack) name."""
    if args.engine == ATHENA:
        database, _, table = (args.athena_table or "").partition(".")
        if outputs is not None:
            database, table = database or outputs.athena_database or "", table or outputs.athena_table or ""
        workgroup = args.athena_workgroup or (outputs.athena_workgroup if outputs else None)
        if not (database and table and workgroup):
            raise CouldNotMeasure(
                "--engine athena needs the stack's Athena table (accessLogs on: --stack NAME) or --athena-table"
                " DATABASE.TABLE and --athena-workgroup NAME"
            )
        return read_athena_logs(AthenaTable(database, table, workgroup, outputs.region if outputs else None), window)
    choice = BalancerChoice.parse(args.balancer, args.region)
    sources = args.access_logs or ([outputs.location] if outputs else [])
    if not sources:
        raise CouldNotMeasure("the stack has no access-log bucket (accessLogs off): give --access-logs SOURCE")
    remote = [source for source in sources if source.startswith("s3:")]
    if remote:
        if len(sources) > 1:
            raise CouldNotMeasure("give one s3://BUCKET/PREFIX, alone, to --access-logs")
        region = outputs.region if outputs else None
        return read_s3_logs(S3Location.parse(remote[0]), window, region=region, choice=choice)
    return read_local_logs(sources, window, choice=choice)


def _add_target_health(tally: Tally, readings: dict[str, list[HealthReading]]) -> None:
    """Put what the sources said into the tally: the targets listed at each moment, and why any said nothing."""
    for at, at_readings in readings.items():
        for reading in at_readings:
            if reading.targets is not None:
                tally.target_health = tally.target_health or {}
                tally.target_health[at] = tally.target_health.get(at, ()) + reading.targets
            if reading.note and reading.note not in tally.target_health_notes:
                tally.target_health_notes.append(reading.note)


def main(
    argv: list[str] | None = None,
    *,
    stopped_by: int | None = None,
    on_tally: Callable[[Tally], None] | None = None,
) -> int:
    """Run verify; returns the exit code (never raises, never exits). `on_tally` is handed a live run's
    tally before it is judged (the rehearsal holds it against the access logs).

    The one boundary of the command: every exception and stop signal becomes an ExitCode and one line
    on stderr; with --json, stdout gets exactly one object on every path it can be written: a report,
    or the same keys with verdict "error" (could not measure), "interrupted" (a stop signal) or "help".
    `stopped_by`: a stop signal that came before main() could take it (while Python imported verify).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in argv  # known even when the arguments themselves are bad
    stdout = Sink(sys.stdout, line_max=None if wants_json else REPORT_LINE_MAX)
    stderr = Sink(sys.stderr)
    url: str | None = None  # as far as known when the run stops
    report: str | None = None
    outcome, reason = "", ""
    try:
        with stop_signals():
            if stopped_by is not None:
                raise Stopped(*STOP_SIGNALS[stopped_by]) if stopped_by in STOP_SIGNALS else KeyboardInterrupt
            parser = build_parser()
            parser.help_out = stderr if wants_json else stdout  # type: ignore[attr-defined]
            args = parser.parse_args(argv)
            _check_options_apply(argv, args)
            if args.access_logs is not None:
                url = " ".join(args.access_logs) or None
                code, report = _judge_access_logs(args)
            else:
                url = args.url
                _check_files(args)
                run = _settle(args)
                url = run.target.url
                code, report = _measure_and_report(run, stderr, on_tally)
    except _HelpShown:
        if not wants_json:
            return ExitCode.EVEN
        code, outcome, reason = ExitCode.EVEN, "help", "the help is on stderr"
    except CouldNotMeasure as error:
        code, outcome, reason = ExitCode.COULD_NOT_MEASURE, "error", str(error)
    except Stopped as stop:
        code, outcome, reason = ExitCode(stop.code), "interrupted", stop.reason
    except KeyboardInterrupt:
        code, outcome, reason = ExitCode.INTERRUPTED, "interrupted", "interrupted (Ctrl-C)"
    except Exception as error:  # a defect of verify's own: still one line and one object, never a traceback
        reason = f"internal error ({type(error).__name__}: {' '.join(str(error).split())[:200]}); please report it"
        code, outcome = ExitCode.COULD_NOT_MEASURE, "error"
    try:
        with signals_held():
            return _last_word(code, outcome, reason, report, url, wants_json, stdout, stderr)
    except KeyboardInterrupt as stop:  # the last word stuck (a stdout nobody reads) and a stop signal came
        said = stop.reason if isinstance(stop, Stopped) else "interrupted (Ctrl-C)"
        with contextlib.suppress(KeyboardInterrupt), signals_held():
            stderr.write(f"\nverify: {said} while stdout was not being read\n")
        return stop.code if isinstance(stop, Stopped) else ExitCode.INTERRUPTED


def _last_word(
    code: int,
    outcome: str,
    reason: str,
    report: str | None,
    url: str | None,
    wants_json: bool,
    stdout: Sink,
    stderr: Sink,
) -> int:
    """Write the report, or the one line (and with --json the one object) of a run without one; the exit code."""
    if report is not None:
        stdout.write(report)
        if stdout.error is None:
            return code
        code, outcome = ExitCode.COULD_NOT_MEASURE, "error"
        reason = f"could not write the report to stdout: {stdout.failure()}"
    # No report: one line on stderr (after a fresh line when interrupted: the terminal echoed ^C) and,
    # with --json, the one object on stdout.
    fresh_line = "\n" if outcome == "interrupted" else ""
    stderr.write(f"{fresh_line}verify: {' '.join(reason.split())}\n")
    if wants_json and stdout.error is None:
        write_json(error_json(outcome, reason, redact(url) if url else None), stdout)  # type: ignore[arg-type]
    summary = _step_summary()
    if summary is not None:
        # Best effort: the run has failed already, and its one line of stderr says why. Never into stdout's
        # or stderr's own file (the one object would no longer be one), nor into anything but a regular file.
        with contextlib.suppress(CouldNotMeasure, OSError):
            check_apart({"$GITHUB_STEP_SUMMARY": summary}, _streams())
            markdown = error_markdown(outcome, redact(reason), redact(url) if url else None)
            append_whole(summary, markdown, "$GITHUB_STEP_SUMMARY")
    return code
