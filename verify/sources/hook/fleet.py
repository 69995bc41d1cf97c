"""Which replica is which revision, and what the listener rules hold, from ECS's and ELBv2's APIs.

The calls and the shapes are botocore's (ecs 2014-11-13, elbv2 2015-12-01): `DescribeServices` for the
count each revision runs at full scale (`desiredCount`), `ListTasks` (100 a page) and `DescribeTasks` (100
a call) for every running task of the service, its revision (`startedBy` is `ecs-svc/<revision id>`, the
last segment of the revision's ARN) and its addresses (its containers' `networkInterfaces`, botocore's
`NetworkInterface`: `privateIpv4Address` and `ipv6Address`; and the `ElasticNetworkInterface`
attachment's `privateIPv4Address`); the replica's id is the one its target is registered by, IPv6 for an
IPv6-only task. `DescribeRules` for a listener rule's target groups and
weights, `DescribeTargetHealth` for each group's targets and their state. The clients are boto3's (or a
stand-in with the same methods, the rehearsal's); a call that fails is a CouldNotMeasure naming it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from verify.core.errors import CouldNotMeasure
from verify.core.tally import TargetState

# ListTasks returns at most 100 a page, DescribeTasks takes at most 100 (ECS API reference). A service of
# 100 replicas runs 200 tasks in a deploy; pages beyond these are not this project's service.
_PAGE = 100
_MAX_PAGES = 10
_STARTED_BY = "ecs-svc/"
_NETWORK_INTERFACE = "ElasticNetworkInterface"
_ADDRESS = "privateIPv4Address"


class EcsReader(Protocol):
    def describe_services(self, **params: Any) -> dict[str, Any]: ...
    def list_tasks(self, **params: Any) -> dict[str, Any]: ...
    def describe_tasks(self, **params: Any) -> dict[str, Any]: ...


class ElbReader(Protocol):
    def describe_rules(self, **params: Any) -> dict[str, Any]: ...
    def describe_target_health(self, **params: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Task:
    """One running task of the service."""

    arn: str
    revision_id: str | None  # from startedBy; None when ECS did not start it for a deployment
    addresses: tuple[str, ...]  # its network interface's, IPv4 and IPv6, as `address()` writes them
    last_status: str

    def address(self, registered: set[str]) -> str | None:
        """The replica's id: the address its target is registered by, else its only or first one."""
        return next((a for a in self.addresses if a in registered), self.addresses[0] if self.addresses else None)


@dataclass(frozen=True)
class Fleet:
    """The service's running tasks, and how many each revision runs at full scale."""

    desired_count: int
    tasks: tuple[Task, ...]

    def ips(self, revision_id: str, registered: set[str]) -> tuple[str, ...]:
        """The replica ids of the revision's RUNNING tasks, in the order ECS lists them (`registered`: the
        addresses the target groups hold, which pick the family a dual-stack task is reached by)."""
        found = (
            task.address(registered)
            for task in self.tasks
            if task.revision_id == revision_id and task.last_status == "RUNNING"
        )
        return tuple(address for address in found if address is not None)


@dataclass(frozen=True)
class RuleTarget:
    """A target group a listener rule forwards to, its weight, and its targets as its health checks see them."""

    arn: str
    weight: int
    targets: tuple[TargetState, ...]

    def ips(self) -> set[str]:
        return {target_address(state) for state in self.targets}


def address(text: object) -> str | None:
    """An IP address as verify names a replica by it: IPv6 compressed and lower case (as nginx's
    $server_addr writes it), whatever spelling an API used; None for what is no address."""
    try:
        return ipaddress.ip_address(str(text)).compressed
    except ValueError:
        return None


def target_address(state: TargetState) -> str:
    """The address of a target written "ip:port" (an IPv6 address holds colons of its own)."""
    return state.target.rsplit(":", 1)[0]


