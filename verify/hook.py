"""The deploy hook: verify deciding a blue-green, linear or canary deploy from inside it.

ECS calls `handler(event, context)` (a Lambda function, `components/deploy_hook.py`) at the stages it is
configured for (docs/deploy-hook.md): after the test traffic has moved, at each production step, after
the production traffic has all moved. Each call reads the payload and the fleet (`verify.sources.hook`),
measures through the live source (the test rule's header, or production traffic), and judges the
answers with the same checks as every run of verify (`verify.judging`): every expected replica answers,
no other, the split matches the weights, errors within green's bound, every target healthy. The answer
is ECS's: SUCCEEDED, FAILED (ECS rolls back), or IN_PROGRESS with `callBackDelay` and the counts so far
when a stage's measurement outlasts one call (bounded by the stage's `stageSeconds`).

`decide` never raises: a malformed payload, a failed AWS call, a defect of its own are each FAILED with
their reason (an exception would make ECS roll back with none). Each call writes one JSON line: the keys
of `verify --json` plus `stage`, `revision`, `step`, `hook_status`, `calls` and `stage_elapsed_s`. This
module is at the CLI's level: the only one that joins a source, the judgement and the JSON renderer.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verify.core.errors import CouldNotMeasure
from verify.judging.evidence import Expectation, WeightGroup, default_requests, expected_shares
from verify.judging.judge import judge
from verify.rendering.terminal import error_json, report_json
from verify.sources.hook.carry import Progress, continued, read_progress
from verify.sources.hook.fleet import EcsReader, ElbReader
from verify.sources.hook.payload import Invocation, MalformedPayload, read_invocation
from verify.sources.hook.stage import FAILED, IN_PROGRESS, SUCCEEDED, Decision, StagePlan, plan_stage
from verify.sources.live.client import (
    IP_VERSIONS,
    Identity,
    Resolver,
    Target,
    Workload,
    family_resolver,
    system_resolver,
    tls_context,
)
from verify.sources.live.readiness import wait_for_ready
from verify.sources.live.sending import send_requests

# The function's timeout (components/deploy_hook.py): a call that has measured this long answers, and a
# longer measurement goes on in the next call.
CALL_TIMEOUT_S = 300
# What a call keeps of its time for judging, answering and writing its line.
MARGIN_S = 10.0
# Seconds ECS waits before the next call of a measurement in progress (ECS's default is 30).
CALL_BACK_S = 5
# The measuring connections and the bound on one answer, as verify's defaults.
CONCURRENCY = 10
TIMEOUT_S = 5.0
# The line's `verdict` where verify's (even, uneven, error) does not apply: a decision taken without
# measuring (a rollback let through), and a measurement that the next call continues.
NOT_MEASURED = "not measured"
PENDING = "pending"
# The least a call must have left to measure at all; with less it answers IN_PROGRESS at once.
MEASURE_FLOOR_S = 5.0


@dataclass(frozen=True)
class Clients:
    """The AWS clients the hook reads with: boto3's in Lambda, a stand-in in the rehearsal and the tests."""

    ecs: EcsReader
    elb: ElbReader


@dataclass(frozen=True)
class Outcome:
    """A call's answer for ECS and its log line."""

    answer: dict[str, Any]
    line: dict[str, Any]


# The function runs outside any VPC, and Lambda documents outbound IPv6 for VPC functions in dual-stack subnets
# only (Lambda API reference, VpcConfig.Ipv6AllowedForDualStack): it measures over the name's IPv4 addresses,
# which reach the same balancer nodes and target groups as its IPv6 ones.
LAMBDA_RESOLVER: Resolver = family_resolver(system_resolver, IP_VERSIONS["4"])

_clients: Clients | None = None  # boto3's, made at the first call and kept for the next ones in this process


def handler(event: object, context: object) -> dict[str, Any]:
    """The Lambda function: one line on stdout (CloudWatch Logs), the answer to ECS."""
    global _clients
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        if _clients is None:
            _clients = _boto3_clients()
        clients = _clients
    except Exception as error:  # boto3 missing or broken: still an answer, with its reason
        outcome = _failed(f"could not make the AWS clients ({type(error).__name__}: {error})", None, None)
    else:
        outcome = decide(event, clients, remaining_s=remaining() / 1000 if callable(remaining) else 60.0)
    print(json.dumps(outcome.line, sort_keys=False), file=sys.stdout, flush=True)
    return outcome.answer


