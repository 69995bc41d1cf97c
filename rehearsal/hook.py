"""The deploy hook rehearsed: verify.hook.decide called where ECS calls it, with the payloads ECS sends, against
stand-ins of ECS's and ELBv2's read calls built from the running rehearsal (docs/deploy-hook.md).

ECS's part (`DeployHook`): at POST_TEST_TRAFFIC_SHIFT (with test traffic), at each PRODUCTION_TRAFFIC_SHIFT
step once the rule holds the step's weights, and at POST_PRODUCTION_TRAFFIC_SHIFT, an event shaped as AWS's
examples (tests/hook_payloads.py) with the stack's hookDetails; IN_PROGRESS calls again after callBackDelay
(at the rehearsal's time scale) with the returned hookDetails merged in; FAILED rolls the deploy back, and
the production hook is called again with green back to 0 %, as ECS does. The rollback alarms keep watching
while a call measures: ECS's alarms do not wait for a hook.

The stand-ins (`RehearsalAws`) answer in botocore's shapes (tests/rehearsal/test_rehearsal_hook.py holds them
to botocore's output shapes): the service's desired count, its running tasks with their revision in
`startedBy` and their address, the production and test rules as the nodes' ACLs hold them (ELBv2 weights,
0 to 999), and each target group's targets as the nodes' health checks see them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.options import TEST_HEADER, DeploymentStrategy
from rehearsal.flow import Flow
from rehearsal.plan import ReplicaPlan
from rehearsal.stage import Running
from verify.hook import CALL_TIMEOUT_S, Clients, Outcome, decide
from verify.sources.hook.payload import PRODUCTION_SHIFT, HookSettings
from verify.sources.hook.stage import FAILED, IN_PROGRESS
from verify.sources.live.client import Target, pinned_resolver

# The rehearsal's service, as ECS's ARNs name it (the account is the rehearsal's access logs' too).
REGION = "rehearsal"
ACCOUNT = "000000000000"
CLUSTER = "rehearsal"
SERVICE = "replicas"
BLUE_REVISION = "1000000000000000001"
GREEN_REVISION = "2000000000000000002"
_ECS = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
_ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
PRODUCTION_RULE = f"{_ELB}:listener-rule/app/rehearsal/0000000000000001/0000000000000001/0000000000000001"
TEST_RULE = f"{_ELB}:listener-rule/app/rehearsal/0000000000000001/0000000000000001/0000000000000002"
BLUE_GROUP = f"{_ELB}:targetgroup/rehearsal-blue/0000000000000001"
GREEN_GROUP = f"{_ELB}:targetgroup/rehearsal-green/0000000000000002"
# ELBv2's forward weights (TargetGroupTuple.Weight): whole numbers 0 to 999.
_WEIGHT_MAX = 999
# HAProxy's health status -> ELBv2's TargetHealth.State; a server in maintenance is no target (deregistered).
_STATES = {"UP": "healthy", "DOWN": "unhealthy", "DRAIN": "draining", "NOLB": "draining"}
ALARM_POLL_S = 0.1


def revision_arn(revision: str) -> str:
    return f"{_ECS}:service-revision/{CLUSTER}/{SERVICE}/{revision}"


class RehearsalAws:
    """ECS's DescribeServices, ListTasks, DescribeTasks and ELBv2's DescribeRules, DescribeTargetHealth, as
    botocore's clients return them, read from the running rehearsal."""

    def __init__(self, running: Running) -> None:
        self.running = running
        plan = running.plan
        self.blue = [r for r in plan.replicas if r.registered]
        # Green's group: the deploy's slots and spares, not a later switch back's (ReplicaPlan.switch).
        self.green = [r for r in plan.replicas if not r.registered and r.switch is None]

    def describe_services(self, *, cluster: str, services: list[str]) -> dict[str, Any]:
        found = [
            {
                "serviceArn": f"{_ECS}:service/{CLUSTER}/{SERVICE}",
                "serviceName": SERVICE,
                "desiredCount": len(self.blue),
            }
            for name in services
            if cluster == CLUSTER and name == SERVICE
        ]
        return {"services": found, "failures": []}

    def list_tasks(self, *, cluster: str, serviceName: str, desiredStatus: str, **_page: Any) -> dict[str, Any]:
        running = [
            r for r in self._tasks() if r[1].ip in self.running.replicas and self.running.replicas[r[1].ip].running
        ]
        listed = cluster == CLUSTER and serviceName == SERVICE and desiredStatus == "RUNNING"
        return {"taskArns": [arn for arn, _, _ in running] if listed else []}

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        known = {arn: (replica, revision) for arn, replica, revision in self._tasks()}
        return {
            "tasks": [_task(arn, *known[arn]) for arn in tasks if cluster == CLUSTER and arn in known],
            "failures": [{"arn": arn, "reason": "MISSING"} for arn in tasks if arn not in known],
        }

    def describe_rules(self, *, RuleArns: list[str]) -> dict[str, Any]:
        rules = []
        for arn in RuleArns:
            share = self.running.green_share(test=arn == TEST_RULE)
            green = round(share * _WEIGHT_MAX / 100)
            groups = [
                {"TargetGroupArn": BLUE_GROUP, "Weight": _WEIGHT_MAX - green},
                {"TargetGroupArn": GREEN_GROUP, "Weight": green},
            ]
            rules.append(
                {
                    "RuleArn": arn,
                    "Priority": "1" if arn == TEST_RULE else "2",
                    "IsDefault": False,
                    "Actions": [{"Type": "forward", "Order": 1, "ForwardConfig": {"TargetGroups": groups}}],
                }
            )
        return {"Rules": rules}

    def describe_target_health(self, *, TargetGroupArn: str) -> dict[str, Any]:
        members = self.green if TargetGroupArn == GREEN_GROUP else self.blue if TargetGroupArn == BLUE_GROUP else []
        states = self.running.server_states(0)
        described = []
        for replica in members:
            state = _STATES.get(states.get(replica.ip, "MAINT").split(" ")[0])
            if state is not None:
                described.append({"Target": {"Id": replica.ip, "Port": replica.port}, "TargetHealth": {"State": state}})
        return {"TargetHealthDescriptions": described}

    def _tasks(self) -> list[tuple[str, ReplicaPlan, str]]:
        tasks = [(r, BLUE_REVISION) for r in self.blue] + [(r, GREEN_REVISION) for r in self.green]
        return [
            (f"{_ECS}:task/{CLUSTER}/{index:032x}", replica, revision)
            for index, (replica, revision) in enumerate(tasks)
        ]


