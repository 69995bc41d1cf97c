"""The stack settings: read once, validated once, handed to the components as typed values.

The keys, their types, defaults and meanings are declared once, in the `config:` block of
`Pulumi.yaml`. This module takes the stack's values from Pulumi (`from_pulumi`) or from a
`Pulumi.<stack>.yaml` file (`from_stack_file`, for the local tools, which have no Pulumi CLI),
applies the rules the Pulumi CLI applies before any program runs (`stack_config`), and checks every
value against what AWS and this program accept. Every problem is reported at once, in one
`SettingsError`, before any resource exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import hashlib
import ipaddress
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from components.aws_limits import (
    BAKE_MINUTES,
    CANARY_PERCENT,
    CERTIFICATE_DOMAIN,
    DEREGISTRATION_DELAY,
    HEALTH_CHECK_INTERVAL,
    HEALTH_CHECK_THRESHOLD,
    HEALTH_CHECK_TIMEOUT,
    LINEAR_STEP_PERCENT,
    LOG_RETENTION_DAYS,
    NAME_MAX,
    name_problem,
)
from components.aws_tables import (
    ALB_FREE_ADDRESSES,
    ALGORITHMS,
    CPU_ARCHITECTURES,
    SUBNET_RESERVED_ADDRESSES,
    Algorithm,
    CpuArchitecture,
    fargate_size_problem,
    ipv6_image_problem,
    ipv6_only_region_problem,
)
from components.errors import SettingsError, shown
from components.options import (
    DEPLOYMENT_MAXIMUM_PERCENT,
    FARGATE_MAX_STOP_TIMEOUT_SECONDS,
    GRACEFUL_STOP_SECONDS,
    NAT_GATEWAYS,
    NODE_LAG_SECONDS,
    REPLICA_ADDRESSINGS,
    STEADY_STATE_MARGIN_SECONDS,
    STEADY_STATE_TIMEOUT_MAX_SECONDS,
    TASK_START_SECONDS,
    Capacity,
    DeploymentStrategy,
    HealthCheck,
    NatGateways,
    ReplicaAddressing,
    RollbackAlarmTiming,
    StopTiming,
    subnet_prefix_length,
)
from policy.rules.elb import ELB_1_HTTP_REDIRECTS_TO_HTTPS
from replica.nginx import HEALTH_PATH_RULE, health_path_fits
from stack_config import (
    PROJECT_DIR,
    PROJECT_NAME,
    apply_cli_rules,
    config_schema,
    config_string,
    stack_file_region,
    stack_file_values,
)

# `capacity`: on-demand, spot, or mixed:N (N tasks on demand, the rest on Spot).
_MIXED_CAPACITY = re.compile(r"^mixed:([0-9]{1,3})$")
# `deploymentStrategy`: rolling, blue-green, linear:STEP or canary:PERCENT (a percent, at most one decimal:
# ECS takes multiples of 0.1, aws_limits.LINEAR_STEP_PERCENT and CANARY_PERCENT).
_SHIFTING_STRATEGY = re.compile(r"^(linear|canary):([0-9]{1,3}(?:\.[0-9])?)$")

# Inclusive ranges of the integer keys: the one table of them (Pulumi.yaml's and docs/configuration.md's
# descriptions state the same; a test holds them).
_MAX_REPLICAS = 100
# Where a key is a number AWS bounds, its range is AWS's (components/aws_limits.py).
RANGES: dict[str, tuple[int, int]] = {
    "replicas": (1, _MAX_REPLICAS),
    "azCount": (2, 6),
    "containerPort": (1024, 65535),
    "healthCheckIntervalSeconds": HEALTH_CHECK_INTERVAL.range,
    "healthCheckTimeoutSeconds": HEALTH_CHECK_TIMEOUT.range,
    "healthyThreshold": HEALTH_CHECK_THRESHOLD.range,
    "unhealthyThreshold": HEALTH_CHECK_THRESHOLD.range,
    "deregistrationDelaySeconds": DEREGISTRATION_DELAY.range,
    "healthCheckGracePeriodSeconds": (0, 3600),
    "requestsPerTarget": (1, 1_000_000),
    "cpuTargetPercent": (10, 90),
    "accessLogRetentionDays": (1, 3650),
    "deploymentBakeMinutes": BAKE_MINUTES.range,
    "deploymentStepBakeMinutes": BAKE_MINUTES.range,
}

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

# Names reserved for examples and tests, which no one can register and so no account holds a Route 53 zone
# for: example.com, example.org and example.net (RFC 2606, section 3) and the top-level names .example, .test,
# .invalid and .localhost (RFC 2606, section 2; RFC 6761). A stack that names one fails `pulumi preview` at
# the zone's look-up (aws.route53.getZone runs in a preview too), in the middle of the run.
RESERVED_ZONES: tuple[str, ...] = (
    "example.com",
    "example.org",
    "example.net",
    "example",
    "test",
    "invalid",
    "localhost",
)
_SET_DOMAIN = "pulumi config set domain app.<your zone> && pulumi config set zone <your zone>"
_CONTAINER_USER = re.compile(r"^[0-9]+(?::[0-9]+)?$")


@dataclasses.dataclass(frozen=True)
class StackSettings:
    """Every setting of one stack, typed and checked. Field meanings: `Pulumi.yaml`.

    After `project` and `stack`, one field per key of Pulumi.yaml, named as the key in snake_case
    (`stack_key` gives the key; a test holds the two sets equal).
    """

    project: str
    stack: str
    name_prefix: str
    replicas: int
    max_replicas: int
    algorithm: Algorithm
    az_count: int
    nat_gateways: NatGateways
    vpc_cidr: str
    image: str
    container_port: int
    container_user: str
    health_check_path: str
    cpu: int
    memory: int
    health_check_interval_seconds: int
    health_check_timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay_seconds: int
    health_check_grace_period_seconds: int
    log_retention_days: int
    container_insights: bool
    domain: str | None
    zone: str | None
    requests_per_target: int
    cpu_target_percent: int
    access_logs: bool
    access_log_retention_days: int
    deletion_protection: bool
    flow_logs: bool
    cross_zone: bool
    capacity: Capacity
    cpu_architecture: CpuArchitecture
    deployment_strategy: DeploymentStrategy
    deployment_bake_minutes: int
    deployment_step_bake_minutes: int
    deployment_test_traffic: bool
    deployment_verify: bool
    replica_addressing: ReplicaAddressing

    @property
    def ipv6_only(self) -> bool:
        """Replicas in IPv6-only subnets behind a dual-stack load balancer (docs/ipv6.md)."""
        return self.replica_addressing == "ipv6-only"

    @property
    def task_public_ipv4(self) -> bool:
        """Each task has a public IPv4 address: IPv4 replicas in public subnets, their only way out without NAT."""
        return not self.ipv6_only and self.nat_gateways == "none"

    @property
    def health_check(self) -> HealthCheck:
        """How the load balancer (or the rehearsal's HAProxy) probes each replica."""
        return HealthCheck(
            path=self.health_check_path,
            interval_seconds=self.health_check_interval_seconds,
            timeout_seconds=self.health_check_timeout_seconds,
            healthy_threshold=self.healthy_threshold,
            unhealthy_threshold=self.unhealthy_threshold,
        )

    @property
    def stop_timing(self) -> StopTiming:
        """How long a replica fails its health check before it stops, and the container's stop timeout."""
        return StopTiming.of(self.health_check)

    @property
    def rollback_alarm_timing(self) -> RollbackAlarmTiming:
        """The rollback alarms' periods and data points, chosen with the replicas' stop (see RollbackAlarmTiming)."""
        return RollbackAlarmTiming.of(self.stop_timing)

    @property
    def seconds_to_healthy(self) -> int:
        """A new replica's passed checks before it gets traffic: interval x healthy threshold."""
        return self.health_check_interval_seconds * self.healthy_threshold

    @property
    def deploy_scale_up_seconds(self) -> int:
        """At most, from a new task's start (assumed TASK_START_SECONDS) to its first request: ECS ignores
        failed checks for the grace period, so the longer of that and the checks to healthy."""
        return TASK_START_SECONDS + max(self.seconds_to_healthy, self.health_check_grace_period_seconds)

    @property
    def deploy_retire_seconds(self) -> int:
        """At most, from an old task's deregistration to its stop: the drain, then the container's stop timeout."""
        return self.deregistration_delay_seconds + self.stop_timing.timeout_seconds

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas > self.replicas

    @property
    def https(self) -> bool:
        return self.domain is not None

    @property
    def serves_nginx_contract(self) -> bool:
        """An nginx image is given the replica config at start; any other image brings its own."""
        return image_repository(self.image).rsplit("/", 1)[-1] == "nginx"


def from_pulumi() -> StackSettings:
    """The settings of the stack `pulumi up` is running: every key, as the CLI hands it over, and
    complete for a deploy (`deploy_problem`)."""
    import pulumi

    config = pulumi.Config()
    raw = {key: config.get(key) for key in config_schema()}
    # aws:region as the CLI hands it over; unset, the provider takes AWS_REGION, and Network checks what it finds.
    region = pulumi.Config("aws").get("region")
    parsed = parse_settings(raw, project=pulumi.get_project(), stack=pulumi.get_stack(), region=region)
    problem = deploy_problem(parsed)
    if problem:
        raise SettingsError(problem)
    return parsed


def https_required(stack: str, project_dir: Path = PROJECT_DIR) -> bool:
    """Whether the policy pack requires HTTPS (ELB.1) of `stack`: unless `policy/<stack>.json` turns that rule
    off (dev's does), the pack runs every rule; the workflow passes the file when there is one."""
    path = project_dir / "policy" / f"{stack}.json"
    if not path.is_file():
        return True
    try:
        levels = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SettingsError(f"policy/{stack}.json: not a policy pack config ({error})") from None
    rule = levels.get(ELB_1_HTTP_REDIRECTS_TO_HTTPS.id, levels.get("all")) if isinstance(levels, dict) else None
    level = rule.get("enforcementLevel") if isinstance(rule, dict) else rule
    return level != "disabled"


def deploy_problem(settings: StackSettings, project_dir: Path = PROJECT_DIR) -> str | None:
    """What a stack lacks before it can be deployed, in one line, or None: a domain of the user's own
    where the policy pack requires HTTPS. A fresh fork's prod has none; the local tools (estimate,
    rehearsal) run without one, and the workflow skips such a stack (`python -m settings --github`)."""
    if settings.https or not https_required(settings.stack, project_dir):
        return None
    stack = settings.stack
    return (
        f"domain: {stack} serves HTTPS on a domain of yours (the policy pack requires it, ELB.1) and none is set; "
        f"set both before a deploy: pulumi config set --stack {stack} domain app.<your zone> && "
        f"pulumi config set --stack {stack} zone <your zone> (a Route 53 public hosted zone of the account)"
    )


def from_stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> StackSettings:
    """The settings in `Pulumi.<stack>.yaml`, for tools that run without the Pulumi CLI."""
    values = stack_file_values(stack, project_dir)
    return parse_settings(values, project=PROJECT_NAME, stack=stack, region=stack_file_region(stack, project_dir))


def parse_settings(raw: Mapping[str, object], *, project: str, stack: str, region: str | None = None) -> StackSettings:
    """Turn the stack's values (strings from Pulumi, or YAML scalars) into checked settings.

    First the Pulumi CLI's rules (`cli_config`: types, defaults), so a value here is exactly what
    `pulumi up` hands the program. `region` is the stack's `aws:region` where it names one (what only
    the region decides is checked then). Raises one SettingsError that lists every bad key, its value
    and what is allowed.
    """
    schema = config_schema()
    handed, problems = apply_cli_rules(stack, raw, schema)
    for key in sorted(set(raw) - set(schema)):
        problems.append(f"{key}: unknown setting; known settings: {', '.join(sorted(schema))}")

    if any(key not in handed and "default" not in spec for key, spec in schema.items()):
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems))
    # A value the CLI would refuse is replaced by its default here, so the checks below name every other problem.
    values: dict[str, Any] = {
        key: _convert(handed.get(key, config_string(spec["default"])), spec["type"]) for key, spec in schema.items()
    }

    problems += _check(values)
    problems += _check_addressing(values, region)
    if problems:
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems))

    # One field per key, named as the key in snake_case; three read their key with a meaning of its own.
    fields = {field: values[stack_key(field)] for field in settings_fields()}
    settings = StackSettings(
        project=project,
        stack=stack,
        **{
            **fields,
            "name_prefix": values["namePrefix"] or default_name_prefix(project, stack),
            "max_replicas": values["maxReplicas"] or values["replicas"],
            "capacity": _capacity(values["capacity"]),
            "deployment_strategy": _deployment_strategy(values),
        },
    )
    problem = (
        _bake_decides_problem(settings)
        or _deploy_wait_problem(settings)
        or _default_prefix_problem(settings, values["namePrefix"])
    )
    if problem:
        raise SettingsError("invalid stack settings:\n  " + problem)
    return settings


