"""`python -m rehearsal`: the stack's replicas and a real HAProxy on loopback, then verify against them."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import NoReturn, TextIO

from components.errors import SettingsError
from components.options import DeploymentStrategy
from rehearsal.access_logs import check_log_folder, disagreements, file_logs, wait_until_written
from rehearsal.deploy import deploy_while_verifying
from rehearsal.interrupt import interrupt_while_verifying, replace_exited
from rehearsal.netns import in_own_namespace, run_in_new_namespace
from rehearsal.netns import prepare as prepare_namespace
from rehearsal.plan import CHECK_TIMEOUT_FLOOR_S, DEFAULT_PORT, Plan
from rehearsal.processes import RehearsalError
from rehearsal.shift import shift_while_verifying
from rehearsal.stage import Rehearsal, Running
from rehearsal.switch import switch_while_verifying
from settings import RANGES, deployment_strategy_of, from_stack_file
from verify.boundary import Sink
from verify.cli import FROM_LOGS, PATH_MAX, TEXT_MAX, arguments_for, text_option
from verify.core.addresses import host_port
from verify.core.errors import CouldNotMeasure
from verify.core.tally import Tally
from verify.rendering.outputs import check_writable
from verify.sources.logs.query import Window


class ExitCode(IntEnum):
    """The rehearsal's own exit codes; otherwise it exits with verify's (0 even, 1 uneven, 2 could not measure)."""

    NOT_REPLACED = 1  # --deploy, --interrupt: verify passed, but not every replica was replaced while it measured
    CANNOT_RUN = 2  # bad arguments or stack file, missing program, busy port, a process that would not start
    ROLLED_BACK = 3  # --deploy of a shifting strategy: an alarm fired (or green never got healthy), back to blue
    LOGS_DISAGREE = 4  # --access-logs: the logs' counts or verdict differ from what verify saw live
    INTERRUPTED = 130  # Ctrl-C or SIGTERM before verify finished (verify's own code for it too)


# verify's options the rehearsal sets so that verify measures a whole --deploy or --interrupt.
_FOLLOWING_THE_FLOW = ("--duration", "--requests", "--phases", "--until-mark")

# The most replicas a stack runs (settings' range of `replicas`); the stack's own count is checked once read.
MAX_INTERRUPTIONS = RANGES["replicas"][1]


class _BadArguments(Exception):
    """A bad command line: one line on stderr and exit 2, not argparse's usage text."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _BadArguments(f"{message} (see python -m rehearsal --help)")


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1024 <= int(text) <= 65534:  # "²".isdigit(), int() refuses
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1024 to 65534 (no privilege needed)")
    return int(text)


