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

Rollback, as the stack's alarms make ECS do it (RollbackAlarms, RollbackAlarmTiming), at the rehearsal's time
scale: from the scale-up on, the rehearsal reads each node's counters and health states every ALARM_POLL_S and
makes each period's data points of both target groups, the 5xx answers (HTTPCode_Target_5XX_Count, Sum) and the
fewest targets a read found failing their checks (UnHealthyHostCount, Minimum); an alarm fires once as many
periods in a row breach as it needs, as late as the ALB's metric delay and CloudWatch's evaluation allow. Then
every rule goes back to blue, green out and stopped. Green tasks that never pass their health checks fail the
deploy before any production traffic reaches them. With `interrupt`, green replicas get a Fargate Spot
interruption during the first bake (interrupt.py's order, replaced from the plan's spare slots): they fail
their checks while they serve, which must roll nothing back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import IO, TextIO

from components.options import (
    ALARM_EVALUATION_SECONDS,
    ALB_METRIC_DELAY_SECONDS,
    DeploymentStrategy,
    RollbackAlarmTiming,
)
from rehearsal.configs import GREEN_TARGETS, NODE_TARGETS
from rehearsal.deploy import deregister, new_slots, replaced, start_seconds
from rehearsal.flow import Flow, verify_during
from rehearsal.hook import DeployHook, HookFailed, production_weights
from rehearsal.plan import Plan, ReplicaPlan
from rehearsal.stage import Running
from verify.sources.hook.payload import AFTER_PRODUCTION_SHIFT, AFTER_TEST_SHIFT, PRODUCTION_SHIFT, hook_stages

ALARM_POLL_S = 0.1
"""How often the rehearsal's stand-in for the rollback alarms reads the nodes' counters and health states."""
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
    interrupt: int = 0,
) -> tuple[int, ShiftResult]:
    """The deploy while verify measures all of it (--max-error-rate 0): verify's exit code and the deploy's
    result (not completed if verify ended first). `interrupt`: see shift_traffic."""
    code, result, measured = verify_during(
        running,
        lambda flow: shift_traffic(running, strategy, flow=flow, interrupt=interrupt),
        planned_s=expected_shift_seconds(running.plan, strategy) + start_seconds(running, len(new_slots(running.plan))),
        what="deploy",
        verify_extra=verify_extra,
        out=out,
        verify_stdout=verify_stdout,
    )
    return code, result if measured else replace(result, completed=False)


def shift_traffic(running: Running, strategy: DeploymentStrategy, *, flow: Flow, interrupt: int = 0) -> ShiftResult:
    """Move every request from blue (the replicas registered at the start) to green (the plan's slots) in ECS's
    stages; roll back to blue when one of the stack's rollback alarms fires (the plan's stop decides their data
    points, as the stack's settings do). `interrupt`: that many green replicas get a Spot interruption during
    the first bake, replaced from the plan's spare slots (Plan.with_green_slots)."""
    plan = running.plan
    if not plan.traffic_shifting or not strategy.shifts_traffic:
        raise ValueError("a traffic-shifting deploy needs Plan.with_green_slots() and a shifting strategy")
    blue = [r for r in plan.replicas if r.registered]
    slots = new_slots(plan)
    green, spares = slots[: len(blue)], slots[len(blue) :]
    if len(spares) < interrupt:
        raise ValueError(f"{interrupt} interruptions need as many spare slots: Plan.with_green_slots(spares=...)")
    began = time.monotonic()
    shares: list[tuple[float, float]] = []
    alarm = _RollbackAlarms(running, RollbackAlarmTiming.of(plan.stop_timing))
    stops = _SpotStops(running, green[:interrupt], spares[:interrupt], flow) if interrupt else None
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
            if stops and hold_s:
                stops.begin()
            alarm.watch(hold_s, stops)
            if hold_s:
                shares.append((percent, _green_share(before, _routed(running))))
                flow.say(f"  green answered {shares[-1][1]:.1%} of the requests in that step (set: {percent:g} %)")
        if hook is not None:
            hook.judge(AFTER_PRODUCTION_SHIFT)
        bake_s = plan.seconds(strategy.bake_minutes * 60)
        flow.say(f"bake: blue stays up {bake_s:g} s, ready for a rollback")
        if stops:
            stops.begin()
        alarm.watch(bake_s, stops)
        if stops:
            alarm.watch_until(stops, flow)
            green = stops.serving(green)
    except (RolledBack, HookFailed) as reason:
        _roll_back(running, stops.serving(green) if stops else green)
        if hook is not None:
            hook.rollback()
        flow.say(f"ROLLED BACK: {reason}; every rule back to blue, green deregistered and stopped")
        return ShiftResult(time.monotonic() - began, False, str(reason), shares, lines)

    delay_s = plan.seconds(plan.deregistration_delay_seconds)
    flow.say(f"deregistered {len(blue)} blue replicas; draining {delay_s:g} s, then their stop signal")
    deregister(running, blue, delay_s, stop=True)
    return ShiftResult(time.monotonic() - began, replaced(running, blue, green), None, shares, lines)


