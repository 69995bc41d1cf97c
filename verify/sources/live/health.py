"""Target health: what the balancer's own health checks say of each registered target.

From HAProxy's stats CSV (the rehearsal) or from AWS, through boto3 when it is importable, else the `aws` CLI:
`describe-target-health` of a target group, or of the group(s) a listener rule forwards production to now
(`describe-rules`: the groups of weight above 0; ECS moves a shifting stack's production rule from group to group).
Only reads: judging the states is `judge`'s. Everything is bounded: the HTTP read by `--timeout` and a size cap,
the CLI by a timeout.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from verify.core.addresses import host_port, split_host_port
from verify.core.errors import CouldNotMeasure
from verify.core.tally import TargetState
from verify.core.text import printable
from verify.sources.live.client import Target, within

# Bytes of a stats CSV read: HAProxy writes about 1 KiB a server, so this holds thousands.
STATS_READ_MAX = 4 * 1024 * 1024
# Bound on one `aws elbv2 describe-target-health` (the CLI alone takes a second or two to start).
AWS_TIMEOUT_S = 30
_ARN = re.compile(r"arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:targetgroup/[\w-]+/[0-9a-f]+")
_RULE_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:listener-rule/app/[\w-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+"
)
_USAGE = "use haproxy:http://HOST:PORT/stats;csv or aws:TARGET_GROUP_ARN (or aws:LISTENER_RULE_ARN: its groups now)"
# A stats page is a one-shot fetch, what requests is for. Straight to the URL, as verify's own requests go:
# no proxy and no ~/.netrc credentials taken from the environment (trust_env), no redirect followed.
_DIRECT = requests.Session()
_DIRECT.trust_env = False


@dataclass(frozen=True)
class HealthSource:
    """Where target health is read: `haproxy:URL` (its stats CSV), `aws:TARGET_GROUP_ARN` or
    `aws:LISTENER_RULE_ARN` (the groups the rule forwards to now)."""

    kind: str  # "haproxy" or "aws"
    location: str  # the stats URL or the target group's ARN

    @classmethod
    def parse(cls, spec: str) -> HealthSource:
        kind, _, location = spec.partition(":")
        if kind == "haproxy" and location.startswith(("http://", "https://")):
            Target.parse(location)  # the same checks as verify's URL: no space, a host, a port in range
            return cls(kind, location)
        if kind == "aws" and (_ARN.fullmatch(location) or _RULE_ARN.fullmatch(location)):
            return cls(kind, location)
        raise CouldNotMeasure(f"bad --target-health {spec!r}: {_USAGE}")


@dataclass(frozen=True)
class HealthReading:
    """The targets one source listed; None with a note when the source could not be asked."""

    targets: tuple[TargetState, ...] | None
    note: str | None = None


# A listener rule's forward, read through an elbv2 client: each group's ARN, weight and targets (`arn`, `weight`,
# `targets` of each item). The caller hands it in (verify.sources.hook.fleet.read_rule, which the deploy hook reads
# the production rule with), as this room imports no other source's.
RuleReader = Callable[[Any, str], Sequence[Any]]


def read_target_health(source: HealthSource, timeout_s: float, *, read_rule: RuleReader | None = None) -> HealthReading:
    """What the source says, within `timeout_s` for a stats page and AWS_TIMEOUT_S for AWS, whatever it trickles.
    `read_rule` reads a listener rule's forward (needed for `aws:LISTENER_RULE_ARN`)."""
    if source.kind == "haproxy":
        try:
            return HealthReading(within(timeout_s, lambda: read_haproxy_stats(source.location, timeout_s), "it"))
        except TimeoutError:
            raise CouldNotMeasure(
                f"could not read target health from {source.location}: no whole stats page within --timeout"
                f" {timeout_s:g} s"
            ) from None
    try:
        return within(AWS_TIMEOUT_S, lambda: read_aws_target_health(source.location, read_rule=read_rule), "it")
    except TimeoutError:
        return HealthReading(None, f"target health not read: AWS did not answer within {AWS_TIMEOUT_S} s")


