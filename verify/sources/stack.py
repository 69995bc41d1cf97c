"""The Pulumi stack's outputs, for a run without a URL: `pulumi stack output --json [--stack NAME]`."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from verify.core.errors import CouldNotMeasure
from verify.core.numbers import MAX_REPLICAS, BadNumber, read_number

PULUMI_TIMEOUT_S = 120
_GIVE_URL = "or give the URL: python -m verify http://<load balancer name>/"

Runner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class StackOutputs:
    """What verify reads from the stack: where to send requests and what a healthy split looks like."""

    url: str
    replicas: int | None
    max_replicas: int | None
    algorithm: str | None
    subnets: tuple[tuple[str, str], ...]  # (CIDR, zone name) of the replicas' subnets
    target_group_arn: str | None = None  # the primary group: target health read there without the rule below
    # A shifting stack's production listener rule: target health is read from the group(s) it forwards to now
    production_rule_arn: str | None = None
    access_logs: AccessLogOutputs | None = None  # where the ALB's access logs lie (the stack's accessLogs on)


@dataclass(frozen=True)
class AccessLogOutputs:
    """Where `verify --access-logs` finds the logs: the bucket, the region, and Athena's table and workgroup."""

    location: str  # s3://bucket/prefix/ the ALB writes below
    region: str | None
    athena_database: str | None
    athena_table: str | None
    athena_workgroup: str | None


def read_stack_outputs(stack: str | None = None, run: Runner = subprocess.run) -> StackOutputs:
    """The current (or named) stack's outputs; CouldNotMeasure says what to do when there are none."""
    command = ["pulumi", "stack", "output", "--json", *(["--stack", stack] if stack else [])]
    which = f"stack {stack}" if stack else "the current stack"
    try:
        finished = run(command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise CouldNotMeasure(f"the pulumi CLI is not installed (or not on PATH): install it, {_GIVE_URL}") from None
    except subprocess.TimeoutExpired:
        raise CouldNotMeasure(f"pulumi stack output took longer than {PULUMI_TIMEOUT_S} s; {_GIVE_URL}") from None
    if finished.returncode != 0:
        lines = [line.strip() for line in (finished.stderr or "").splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {finished.returncode}"
        raise CouldNotMeasure(
            f"pulumi stack output failed for {which}: {detail}; select a stack with --stack, {_GIVE_URL}"
        )
    try:
        outputs = json.loads(finished.stdout or "{}")
    except (ValueError, RecursionError):
        raise CouldNotMeasure(f"pulumi stack output printed something that is not JSON; {_GIVE_URL}") from None
    if not isinstance(outputs, dict) or not outputs:
        raise CouldNotMeasure(f"{which} has no outputs: run pulumi up first, {_GIVE_URL}")
    return parse_outputs(outputs, which)


def parse_outputs(outputs: dict[str, object], which: str = "the stack") -> StackOutputs:
    url = outputs.get("url")
    if not isinstance(url, str) or not url:
        raise CouldNotMeasure(f"{which} has no 'url' output (outputs: {', '.join(sorted(outputs))}); {_GIVE_URL}")
    subnets = outputs.get("replica_subnets") or {}
    if not isinstance(subnets, dict) or not all(isinstance(zone, str) for zone in subnets.values()):
        raise CouldNotMeasure(f"{which}'s 'replica_subnets' output must map CIDR to zone name, not {subnets!r:.200}")
    for cidr in subnets:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise CouldNotMeasure(
                f"{which}'s 'replica_subnets' output has {cidr!r:.100}, which is not a CIDR such as 10.0.1.0/24"
            ) from None
    algorithm = outputs.get("algorithm")
    target_group_arn = outputs.get("target_group_arn")
    production_rule_arn = outputs.get("production_listener_rule_arn")
    return StackOutputs(
        url=url,
        replicas=_count(outputs, "replicas", which),
        max_replicas=_count(outputs, "max_replicas", which),
        algorithm=algorithm if isinstance(algorithm, str) else None,
        subnets=tuple((str(cidr), zone) for cidr, zone in subnets.items()),
        target_group_arn=target_group_arn if isinstance(target_group_arn, str) and target_group_arn else None,
        production_rule_arn=production_rule_arn
        if isinstance(production_rule_arn, str) and production_rule_arn
        else None,
        access_logs=_access_log_outputs(outputs),
    )


def _access_log_outputs(outputs: dict[str, object]) -> AccessLogOutputs | None:
    def text(key: str) -> str | None:
        value = outputs.get(key)
        return value if isinstance(value, str) and value else None

    location = text("access_logs_location")
    if location is None:
        return None
    return AccessLogOutputs(
        location=location,
        region=text("access_logs_region"),
        athena_database=text("athena_database"),
        athena_table=text("athena_table"),
        athena_workgroup=text("athena_workgroup"),
    )


def _count(outputs: dict[str, object], key: str, which: str) -> int | None:
    """A replica count, read as every number verify takes: whole, finite, 1 to MAX_REPLICAS."""
    value = outputs.get(key)
    if value is None:
        return None
    try:
        # Pulumi may hand numbers back as floats (3.0) or, from some programs, as strings ("3").
        return int(read_number(value, 1, MAX_REPLICAS, whole=True))
    except BadNumber as error:
        raise CouldNotMeasure(
            f"{which}'s {key!r} output must be a whole number from 1 to {MAX_REPLICAS}: {error}"
        ) from None
