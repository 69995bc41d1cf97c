"""How long a deploy takes, from the settings alone: what `pulumi up` waits for, known before it starts.

The model, for an ECS rolling deploy behind a target group (minimum healthy 100 %):
1. ECS starts new tasks, as many at once as the maximum percent leaves room for (at 200 %, all);
   a task takes TASK_START_SECONDS to start (placement, network interface, image pull), an
   assumption: the settings do not decide it.
2. A new task gets traffic after `healthyThreshold` passed checks, `healthCheckIntervalSeconds`
   apart. ECS ignores failed checks for the grace period, so a new task may take up to that long.
3. Then ECS deregisters an old task: it keeps serving requests in flight for the deregistration
   delay (drain), then gets its stop signal. The replica first fails its health checks while it
   serves for the stop delay (`StopTiming`: what a stop outside a deploy, such as a Fargate Spot
   interruption, needs; after a drain it only waits), then stops gracefully; SIGKILL comes at the
   container's stop timeout (the stop delay plus 30 s).
`pulumi up` returns when the service is steady: every batch through all three steps.

ECS's traffic shifting (blue/green, linear, canary) instead starts every new task at once in the
alternate target group (step 1 and 2 above), then moves production traffic: all at once, or in steps
with the step bake time between them (a canary: its share, the canary bake time, then the rest). After
the last shift the old revision keeps running for the bake time, then is drained and stopped (step 3).
Both revisions run, and are billed, from the first new task to the last old one stopped, and the
service is steady only then: `pulumi up` waits for the stack's own strategy.
Not modelled: Fargate Spot capacity running short and failing deploys, which the circuit breaker
rolls back after several failed tasks. ECS never falls back from FARGATE_SPOT to FARGATE
(aws/containers-roadmap #852): without Spot capacity the service never gets steady, so `pulumi up`
waits at most `steady_state_timeout_seconds` (the worst case plus STEADY_STATE_MARGIN_SECONDS), then
fails, where the provider would wait 20 minutes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from components.options import STEADY_STATE_MARGIN_SECONDS, TASK_START_SECONDS, DeploymentStrategy
from estimate.cost import extra_replica_hour

if TYPE_CHECKING:
    from settings import StackSettings


def deploy_timing(settings: StackSettings, *, maximum_percent: int) -> dict[str, Any]:
    """Seconds each step of a rolling deploy takes at most, and the whole deploy at `replicas`.

    `maximum_percent` is the service's deployment maximum (the share of `replicas` that may run
    during a deploy), which decides how many new tasks start at once.
    """
    seconds_to_healthy = settings.seconds_to_healthy
    grace = settings.health_check_grace_period_seconds
    drain = settings.deregistration_delay_seconds
    stop = settings.stop_timing
    one_replica = settings.deploy_scale_up_seconds + settings.deploy_retire_seconds
    tasks_at_once = max(1, settings.replicas * (maximum_percent - 100) // 100)
    batches = math.ceil(settings.replicas / tasks_at_once)
    configured = settings.deployment_strategy
    compared = [
        DeploymentStrategy(),
        replace(configured, kind="blue-green", percent=None),
        replace(configured, kind="linear", percent=_percent(configured, "linear")),
        replace(configured, kind="canary", percent=_percent(configured, "canary")),
    ]
    rolling_seconds = batches * one_replica
    by_strategy = {
        strategy.label: _strategy_timing(settings, strategy, rolling_seconds=rolling_seconds) for strategy in compared
    }
    deploy_seconds = by_strategy[configured.label]["seconds_both_revisions_run"]
    return {
        "seconds_to_healthy": seconds_to_healthy,
        "drain_seconds": drain,
        "grace_seconds": grace,
        "stop_delay_seconds": stop.delay_seconds,
        "stop_timeout_seconds": stop.timeout_seconds,
        "task_start_seconds": TASK_START_SECONDS,
        "worst_case_one_replica_seconds": one_replica,
        "rolling_deploy_batches": batches,
        "worst_case_rolling_deploy_seconds": batches * one_replica,
        "steady_state_timeout_seconds": deploy_seconds + STEADY_STATE_MARGIN_SECONDS,
        "model": (
            f"{batches} batch(es) of up to {tasks_at_once} new tasks (maximum {maximum_percent} %); each: "
            f"start (assumed {TASK_START_SECONDS} s) + max(to healthy, grace) + drain + stop timeout (the old "
            f"replica fails its health checks for the stop delay, {stop.delay_seconds} s, then stops gracefully)"
        ),
        "strategy": configured.label,
        "by_strategy": by_strategy,
    }


# The percent a linear or canary comparison uses when the stack sets another strategy.
_COMPARED_PERCENT = {"linear": 10.0, "canary": 10.0}


def _percent(strategy: DeploymentStrategy, kind: str) -> float:
    return strategy.percent if strategy.kind == kind and strategy.percent is not None else _COMPARED_PERCENT[kind]


def _strategy_timing(settings: StackSettings, strategy: DeploymentStrategy, *, rolling_seconds: int) -> dict[str, Any]:
    """Seconds to the last production shift, seconds both revisions run, and what that overlap costs.

    Rolling: the last shift is the last old task deregistered (its drain and stop follow); shifting
    strategies: the new tasks healthy, then each shift after the step bake time.
    """
    scale_up, retire = settings.deploy_scale_up_seconds, settings.deploy_retire_seconds
    if strategy.shifts_traffic:
        shifts = strategy.green_shares()
        to_last_shift = strategy.seconds_to_last_shift(scale_up)
        both_run = strategy.seconds_both_revisions_run(scale_up, retire)
    else:
        shifts, to_last_shift, both_run = [], rolling_seconds - retire, rolling_seconds
    return {
        "production_shifts_percent": shifts,
        "seconds_to_last_shift": to_last_shift,
        "seconds_both_revisions_run": both_run,
        "both_revisions_usd": round(settings.replicas * extra_replica_hour(settings) * both_run / 3600, 4),
    }
