"""`python -m rehearsal --deploy --strategy rolling --after S`: a blue-green, linear or canary deploy, which
leaves production on the alternate target group, then the `pulumi up` that changes the stack back to rolling,
in the order it happens on AWS (docs/configuration.md, "Changing the deployment strategy"):

1. the shifting deploy, as rehearsal.shift runs it: green in the alternate group, the rules moved to it, blue
   stopped; production is now on the alternate group, and the primary holds no target;
2. ECS's rolling deploy of the updated service (ROLLING, its alarms off, each task in both target groups: the
   UpdateService the provider sends): every new task starts and registers in both groups, and once healthy the
   old ones (green) are deregistered, drained and stopped; the production rule still forwards to the alternate
   group, where the new tasks are;
3. Pulumi deletes what a rolling stack does not declare, once the service is steady: the production (and test)
   listener rule; the listener's default action then sends every request to the primary group, which holds the
   new tasks too.

verify measures all of it with --max-error-rate 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import IO, TextIO

from components.options import DeploymentStrategy
from rehearsal.configs import NODE_TARGETS
from rehearsal.deploy import deregister, expected_seconds, new_slots, replaced, start_seconds, wait_for_status
from rehearsal.flow import Flow, verify_during
from rehearsal.plan import Plan, ReplicaPlan
from rehearsal.shift import ShiftResult, expected_shift_seconds, shift_traffic
from rehearsal.stage import Running


@dataclass(frozen=True)
class SwitchResult:
    shift: ShiftResult  # the shifting deploy's
    seconds: float  # from the rolling deploy's first new task to the production rule's deletion
    # The rolling replicas took every request through the primary group, the old ones (green) stopped, all of it
    # while verify measured; False also when the shifting deploy did not complete (it rolled back).
    completed: bool


def switch_slots(plan: Plan) -> list[ReplicaPlan]:
    """The rolling deploy's slots (Plan.with_switch_back_slots)."""
    return [r for r in plan.replicas if r.switch is not None]


def expected_switch_seconds(plan: Plan, after: DeploymentStrategy) -> float:
    """The shifting deploy's time, then a rolling deploy's."""
    return expected_shift_seconds(plan, after) + expected_seconds(plan, drain=True)


def switch_while_verifying(
    running: Running,
    after: DeploymentStrategy,
    *,
    verify_extra: list[str],
    out: TextIO,
    verify_stdout: IO[str] | None = None,
) -> tuple[int, SwitchResult]:
    """Both deploys while verify measures all of it (--max-error-rate 0): verify's exit code and the result
    (not completed if verify ended first)."""
    plan = running.plan
    starts = len(new_slots(plan)) + len(switch_slots(plan))
    code, result, measured = verify_during(
        running,
        lambda flow: switch_back(running, after, flow=flow),
        planned_s=expected_switch_seconds(plan, after) + start_seconds(running, starts),
        what="deploy",
        verify_extra=verify_extra,
        out=out,
        verify_stdout=verify_stdout,
    )
    return code, result if measured else replace(result, completed=False)


def switch_back(running: Running, after: DeploymentStrategy, *, flow: Flow) -> SwitchResult:
    """The `after` deploy, then the change back to rolling (this module's doc)."""
    plan = running.plan
    new = switch_slots(plan)
    if not new:
        raise ValueError("switching back needs Plan.with_switch_back_slots()")
    shift = shift_traffic(running, after, flow=flow)
    if not shift.completed:
        return SwitchResult(shift, 0.0, False)
    old = [r for r in new_slots(plan) if r.ip in running.replicas and running.replicas[r.ip].running]
    flow.say(
        f"production is on the alternate target group ({len(old)} replicas), the primary holds none; "
        "pulumi up with deploymentStrategy rolling: ECS hears ROLLING, its alarms off, each task in both groups"
    )
    began = time.monotonic()
    for replica in new:
        running.start_replica(replica.ip)
        running.register(replica.ip)
    where = "both target groups" if new[0].switch == "both" else "the primary target group only"
    flow.say(f"rolling deploy: started {len(new)} replicas, each registered in {where}: {_ips(new)}")
    wait_for_status(running, new, "UP", flow=flow, waiting_for="the new replicas to pass their health checks")
    flow.say(f"new replicas healthy on every node after {time.monotonic() - began:.1f} s")
    delay_s = plan.seconds(plan.deregistration_delay_seconds)
    flow.say(f"deregistered the {len(old)} old replicas (green); draining {delay_s:g} s, then their stop signal")
    deregister(running, old, delay_s, stop=True)
    flow.say("the service is steady: pulumi up deletes the production and test listener rules")
    running.shift_to_green(0)
    if after.test_traffic:
        running.shift_to_green(0, test=True)
    flow.say("every request follows the listener's default action to the primary group")
    seconds = time.monotonic() - began
    primary = all(
        running.server_stats(node, NODE_TARGETS).get(r.ip, {}).get("status") == "UP"
        for node in range(len(running.balancers))
        for r in new
    )
    return SwitchResult(shift, seconds, primary and replaced(running, old, new))


def _ips(replicas: list[ReplicaPlan]) -> str:
    return ", ".join(r.ip for r in replicas)
