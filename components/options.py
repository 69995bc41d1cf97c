"""The plain values components take as options and settings builds: no pulumi import, so settings,
the estimate and the rehearsal use them without loading the cloud SDK."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

# Network's NAT gateways: "none" puts the replicas in public subnets, the others in private ones.
NatGateways = Literal["none", "single", "onePerAz"]
NAT_GATEWAYS: tuple[str, ...] = get_args(NatGateways)


# The replicas' addresses: "ipv6-only" puts them in IPv6-only subnets behind a dual-stack load balancer (no NAT,
# no public IPv4 on a task: docs/ipv6.md); "ipv4" is the IPv4 network of awsx's VPC, with NatGateways' choice.
ReplicaAddressing = Literal["ipv4", "ipv6-only"]
REPLICA_ADDRESSINGS: tuple[str, ...] = get_args(ReplicaAddressing)


def subnet_prefix_length(vpc_prefix_length: int, az_count: int) -> int:
    """Network's subnets: the VPC cut into equal blocks, room for one public and one private subnet per zone."""
    return vpc_prefix_length + math.ceil(math.log2(2 * az_count))


# ReplicaService's rolling deploys: never below the replica count, and room to start every new task
# at once. The estimate's deploy timing reads the maximum.
DEPLOYMENT_MINIMUM_HEALTHY_PERCENT = 100
DEPLOYMENT_MAXIMUM_PERCENT = 200
# The longest ReplicaService lets `pulumi up` wait for a steady service; settings refuse bake times
# whose deploy would take longer.
STEADY_STATE_TIMEOUT_MAX_SECONDS = 24 * 3600
TASK_START_SECONDS = 60
"""Assumed time from RunTask to a running container on Fargate for a small image (estimate.deploy_timing's model)."""
STEADY_STATE_MARGIN_SECONDS = 300
"""What `pulumi up` waits beyond the modelled worst case before it gives up on a steady service: room for
what the model assumes away (a slow image pull, ECS retrying a placement), well below the provider's
default of 20 minutes."""


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


# When a rollback alarm can fire, after what it watches has gone wrong. The ALB's metrics are one data point a
# minute, sent only while requests flow (ELB user guide, "CloudWatch metrics for your Application Load
# Balancer": "Elastic Load Balancing measures and sends its metrics in 60-second intervals"), so a period's data
# point reaches CloudWatch up to a minute after the period ends; CloudWatch evaluates an alarm of a period of
# 60 s or more once a minute (CloudWatch user guide, "Using Amazon CloudWatch alarms"): up to a minute more.
ALB_METRIC_PERIOD_SECONDS = 60
ALB_METRIC_DELAY_SECONDS = 60
ALARM_EVALUATION_SECONDS = 60


