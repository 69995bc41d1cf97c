"""`python -m rehearsal --interrupt N`: N replicas stopped in Fargate Spot's order on a running rehearsal.

A Spot interruption sends the task its stop signal (SIGTERM) while it is still registered in its
target group (AWS Knowledge Center, "Fargate Spot termination notice": tasks "might not be
deregistered from a load balancer's target group" until the task is stopping). ECS deregisters the
task once it has stopped, the nodes learning of it over a few seconds, and starts a replacement.
The replica must lose nothing: it fails its health checks while it keeps serving until every node
has stopped sending to it, then stops gracefully (`replica.nginx.graceful_command`). With the plan's
`immediate_stop` it stops at once, as it did before, and requests fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import IO, TextIO

from rehearsal.deploy import deregister, replaced, start_seconds, wait_for_status
from rehearsal.flow import Flow, verify_during
from rehearsal.plan import Plan, ReplicaPlan
from rehearsal.stage import Running


@dataclass(frozen=True)
class InterruptResult:
    stop_seconds: float  # from SIGTERM to the last interrupted replica's exit
    stopped_in_time: bool  # every interrupted replica exited before the stop timeout's SIGKILL
    # Every interrupted replica stopped and out of the target group, every replacement healthy on
    # every node, and all of it while verify measured.
    replaced: bool


def expected_seconds(plan: Plan) -> float:
    """How long an interruption should take: the stop delay, then the last node learning of the
    deregistration, or a replacement healthy (which starts with the deregistration), whichever is later."""
    health = plan.health
    to_healthy = plan.seconds(health.interval_seconds * (health.healthy_threshold + 1))
    to_deregistered = plan.node_lag(len(plan.zones) - 1) + plan.seconds(plan.deregistration_delay_seconds)
    return plan.stop_delay_s + max(to_healthy, to_deregistered)


def interrupt_while_verifying(
    running: Running, count: int, *, verify_extra: list[str], out: TextIO, verify_stdout: IO[str] | None = None
) -> tuple[int, InterruptResult]:
    """`count` Spot interruptions while verify measures all of it (--max-error-rate 0): verify's exit code
    and the interruption's result (not replaced if verify ended first)."""
    code, result, measured = verify_during(
        running,
        lambda flow: spot_interruption(running, count, flow=flow),
        planned_s=expected_seconds(running.plan) + start_seconds(running, count),
        what="interrupt",
        verify_extra=verify_extra,
        out=out,
        verify_stdout=verify_stdout,
    )
    return code, result if measured else replace(result, replaced=False)


def spot_interruption(running: Running, count: int, *, flow: Flow) -> InterruptResult:
    """SIGTERM to the first `count` registered replicas while they stay registered; as each has stopped,
    ECS deregisters it and starts its replacement in one of the plan's unregistered slots."""
    plan = running.plan
    victims = [r for r in plan.replicas if r.registered][:count]
    slots = [r for r in plan.replicas if not r.registered][:count]
    if len(victims) < count or len(slots) < count:
        raise ValueError(f"{count} interruptions need {count} registered replicas and slots: Plan.with_deploy_slots()")
    ips = [r.ip for r in victims]

    began = time.monotonic()
    kill_at = running.send_stop_signal(ips)
    stop = "at once (immediate stop)" if plan.immediate_stop else f"after failing its checks {plan.stop_delay_s:g} s"
    flow.say(
        f"SIGTERM to {', '.join(ips)}, still registered, as a Fargate Spot interruption sends it; each stops {stop}"
    )
    stopped_in_time = running.wait_stopped(ips, kill_at)
    stop_seconds = time.monotonic() - began
    flow.say(
        f"stopped {stop_seconds:.1f} s after SIGTERM"
        + ("" if stopped_in_time else f" (SIGKILL at the stop timeout, {plan.stop_timeout_s:g} s)")
        + "; ECS deregisters them and starts their replacements"
    )

    replace_stopped(running, victims, slots, flow)
    flow.say(f"replacements {_with_pids(running, slots)} healthy on every node")
    return InterruptResult(
        stop_seconds=stop_seconds, stopped_in_time=stopped_in_time, replaced=replaced(running, victims, slots)
    )


def replace_stopped(running: Running, stopped: list[ReplicaPlan], slots: list[ReplicaPlan], flow: Flow) -> None:
    """ECS's answer to tasks that stopped: deregister them (the nodes learn of it over their lag; a
    stopped task has nothing left to drain) and start a replacement for each, in `slots`, healthy within
    the flow's bound."""
    plan = running.plan
    for slot in slots:
        running.start_replica(slot.ip)
        running.register(slot.ip)
    deregister(running, stopped, plan.seconds(plan.deregistration_delay_seconds), stop=False)
    wait_for_status(running, slots, "UP", flow=flow, waiting_for="the replacements to pass their health checks")


def replace_exited(running: Running, say: Callable[[str], None]) -> None:
    """ECS's watch over a running service (--keep): a replica that has stopped on its own, by a signal
    sent by hand or a crash, is deregistered and replaced in a slot nothing runs in."""
    plan = running.plan
    states = running.server_states()
    exited = [
        r
        for r in plan.replicas
        if r.ip in running.replicas and not running.replicas[r.ip].running and not states[r.ip].startswith("MAINT")
    ]
    if not exited:
        return
    idle = [r for r in plan.replicas if r.ip not in running.replicas or not running.replicas[r.ip].running]
    slots = [r for r in idle if r not in exited and states[r.ip].startswith("MAINT")][: len(exited)]
    stopped = ", ".join(r.ip for r in exited)
    replacing = f"replaces it: {', '.join(r.ip for r in slots)}" if slots else "has no free address to replace it"
    flow = Flow("replacement", expected_seconds(plan) + start_seconds(running, len(slots)), say)
    flow.say(f"{stopped} stopped; ECS deregisters and {replacing}")
    replace_stopped(running, exited, slots, flow)
    if slots:
        flow.say(f"replacements {_with_pids(running, slots)} healthy on every node")


def _with_pids(running: Running, replicas: list[ReplicaPlan]) -> str:
    """ "127.0.2.11 (pid 123), ...": the pid a stop signal goes to, as the task's PID 1."""
    return ", ".join(f"{r.ip} (pid {running.replicas[r.ip].popen.pid})" for r in replicas)
