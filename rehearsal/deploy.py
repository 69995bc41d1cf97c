"""`python -m rehearsal --deploy`: a rolling deploy in ECS's order on a running rehearsal.

ECS with minimum 100 % and maximum 200 %: every new task starts at once and registers; once the
load balancer's health checks pass, the old targets are deregistered; ECS waits the deregistration
delay, then sends each old container its stop signal, and SIGKILL after the stop timeout. Without
draining (`drain=False`), the old replicas die at once, as crashed tasks do, and leave the target
group only when the health checks have found them down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import IO, TextIO

from rehearsal.flow import Flow, verify_during
from rehearsal.plan import Plan, ReplicaPlan
from rehearsal.stage import Running


@dataclass(frozen=True)
class DeployResult:
    seconds: float  # from starting the new replicas to the last old one stopped
    # Every old replica stopped and out of the target group, every new one healthy, and all of it
    # while verify measured.
    replaced: bool


def expected_seconds(plan: Plan, *, drain: bool) -> float:
    """How long the deploy should take: new replicas healthy, then the drain until the last node has
    taken the old ones out and they have stopped (each fails its health check for the stop delay
    first), or, undrained, the health checks finding them down."""
    health = plan.health
    to_healthy = plan.seconds(health.interval_seconds * (health.healthy_threshold + 1))
    if drain:
        lag = plan.node_lag(len(plan.zones) - 1)
        return to_healthy + plan.seconds(plan.deregistration_delay_seconds) + max(lag, plan.stop_delay_s)
    return to_healthy + plan.seconds(health.interval_seconds * (health.unhealthy_threshold + 1))


# The least a new replica is planned to take to start, register and answer (a process, a few commands).
START_FLOOR_S = 0.1


def start_seconds(running: Running, count: int) -> float:
    """What starting `count` new replicas is planned to take: twice what starting as many took at the
    rehearsal's start, on this machine under its load."""
    return max(2 * running.replica_start_s, START_FLOOR_S) * count


def deploy_while_verifying(
    running: Running, *, drain: bool, verify_extra: list[str], out: TextIO, verify_stdout: IO[str] | None = None
) -> tuple[int, DeployResult]:
    """A rolling deploy while verify measures all of it (--max-error-rate 0): verify's exit code and the
    deploy's result (not replaced if verify ended first)."""
    code, result, measured = verify_during(
        running,
        lambda flow: rolling_deploy(running, drain=drain, flow=flow),
        # Starting the new replicas comes first: at 100 replicas it takes seconds of its own.
        planned_s=expected_seconds(running.plan, drain=drain) + start_seconds(running, len(new_slots(running.plan))),
        what="deploy",
        verify_extra=verify_extra,
        out=out,
        verify_stdout=verify_stdout,
    )
    return code, result if measured else replace(result, replaced=False)


def new_slots(plan: Plan) -> list[ReplicaPlan]:
    """The plan's replicas a deploy registers: its slots, not registered at the start (a switch back's aside:
    rehearsal.switch)."""
    return [r for r in plan.replicas if not r.registered and r.switch is None]


def rolling_deploy(running: Running, *, drain: bool, flow: Flow) -> DeployResult:
    """Replace every registered replica of `running` by the plan's unregistered slots."""
    plan = running.plan
    old = [r for r in plan.replicas if r.registered]
    new = new_slots(plan)
    if len(new) < len(old):
        raise ValueError("a rolling deploy needs a slot per replica: Plan.with_deploy_slots()")
    began = time.monotonic()

    for replica in new:
        running.start_replica(replica.ip)
        running.register(replica.ip)
    flow.say(f"started and registered {len(new)} new replicas: {', '.join(r.ip for r in new)}")
    wait_for_status(running, new, "UP", flow=flow, waiting_for="the new replicas to pass their health checks")
    flow.say(f"new replicas healthy on every node after {time.monotonic() - began:.1f} s")

    if drain:
        delay_s = plan.seconds(plan.deregistration_delay_seconds)
        lag_s = plan.node_lag(len(plan.zones) - 1)
        flow.say(
            f"deregistered {len(old)} old replicas; draining {delay_s:g} s (the last node learns {lag_s:g} s later)"
        )
        deregister(running, old, delay_s, stop=True)
        flow.say(
            f"stopped the old replicas: SIGTERM, each failed its health checks for {plan.stop_delay_s:g} s, then "
            f"stopped (SIGKILL after {plan.stop_timeout_s:g} s)"
        )
    else:
        for replica in old:
            running.replicas[replica.ip].kill()
        flow.say(f"killed {len(old)} old replicas without draining (crashed tasks)")
        wait_for_status(running, old, "DOWN", flow=flow, waiting_for="the health checks to find the killed replicas")
        for replica in old:
            running.set_state(replica.ip, "maint")
        flow.say("the health checks found them down; ECS deregistered them")
    seconds = time.monotonic() - began

    return DeployResult(seconds=seconds, replaced=replaced(running, old, new))


def replaced(running: Running, old: list[ReplicaPlan], new: list[ReplicaPlan]) -> bool:
    """Every one of `old` stopped and out of the target group on every node, every one of `new` UP on each."""
    states = [running.server_states(node) for node in range(len(running.balancers))]
    return all(not running.replicas[r.ip].running and all(s[r.ip] == "MAINT" for s in states) for r in old) and all(
        s[r.ip] == "UP" for r in new for s in states
    )


def deregister(running: Running, old: list[ReplicaPlan], delay_s: float, *, stop: bool) -> None:
    """ECS's side and the nodes' side of a deregistration, in time order: node i drains the old
    replicas when it learns of it (`Plan.node_lag`) and takes them out `delay_s` after that; with
    `stop`, ECS stops them `delay_s` after deregistering, whoever has heard by then, and this returns
    once they have stopped (a stopped task is deregistered without it)."""
    plan = running.plan
    began = time.monotonic()
    events: list[tuple[float, Callable[[], object]]] = []
    for node in range(len(plan.zones)):
        learns = plan.node_lag(node)
        for replica in old:
            events.append((learns, partial(running.set_state, replica.ip, "drain", node)))
            events.append((learns + delay_s, partial(running.set_state, replica.ip, "maint", node)))
    # After a node's own events at the same moment (sorted is stable): a node that has heard has
    # taken the replicas out before they stop.
    ips = [replica.ip for replica in old]
    kill_at: list[float] = []
    if stop:
        events.append((delay_s, lambda: kill_at.append(running.send_stop_signal(ips))))
    for at, action in sorted(events, key=lambda event: event[0]):
        time.sleep(max(0.0, began + at - time.monotonic()))
        action()
    if kill_at:
        running.wait_stopped(ips, kill_at[0])


def wait_for_status(
    running: Running, replicas: list[ReplicaPlan], status: str, *, flow: Flow, waiting_for: str
) -> None:
    """Wait until every node shows `status` for every one of `replicas`, within the flow's bound."""
    nodes = range(len(running.balancers))

    def reached() -> bool:
        return all(running.server_states(node).get(r.ip) == status for node in nodes for r in replicas)

    flow.wait(reached, waiting_for=f"{waiting_for} ({status} on every node)", watch=running.balancers)