def _default_prefix_problem(settings: StackSettings, name_prefix: str | None) -> str | None:
    """A project or stack whose `<project>-<stack>` prefix makes a name AWS refuses (an S3 bucket "xn--...")."""
    problem = name_problem(settings.name_prefix) if name_prefix is None else None
    if problem is None:
        return None
    return (
        f"namePrefix: unset, and the default from project {shown(settings.project)} and stack"
        f" {shown(settings.stack)} does not fit: {problem}; set namePrefix"
    )


def _bake_decides_problem(settings: StackSettings) -> str | None:
    """A shifting deploy whose bake or step bake ends before the rollback alarms can fire: a bad canary (or step)
    would be alarmed only after the rest of the traffic moved, a bad revision after blue stopped."""
    strategy = settings.deployment_strategy
    if not strategy.shifts_traffic:
        return None
    timing = settings.rollback_alarm_timing
    least = timing.minutes_to_decide
    steps = len(strategy.green_shares())
    for key, minutes, applies in (
        ("deploymentStepBakeMinutes", strategy.step_bake_minutes, steps > 1),
        ("deploymentBakeMinutes", strategy.bake_minutes, True),
    ):
        if applies and minutes < least:
            return (
                f"{key}: {minutes} minutes is shorter than the rollback alarms take to fire ({timing.explained()}), "
                f"so {strategy.label} would move on before an alarm could stop it; allowed: {least} to "
                f"{BAKE_MINUTES.high:g}"
            )
    return None


