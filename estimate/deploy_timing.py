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
Not modelled: Fargate Spot capacity running short and failing deploys, which the circuit breaker
rolls back after several failed tasks. ECS never falls back from FARGATE_SPOT to FARGATE
(aws/containers-roadmap #852): without Spot capacity the service never gets steady, so `pulumi up`
waits at most `steady_state_timeout_seconds` (the worst case plus STEADY_STATE_MARGIN_SECONDS), then
fails, where the provider would wait 20 minutes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from settings import StackSettings

TASK_START_SECONDS = 60
"""Assumed time from RunTask to a running container on Fargate for a small image."""
STEADY_STATE_MARGIN_SECONDS = 300
"""What `pulumi up` waits beyond the modelled worst case before it gives up on a steady service: room for
what the model assumes away (a slow image pull, ECS retrying a placement), well below the provider's
default of 20 minutes."""


def deploy_timing(settings: StackSettings, *, maximum_percent: int) -> dict[str, Any]:
    """Seconds each step of a rolling deploy takes at most, and the whole deploy at `replicas`.

    `maximum_percent` is the service's deployment maximum (the share of `replicas` that may run
    during a deploy), which decides how many new tasks start at once.
    """
    seconds_to_healthy = settings.health_check_interval_seconds * settings.healthy_threshold
    grace = settings.health_check_grace_period_seconds
    drain = settings.deregistration_delay_seconds
    stop = settings.stop_timing
    one_replica = TASK_START_SECONDS + max(seconds_to_healthy, grace) + drain + stop.timeout_seconds
    tasks_at_once = max(1, settings.replicas * (maximum_percent - 100) // 100)
    batches = math.ceil(settings.replicas / tasks_at_once)
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
        "steady_state_timeout_seconds": batches * one_replica + STEADY_STATE_MARGIN_SECONDS,
        "model": (
            f"{batches} batch(es) of up to {tasks_at_once} new tasks (maximum {maximum_percent} %); each: "
            f"start (assumed {TASK_START_SECONDS} s) + max(to healthy, grace) + drain + stop timeout (the old "
            f"replica fails its health checks for the stop delay, {stop.delay_seconds} s, then stops gracefully)"
        ),
    }