@dataclass(frozen=True)
class RollbackAlarmTiming:
    """The rollback alarms' period and data points, and how long each takes to fire: chosen with the stop of a
    replica, so a deploy's bake and step bake can be held to it.

    The 5xx alarm fires on one period with a 5xx answer. The unhealthy-hosts alarm judges each period by its
    Minimum (every sample of the period saw an unhealthy target) over `unhealthy_hosts_datapoints` periods in a
    row: a replica stopping on its own signal (a Fargate Spot interruption, a rolling deploy's old task) fails
    its checks at most until its stop timeout, and samples a period apart can find it failing in at most
    timeout // period + 1 periods, one fewer than it takes; a green revision whose tasks keep failing does fire.
    """

    unhealthy_hosts_datapoints: int
    target_5xx_datapoints: int = 1
    period_seconds: int = ALB_METRIC_PERIOD_SECONDS

    @classmethod
    def of(cls, stop: StopTiming) -> RollbackAlarmTiming:
        return cls(unhealthy_hosts_datapoints=stop.timeout_seconds // ALB_METRIC_PERIOD_SECONDS + 2)

    def seconds_to_fire(self, datapoints: int) -> int:
        """From the start of the first breaching period to the alarm in ALARM, at the latest."""
        return datapoints * self.period_seconds + ALB_METRIC_DELAY_SECONDS + ALARM_EVALUATION_SECONDS

    @property
    def slowest_seconds_to_fire(self) -> int:
        return self.seconds_to_fire(max(self.unhealthy_hosts_datapoints, self.target_5xx_datapoints))

    @property
    def minutes_to_decide(self) -> int:
        """The shortest bake (and step bake) in which both alarms can fire: whole minutes, as ECS takes them."""
        return math.ceil(self.slowest_seconds_to_fire / 60)

    def explained(self) -> str:
        return (
            f"the unhealthy-hosts alarm needs {self.unhealthy_hosts_datapoints} periods of {self.period_seconds} s, "
            f"plus up to {ALB_METRIC_DELAY_SECONDS} s for the ALB's metric to reach CloudWatch and "
            f"{ALARM_EVALUATION_SECONDS} s for CloudWatch to evaluate it: {self.slowest_seconds_to_fire} s"
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


# ECS-native traffic shifting (ECS API reference, DeploymentConfiguration): the strategy; AWS's ranges for
# its numbers are components/aws_limits.py's. settings.py checks a stack's values against them; the service
# and the rehearsal take the checked DeploymentStrategy.
StrategyKind = Literal["rolling", "blue-green", "linear", "canary"]
ECS_STRATEGY: dict[str, str] = {
    "rolling": "ROLLING",
    "blue-green": "BLUE_GREEN",
    "linear": "LINEAR",
    "canary": "CANARY",
}
# The test listener rule's condition (LoadBalancer, the rehearsal's nodes): a request with this header
# and value reaches the new revision.
TEST_HEADER = ("X-Deploy-Test", "green")
# The key prefix the ALB writes its access logs under: the bucket policy lets it write there, the load balancer
# writes there, the Glue table reads there (AccessLogBucket, AccessLogs, AccessLogTable default to it).
ACCESS_LOG_PREFIX = "alb"


@dataclass(frozen=True)
class DeploymentStrategy:
    """How a deploy moves production traffic from the running revision (blue) to the new one (green).

    "rolling" is ECS's rolling update through one target group; the others are ECS's own traffic
    shifting between two target groups, through a listener rule ECS rewrites.
    """

    kind: StrategyKind = "rolling"
    """@default "rolling": replace tasks in place, no second target group."""
    percent: float | None = None
    """linear: the share of production traffic moved per step; canary: the canary's share. None otherwise."""
    bake_minutes: int = 0
    """Minutes blue keeps running after the last shift, ready for a rollback (0 to 1440). @default 0."""
    step_bake_minutes: int = 0
    """linear: minutes between steps; canary: minutes the canary runs before the rest moves (0 to 1440). @default 0."""
    test_traffic: bool = False
    """Declare a test listener rule that reaches green before any production traffic. @default False."""
    hook: bool = False
    """verify judges the test traffic and each production step from inside the deploy (DeployHook), and
    ECS rolls back what it fails (deploymentVerify). @default False: a shifting deploy still calls the hook,
    which lets each stage through and says it did not judge."""

    @property
    def shifts_traffic(self) -> bool:
        """ECS moves traffic between two target groups (every strategy but rolling)."""
        return self.kind != "rolling"

    @property
    def ecs_strategy(self) -> str:
        """The strategy as ECS names it (deployment_configuration.strategy)."""
        return ECS_STRATEGY[self.kind]

    @property
    def label(self) -> str:
        """As the stack setting writes it: "blue-green", "canary:10"."""
        return f"{self.kind}:{self.percent:g}" if self.percent is not None else self.kind

    def seconds_to_last_shift(self, scale_up_seconds: int) -> int:
        """A shifting deploy: the new tasks healthy (`scale_up_seconds`), then a step bake between shifts."""
        return scale_up_seconds + (len(self.green_shares()) - 1) * self.step_bake_minutes * 60

    def seconds_both_revisions_run(self, scale_up_seconds: int, retire_seconds: int) -> int:
        """A shifting deploy, from the first new task to the last old one stopped: the last shift, the bake
        time, then the old revision's drain and stop (`retire_seconds`)."""
        return self.seconds_to_last_shift(scale_up_seconds) + self.bake_minutes * 60 + retire_seconds

    def green_shares(self) -> list[float]:
        """Green's share of production traffic, in percent, after each production shift, in order.

        blue-green: [100]; canary 10: [10, 100]; linear 30: [30, 60, 90, 100]. Rolling shifts nothing.
        """
        if self.kind == "blue-green":
            return [100.0]
        if self.kind == "canary" and self.percent is not None:
            return [float(self.percent), 100.0] if self.percent < 100 else [100.0]
        if self.kind == "linear" and self.percent is not None:
            steps = math.ceil(100 / self.percent - 1e-9)
            return [min(100.0, round(float(self.percent) * step, 6)) for step in range(1, steps + 1)]
        return []