def _deploy_wait_problem(settings: StackSettings) -> str | None:
    """A deploy `pulumi up` could not wait for: the strategy's steps and bake times past its longest wait.
    A rolling deploy stays hours below it at any value the ranges allow (one batch at 200 %, each step at
    most an hour or two), so only the bake times of a shifting one can pass it."""
    strategy = settings.deployment_strategy
    if not strategy.shifts_traffic:
        return None
    both_run = strategy.seconds_both_revisions_run(settings.deploy_scale_up_seconds, settings.deploy_retire_seconds)
    wait = both_run + STEADY_STATE_MARGIN_SECONDS
    if wait <= STEADY_STATE_TIMEOUT_MAX_SECONDS:
        return None
    steps = len(strategy.green_shares())
    return (
        f"deploymentBakeMinutes: {strategy.bake_minutes} with deploymentStepBakeMinutes {strategy.step_bake_minutes} "
        f"over the {steps} shift(s) of {strategy.label}: pulumi up would wait {wait} s for the deploy; allowed: "
        f"at most {STEADY_STATE_TIMEOUT_MAX_SECONDS} s (shorter bake times, or larger steps)"
    )


def settings_fields() -> list[str]:
    """The StackSettings fields that stack keys set: all but `project` and `stack`."""
    return [field.name for field in dataclasses.fields(StackSettings) if field.name not in ("project", "stack")]


