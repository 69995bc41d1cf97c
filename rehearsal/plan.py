"""What a rehearsal starts: the replicas, their addresses and zones, and one balancer node per zone.

A plan is plain data. `Plan.from_settings` lays a stack out the way ECS lays out its tasks and the
ALB its nodes; tests and the benchmark vary it with `dataclasses.replace` (weights, HAProxy's
balance line, stickiness, which replicas to start, cross-zone, the time scale) before handing it to
`Rehearsal`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace

from components.options import NODE_LAG_SECONDS, HealthCheck, StopTiming
from rehearsal.processes import free_port
from settings import StackSettings
from verify.core.addresses import host_port

# The ALB listens on 80; the rehearsal's nodes need no privilege.
DEFAULT_PORT = 18080
# The name every node answers to, as an ALB's DNS name resolves to one address per node; verify
# gets it with --resolve, so no resolver is asked (.test is reserved: it never resolves).
NODE_NAME = "alb.rehearsal.test"
# HAProxy's largest server weight (weights are scaled up to it, see configs.haproxy_weights).
HAPROXY_MAX_WEIGHT = 256
# A health check's timeout is scaled like every timing, but never below this (nor above the stack's own):
# at 1/50 of 3 s, 60 ms, a busy machine's sound replicas answered too late and were taken out. A check
# that is answered ends there, so the floor costs no time; only a hanging replica is found later.
CHECK_TIMEOUT_FLOOR_S = 1.0

# The stack's target group algorithm -> HAProxy's `balance` line.
HAPROXY_BALANCE: dict[str, str] = {
    "round_robin": "roundrobin",
    "least_outstanding_requests": "leastconn",
    # One draw (HAProxy's default of two picks the less loaded, kinder than the ALB's plain random).
    "weighted_random": "random(1)",
}


# IPv6-only replicas (--ip-version 6): a unique local /64 per zone (RFC 4193, fd00::/8), as the stack gives each
# zone a /64 of its VPC's block. These addresses exist only inside the network namespace the rehearsal makes
# for such a run (rehearsal.netns), never on the machine's own interfaces.
IPV6_PREFIX = "fd00:a1b2:c3d4"


@dataclass(frozen=True)
class Zone:
    """A stand-in for one availability zone: the replicas' subnet, and its balancer node."""

    name: str  # "zone-a", as verify's --subnet CIDR=ZONE names it
    subnet: str  # the replicas': "127.0.1.0/24", or with IPv6-only replicas "fd00:a1b2:c3d4:1::/64"
    node_ip: str  # "127.0.1.1": the zone's balancer node, as the ALB has one node per zone
    node_ip6: str | None = None  # the node's IPv6 address, as a dual-stack ALB's node has one of each

    @property
    def node_addresses(self) -> tuple[str, ...]:
        return (self.node_ip,) if self.node_ip6 is None else (self.node_ip, self.node_ip6)


@dataclass(frozen=True)
class ReplicaPlan:
    """One replica: its own address (which is its id in the response contract) and port."""

    ip: str
    port: int
    zone: Zone
    weight: int = 1  # the balancer's weight for this replica; 1 for all is the even split
    # False: registered with the balancer but not started by the rehearsal, like a task that never
    # came up, or a replica the caller serves with a process of its own.
    start: bool = True
    # False: a slot in the balancers' config, out of the target group (maintenance) until a deploy
    # registers it.
    registered: bool = True
    # A failing revision (a traffic-shifting deploy's rollback): "health-checks" answers the health
    # path 503, "5xx" answers every other path 500. None: a sound replica.
    fails: str | None = None
    # A slot of the rolling deploy that follows a shifting one (`Plan.with_switch_back_slots`): "both" registers
    # in both target groups (a traffic-shifting plan's blue and green), as the stack's rolling service does;
    # "primary" in the primary group only, as its one target group did before. None: no such slot.
    switch: str | None = None
    # The replica id it answers with instead of its own address (--failing-revision split: a green replica
    # answering as another green one). None: its own.
    answers_as: str | None = None

    @property
    def address(self) -> str:
        return host_port(self.ip, self.port)  # [fd00:a1b2:c3d4:1::10]:8080, as nginx and HAProxy take it


