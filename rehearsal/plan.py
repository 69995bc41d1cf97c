"""What a rehearsal starts: the replicas, their addresses and zones, and the balancer in front.

A plan is plain data. `Plan.from_settings` lays a stack out the way ECS lays out its tasks; tests
and the benchmark vary it with `dataclasses.replace` (weights, the balance line, stickiness, which
replicas to start, nginx instead of HAProxy) before handing it to `Rehearsal`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace
from typing import Literal

from rehearsal.processes import free_port
from settings import StackSettings

# The ALB listens on 80; the rehearsal's stand-in needs no privilege.
DEFAULT_PORT = 18080
LISTEN_HOST = "127.0.0.1"

Balancer = Literal["haproxy", "nginx"]

# The stack's target group algorithm -> HAProxy's `balance` line.
HAPROXY_BALANCE: dict[str, str] = {
    "round_robin": "roundrobin",
    "least_outstanding_requests": "leastconn",
    # One draw (HAProxy's default of two picks the less loaded, kinder than the ALB's plain random).
    "weighted_random": "random(1)",
}
# HAProxy balance line -> the nginx upstream directive that does the same ("" is nginx's default).
NGINX_BALANCE: dict[str, str] = {"roundrobin": "", "leastconn": "least_conn;", "random(1)": "random;"}


@dataclass(frozen=True)
class Zone:
    """A stand-in for one availability zone: a /24 of loopback addresses."""

    name: str  # "zone-a", as verify's --subnet CIDR=ZONE names it
    subnet: str  # "127.0.1.0/24"


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

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class HealthCheck:
    """The target group's health check, which the balancer runs against every replica."""

    path: str
    interval_s: float
    timeout_s: float
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class Plan:
    replicas: tuple[ReplicaPlan, ...]
    zones: tuple[Zone, ...]
    algorithm: str  # the stack's algorithm, handed to verify
    health: HealthCheck
    port: int = DEFAULT_PORT  # the balancer's port on 127.0.0.1
    balancer: Balancer = "haproxy"
    # HAProxy's `balance` line (roundrobin, leastconn, random(1), source, ...); for the nginx balancer
    # one of roundrobin, leastconn, random(1).
    balance: str = "roundrobin"
    sticky_cookie: bool = False  # HAProxy inserts a server cookie (ALB's stickiness, which verify must fail)
    # nginx balancer only: its worker processes. The upstream has no shared `zone`, so each worker
    # keeps its own rotation, like the nodes of an ALB (one per zone) behind one name.
    nginx_workers: int = 2

    def __post_init__(self) -> None:
        if not self.replicas:
            raise ValueError("a plan needs at least one replica")
        if any(not 1 <= r.weight <= 256 for r in self.replicas):
            raise ValueError(f"replica weights must be 1 to 256 (HAProxy's), got {[r.weight for r in self.replicas]}")
        if self.balancer == "nginx" and self.sticky_cookie:
            raise ValueError("cookie stickiness needs the haproxy balancer")
        if self.balancer == "nginx" and self.balance not in NGINX_BALANCE:
            raise ValueError(f"nginx balancer: balance {self.balance!r} is not one of {', '.join(NGINX_BALANCE)}")

    @classmethod
    def from_settings(
        cls, settings: StackSettings, *, port: int = DEFAULT_PORT, replica_port: int | None = None
    ) -> Plan:
        """The stack laid out on loopback, as ECS spreads tasks over zones.

        Zone i is 127.0.(i+1).0/24 and replica j goes to zone j % az_count with host address
        .10, .11, ...: 127.0.1.10, 127.0.2.10, 127.0.1.11, ... All listen on the container port
        (`replica_port` overrides it), as every task does on its own IP in AWS.
        """
        container_port = replica_port if replica_port is not None else settings.container_port
        zones = tuple(
            Zone(name=f"zone-{string.ascii_lowercase[i]}", subnet=f"127.0.{i + 1}.0/24")
            for i in range(settings.az_count)
        )
        replicas = tuple(
            ReplicaPlan(
                ip=f"127.0.{j % len(zones) + 1}.{10 + j // len(zones)}", port=container_port, zone=zones[j % len(zones)]
            )
            for j in range(settings.replicas)
        )
        health = HealthCheck(
            path=settings.health_check_path,
            interval_s=settings.health_check_interval_seconds,
            timeout_s=settings.health_check_timeout_seconds,
            healthy_threshold=settings.healthy_threshold,
            unhealthy_threshold=settings.unhealthy_threshold,
        )
        return cls(
            replicas=replicas,
            zones=zones,
            algorithm=settings.algorithm,
            health=health,
            port=port,
            balance=HAPROXY_BALANCE[settings.algorithm],
        )

    def on_free_ports(self) -> Plan:
        """The same plan on a free balancer port and a replica port free on every replica's address."""
        replica_port = free_port(r.ip for r in self.replicas)
        return replace(
            self, port=free_port([LISTEN_HOST]), replicas=tuple(replace(r, port=replica_port) for r in self.replicas)
        )

    @property
    def url(self) -> str:
        return f"http://{LISTEN_HOST}:{self.port}/"

    def verify_args(self) -> list[str]:
        """verify's arguments for this plan: the URL, every planned replica, the algorithm, the zones."""
        subnets = [arg for zone in self.zones for arg in ("--subnet", f"{zone.subnet}={zone.name}")]
        return [self.url, "--expect-replicas", str(len(self.replicas)), "--algorithm", self.algorithm, *subnets]