def _interruptions(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_INTERRUPTIONS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of replicas from 1 to {MAX_INTERRUPTIONS}")
    return int(text)


def _time_scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not 0.01 <= scale <= 1:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r} is not a time scale from 0.01 to 1")
    return scale


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m rehearsal",
        allow_abbrev=False,  # as verify's: --dep is not --deploy, a script's typo fails
        description=(
            "Rehearse the stack on this machine, no AWS account: one nginx replica per task, each on its own "
            "loopback address (zone i is 127.0.(i+1).0/24), behind one real HAProxy per zone on 127.0.(i+1).1 "
            "that routes like the ALB's node there; then run verify against it and exit with verify's exit code."
        ),
        epilog="Arguments after -- go to verify, e.g. python -m rehearsal -- --json --strict",
    )
    parser.add_argument(
        "--stack",
        type=text_option(TEXT_MAX),
        default="dev",
        help="the stack whose Pulumi.<stack>.yaml to rehearse (default: dev)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=(
            f"every HAProxy node's port (default: {DEFAULT_PORT}; the ALB listens on 80, which needs privilege); "
            "their stats pages on the next port"
        ),
    )
    parser.add_argument(
        "--replica-port",
        type=_port,
        help="the port every replica listens on, each on its own address (default: the stack's containerPort)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="after verify, leave everything up until Ctrl-C or SIGTERM, then stop it"
    )
    parser.add_argument(
        "--fail-health-checks",
        action="store_true",
        help="replicas answer their health path with 503 and keep serving: the balancers fail open, verify must fail",
    )
    parser.add_argument(
        "--deploy",
        action="store_true",
        help=(
            "a rolling deploy in ECS's order (new replicas at 200 %%, healthy, old ones deregistered, drained, "
            "stopped) while verify measures all of it, until the deploy has ended, with --max-error-rate 0; exit 0 "
            "only when no request failed and every replica was replaced"
        ),
    )
    parser.add_argument(
        "--strategy",
        type=text_option(TEXT_MAX),
        metavar="STRATEGY",
        help=(
            "with --deploy: rolling, blue-green, linear:STEP or canary:PERCENT, as the stack's deploymentStrategy "
            "(default: the stack's); the shifting ones run ECS's stages on two target groups per node (blue, "
            "green): scale up green, test traffic, production shifts with the step bake time, the bake time, "
            "blue drained and stopped; exit 0 only when no request failed and green took every request"
        ),
    )
    parser.add_argument(
        "--after",
        type=text_option(TEXT_MAX),
        metavar="STRATEGY",
        help=(
            "with --deploy --strategy rolling: first a deploy of this blue-green, linear or canary strategy, which "
            "leaves production on the alternate target group, then the change back to rolling as the stack makes "
            "it: new replicas registered in both groups, the old ones drained and stopped, then the production "
            "rule deleted (the listener's default forwards to the primary group); exit 0 only when no request "
            "failed and the new replicas took every request"
        ),
    )
    parser.add_argument(
        "--failing-revision",
        choices=("health-checks", "5xx", "split", "weights"),
        help=(
            "with --deploy of blue-green, linear or canary: the green revision fails its health checks or answers "
            "5xx (the rehearsal's alarms roll the deploy back), one green replica answers as another (split) or "
            "the production rule moves to half the share ECS set (weights), which the deploy hook rolls back "
            "(deploymentVerify); exit 3"
        ),
    )
    parser.add_argument(
        "--interrupt",
        type=_interruptions,
        metavar="N",
        help=(
            "N replicas stopped in Fargate Spot's order while verify measures all of it with --max-error-rate "
            "0: SIGTERM while still registered (each fails its health checks while it serves, then stops), "
            "deregistered once stopped, then ECS's replacement; exit 0 only when no request failed and every "
            "replacement serves. With --deploy of blue-green, linear or canary: N green replicas so stopped during "
            "its first bake, which must roll nothing back"
        ),
    )
    parser.add_argument(
        "--no-drain",
        action="store_true",
        help=(
            "with --deploy: kill the old replicas at once, as crashed tasks; with --interrupt: the replicas stop at "
            "once on SIGTERM, without failing their health checks first (requests fail: exit 1)"
        ),
    )
    parser.add_argument(
        "--access-logs",
        type=text_option(PATH_MAX),
        metavar="DIR",
        help=(
            "every node logs each request as the ALB does; after verify, the logs are filed under DIR in the S3 "
            "key layout (one gzip file per node per 5 minutes), judged by verify --access-logs, and held against "
            f"what verify counted live (exit {ExitCode.LOGS_DISAGREE} when they differ)"
        ),
    )
    parser.add_argument(
        "--report",
        type=text_option(PATH_MAX),
        metavar="FILE.html",
        help="verify also writes its HTML report there (--deploy and --interrupt mark each step on its timeline)",
    )
    parser.add_argument(
        "--ip-version",
        type=int,
        choices=(4, 6),
        default=4,
        help=(
            "the replicas' addresses: 4 (default), each on a loopback address; 6, IPv6-only replicas as the stack's "
            "replicaAddressing ipv6-only, one unique local /64 per zone, in a network namespace the rehearsal makes "
            "and removes (root, or user namespaces), behind nodes listening on IPv4 and IPv6; verify measures over both"
        ),
    )
    parser.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        help=(
            "multiply the stack's health check timings, deregistration delay, stop delay and timeout by this "
            "(0.01 to 1; default 1: the stack's own)"
        ),
    )
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None, *, stopped_by: int | None = None) -> int:
    """Run the rehearsal; every failure is one line on `out` (stderr) and exit code 2, Ctrl-C (SIGTERM,
    SIGHUP) at any moment 130, never a traceback. `stopped_by`: a stop signal that came while Python
    imported the rehearsal."""
    sink = Sink(out if out is not None else sys.stderr)
    try:
        if stopped_by is not None:
            raise KeyboardInterrupt
        return _main(list(sys.argv[1:] if argv is None else argv), sink)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        sink.write("rehearsal: interrupted; everything it started is stopped\n")
        return ExitCode.INTERRUPTED
    except OSError as error:  # a full disk or TMPDIR while writing configs and logs
        sink.write(f"rehearsal: {error.strerror or error}{f' ({error.filename})' if error.filename else ''}\n")
        return ExitCode.CANNOT_RUN
    except Exception as error:  # a defect of the rehearsal's own: one line all the same
        sink.write(f"rehearsal: internal error ({type(error).__name__}: {' '.join(str(error).split())[:200]})\n")
        return ExitCode.CANNOT_RUN