@dataclass(frozen=True)
class Plan:
    replicas: tuple[ReplicaPlan, ...]
    zones: tuple[Zone, ...]
    algorithm: str  # the stack's target group algorithm, handed to verify
    health: HealthCheck  # the stack's, in whole seconds; the rehearsal runs it at `time_scale`
    deregistration_delay_seconds: int  # the stack's
    # Every stack timing (health checks, deregistration delay, stop timing) is multiplied by this in
    # the rehearsal: 1 runs the stack's own; tests and benchmarks shorten them, and the CLI says so.
    time_scale: float = 1.0
    port: int = DEFAULT_PORT  # every node's port, each on its own address; HAProxy's stats on the next
    haproxy_balance: str = "roundrobin"  # HAProxy's `balance` line (roundrobin, leastconn, random(1), source, ...)
    sticky_cookie: bool = False  # HAProxy inserts a server cookie (ALB's stickiness, which verify must fail)
    cross_zone: bool = True  # every node routes to every zone's replicas; False: each to its own zone's
    fail_health_checks: bool = False  # replicas answer their health path with 503 and keep serving
    # Two target groups, as ECS's blue/green, linear and canary deploys use: the replicas registered at
    # the start (blue) and the deploy slots (green), each node choosing between them per request by the
    # weights of ECS's production (and test) listener rule (see configs.haproxy_config).
    traffic_shifting: bool = False
    # ALB nodes learn of a deregistration over a few seconds (AWS gives no number), and a draining
    # target can get new requests until each has: the rehearsal's nodes learn of it this many stack
    # seconds apart, first to last.
    node_lag_seconds: int = NODE_LAG_SECONDS
    # Replicas stop at once on SIGTERM, without failing their health check first (as they did before
    # the stop delay): --interrupt --no-drain.
    immediate_stop: bool = False
    access_logs: bool = False  # every node logs each request as the ALB does (`Running.access_logs`)
    # The production listener rule moves to another share than the one ECS sets (--failing-revision weights):
    # half of it (10 % set: 5 %), which the deploy hook reads and fails.
    rule_drifts: bool = False

    def __post_init__(self) -> None:
        if not self.replicas:
            raise ValueError("a plan needs at least one replica")
        if any(not 1 <= r.weight <= HAPROXY_MAX_WEIGHT for r in self.replicas):
            weights = [r.weight for r in self.replicas]
            raise ValueError(f"replica weights must be 1 to {HAPROXY_MAX_WEIGHT} (HAProxy's), got {weights}")
        if not 0 < self.time_scale <= 1:
            raise ValueError(f"time scale {self.time_scale} must be above 0 and at most 1")

    @classmethod
    def from_settings(
        cls, settings: StackSettings, *, port: int = DEFAULT_PORT, replica_port: int | None = None, ip_version: int = 4
    ) -> Plan:
        """The stack laid out on loopback, as ECS spreads tasks over zones.

        Zone i is 127.0.(i+1).0/24 with its node on .1, and replica j goes to zone j % az_count with
        host address .10, .11, ...: 127.0.1.10, 127.0.2.10, 127.0.1.11, ... All listen on the
        container port (`replica_port` overrides it), as every task does on its own IP in AWS.
        `ip_version` 6: IPv6-only replicas, zone i's /64 fd00:a1b2:c3d4:(i+1)::/64 with replicas ::10, ::11, ...,
        and each node on 127.0.(i+1).1 and on ::1 of that /64, like a dual-stack ALB's node.
        """
        zones = tuple(
            Zone(
                name=f"zone-{string.ascii_lowercase[i]}",
                subnet=f"{IPV6_PREFIX}:{i + 1}::/64" if ip_version == 6 else f"127.0.{i + 1}.0/24",
                node_ip=f"127.0.{i + 1}.1",
                node_ip6=f"{IPV6_PREFIX}:{i + 1}::1" if ip_version == 6 else None,
            )
            for i in range(settings.az_count)
        )
        container_port = replica_port if replica_port is not None else settings.container_port
        return cls(
            replicas=tuple(_replica(j, zones, container_port) for j in range(settings.replicas)),
            zones=zones,
            algorithm=settings.algorithm,
            health=settings.health_check,
            deregistration_delay_seconds=settings.deregistration_delay_seconds,
            port=port,
            haproxy_balance=HAPROXY_BALANCE[settings.algorithm],
            cross_zone=settings.cross_zone,
        )

    def on_free_ports(self) -> Plan:
        """The same plan on balancer and stats ports free on every node, and a replica port free on
        every replica's address."""
        replica_port = free_port(r.ip for r in self.replicas)
        return replace(
            self,
            port=free_port(self.node_addresses, span=2),
            replicas=tuple(replace(r, port=replica_port) for r in self.replicas),
        )

    def with_deploy_slots(self) -> Plan:
        """The plan with room for a rolling deploy at 200 %: a slot per replica on the next addresses."""
        return replace(self, replicas=(*self.replicas, *self._slots(len(self.replicas))))

    def _slots(self, count: int) -> list[ReplicaPlan]:
        """`count` slots on the addresses after the replicas', out of the target group until registered."""
        first, port = len(self.replicas), self.replicas[0].port
        return [
            replace(_replica(j, self.zones, port), start=False, registered=False) for j in range(first, first + count)
        ]

    def with_green_slots(self, fails: str | None = None, *, spares: int = 0) -> Plan:
        """The plan with an alternate target group of deploy slots (green) beside the replicas (blue),
        for a blue/green, linear or canary deploy. `fails`, how the green revision fails: "health-checks" or
        "5xx" (ReplicaPlan.fails, every green replica), "split" (the last green replica answers as the first),
        "weights" (the production rule drifts: `rule_drifts`); `spares`: that many slots more in green's group,
        for ECS's replacements of interrupted green tasks."""
        count = len(self.replicas)
        slots = self._slots(count + spares)
        green = slots[:count]
        if fails in ("health-checks", "5xx"):
            green = [replace(r, fails=fails) for r in green]
        elif fails == "split" and len(green) > 1:
            green[-1] = replace(green[-1], answers_as=green[0].ip)
        return replace(
            self,
            replicas=(*self.replicas, *green, *slots[count:]),
            traffic_shifting=True,
            rule_drifts=fails == "weights",
        )

    def rule_share(self, percent: float) -> float:
        """The share the production rule moves to when ECS sets `percent`: that, or half of it (`rule_drifts`)."""
        return percent / 2 if self.rule_drifts else percent

    def with_switch_back_slots(self, groups: str = "both") -> Plan:
        """A traffic-shifting plan (`with_green_slots`) with a slot per replica more for the change back to rolling
        after a shifting deploy (rehearsal.switch), registered in `groups` once deployed (ReplicaPlan.switch)."""
        if not self.traffic_shifting:
            raise ValueError("switching back needs a traffic-shifting plan: Plan.with_green_slots()")
        count = sum(r.registered for r in self.replicas)
        return replace(self, replicas=(*self.replicas, *(replace(r, switch=groups) for r in self._slots(count))))

    @property
    def stop_timing(self) -> StopTiming:
        """The stack's stop delay and stop timeout (stack seconds), as the container definition sets them."""
        return StopTiming.of(self.health, node_lag_seconds=self.node_lag_seconds)

    @property
    def stop_delay_s(self) -> float:
        """How long a replica fails its health check, still serving, after SIGTERM: the rehearsal's seconds."""
        return 0.0 if self.immediate_stop else self.seconds(self.stop_timing.delay_seconds)

    @property
    def stop_timeout_s(self) -> float:
        """SIGTERM to SIGKILL, in the rehearsal's seconds."""
        return self.seconds(self.stop_timing.timeout_seconds)

    @property
    def check_timeout_s(self) -> float:
        """How long the nodes wait for a health check's answer, in the rehearsal's seconds."""
        stack_s = self.health.timeout_seconds
        return max(self.seconds(stack_s), min(stack_s, CHECK_TIMEOUT_FLOOR_S))

    def node_lag(self, node: int) -> float:
        """When node `node` learns of a deregistration, in the rehearsal's seconds after the first."""
        return self.seconds(self.node_lag_seconds) * node / max(1, len(self.zones) - 1)

    def seconds(self, stack_seconds: float) -> float:
        """A stack timing as the rehearsal runs it."""
        return stack_seconds * self.time_scale

    @property
    def stats_port(self) -> int:
        """HAProxy's stats page, on every node's address."""
        return self.port + 1

    @property
    def node_ips(self) -> list[str]:
        """Each zone's node by its IPv4 address: the one its stats page and access log go by."""
        return [zone.node_ip for zone in self.zones]

    @property
    def node_addresses(self) -> list[str]:
        """Every address of every node, IPv4 first: what the balancer's name resolves to."""
        return [zone.node_ip for zone in self.zones] + [zone.node_ip6 for zone in self.zones if zone.node_ip6]

    @property
    def ipv6_only(self) -> bool:
        """The replicas have IPv6 addresses only: the run needs a network namespace of its own."""
        return any(zone.node_ip6 is not None for zone in self.zones)

    @property
    def url(self) -> str:
        return f"http://{NODE_NAME}:{self.port}/"

    def stats_url(self, zone: Zone) -> str:
        """HAProxy's stats of a node as CSV: the target group's health, as the node sees it."""
        return f"http://{zone.node_ip}:{self.stats_port}/stats;csv"

    def verify_args(self) -> list[str]:
        """verify's arguments for this plan: the name and its nodes, target health, every registered
        replica, the algorithm, the zones."""
        return [
            self.url,
            "--resolve",
            f"{NODE_NAME}:{','.join(self.node_addresses)}",
            "--target-health",
            f"haproxy:{self.stats_url(self.zones[0])}",
            *self.expectation_args(),
        ]

    def expectation_args(self) -> list[str]:
        """verify's arguments for what a healthy split of this plan is: the replicas, the algorithm, the zones."""
        subnets = [arg for zone in self.zones for arg in ("--subnet", f"{zone.subnet}={zone.name}")]
        replicas = str(sum(r.registered for r in self.replicas))
        return ["--expect-replicas", replicas, "--algorithm", self.algorithm, *subnets]


def _replica(j: int, zones: tuple[Zone, ...], port: int) -> ReplicaPlan:
    """ECS's j-th task: zones in turn, host addresses .10, .11, ... (::10, ::11, ... in a /64) in each."""
    zone = zones[j % len(zones)]
    host = 10 + j // len(zones)
    if zone.node_ip6 is not None:
        return ReplicaPlan(ip=f"{zone.subnet.removesuffix('::/64')}::{host}", port=port, zone=zone)
    return ReplicaPlan(ip=f"127.0.{j % len(zones) + 1}.{host}", port=port, zone=zone)