def _task(arn: str, replica: ReplicaPlan, revision: str) -> dict[str, Any]:
    """A Fargate task as DescribeTasks gives it: its address in its container's network interface (IPv6 for an
    IPv6-only task, with no IPv4) and, for IPv4, in its network interface attachment."""
    ipv6 = ":" in replica.ip
    interface = {
        "attachmentId": "rehearsal",
        **({"ipv6Address": replica.ip} if ipv6 else {"privateIpv4Address": replica.ip}),
    }
    details = [{"name": "networkInterfaceId", "value": f"eni-{revision[-4:]}"}]
    if not ipv6:
        details.append({"name": "privateIPv4Address", "value": replica.ip})
    return {
        "taskArn": arn,
        "clusterArn": f"{_ECS}:cluster/{CLUSTER}",
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "startedBy": f"ecs-svc/{revision}",
        "launchType": "FARGATE",
        "containers": [{"name": "replica", "networkInterfaces": [interface]}],
        "attachments": [
            {"id": "rehearsal", "type": "ElasticNetworkInterface", "status": "ATTACHED", "details": details}
        ],
    }


def hook_settings(running: Running, strategy: DeploymentStrategy) -> HookSettings:
    """The settings the stack would give the hook, for the rehearsal's balancer and rules."""
    return HookSettings.of_deploy(
        url=running.url,
        production_rule_arn=PRODUCTION_RULE,
        test_rule=(TEST_RULE, TEST_HEADER) if strategy.test_traffic else None,
        green_shares=tuple(strategy.green_shares()),
        algorithm=running.plan.algorithm,
    )