def _main(argv: list[str], out: TextIO) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv[:split])
        flow = "--deploy" if args.deploy else "--interrupt" if args.interrupt is not None else None
        if args.no_drain and flow is None:
            parser.error("--no-drain goes with --deploy or --interrupt")
        if (args.strategy is not None or args.failing_revision) and not args.deploy:
            parser.error("--strategy and --failing-revision go with --deploy")
        if args.after is not None and not args.deploy:
            parser.error("--after goes with --deploy --strategy rolling")
        if args.access_logs is not None and flow is not None:
            parser.error(f"--access-logs goes without {flow} (verify runs apart from the rehearsal there)")
        verify_extra = argv[split + 1 :]
        # verify takes the last of two --duration (or --phases, --until-mark): one after -- would end the
        # measuring mid-deploy.
        if flow and any(arg.split("=", 1)[0] in _FOLLOWING_THE_FLOW for arg in verify_extra):
            flags = ", ".join(_FOLLOWING_THE_FLOW)
            parser.error(f"{flow} has verify measure until the {flow[2:]} has ended; pass none of {flags}")
        # verify takes the last --max-error-rate too: one after -- would pass a deploy that lost requests.
        if flow and any(arg.split("=", 1)[0] == "--max-error-rate" for arg in verify_extra):
            parser.error(f"{flow} judges with verify's --max-error-rate 0 (no request may fail); do not pass another")
        if args.access_logs is not None:
            check_log_folder(Path(args.access_logs))  # before anything starts
        if args.report is not None:
            check_writable(args.report, "--report")  # before anything starts
            # Absolute: --deploy and --interrupt run verify in the project's folder.
            verify_extra = ["--report", os.path.abspath(args.report), *verify_extra]
    except (_BadArguments, CouldNotMeasure) as error:
        print(f"rehearsal: {error}", file=out)
        return ExitCode.CANNOT_RUN

    try:
        settings = from_stack_file(args.stack)
        strategy = settings.deployment_strategy
        if args.strategy is not None:
            strategy = deployment_strategy_of(args.strategy, settings)
        after = deployment_strategy_of(args.after, settings) if args.after is not None else None
    except SettingsError as error:
        print(f"rehearsal: {error.one_line()}", file=out)
        return ExitCode.CANNOT_RUN
    if after is not None and (strategy.shifts_traffic or not after.shifts_traffic or args.failing_revision):
        print(
            "rehearsal: --after goes with --strategy rolling and names a blue-green, linear or canary strategy, "
            "without --failing-revision (see python -m rehearsal --help)",
            file=out,
        )
        return ExitCode.CANNOT_RUN
    if after is not None and (args.interrupt is not None or args.no_drain):
        print("rehearsal: --after goes without --interrupt and --no-drain", file=out)
        return ExitCode.CANNOT_RUN
    if args.deploy and not strategy.shifts_traffic and args.failing_revision:
        print("rehearsal: --failing-revision goes with a blue-green, linear or canary --strategy", file=out)
        return ExitCode.CANNOT_RUN
    if args.failing_revision in ("split", "weights") and not strategy.hook:
        print(
            f"rehearsal: --failing-revision {args.failing_revision} is what the deploy hook rolls back, and the stack"
            " runs none (deploymentVerify false)",
            file=out,
        )
        return ExitCode.CANNOT_RUN
    if args.deploy and strategy.shifts_traffic and args.no_drain:
        print("rehearsal: --no-drain goes with a rolling deploy (a shifting one drains blue after the bake)", file=out)
        return ExitCode.CANNOT_RUN
    if args.deploy and args.interrupt is not None and not strategy.shifts_traffic:
        print(
            "rehearsal: --deploy and --interrupt go together only for a blue-green, linear or canary --strategy "
            "(see python -m rehearsal --help)",
            file=out,
        )
        return ExitCode.CANNOT_RUN
    if args.interrupt is not None and args.interrupt > settings.replicas:
        print(
            f"rehearsal: --interrupt {args.interrupt} is more than the stack's {settings.replicas} replicas "
            "(see python -m rehearsal --help)",
            file=out,
        )
        return ExitCode.CANNOT_RUN
    if args.ip_version == 6 and not in_own_namespace():
        # Everything from here on runs in the child, in a namespace of its own (rehearsal.netns).
        try:
            with _stop_signals_as_ctrl_c():
                return run_in_new_namespace(argv, out)
        except RehearsalError as error:
            print(f"rehearsal: {error}", file=out)
            return ExitCode.CANNOT_RUN
    plan = replace(
        Plan.from_settings(settings, port=args.port, replica_port=args.replica_port, ip_version=args.ip_version),
        time_scale=args.time_scale,
        fail_health_checks=args.fail_health_checks,
        immediate_stop=args.interrupt is not None and args.no_drain,
        access_logs=args.access_logs is not None,
    )
    # Room for new tasks: a deploy's (green, for a shifting one), an interruption's replacements, and
    # --keep's for a replica that stops.
    if after is not None:
        plan = plan.with_green_slots().with_switch_back_slots()
    elif args.deploy and strategy.shifts_traffic:
        plan = plan.with_green_slots(args.failing_revision, spares=args.interrupt or 0)
    elif args.deploy or args.interrupt is not None or args.keep:
        plan = plan.with_deploy_slots()

    try:
        with _stop_signals_as_ctrl_c():
            if plan.ipv6_only:
                prepare_namespace(plan)
            with Rehearsal(plan) as running:
                _describe(running, settings.stack, out)
                if after is not None:
                    code = _switch_back(running, after, verify_extra=verify_extra, out=out)
                elif args.deploy and strategy.shifts_traffic:
                    code = _shift(running, strategy, interrupt=args.interrupt or 0, verify_extra=verify_extra, out=out)
                elif args.deploy:
                    code = _deploy(running, drain=not args.no_drain, verify_extra=verify_extra, out=out)
                elif args.interrupt is not None:
                    code = _interrupt(running, args.interrupt, verify_extra=verify_extra, out=out)
                elif args.access_logs is not None:
                    code = _verify_with_access_logs(running, Path(args.access_logs), verify_extra, out)
                else:
                    code = _run_verify([*plan.verify_args(), *verify_extra], out)
                if args.keep and code != ExitCode.INTERRUPTED:  # Ctrl-C during verify stops, also with --keep
                    _wait_for_stop(running, out)
            print("rehearsal: stopped the replicas and the balancer nodes", file=out)
            return code
    except RehearsalError as error:
        print(f"rehearsal: {error}", file=out)
        if error.log:
            print(error.log.rstrip(), file=out)
        return ExitCode.CANNOT_RUN


