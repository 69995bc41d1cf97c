"""`python -m rehearsal --deploy --strategy blue-green|linear:P|canary:P`: ECS's own traffic shifting,
stage by stage, on a running rehearsal whose plan has green slots (`Plan.with_green_slots`).

ECS's stages, in its order (ECS developer guide, "blue/green", "linear" and "canary" deployments):
1. scale up: every green task starts at once and registers in the alternate target group; ECS waits
   until the load balancer's health checks pass (RECONCILE_SERVICE, PRE_SCALE_UP, POST_SCALE_UP);
2. test traffic: the test listener rule moves to green, where the stack asks for one
   (TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT);
3. production traffic: the production listener rule moves to green all at once (blue/green), in equal
   steps with the step bake time between them (linear), or the canary's share first, the canary bake
   time, then the rest (canary) (PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT);
4. bake: blue keeps running for the bake time, ready for a rollback;
5. blue is deregistered, drained and stopped, as in a rolling deploy.
Bake times are the stack's minutes at the rehearsal's time scale.

Rollback, as the stack's alarms make ECS do it: from the scale-up on, the rehearsal reads each node's
counters every ALARM_POLL_S: a green replica that answered 5xx (HTTPCode_Target_5XX_Count) or is down
in the target group (UnHealthyHostCount) sends every rule back to blue, takes green out and stops it.
CloudWatch evaluates a 60 s period and takes about as long again to deliver it: on AWS more requests
fail before the rollback than here. Green tasks that never pass their health checks fail the deploy
the same way, before any production traffic reaches them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import IO, TextIO

from components.options import DeploymentStrategy
from rehearsal.configs import GREEN_TARGETS, NODE_TARGETS
from rehearsal.deploy import deregister, new_slots, replaced, start_seconds
from rehearsal.flow import Flow, verify_during
from rehearsal.hook import DeployHook, HookFailed, production_weights
from rehearsal.plan import Plan, ReplicaPlan
from rehearsal.stage import Running
from verify.sources.hook.payload import AFTER_PRODUCTION_SHIFT, AFTER_TEST_SHIFT, PRODUCTION_SHIFT, hook_stages

ALARM_POLL_S = 0.1
"""How often the rehearsal's stand-in for the rollback alarms reads the nodes' counters."""
HOOK_DECISION_S = 3.0
"""What the plan gives the deploy hook's decision at each of its stages: a canary step of 3 + 3 replicas
sends about 3,600 requests, under a second here (the flow's bound is five times the plan)."""


class RolledBack(Exception):
    """An alarm fired (or green never got healthy): the deploy was rolled back to blue."""


@dataclass(frozen=True)
class ShiftResult:
    seconds: float  # from starting green to blue stopped (or to the rollback's end)
    completed: bool  # green takes all production traffic, blue is out and stopped, all while verify measured
    rolled_back: str | None = None  # why the deploy was rolled back; None: it was not
    # (green's share set, green's share of the answers the nodes routed while it held), per production step
    shares: list[tuple[float, float]] = field(default_factory=list)
    # The deploy hook's line of each call (verify --json's keys, stage, revision, hook_status, ...), in order
    hook_lines: list[dict[str, object]] = field(default_factory=list)


def expected_shift_seconds(plan: Plan, strategy: DeploymentStrategy) -> float:
    """How long a traffic-shifting deploy should take: green healthy, the steps with their bake times
    between them, the bake time, then blue's drain and its stop delay (or the last node's lag, if longer)."""
    health = plan.health
    to_healthy = plan.seconds(health.interval_seconds * (health.healthy_threshold + 1))
    steps = len(strategy.green_shares())
    bakes = plan.seconds((steps - 1) * strategy.step_bake_minutes * 60 + strategy.bake_minutes * 60)
    drain = plan.seconds(plan.deregistration_delay_seconds) + max(plan.node_lag(len(plan.zones) - 1), plan.stop_delay_s)
    # The hook's stages (a stage a step): each a decision, which no time scale shortens.
    hook = (len(hook_stages(strategy.test_traffic)) - 1 + steps) * HOOK_DECISION_S if strategy.hook else 0.0
    return to_healthy + bakes + drain + hook


def shift_while_verifying(
    running: Running,
    strategy: DeploymentStrategy,
    *,
    verify_extra: list[str],
    out: TextIO,
    verify_stdout: IO[str] | None = None,
) -> tuple[int, ShiftResult]:
    """The deploy while verify measures all of it (--max-error-rate 0): verify's exit code and the deploy's
    result (not completed if verify ended first)."""
    code, result, measured = verify_during(
        running,
        lambda flow: shift_traffic(running, strategy, flow=flow),
        planned_s=expected_shift_seconds(running.plan, strategy) + start_seconds(running, len(new_slots(running.plan))),
        what="deploy",
        verify_extra=verify_extra,
        out=out,
        verify_stdout=verify_stdout,
    )
    return code, result if measured else replace(result, completed=False)


def shift_traffic(running: Running, strategy: DeploymentStrategy, *, flow: Flow) -> ShiftResult:
    """Move every request from blue (the replicas registered at the start) to green (the plan's
    slots) in ECS's stages; roll back to blue when an alarm fires."""
    plan = running.plan
    if not plan.traffic_shifting or not strategy.shifts_traffic:
        raise ValueError("a traffic-shifting deploy needs Plan.with_green_slots() and a shifting strategy")
    blue = [r for r in plan.replicas if r.registered]
    green = new_slots(plan)
    began = time.monotonic()
    shares: list[tuple[float, float]] = []
    alarm = _Alarm(running, green)
    lines: list[dict[str, object]] = []
    hook = DeployHook(running, strategy, flow, alarm.check, lines) if strategy.hook else None
    try:
        for replica in green:
            running.start_replica(replica.ip)
            running.register(replica.ip)
        flow.say(f"scale up: started {len(green)} green replicas in the alternate target group: {_ips(green)}")
        _until_green_healthy(running, green, alarm, flow)
        flow.say(f"green healthy on every node after {time.monotonic() - began:.1f} s")
        if strategy.test_traffic:
            running.shift_to_green(100, test=True)
            flow.say("test traffic: the test listener rule sends its requests to green")
            if hook is not None:
                hook.judge(AFTER_TEST_SHIFT)
        steps = strategy.green_shares()
        for number, percent in enumerate(steps, start=1):
            before = _routed(running)
            running.shift_to_green(plan.rule_share(percent))
            hold_s = plan.seconds(strategy.step_bake_minutes * 60) if number < len(steps) else 0.0
            what = f"production shift {number} of {len(steps)}: {percent:g} % to green"
            if plan.rule_share(percent) != percent:
                what += f" (the rule moved to {plan.rule_share(percent):g} %: --failing-revision weights)"
            flow.say(what + (f", step bake {hold_s:g} s" if hold_s else ""))
            if hook is not None:
                hook.judge(PRODUCTION_SHIFT, production_weights(percent))
            alarm.watch(hold_s)
            if hold_s:
                shares.append((percent, _green_share(before, _routed(running))))
                flow.say(f"  green answered {shares[-1][1]:.1%} of the requests in that step (set: {percent:g} %)")
        if hook is not None:
            hook.judge(AFTER_PRODUCTION_SHIFT)
        bake_s = plan.seconds(strategy.bake_minutes * 60)
        flow.say(f"bake: blue stays up {bake_s:g} s, ready for a rollback")
        alarm.watch(bake_s)
    except (RolledBack, HookFailed) as reason:
        _roll_back(running, green)
        if hook is not None:
            hook.rollback()
        flow.say(f"ROLLED BACK: {reason}; every rule back to blue, green deregistered and stopped")
        return ShiftResult(time.monotonic() - began, False, str(reason), shares, lines)

    delay_s = plan.seconds(plan.deregistration_delay_seconds)
    flow.say(f"deregistered {len(blue)} blue replicas; draining {delay_s:g} s, then their stop signal")
    deregister(running, blue, delay_s, stop=True)
    return ShiftResult(time.monotonic() - began, replaced(running, blue, green), None, shares, lines)


class _Alarm:
    """The stack's two rollback alarms, read from the nodes: green's 5xx answers (HTTPCode_Target_5XX_Count)
    and green's unhealthy hosts (UnHealthyHostCount: failed past the unhealthy threshold; HAProxy's
    "UP 1/2", one check failed, is still healthy, as an ALB target is)."""

    def __init__(self, running: Running, green: list[ReplicaPlan]) -> None:
        self.running = running
        self.green = [r.ip for r in green]

    def states(self) -> list[dict[str, str]]:
        """Each node's health status of each green replica."""
        return [
            {ip: states.get(ip, "") for ip in self.green}
            for states in (self.running.server_states(node) for node in range(len(self.running.balancers)))
        ]

    def check(self, *, green_healthy: bool = True) -> None:
        """Raise RolledBack when an alarm fires; the unhealthy hosts alarm only once green was healthy."""
        five_xx = sum(
            int(row.get("hrsp_5xx") or 0)
            for node in range(len(self.running.balancers))
            for ip, row in self.running.server_stats(node, GREEN_TARGETS).items()
            if ip in self.green
        )
        if five_xx:
            raise RolledBack(f"the 5xx alarm fired: green answered {five_xx} requests with 5xx")
        if green_healthy:
            down = sorted(
                {ip for states in self.states() for ip, state in states.items() if not state.startswith("UP")}
            )
            if down:
                raise RolledBack(f"the unhealthy hosts alarm fired: green {', '.join(down)} failing its health checks")

    def watch(self, seconds: float) -> None:
        """Hold for `seconds`, checking the alarms every ALARM_POLL_S (and once even for 0 s)."""
        until = time.monotonic() + seconds
        while True:
            self.check()
            if time.monotonic() >= until:
                return
            time.sleep(min(ALARM_POLL_S, max(0.0, until - time.monotonic())))


# What HAProxy's last check of a server says when the server answered, or refused, and failed: a wrong
# status, a bad answer, a refused connection. Not a timeout: on a busy machine a sound replica answers late.
FAILED_CHECKS = ("L7STS", "L7RSP", "L4CON", "SOCKERR")


def _until_green_healthy(running: Running, green: list[ReplicaPlan], alarm: _Alarm, flow: Flow) -> None:
    """Wait until every node counts every green replica UP, within the flow's bound. The deploy fails (a
    rollback), as ECS's does for tasks that never pass, once a green replica's checks have failed for
    `unhealthy_threshold` intervals on a node: HAProxy counts no failure of a server that is down already,
    so the rehearsal times the failing from the first failed check it sees."""
    plan = running.plan
    health = plan.health
    failing_for_s = plan.seconds(health.interval_seconds * health.unhealthy_threshold)
    failing_since: dict[tuple[int, str], float] = {}
    while True:
        states = alarm.states()
        if all(state == "UP" for node_states in states for state in node_states.values()):
            return
        alarm.check(green_healthy=False)
        for balancer in running.balancers:
            balancer.check()
        now = time.monotonic()
        for node in range(len(running.balancers)):
            for ip, row in running.server_stats(node).items():
                if ip not in alarm.green:
                    continue
                if row.get("check_status") in FAILED_CHECKS and not row.get("status", "").startswith("UP"):
                    since = failing_since.setdefault((node, ip), now)
                    if now - since >= failing_for_s:
                        raise RolledBack(
                            f"green never passed its health checks ({ip} on node {node + 1}: {row['check_status']}"
                            f" {row.get('check_code') or ''}".rstrip()
                            + "): the deployment failed"
                        )
                else:
                    failing_since.pop((node, ip), None)
        if now > flow.deadline:
            raise flow.overran("green to pass its health checks (UP on every node)")
        time.sleep(ALARM_POLL_S)


def _roll_back(running: Running, green: list[ReplicaPlan]) -> None:
    """ECS's rollback: both rules back to blue at once, green out of the target group, green stopped."""
    running.shift_to_green(0)
    running.shift_to_green(0, test=True)
    for replica in green:
        running.set_state(replica.ip, "maint")
    for replica in green:
        if replica.ip in running.replicas:
            running.stop_replica(replica.ip)


def _routed(running: Running) -> tuple[int, int]:
    """(blue, green) answers the nodes have routed so far."""
    totals = []
    for backend in (NODE_TARGETS, GREEN_TARGETS):
        totals.append(
            sum(
                int(row.get(f"hrsp_{kind}") or 0)
                for node in range(len(running.balancers))
                for row in running.server_stats(node, backend).values()
                for kind in ("2xx", "5xx")
            )
        )
    return totals[0], totals[1]


def _green_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    blue, green = after[0] - before[0], after[1] - before[1]
    return green / (blue + green) if blue + green else 0.0


def _ips(replicas: list[ReplicaPlan]) -> str:
    return ", ".join(r.ip for r in replicas)