def decide(
    event: object,
    clients: Clients,
    *,
    remaining_s: float,
    resolver: Resolver = LAMBDA_RESOLVER,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """The answer to one call and its line; never raises. `remaining_s`: what the call has left (Lambda's
    context), `resolver` and `clock` for the rehearsal and the tests."""
    started = time.monotonic()
    invocation: Invocation | None = None
    try:
        invocation = read_invocation(event)
        return _decide(invocation, clients, remaining_s, resolver, clock, started)
    except MalformedPayload as error:
        return _failed(f"malformed payload: {error}", invocation, None)
    except CouldNotMeasure as error:
        return _failed(str(error), invocation, None)
    except Exception as error:  # a defect of the hook's own: FAILED with its name, never an exception to ECS
        return _failed(
            f"internal error ({type(error).__name__}: {' '.join(str(error).split())[:200]})", invocation, None
        )


def _decide(
    invocation: Invocation,
    clients: Clients,
    remaining_s: float,
    resolver: Resolver,
    clock: Callable[[], float],
    started: float,
) -> Outcome:
    carried = read_progress(invocation.progress)
    plan = plan_stage(invocation, clients.ecs, clients.elb)
    if isinstance(plan, Decision):
        line = error_json(NOT_MEASURED, plan.reason, invocation.settings.url)
        return _outcome(plan.status, plan.reason, invocation, None, line)
    settings = invocation.settings
    progress = continued(carried, plan.key, clock())
    groups = tuple(WeightGroup(ids, weight) for ids, weight in plan.groups if ids)
    named = sum(len(group.replicas) for group in groups)
    expectation = Expectation(
        replica_range=(named, named),  # exactly the replicas named, as --expect-weights expects
        algorithm=settings.algorithm,
        alpha=settings.alpha,
        max_error_rate=plan.max_error_rate,
        weights=groups,
    )
    shares = tuple(expected_shares(groups).values())
    needed = default_requests(len(shares), settings.alpha, shares=shares)
    elapsed = clock() - progress.started_at
    budget = remaining_s - MARGIN_S - (time.monotonic() - started)
    if elapsed > settings.stage_seconds:
        return _unfinished(invocation, plan, progress, needed, elapsed, "over the stage's earlier calls")
    if budget < MEASURE_FLOOR_S:
        return _unfinished(invocation, plan, progress, needed, elapsed, f"{max(budget, 0):.1f} s left in this call")

    target = dataclasses.replace(Target.parse(settings.url), headers=plan.header)
    workload = Workload(
        requests=max(needed - progress.requests, 1),
        concurrency=CONCURRENCY,
        timeout_s=TIMEOUT_S,
        wait_s=budget / 2,
        identity=Identity("json", "replica"),
        expected_replicas=1,  # the balancer answers; which replicas do is what the measuring shows
    )
    tls = tls_context(None) if target.scheme == "https" else None
    try:
        addresses, warmup = wait_for_ready(target, workload, resolver, tls=tls)
        left = remaining_s - MARGIN_S - (time.monotonic() - started)
        budgeted = dataclasses.replace(workload, budget_s=max(left, 0.1))
        tally = send_requests(target, budgeted, addresses, warmup, tls=tls)
    except CouldNotMeasure as error:
        return _failed(f"{plan.step}: {error}", invocation, plan)
    progress.into(tally)
    tally.target_health = {"start": plan.target_health} if plan.target_health else None
    progress.record(tally)
    elapsed = clock() - progress.started_at
    if tally.requests < needed:
        return _unfinished(invocation, plan, progress, needed, elapsed, "the call's time ran out")
    verdict = judge(tally, expectation)
    status = SUCCEEDED if verdict.even else FAILED
    reason = f"{plan.step}: {verdict.reason}"
    line = report_json(verdict, tally)
    line["notes"] = [*plan.notes, *line["notes"]]
    return _outcome(status, reason, invocation, plan, line, progress=progress, elapsed=elapsed)


def _unfinished(
    invocation: Invocation, plan: StagePlan, progress: Progress, needed: int, elapsed: float, why: str
) -> Outcome:
    """Fewer requests than the judgement needs: the next call goes on (IN_PROGRESS, the counts carried),
    unless the stage is past its bound, which fails what was not judged."""
    measured = f"{plan.step}: measured {progress.requests} of the {needed} requests the judgement needs"
    bound = invocation.settings.stage_seconds
    if elapsed > bound:
        reason = f"{measured} in {elapsed:.0f} s, beyond the stage's {bound:g} s ({why}): not judged, so not passed"
        status, verdict = FAILED, "error"
    else:
        reason = f"{measured} ({why}); the next call continues"
        status, verdict = IN_PROGRESS, PENDING
    line = error_json(verdict, reason, invocation.settings.url)
    line.update(replicas=dict(progress.counts), requests=progress.requests, errors=dict(progress.errors))
    outcome = _outcome(status, reason, invocation, plan, line, progress=progress, elapsed=elapsed)
    if status == IN_PROGRESS:
        outcome.answer.update(callBackDelay=CALL_BACK_S, hookDetails=progress.details())
    return outcome


def _failed(reason: str, invocation: Invocation | None, plan: StagePlan | None) -> Outcome:
    url = invocation.settings.url if invocation is not None else None
    return _outcome(FAILED, reason, invocation, plan, error_json("error", reason, url))


def _outcome(
    status: str,
    reason: str,
    invocation: Invocation | None,
    plan: StagePlan | None,
    line: dict[str, Any],
    *,
    progress: Progress | None = None,
    elapsed: float | None = None,
) -> Outcome:
    line = {
        **line,
        "reason": reason,
        "stage": invocation.stage if invocation else None,
        "revision": invocation.green if invocation else None,
        "step": plan.step if plan else None,
        "hook_status": status,
        "calls": progress.calls if progress else None,
        "stage_elapsed_s": None if elapsed is None or not math.isfinite(elapsed) else round(elapsed, 3),
    }
    return Outcome(answer={"hookStatus": status}, line=line)


def _boto3_clients() -> Clients:
    """boto3's ECS and ELBv2 clients, each call bounded (connect and read 10 s, botocore's standard retries)."""
    import boto3  # Lambda's Python runtime has it; imported here, so importing the handler stays quick
    from botocore.config import Config

    config = Config(connect_timeout=10, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
    return Clients(ecs=boto3.client("ecs", config=config), elb=boto3.client("elbv2", config=config))