class _RollbackAlarms:
    """The stack's two rollback alarms, read from the nodes at the rehearsal's time scale: each period's data
    points over both target groups, the 5xx answers (HTTPCode_Target_5XX_Count: Sum) and the fewest targets any
    read of the period found failing their checks (UnHealthyHostCount: each group's Minimum, the larger group).
    A target counts as failing once HAProxy has it DOWN after it was UP there: a new target that has not passed
    its checks yet is not unhealthy, as an ALB target in "initial" is not. An alarm fires when its data points
    breach in a row, the scaled ALB metric delay and CloudWatch evaluation after its last period ended."""

    def __init__(self, running: Running, timing: RollbackAlarmTiming) -> None:
        plan = running.plan
        self.running = running
        self.timing = timing
        self.period_s = plan.seconds(timing.period_seconds)
        self.late_s = plan.seconds(ALB_METRIC_DELAY_SECONDS + ALARM_EVALUATION_SECONDS)
        self.seen_up: set[tuple[int, str]] = set()
        self.period_began = time.monotonic()
        self.five_xx_before = self._five_xx()
        self.fewest_failing: int | None = None
        self.datapoints: list[tuple[float, int, int]] = []  # (period end, 5xx answers, unhealthy targets)

    def _five_xx(self) -> int:
        return sum(
            int(row.get("hrsp_5xx") or 0)
            for node in range(len(self.running.balancers))
            for backend in (NODE_TARGETS, GREEN_TARGETS)
            for row in self.running.server_stats(node, backend).values()
        )

    def _failing(self) -> int:
        """This read's UnHealthyHostCount: the larger group's targets failing their checks, on the node where
        most are (each node's view is a sample of its own)."""
        plan = self.running.plan
        counts = []
        for node in range(len(self.running.balancers)):
            states = self.running.server_states(node)
            for ip, state in states.items():
                if state == "UP":
                    self.seen_up.add((node, ip))
            failing = [ip for ip, state in states.items() if state.startswith("DOWN") and (node, ip) in self.seen_up]
            groups = [
                sum(1 for ip in failing if _registered_at_start(plan, ip) == blue) for blue in (True, False)
            ]  # blue's group and green's
            counts.append(max(groups))
        return min(counts)

    def check(self) -> None:
        """Read the nodes once; close each period that has ended; raise RolledBack when an alarm fires."""
        failing = self._failing()
        self.fewest_failing = failing if self.fewest_failing is None else min(self.fewest_failing, failing)
        now = time.monotonic()
        while now >= self.period_began + self.period_s:
            ended = self.period_began + self.period_s
            five_xx = self._five_xx()
            self.datapoints.append((ended, five_xx - self.five_xx_before, self.fewest_failing or 0))
            self.period_began, self.five_xx_before, self.fewest_failing = ended, five_xx, failing
        # What CloudWatch has of them by now: the data points of periods that ended `late_s` ago or more.
        delivered = [point for point in self.datapoints if now >= point[0] + self.late_s]
        for what, index, needed in (
            ("the 5xx alarm", 1, self.timing.target_5xx_datapoints),
            ("the unhealthy hosts alarm", 2, self.timing.unhealthy_hosts_datapoints),
        ):
            last = delivered[-needed:]
            if len(last) == needed and all(point[index] >= 1 for point in last):
                seen = ", ".join(str(point[index]) for point in last)
                raise RolledBack(
                    f"{what} fired: {needed} period(s) of {self.period_s:g} s in a row breached ({seen}), "
                    f"{self.late_s:g} s late as CloudWatch is"
                )

    def watch(self, seconds: float, stops: _SpotStops | None = None) -> None:
        """Hold for `seconds`, reading the alarms (and moving `stops` on) every ALARM_POLL_S, once even for 0 s."""
        until = time.monotonic() + seconds
        while True:
            self.check()
            if stops:
                stops.advance()
            if time.monotonic() >= until:
                return
            time.sleep(min(ALARM_POLL_S, max(0.0, until - time.monotonic())))

    def watch_until(self, stops: _SpotStops, flow: Flow) -> None:
        """Hold until every interrupted replica is replaced, reading the alarms meanwhile, within the flow's bound."""
        while not stops.done:
            if time.monotonic() > flow.deadline:
                raise flow.overran("the interrupted green replicas' replacements to pass their checks")
            self.watch(ALARM_POLL_S, stops)