def stack_key(field_name: str) -> str:
    """The stack key of a StackSettings field: `az_count` is set as `azCount`."""
    first, *rest = field_name.split("_")
    return first + "".join(word.capitalize() for word in rest)


# Component arguments set by a stack key of another name; the others are named as the settings field.
_KEY_OF_ARGUMENT = {"name": "namePrefix", "capacity.on_demand_base": "capacity"}


def in_stack_keys(error: SettingsError) -> SettingsError:
    """A component's error (worded in its own argument names) reworded with the stack key a user sets."""
    if error.argument is None:
        return error
    return SettingsError(error.problem, argument=_KEY_OF_ARGUMENT.get(error.argument) or stack_key(error.argument))


def default_name_prefix(project: str, stack: str) -> str:
    """`<project>-<stack>` made fit for AWS names; over 20 characters, cut and given a hash.

    A cut name keeps the start of the project and as much of the stack as fits, and the hash of
    the whole keeps two long stack names that share a beginning from colliding.
    """

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")

    stem = clean(f"{project}-{stack}") or "stack"
    if len(stem) <= NAME_MAX:
        return stem
    digest = hashlib.sha256(f"{project}/{stack}".encode()).hexdigest()[:6]
    room = NAME_MAX - len(digest) - 1  # for "<cut>-<digest>"
    project_part = clean(project)[:5].strip("-")
    stack_part = clean(stack)[: room - len(project_part) - 1].strip("-")
    cut = "-".join(part for part in (project_part, stack_part) if part) or "stack"
    return f"{cut}-{digest}"