@contextlib.contextmanager
def _stop_signals_as_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the rehearsal the way Ctrl-C does: through the cleanup of `Rehearsal` (or, for
    an IPv6 run, through the child's)."""
    previous = {number: signal.signal(number, signal.default_int_handler) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _describe(running: Running, stack: str, out: TextIO) -> None:
    plan = running.plan
    registered = [r for r in plan.replicas if r.registered]
    print(f"rehearsal: stack {stack}: {len(registered)} replicas over {len(plan.zones)} zones", file=out)
    for replica in registered:
        # The pid is the container's PID 1: SIGTERM to it is what ECS sends the task.
        pid = running.replicas[replica.ip].popen.pid
        print(f"  replica {replica.address} in {replica.zone.name} ({replica.zone.subnet}), pid {pid}", file=out)
    routes = "every zone's replicas" if plan.cross_zone else "its own zone's replicas (crossZone false)"
    for zone in plan.zones:
        print(
            f"  HAProxy node of {zone.name} at {' and '.join(host_port(a, plan.port) for a in zone.node_addresses)} "
            f"({plan.haproxy_balance}, {routes}), "
            f"stats {plan.stats_url(zone)}",
            file=out,
        )
    print(f"  {plan.url} resolves to every node, as the ALB's name does (verify --resolve)", file=out)
    stop = plan.stop_timing
    print(
        f"rehearsal: on SIGTERM a replica fails its health checks while it serves for {plan.stop_delay_s:g} s and "
        f"until no node routes to it, then stops gracefully (SIGKILL after {plan.stop_timeout_s:g} s)"
        + (": --no-drain, it stops at once" if plan.immediate_stop else ""),
        file=out,
    )
    if plan.time_scale != 1:
        interval, delay, lag = plan.health.interval_seconds, plan.deregistration_delay_seconds, plan.node_lag_seconds
        print(
            f"rehearsal: timings shortened to {plan.time_scale:g} of the stack's: health checks every "
            f"{plan.seconds(interval):g} s (stack: {interval} s), timing out after {plan.check_timeout_s:g} s (stack: "
            f"{plan.health.timeout_seconds} s; never below {CHECK_TIMEOUT_FLOOR_S:g} s here), deregistration delay "
            f"{plan.seconds(delay):g} s (stack: {delay} s), stop delay and timeout (stack: {stop.delay_seconds} s and "
            f"{stop.timeout_seconds} s), "
            f"nodes learning of a deregistration within {plan.seconds(lag):g} s (ALB: a few seconds; here {lag} s)",
            file=out,
        )
    if plan.fail_health_checks:
        print("rehearsal: every health check fails (503) while the replicas keep serving", file=out)


def _run_verify(verify_argv: list[str], out: TextIO, on_tally: Callable[[Tally], None] | None = None) -> int:
    from verify.cli import main as verify_main

    print(f"rehearsal: python -m verify {shlex.join(verify_argv)}", file=out)
    return verify_main(verify_argv, on_tally=on_tally)


def _verify_with_access_logs(running: Running, folder: Path, verify_extra: list[str], out: TextIO) -> int:
    """verify live, then over the nodes' access logs: verify's code when both agree, else LOGS_DISAGREE."""
    from verify.sources.live.client import USER_AGENT
    from verify.sources.logs.reader import read_local_logs

    plan = running.plan
    since = datetime.now(UTC) - timedelta(minutes=1)
    live: list[Tally] = []
    code = _run_verify([*plan.verify_args(), *verify_extra], out, on_tally=live.append)
    wait_until_written(running.access_logs, USER_AGENT, live[0].requests if live else 0)
    try:
        files = [str(path) for path in file_logs(list(zip(plan.node_ips, running.access_logs, strict=True)), folder)]
    except OSError as error:  # the disk filled while the run went on: the folder took a file at the start
        print(f"rehearsal: --access-logs {folder}: could not file the logs: {error.strerror or error}", file=out)
        return ExitCode.CANNOT_RUN
    window = Window(since, datetime.now(UTC) + timedelta(minutes=1))
    first, last = (moment.isoformat() for moment in (window.since, window.until))
    print(f"rehearsal: {len(files)} access-log file(s) under {folder}", file=out)
    # This run's files only: whatever else the folder holds (an earlier run's) is not this run's evidence.
    logs_argv = ["--access-logs", *files, "--since", first, "--until", last, *plan.expectation_args()]
    # Its report on stderr: stdout stays the live run's, one report (with --json, one object).
    with contextlib.redirect_stdout(out):
        logs_code = _run_verify([*logs_argv, *arguments_for(without_report(verify_extra), FROM_LOGS)], out)
    if not live:  # verify stopped before it measured: nothing to hold the logs against
        return code
    measured = read_local_logs(files, window, user_agent=USER_AGENT)
    differences = disagreements(live[0], measured)
    if differences or logs_code != code:
        verdicts = f"; verify exited {code} live and {logs_code} over the logs" if logs_code != code else ""
        print(f"rehearsal: the access logs disagree with verify: {'; '.join(differences)}{verdicts}", file=out)
        return ExitCode.LOGS_DISAGREE
    print(
        f"rehearsal: the access logs agree with verify, request for request: {measured.requests} measured requests"
        f" over {len(measured.counts)} replicas (its warm-up told apart by its User-Agent)",
        file=out,
    )
    return code


def without_report(verify_argv: list[str]) -> list[str]:
    """verify's arguments without --report: the HTML page stays the live run's."""
    kept: list[str] = []
    skip = False
    for arg in verify_argv:
        if skip:
            skip = False
        elif arg == "--report":
            skip = True
        elif not arg.startswith("--report="):
            kept.append(arg)
    return kept


def _deploy(running: Running, *, drain: bool, verify_extra: list[str], out: TextIO) -> int:
    """verify's code, or NOT_REPLACED when verify passed but the deploy did not replace every replica."""
    code, result = deploy_while_verifying(running, drain=drain, verify_extra=verify_extra, out=out)
    print(
        f"rehearsal: deploy took {result.seconds:.1f} s; "
        + ("every replica replaced" if result.replaced else "NOT every replica replaced"),
        file=out,
    )
    return code if code != 0 or result.replaced else ExitCode.NOT_REPLACED


def _shift(
    running: Running, strategy: DeploymentStrategy, *, interrupt: int, verify_extra: list[str], out: TextIO
) -> int:
    """ROLLED_BACK when an alarm rolled the deploy back; else verify's code, or NOT_REPLACED when verify
    passed but green did not take every request."""
    code, result = shift_while_verifying(running, strategy, interrupt=interrupt, verify_extra=verify_extra, out=out)
    name = strategy.label
    if result.rolled_back is not None:
        print(
            f"rehearsal: {name} deploy rolled back after {result.seconds:.1f} s ({result.rolled_back}); "
            f"verify exited {code}; exit {ExitCode.ROLLED_BACK:d} (rolled back)",
            file=out,
        )
        return ExitCode.ROLLED_BACK
    print(
        f"rehearsal: {name} deploy took {result.seconds:.1f} s; "
        + ("green took every request, blue stopped" if result.completed else "NOT every request moved to green"),
        file=out,
    )
    return code if code != 0 or result.completed else ExitCode.NOT_REPLACED


def _switch_back(running: Running, after: DeploymentStrategy, *, verify_extra: list[str], out: TextIO) -> int:
    """ROLLED_BACK when an alarm rolled the shifting deploy back; else verify's code, or NOT_REPLACED when verify
    passed but the rolling replicas did not take every request through the primary group."""
    code, result = switch_while_verifying(running, after, verify_extra=verify_extra, out=out)
    if result.shift.rolled_back is not None:
        print(
            f"rehearsal: {after.label} deploy rolled back ({result.shift.rolled_back}); verify exited {code}", file=out
        )
        return ExitCode.ROLLED_BACK
    print(
        f"rehearsal: {after.label} deploy took {result.shift.seconds:.1f} s, then the change back to rolling "
        f"{result.seconds:.1f} s; "
        + (
            "the rolling replicas took every request through the primary group, the old ones stopped"
            if result.completed
            else "NOT every request moved to the rolling replicas"
        ),
        file=out,
    )
    return code if code != 0 or result.completed else ExitCode.NOT_REPLACED


def _interrupt(running: Running, count: int, *, verify_extra: list[str], out: TextIO) -> int:
    """verify's code, or NOT_REPLACED when verify passed but a replacement did not come up in time."""
    code, result = interrupt_while_verifying(running, count, verify_extra=verify_extra, out=out)
    print(
        f"rehearsal: interrupt: the stop took {result.stop_seconds:.1f} s; "
        + ("every replica replaced" if result.replaced else "NOT every replica replaced"),
        file=out,
    )
    return code if code != 0 or result.replaced else ExitCode.NOT_REPLACED


def _wait_for_stop(running: Running, out: TextIO) -> None:
    """--keep: wait for Ctrl-C or SIGTERM; fail if the balancer dies meanwhile. A replica that stops
    meanwhile (SIGTERM to its pid, as ECS or a Spot interruption sends it) is replaced, as ECS does."""
    print(f"rehearsal: up at {running.url}; press Ctrl-C (or send SIGTERM) to stop everything", file=out, flush=True)
    try:
        while True:
            for balancer in running.balancers:
                balancer.check()
            running.release_stopping()
            replace_exited(running, say=lambda line: print(f"rehearsal: {line}", file=out, flush=True))
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("rehearsal: stopping", file=out)