def event(stage: str, details: dict[str, Any], production: dict[str, float] | None = None) -> dict[str, Any]:
    """An event as ECS sends it (ECS developer guide, "Lambda hooks": AWS's examples per stage)."""
    return {
        "executionId": f"rehearsal-{time.monotonic_ns()}",
        "lifecycleStage": stage,
        "resourceArn": f"{_ECS}:service-deployment/{CLUSTER}/{SERVICE}/rehearsal",
        "executionDetails": {
            "serviceArn": f"{_ECS}:service/{CLUSTER}/{SERVICE}",
            "targetServiceRevisionArn": revision_arn(GREEN_REVISION),
            "testTrafficWeights": {},
            "productionTrafficWeights": production or {},
        },
        "hookDetails": details,
    }


def production_weights(green_percent: float) -> dict[str, float]:
    return {revision_arn(GREEN_REVISION): green_percent, revision_arn(BLUE_REVISION): 100 - green_percent}


class HookFailed(Exception):
    """The hook answered FAILED: ECS rolls the deploy back."""


@dataclass
class DeployHook:
    """ECS's side of the hook in the rehearsal: calls it at a stage until it answers SUCCEEDED or FAILED."""

    running: Running
    strategy: DeploymentStrategy
    flow: Flow
    alarm_check: Callable[[], None]  # raises when a rollback alarm fires
    lines: list[dict[str, Any]]  # every call's JSON line, in order

    def judge(self, stage: str, production: dict[str, float] | None = None) -> None:
        """Call the hook at `stage` until it decides; HookFailed with its reason when it fails."""
        details = hook_settings(self.running, self.strategy).details()
        began = time.monotonic()
        while True:
            outcome = self._call(event(stage, details, production))
            answer, line = outcome.answer, outcome.line
            status = answer["hookStatus"]
            step = f" ({line['step']})" if line.get("step") else ""
            self.flow.say(f"  hook at {stage}{step}: {status} after {time.monotonic() - began:.1f} s: {line['reason']}")
            if status == FAILED:
                raise HookFailed(f"the deploy hook failed at {stage}: {line['reason']}")
            if status != IN_PROGRESS:
                return
            details = {**details, **answer.get("hookDetails", {})}
            until = time.monotonic() + self.running.plan.seconds(answer.get("callBackDelay", 30))
            while time.monotonic() < until:
                self.alarm_check()
                time.sleep(min(ALARM_POLL_S, max(0.0, until - time.monotonic())))

    def rollback(self) -> None:
        """ECS's rollback calls the production hook again, green back to 0 %: the hook lets it go. The alarms
        are not watched: the deploy is rolling back already."""
        details = hook_settings(self.running, self.strategy).details()
        outcome = self._call(event(PRODUCTION_SHIFT, details, production_weights(0)), alarms=False)
        self.flow.say(
            f"  hook at {PRODUCTION_SHIFT} (rollback): {outcome.answer['hookStatus']}: {outcome.line['reason']}"
        )

    def _call(self, payload: dict[str, Any], *, alarms: bool = True) -> Outcome:
        """One call, in a thread of its own while the alarms keep watching; within the flow's bound."""
        host = Target.parse(self.running.url).host
        resolver = pinned_resolver({host.lower(): tuple(self.running.plan.node_ips)})
        clients = RehearsalAws(self.running)
        done: list[Outcome] = []
        call = threading.Thread(
            target=lambda: done.append(
                decide(payload, Clients(ecs=clients, elb=clients), remaining_s=CALL_TIMEOUT_S, resolver=resolver)
            ),
            name="rehearsal-hook",
            daemon=True,  # an alarm's rollback leaves it to end on its own, within its budget
        )
        call.start()
        while call.is_alive():
            if alarms:
                self.alarm_check()
            if time.monotonic() > self.flow.deadline:
                raise self.flow.overran(f"the deploy hook's answer at {payload['lifecycleStage']}")
            call.join(ALARM_POLL_S)
        self.lines.append(done[0].line)
        return done[0]