def _registered_at_start(plan: Plan, ip: str) -> bool:
    return next(r.registered for r in plan.replicas if r.ip == ip)


class _SpotStops:
    """Green replicas stopped in Fargate Spot's order while the deploy bakes (interrupt.py's order): SIGTERM
    while registered; each fails its checks while it serves, then stops; ECS deregisters it and starts a
    replacement in a spare slot, in green's group. Moved on a step at a time (`advance`), between reads of the
    alarms."""

    def __init__(self, running: Running, victims: list[ReplicaPlan], slots: list[ReplicaPlan], flow: Flow) -> None:
        self.running, self.victims, self.slots, self.say = running, victims, slots, flow.say
        self.kill_at: float | None = None
        self.replaced: dict[str, ReplicaPlan] = {}  # interrupted replica's address -> its replacement
        self.done = False

    def begin(self) -> None:
        if self.kill_at is not None:
            return
        ips = [r.ip for r in self.victims]
        self.kill_at = self.running.send_stop_signal(ips)
        self.say(f"Spot interruption: SIGTERM to green {_ips(self.victims)}, still registered, while the deploy bakes")

    def advance(self) -> None:
        if self.kill_at is None or self.done:
            return
        running = self.running
        for victim, slot in zip(self.victims, self.slots, strict=True):
            if victim.ip in self.replaced:
                continue
            process = running.replicas[victim.ip]
            if process.running and time.monotonic() >= self.kill_at:
                process.kill()  # SIGKILL at the stop timeout, as ECS
            if process.running:
                continue
            running.set_state(victim.ip, "maint")  # a stopped task: ECS deregisters it, nothing left to drain
            running.start_replica(slot.ip)
            running.register(slot.ip)
            self.replaced[victim.ip] = slot
            self.say(f"{victim.ip} stopped; ECS deregistered it and started {slot.ip} in green's group")
        nodes = range(len(running.balancers))
        if len(self.replaced) == len(self.slots) and all(
            running.server_states(node).get(slot.ip) == "UP" for node in nodes for slot in self.slots
        ):
            self.done = True
            self.say(f"replacements {_ips(self.slots)} healthy on every node; no alarm fired")

    def serving(self, green: list[ReplicaPlan]) -> list[ReplicaPlan]:
        """Green as it serves now: the interrupted replicas out, their replacements in."""
        return [self.replaced.get(r.ip, r) for r in green]


# What HAProxy's last check of a server says when the server answered, or refused, and failed: a wrong
# status, a bad answer, a refused connection. Not a timeout: on a busy machine a sound replica answers late.
FAILED_CHECKS = ("L7STS", "L7RSP", "L4CON", "SOCKERR")


def _until_green_healthy(running: Running, green: list[ReplicaPlan], alarm: _RollbackAlarms, flow: Flow) -> None:
    """Wait until every node counts every green replica UP, within the flow's bound. The deploy fails (a
    rollback), as ECS's does for tasks that never pass, once a green replica's checks have failed for
    `unhealthy_threshold` intervals on a node: HAProxy counts no failure of a server that is down already,
    so the rehearsal times the failing from the first failed check it sees."""
    plan = running.plan
    health = plan.health
    failing_for_s = plan.seconds(health.interval_seconds * health.unhealthy_threshold)
    failing_since: dict[tuple[int, str], float] = {}
    green_ips = {r.ip for r in green}
    nodes = range(len(running.balancers))
    while True:
        states = [running.server_states(node) for node in nodes]
        if all(node_states.get(ip) == "UP" for node_states in states for ip in green_ips):
            return
        alarm.check()
        for balancer in running.balancers:
            balancer.check()
        now = time.monotonic()
        for node in range(len(running.balancers)):
            for ip, row in running.server_stats(node).items():
                if ip not in green_ips:
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