def read_fleet(ecs: EcsReader, cluster: str, service: str) -> Fleet:
    """The service's desired count and every task it runs (desired status RUNNING)."""
    described = _call(ecs, "ecs", "describe_services", cluster=cluster, services=[service])
    services = described.get("services") or []
    if len(services) != 1 or not isinstance(services[0].get("desiredCount"), int):
        failures = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in described.get("failures") or [])
        raise CouldNotMeasure(
            f"ecs:DescribeServices did not describe {service} in {cluster} ({failures or 'no service'})"
        )
    arns = list(_task_arns(ecs, cluster, service))
    tasks: list[Task] = []
    for start in range(0, len(arns), _PAGE):
        page = _call(ecs, "ecs", "describe_tasks", cluster=cluster, tasks=arns[start : start + _PAGE])
        tasks += [_task(task) for task in page.get("tasks") or []]
    return Fleet(desired_count=services[0]["desiredCount"], tasks=tuple(tasks))


def read_rule(elb: ElbReader, rule_arn: str) -> tuple[RuleTarget, ...]:
    """The target groups the rule forwards to, each with its weight and its targets' health."""
    rules = _call(elb, "elasticloadbalancing", "describe_rules", RuleArns=[rule_arn]).get("Rules") or []
    forward = [action for rule in rules for action in rule.get("Actions") or [] if action.get("Type") == "forward"]
    if len(rules) != 1 or len(forward) != 1:
        raise CouldNotMeasure(f"elasticloadbalancing:DescribeRules shows no one forward action for {rule_arn}")
    action = forward[0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if not groups and action.get("TargetGroupArn"):  # a forward to one group, written without weights
        groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
    return tuple(
        RuleTarget(group["TargetGroupArn"], int(group.get("Weight", 1)), _target_health(elb, group["TargetGroupArn"]))
        for group in groups
    )


def _target_health(elb: ElbReader, group_arn: str) -> tuple[TargetState, ...]:
    found = _call(elb, "elasticloadbalancing", "describe_target_health", TargetGroupArn=group_arn)
    return tuple(
        TargetState(
            f"{address(entry['Target']['Id']) or entry['Target']['Id']}:{entry['Target'].get('Port', '')}",
            entry.get("TargetHealth", {}).get("State", ""),
        )
        for entry in found.get("TargetHealthDescriptions") or []
    )


def _task_arns(ecs: EcsReader, cluster: str, service: str) -> Iterator[str]:
    token: str | None = None
    for _ in range(_MAX_PAGES):
        params: dict[str, Any] = {"cluster": cluster, "serviceName": service, "desiredStatus": "RUNNING"}
        if token:
            params["nextToken"] = token
        page = _call(ecs, "ecs", "list_tasks", **params)
        yield from page.get("taskArns") or []
        token = page.get("nextToken")
        if not token:
            return
    raise CouldNotMeasure(f"ecs:ListTasks listed more than {_PAGE * _MAX_PAGES} running tasks of {service}")


def _task(task: dict[str, Any]) -> Task:
    started_by = task.get("startedBy") or ""
    found = [
        interface.get(key)
        for container in task.get("containers") or []
        for interface in container.get("networkInterfaces") or []
        for key in ("privateIpv4Address", "ipv6Address")
    ]
    found += [
        detail.get("value")
        for attachment in task.get("attachments") or []
        if attachment.get("type") == _NETWORK_INTERFACE
        for detail in attachment.get("details") or []
        if detail.get("name") == _ADDRESS
    ]
    addresses = tuple(dict.fromkeys(a for a in (address(value) for value in found if value) if a is not None))
    return Task(
        arn=task.get("taskArn", ""),
        revision_id=started_by[len(_STARTED_BY) :] if started_by.startswith(_STARTED_BY) else None,
        addresses=addresses,
        last_status=task.get("lastStatus", ""),
    )


def _call(client: object, service: str, operation: str, **params: Any) -> dict[str, Any]:
    """client.<operation>(**params), or CouldNotMeasure naming the call and AWS's error code and message."""
    try:
        method: Callable[..., dict[str, Any]] = getattr(client, operation)
        return method(**params)
    except Exception as error:  # botocore's ClientError, EndpointConnectionError, ...: named, not raised on
        response = getattr(error, "response", None)
        detail = response.get("Error", {}) if isinstance(response, dict) else {}
        said = f"{detail.get('Code')}: {detail.get('Message')}" if detail else f"{type(error).__name__}: {error}"
        action = "".join(word.capitalize() for word in operation.split("_"))
        raise CouldNotMeasure(f"{service}:{action} failed ({' '.join(said.split())[:300]})") from None