def image_repository(image: str) -> str:
    """`registry/path/name` of an image reference, without its tag or digest."""
    name = image.split("@", 1)[0]
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > last_slash else name


def _convert(text: str, kind: str) -> object:
    """A value the CLI's type check passed, as the type it declares; an empty string means unset."""
    if kind == "integer":
        return int(text)
    if kind == "boolean":
        return text == "true"
    return text.strip() or None


def _check(values: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    for key, (low, high) in RANGES.items():
        value = values[key]
        if value is not None and not low <= value <= high:
            problems.append(f"{key}: {value} is out of range; allowed: {low} to {high}")

    def problems_of(keys: tuple[str, ...]) -> bool:
        return any(problem.startswith(f"{key}:") for problem in problems for key in keys)

    def one_of(key: str, allowed: tuple[object, ...]) -> None:
        if values[key] not in allowed:
            choices = ", ".join(str(a) for a in allowed)
            problems.append(f"{key}: {shown(values[key])} is not allowed; allowed: {choices}")

    one_of("algorithm", ALGORITHMS)
    one_of("natGateways", NAT_GATEWAYS)
    one_of("logRetentionDays", LOG_RETENTION_DAYS)
    one_of("cpuArchitecture", CPU_ARCHITECTURES)
    problems += _check_capacity(values["capacity"], values["replicas"])
    problems += _check_deployment_strategy(values["deploymentStrategy"])

    fargate_problem = fargate_size_problem(values["cpu"], values["memory"])
    if fargate_problem:
        problems.append(fargate_problem)

    interval, timeout = values["healthCheckIntervalSeconds"], values["healthCheckTimeoutSeconds"]
    if timeout >= interval:
        problems.append(f"healthCheckTimeoutSeconds: {timeout} must be below healthCheckIntervalSeconds ({interval})")

    problems += _check_stop_timing(values)

    # The target group takes up to 1024 characters; the replica's nginx config, not every character.
    path = values["healthCheckPath"] or ""
    if not health_path_fits(path) or len(path) > 1024:
        problems.append(f"healthCheckPath: {shown(path)} {HEALTH_PATH_RULE}, and have at most 1024 characters")

    max_replicas, replicas = values["maxReplicas"], values["replicas"]
    if max_replicas != 0 and not replicas <= max_replicas <= _MAX_REPLICAS:
        where = f"below replicas ({replicas})" if max_replicas < replicas else "out of range"
        problems.append(
            f"maxReplicas: {max_replicas} is {where}; allowed: 0 (same as replicas) or {replicas} to {_MAX_REPLICAS}"
        )

    vpc_problems = _check_vpc_cidr(values["vpcCidr"])
    problems += vpc_problems
    if not vpc_problems and not problems_of(("azCount", "replicas", "maxReplicas", "natGateways")):
        problems += _check_room_for_tasks(values)
    problems += _check_image(values["image"])
    problems += _check_domain(values["domain"], values["zone"])

    user = values["containerUser"]
    if not user or not _CONTAINER_USER.match(user) or user.split(":")[0] == "0":
        problems.append(f"containerUser: {shown(user)} must be a numeric non-root uid or uid:gid, e.g. 101:101")

    prefix = values["namePrefix"]
    problem = name_problem(prefix) if prefix is not None else None
    if problem:
        problems.append(f"namePrefix: {problem}")
    return problems


def _check_stop_timing(values: dict[str, Any]) -> list[str]:
    """A replica fails its health check until every node has stopped sending to it, then stops, within
    Fargate's largest stop timeout."""
    interval, threshold = values["healthCheckIntervalSeconds"], values["unhealthyThreshold"]
    problem = StopTiming.of(HealthCheck(interval_seconds=interval, unhealthy_threshold=threshold)).problem()
    if problem is None:
        return []
    most = FARGATE_MAX_STOP_TIMEOUT_SECONDS - GRACEFUL_STOP_SECONDS - NODE_LAG_SECONDS
    return [
        f"unhealthyThreshold x healthCheckIntervalSeconds: {threshold} x {interval} s makes {problem}; allowed: "
        f"a product of at most {most} s (plus {NODE_LAG_SECONDS} s for every balancer node to notice)"
    ]


def _capacity(text: str) -> Capacity:
    """A checked `capacity` value as the service's Capacity."""
    mixed = _MIXED_CAPACITY.match(text)
    return Capacity(spot=text != "on-demand", on_demand_base=int(mixed.group(1)) if mixed else 0)


def _check_capacity(text: str | None, replicas: int) -> list[str]:
    if text in ("on-demand", "spot"):
        return []
    mixed = _MIXED_CAPACITY.match(text or "")
    if mixed and 1 <= int(mixed.group(1)) <= replicas:
        return []
    return [
        f"capacity: {shown(text or '')} is not allowed; allowed: on-demand, spot, or mixed:N with N from 1 to "
        f"replicas ({replicas}): N tasks on demand, the rest on Spot"
    ]


def deployment_strategy_of(text: str, settings: StackSettings) -> DeploymentStrategy:
    """A strategy written as `deploymentStrategy` takes it, with the stack's bake times and test traffic
    (the rehearsal's --strategy); SettingsError names what is allowed."""
    problems = _check_deployment_strategy(text)
    if problems:
        raise SettingsError(problems[0].split(": ", 1)[1], argument="deploymentStrategy")
    return _deployment_strategy(
        {
            "deploymentStrategy": text,
            "deploymentBakeMinutes": settings.deployment_bake_minutes,
            "deploymentStepBakeMinutes": settings.deployment_step_bake_minutes,
            "deploymentTestTraffic": settings.deployment_test_traffic,
            "deploymentVerify": settings.deployment_verify,
        }
    )


def _deployment_strategy(values: dict[str, Any]) -> DeploymentStrategy:
    """The checked `deploymentStrategy` and its bake times as the service's DeploymentStrategy."""
    text = values["deploymentStrategy"]
    shifting = _SHIFTING_STRATEGY.match(text)
    return DeploymentStrategy(
        kind=shifting.group(1) if shifting else text,
        percent=float(shifting.group(2)) if shifting else None,
        bake_minutes=values["deploymentBakeMinutes"],
        step_bake_minutes=values["deploymentStepBakeMinutes"],
        test_traffic=values["deploymentTestTraffic"],
        hook=bool(shifting or text == "blue-green") and values["deploymentVerify"],
    )


def _check_deployment_strategy(text: str | None) -> list[str]:
    if text in ("rolling", "blue-green"):
        return []
    allowed = (
        f"allowed: rolling, blue-green, linear:STEP (STEP from {LINEAR_STEP_PERCENT.low:g} to "
        f"{LINEAR_STEP_PERCENT.high:g} % per step) or canary:PERCENT (PERCENT from {CANARY_PERCENT.low:g} to "
        f"{CANARY_PERCENT.high:g}), in steps of 0.1 as ECS takes them (at most one decimal)"
    )
    shifting = _SHIFTING_STRATEGY.match(text or "")
    if shifting:
        rule = LINEAR_STEP_PERCENT if shifting.group(1) == "linear" else CANARY_PERCENT
        if rule.problem(float(shifting.group(2))) is None:
            return []
        return [f"deploymentStrategy: {shown(text)} is out of range; {allowed}"]
    return [f"deploymentStrategy: {shown(text or '')} is not allowed; {allowed}"]


def _check_vpc_cidr(cidr: str | None) -> list[str]:
    try:
        network = ipaddress.ip_network(cidr or "", strict=True)
    except ValueError:
        return [f"vpcCidr: {shown(cidr)} is not an IPv4 network such as 10.0.0.0/16 (host bits must be zero)"]
    if network.version != 4 or not 16 <= network.prefixlen <= 24:
        return [f"vpcCidr: {shown(cidr)} must be an IPv4 network with a prefix from /16 to /24"]
    return []


def _check_room_for_tasks(values: dict[str, Any]) -> list[str]:
    """A deploy runs up to DEPLOYMENT_MAXIMUM_PERCENT of the tasks, each with an address in its zone's
    replica subnet; without NAT those are the load balancer's subnets, which keep ALB_FREE_ADDRESSES
    free. ECS spreads tasks evenly over the zones, and cannot start one in a full subnet. IPv6-only
    replicas take no IPv4 address: their /64s hold more tasks than any range here allows."""
    if values["replicaAddressing"] == "ipv6-only":
        return []
    cidr, az_count = values["vpcCidr"], values["azCount"]
    most = values["maxReplicas"] or values["replicas"]
    prefix = subnet_prefix_length(ipaddress.ip_network(cidr).prefixlen, az_count)
    addresses = 2 ** (32 - prefix)
    shares_alb_subnet = values["natGateways"] == "none"
    room = addresses - SUBNET_RESERVED_ADDRESSES - (ALB_FREE_ADDRESSES if shares_alb_subnet else 0)
    needed = math.ceil(most * DEPLOYMENT_MAXIMUM_PERCENT / 100 / az_count)
    if needed <= room:
        return []
    kept = f"AWS's {SUBNET_RESERVED_ADDRESSES}" + (
        f" and the load balancer's {ALB_FREE_ADDRESSES}" if shares_alb_subnet else ""
    )
    return [
        f"vpcCidr: {shown(cidr)} leaves room for {room} tasks per zone in the replicas' /{prefix} subnets ({addresses} "
        f"addresses, less {kept}); a deploy at {DEPLOYMENT_MAXIMUM_PERCENT} % of {most} replicas needs {needed} "
        "per zone; allowed: a larger vpcCidr, fewer azCount or fewer (max)replicas"
    ]


def _check_addressing(values: dict[str, Any], region: str | None) -> list[str]:
    """IPv6-only replicas take only what AWS documents for them (docs/ipv6.md): a region ECS runs them in,
    an image from a registry's dual-stack name, and no NAT gateway, which they could not use."""
    addressing = values["replicaAddressing"]
    if addressing not in REPLICA_ADDRESSINGS:
        return [f"replicaAddressing: {shown(addressing)} is not allowed; allowed: {', '.join(REPLICA_ADDRESSINGS)}"]
    if addressing != "ipv6-only":
        return []
    problems = []
    if region is not None:
        region_problem = ipv6_only_region_problem(region)
        if region_problem:
            problems.append(f"replicaAddressing: ipv6-only in {region}: {region_problem}")
    image = values["image"]
    image_problem = ipv6_image_problem(image_registry(image)) if image and not _check_image(image) else None
    if image_problem:
        problems.append(f"image: {shown(image)} with replicaAddressing ipv6-only: {image_problem}")
    if values["natGateways"] != "none":
        problems.append(
            f"natGateways: {shown(values['natGateways'])} with replicaAddressing ipv6-only: IPv6-only replicas reach"
            " out through the egress-only internet gateway and cannot use a NAT gateway; allowed: none, or "
            "replicaAddressing ipv4"
        )
    return problems


def image_registry(image: str) -> str:
    """The registry host of an image reference: its first path part when that names a host (a dot, a port or
    localhost, as Docker reads it), else Docker Hub's docker.io."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _check_image(image: str | None) -> list[str]:
    if not image or re.search(r"\s", image):
        return [f"image: {shown(image)} is not an image reference"]
    pinned_by_digest = "@sha256:" in image
    tag = image[len(image_repository(image)) + 1 :] if not pinned_by_digest else ""
    if not pinned_by_digest and tag in ("", "latest"):
        return [
            f"image: {shown(image)} pins nothing (a moved tag changes the replicas silently and the same "
            "tag never redeploys); use a version tag such as nginx:1.30.8-alpine or a @sha256: digest"
        ]
    return []


def _check_domain(domain: str | None, zone: str | None) -> list[str]:
    if domain is None and zone is None:
        return []
    if domain is None or zone is None:
        missing = "zone" if zone is None else "domain"
        return [f"{missing}: unset, but domain and zone go together (domain {shown(domain)}, zone {shown(zone)})"]
    if any(_is_reserved(name.lower()) for name in (domain, zone)):
        return [
            f"domain: {shown(domain)} in zone {shown(zone)} is a name reserved for examples (RFC 2606, RFC 6761),"
            f" which no Route 53 zone of yours can hold; set your own: {_SET_DOMAIN}"
        ]
    problems = [
        f"{key}: {shown(name)} is not a DNS name (lowercase labels of letters, digits and hyphens, dot-separated)"
        for key, name in (("domain", domain), ("zone", zone))
        if not _is_dns_name(name)
    ]
    if not problems and domain != zone and not domain.endswith("." + zone):
        problems.append(f"domain: {shown(domain)} is outside zone {shown(zone)}; it must be {zone} or end in .{zone}")
    certificate = CERTIFICATE_DOMAIN.problem(domain) if not problems else None
    if certificate:
        problems.append(
            f"domain: {shown(domain)} is not a name ACM issues a certificate for: {certificate} "
            f"({CERTIFICATE_DOMAIN.source}: a certificate's domain is its common name, at most 64 characters)"
        )
    return problems


def _is_dns_name(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(_DNS_LABEL.match(label) for label in labels)


def _is_reserved(name: str) -> bool:
    return any(name == reserved or name.endswith("." + reserved) for reserved in RESERVED_ZONES)


# --- python -m settings: which stacks can deploy ------------------------------------------------------


class ExitCode(enum.IntEnum):
    READY = 0
    """Every stack checked can deploy (with --github: every stack valid; the incomplete ones are skipped)."""
    INVALID = 2
    """A stack's settings are invalid, or the command line is."""
    INCOMPLETE = 3
    """Every stack is valid, but one lacks what a deploy needs (prod: a domain of yours)."""


@dataclasses.dataclass(frozen=True)
class Readiness:
    """Each stack checked, as ready to deploy, waiting for a setting, or invalid, with its one-line reason."""

    ready: list[str]
    waiting: dict[str, str]
    invalid: dict[str, str]


def check_stacks(stacks: Sequence[str], project_dir: Path = PROJECT_DIR) -> Readiness:
    """The settings of each stack file, checked as `pulumi up` checks them (`from_pulumi`)."""
    ready, waiting, invalid = [], {}, {}
    for stack in stacks:
        try:
            problem = deploy_problem(from_stack_file(stack, project_dir), project_dir)
        except SettingsError as error:
            invalid[stack] = error.one_line()
            continue
        if problem:
            waiting[stack] = problem
        else:
            ready.append(stack)
    return Readiness(ready, waiting, invalid)


def render(readiness: Readiness, out: TextIO) -> None:
    for stack in readiness.ready:
        print(f"{stack}: ready to deploy", file=out)
    for stack, problem in readiness.waiting.items():
        print(f"{stack}: not deployed until it is set: {problem}", file=out)
    for stack, problem in readiness.invalid.items():
        print(f"{stack}: {problem}", file=out)


def report_to_github(readiness: Readiness, out: TextIO, output: TextIO, summary: TextIO) -> None:
    """A GitHub Actions step's report: the ready stacks as the step output `ready` (a JSON list for a job
    matrix), a notice for each stack skipped and an error for each invalid one (annotations on the run), and
    a line each in the job's summary."""
    print(f"ready={json.dumps(readiness.ready)}", file=output)
    for stack, problem in readiness.waiting.items():
        print(f"::notice title={stack} is not deployed::{_workflow_data(problem)}", file=out)
        print(f"- `{stack}` skipped until it is set: {problem}", file=summary)
    for stack, problem in readiness.invalid.items():
        print(f"::error title={stack} settings::{_workflow_data(problem)}", file=out)
        print(f"- `{stack}` has invalid settings: {problem}", file=summary)


def _workflow_data(text: str) -> str:
    """`text` as the data of a workflow command, which GitHub reads up to the end of the line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def main(argv: Sequence[str] | None = None, *, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settings",
        description="Check stack files as `pulumi up` checks its settings, and say which stacks can deploy.",
    )
    parser.add_argument(
        "stacks", nargs="*", metavar="STACK", help="stacks to check; default: every Pulumi.<stack>.yaml"
    )
    parser.add_argument(
        "--github",
        action="store_true",
        help="as a GitHub Actions step: write the ready stacks to the step output `ready` (GITHUB_OUTPUT), a notice "
        "and a summary line (GITHUB_STEP_SUMMARY) for each stack skipped; only invalid settings fail",
    )
    args = parser.parse_args(argv)
    files = sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))
    readiness = check_stacks(args.stacks or files, project_dir)
    render(readiness, sys.stdout)
    if args.github:
        if not os.environ.get("GITHUB_OUTPUT") or not os.environ.get("GITHUB_STEP_SUMMARY"):
            parser.error("--github writes to GITHUB_OUTPUT and GITHUB_STEP_SUMMARY, which a GitHub Actions step sets")
        with open(os.environ["GITHUB_OUTPUT"], "a") as output, open(os.environ["GITHUB_STEP_SUMMARY"], "a") as summary:
            report_to_github(readiness, sys.stdout, output, summary)
    if readiness.invalid:
        return ExitCode.INVALID
    return ExitCode.INCOMPLETE if readiness.waiting and not args.github else ExitCode.READY


if __name__ == "__main__":
    sys.exit(main())