def read_haproxy_stats(url: str, timeout_s: float) -> tuple[TargetState, ...]:
    """The server rows of HAProxy's stats CSV: `addr` (ip:port) and `status` of each; CouldNotMeasure if unreadable."""
    try:
        with _DIRECT.get(url, timeout=timeout_s, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise CouldNotMeasure(
                    f"could not read target health from {url}: it answered {response.status_code}"
                    f" {printable(response.reason or '')}".rstrip()
                )
            text = response.raw.read(STATS_READ_MAX, decode_content=True).decode("utf-8", "replace")
    except (requests.RequestException, OSError, ValueError) as error:
        raise CouldNotMeasure(f"could not read target health from {url}: {_root_cause(error)}") from None
    if not text.startswith("# "):
        raise CouldNotMeasure(f"{url} did not answer with HAProxy's stats CSV (it starts '# pxname,...'): {_USAGE}")
    try:
        rows = csv.DictReader(io.StringIO(text[2:]))
        if not {"svname", "status", "addr"} <= set(rows.fieldnames or ()):
            raise CouldNotMeasure(
                f"{url}: HAProxy's stats CSV has no 'addr' and 'status' columns (HAProxy 1.8 or later)"
            )
        servers = [
            row
            for row in rows
            if row.get("type") == "2" or (row.get("type") is None and row["svname"] not in ("FRONTEND", "BACKEND"))
        ]
    except csv.Error as error:  # a field over csv's size limit, a NUL byte
        raise CouldNotMeasure(f"{url} did not answer with a readable stats CSV: {error}") from None
    # A short row has None for the fields it lacks.
    servers = [{key: value or "" for key, value in row.items() if isinstance(key, str)} for row in servers]
    if any(not row["status"] for row in servers):  # a row cut short: no state to judge, not an unhealthy one
        raise CouldNotMeasure(f"{url}: a server row of HAProxy's stats CSV has no status; {_USAGE}")
    if any(not row["addr"] for row in servers):
        # HAProxy fills `addr` only for a stats page with `stats show-legends`; without it no server has an
        # address, and a target could not be matched to the replica answering from it.
        raise CouldNotMeasure(f"{url}: HAProxy's stats CSV gives no server addresses: add 'stats show-legends'")
    # Escaped as replica ids are: a line break in a field could otherwise forge a line of the report.
    return tuple(TargetState(printable(_bracketed(row["addr"])), printable(row["status"])) for row in servers)


def _bracketed(addr: str) -> str:
    """A target as `ip:port`, an IPv6 address in brackets whether or not the source wrote them."""
    host, port = split_host_port(addr)
    if not port and addr.count(":") > 1 and not addr.startswith("["):
        host, _, port = addr.rpartition(":")
    return host_port(host, port) if port else addr


def _root_cause(error: BaseException) -> BaseException:
    """The error under requests' and urllib3's wrappers ("[Errno 111] Connection refused", "timed out"), not
    their retry pool's sentence around it."""
    seen = {id(error)}
    while True:
        wrapped = (getattr(error, "reason", None), *error.args[:1], error.__cause__, error.__context__)
        inner = next((e for e in wrapped if isinstance(e, BaseException) and id(e) not in seen), None)
        if inner is None:
            return error
        seen.add(id(inner))
        error = inner


def _boto3_elbv2(region: str | None) -> Any | None:
    """An elbv2 client from boto3 with bounded waits, or None when boto3 is not installed."""
    try:
        import boto3
        from botocore.config import Config  # boto3's own dependency
    except ImportError:
        return None
    config = Config(connect_timeout=AWS_TIMEOUT_S, read_timeout=AWS_TIMEOUT_S, retries={"max_attempts": 2})
    return boto3.client("elbv2", region_name=region, config=config)


def read_aws_target_health(
    arn: str,
    *,
    elbv2_client: Callable[[str | None], Any | None] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    read_rule: RuleReader | None = None,
) -> HealthReading:
    """The target group's targets, or those of the group(s) a listener rule forwards to now (`_rule_health`),
    through boto3 or the aws CLI; a note (not a failure) when neither can tell.

    `elbv2_client(region)` gives boto3's client, or None without boto3 (default: `_boto3_elbv2`).
    """
    match = _ARN.fullmatch(arn) or _RULE_ARN.fullmatch(arn)
    region = match.group(1) if match else None
    if _RULE_ARN.fullmatch(arn):
        if read_rule is None:
            return HealthReading(None, "target health not read: no reader of listener rules was given")
        return _rule_health(arn, region, elbv2_client or _boto3_elbv2, which, run, read_rule)
    try:
        client = (elbv2_client or _boto3_elbv2)(region)
        answer = client.describe_target_health(TargetGroupArn=arn) if client is not None else None
    except Exception as error:  # botocore raises many types: no credentials, access denied, network
        return HealthReading(None, f"target health not read through boto3: {error}")
    if answer is not None:
        return HealthReading(_aws_targets(answer))
    if which("aws") is None:
        return HealthReading(None, "target health not checked: neither boto3 nor the aws CLI is installed")
    try:
        answer = _CliElbv2(region, run).describe_target_health(TargetGroupArn=arn)
    except (OSError, subprocess.TimeoutExpired, RuntimeError) as error:
        return HealthReading(None, f"target health not read: aws elbv2 describe-target-health: {error}")
    except ValueError as error:
        return HealthReading(None, f"target health not read: the aws CLI printed no target list ({error!r})")
    try:
        return HealthReading(_aws_targets(answer))
    except (ValueError, TypeError, KeyError) as error:
        return HealthReading(None, f"target health not read: the aws CLI printed no target list ({error!r})")


def _aws_targets(answer: Any) -> tuple[TargetState, ...]:
    return tuple(
        TargetState(
            printable(host_port(str(item["Target"]["Id"]), item["Target"].get("Port", ""))),
            printable(str(item["TargetHealth"]["State"])),
        )
        for item in answer["TargetHealthDescriptions"]
    )


def _rule_health(
    arn: str,
    region: str | None,
    elbv2_client: Callable[[str | None], Any | None],
    which: Callable[[str], str | None],
    run: Callable[..., subprocess.CompletedProcess[str]],
    read_rule: RuleReader,
) -> HealthReading:
    """The targets of the group(s) the listener rule forwards to now (weight above 0), with a note saying which
    and by what share."""
    try:
        client = elbv2_client(region)
    except Exception as error:  # botocore raises many types: no credentials, a bad region
        return HealthReading(None, f"target health not read through boto3: {error}")
    if client is None:
        if which("aws") is None:
            return HealthReading(None, "target health not checked: neither boto3 nor the aws CLI is installed")
        client = _CliElbv2(region, run)
    try:
        groups = read_rule(client, arn)
    except CouldNotMeasure as error:
        return HealthReading(None, f"target health not read: {error}")
    total = sum(group.weight for group in groups)
    serving = [group for group in groups if group.weight > 0]
    if not serving:
        return HealthReading(None, f"target health not read: the rule {arn} forwards to no group (all weights 0)")
    shares = ", ".join(f"{_group_name(group.arn)} ({100 * group.weight / total:.3g} %)" for group in serving)
    targets = tuple(
        TargetState(printable(_bracketed(state.target)), printable(state.state))
        for group in serving
        for state in group.targets
    )
    return HealthReading(targets, f"target health of the group(s) the production rule forwards to now: {shares}")


def _group_name(arn: str) -> str:
    """`targetgroup/<name>/<id>` of a target group's ARN, what the ALB's console and metrics call it."""
    return printable(arn.split(":", 5)[-1])


class _CliElbv2:
    """elbv2's DescribeRules and DescribeTargetHealth through the aws CLI, answered as boto3's client answers."""

    def __init__(self, region: str | None, run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
        self.region = region
        self.run = run

    def describe_rules(self, *, RuleArns: list[str]) -> dict[str, Any]:
        return self._call("describe-rules", "--rule-arns", *RuleArns)

    def describe_target_health(self, *, TargetGroupArn: str) -> dict[str, Any]:
        return self._call("describe-target-health", "--target-group-arn", TargetGroupArn)

    def _call(self, *arguments: str) -> dict[str, Any]:
        command = ["aws", "elbv2", *arguments, "--output", "json", *(["--region", self.region] if self.region else [])]
        finished = self.run(command, capture_output=True, text=True, timeout=AWS_TIMEOUT_S, check=False)
        if finished.returncode != 0:
            lines = [line.strip() for line in (finished.stderr or "").splitlines() if line.strip()]
            raise RuntimeError(lines[-1] if lines else f"exit code {finished.returncode}")
        answer = json.loads(finished.stdout)
        if not isinstance(answer, dict):
            raise RuntimeError(f"the aws CLI printed {type(answer).__name__}, not an object")
        return answer
