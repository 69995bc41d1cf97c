"""The plain values components take as options and settings builds: no pulumi import, so settings,
the estimate and the rehearsal use them without loading the cloud SDK."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

# Network's NAT gateways: "none" puts the replicas in public subnets, the others in private ones.
NatGateways = Literal["none", "single", "onePerAz"]
NAT_GATEWAYS: tuple[str, ...] = get_args(NatGateways)


def subnet_prefix_length(vpc_prefix_length: int, az_count: int) -> int:
    """Network's subnets: the VPC cut into equal blocks, room for one public and one private subnet per zone."""
    return vpc_prefix_length + math.ceil(math.log2(2 * az_count))


# ReplicaService's rolling deploys: never below the replica count, and room to start every new task
# at once. The estimate's deploy timing reads the maximum.
DEPLOYMENT_MINIMUM_HEALTHY_PERCENT = 100
DEPLOYMENT_MAXIMUM_PERCENT = 200


@dataclass(frozen=True)
class HealthCheck:
    """How the ALB probes each replica. The defaults make a new replica healthy in about 10 s
    (interval x healthy threshold) where AWS's defaults take 150 s."""

    path: str = "/health"
    """Path probed on the replica's traffic port. @default "/health"."""
    interval_seconds: int = 5
    """Seconds between probes, 5 to 300. @default 5 (AWS: 30)."""
    timeout_seconds: int = 3
    """Seconds a probe may take, below the interval. @default 3."""
    healthy_threshold: int = 2
    """Passes in a row before a replica gets traffic. @default 2 (AWS: 5)."""
    unhealthy_threshold: int = 2
    """Failures in a row before a replica stops getting traffic. @default 2."""


# ALB nodes each probe and route on their own and learn of a change over a few seconds (AWS gives no
# number): from the first node to the last, this long. The rehearsal's nodes lag as much.
NODE_LAG_SECONDS = 3
# What a replica's graceful stop may take after its delay, for the requests in flight: ECS's default
# stop timeout, all the time the graceful stop had before the delay came first.
GRACEFUL_STOP_SECONDS = 30
# The largest container stopTimeout Fargate takes.
FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class StopTiming:
    """How a replica stops on its stop signal (SIGTERM), in any order: a Fargate Spot interruption sends it
    while the task is still registered. The replica first fails its health check while it keeps serving
    for `delay_seconds`, until every balancer node has stopped sending it requests; then it stops
    gracefully. ECS sends SIGKILL `timeout_seconds` after the signal (the container's stopTimeout)."""

    delay_seconds: int
    timeout_seconds: int

    @classmethod
    def of(cls, health: HealthCheck, *, node_lag_seconds: int = NODE_LAG_SECONDS) -> StopTiming:
        """The one derivation: the checks that take a replica out (unhealthy threshold x interval; a
        failing answer comes at once, so no timeout), plus the nodes' lag; then the graceful stop."""
        delay = health.unhealthy_threshold * health.interval_seconds + node_lag_seconds
        return cls(delay_seconds=delay, timeout_seconds=delay + GRACEFUL_STOP_SECONDS)

    def problem(self) -> str | None:
        """Why Fargate cannot give the replica this stop, or None when it can."""
        if self.timeout_seconds <= FARGATE_MAX_STOP_TIMEOUT_SECONDS:
            return None
        return (
            f"a stop timeout of {self.timeout_seconds} s ({self.delay_seconds} s failing health checks while "
            f"serving, then {GRACEFUL_STOP_SECONDS} s to stop gracefully), above Fargate's "
            f"{FARGATE_MAX_STOP_TIMEOUT_SECONDS} s"
        )


@dataclass(frozen=True)
class Capacity:
    """Which Fargate capacity the tasks run on: on demand, Spot, or Spot above an on-demand base."""

    spot: bool = False
    """Run tasks on FARGATE_SPOT (about 70 % cheaper; AWS may stop a task with two minutes' notice,
    and ECS starts a replacement). @default False: on demand only."""
    on_demand_base: int = 0
    """With spot, how many tasks always run on demand, placed first. @default 0: all on Spot."""

    def strategy(self) -> list[tuple[str, int, int]]:
        """(capacity provider, base, weight) for each provider the tasks are spread over."""
        if not self.spot:
            return [("FARGATE", 0, 1)]
        if self.on_demand_base == 0:
            return [("FARGATE_SPOT", 0, 1)]
        # The ECS API reference (CapacityProviderStrategyItem): "Only one capacity provider in a capacity
        # provider strategy can have a base defined", and "any capacity providers with a weight of 0 can't be
        # used to place tasks" once a strategy has several providers, so an on-demand base of weight 0 would
        # put no task on demand. The base goes first, on FARGATE (weight 1, so it may place); the tasks above
        # it split by weight, 1 on demand to SPOT_WEIGHT on Spot: of up to 99 tasks above a base that share
        # is below one task, and the rest run on Spot (the reference does not say how ECS rounds a share
        # below one task: at worst one task more runs on demand, never fewer than the base).
        return [("FARGATE", self.on_demand_base, 1), ("FARGATE_SPOT", 0, SPOT_WEIGHT)]


SPOT_WEIGHT = 1000
"""The largest weight ECS takes (CapacityProviderStrategyItem: weight 0 to 1000): tasks above an
on-demand base go to Spot 1000 to 1."""
