"""The balancer nodes' configuration: one HAProxy per zone, standing in for the ALB's node there."""

from __future__ import annotations

from pathlib import Path

from components.options import TEST_HEADER
from rehearsal.plan import HAPROXY_MAX_WEIGHT, Plan, ReplicaPlan, Zone
from verify.core.addresses import host_port

# The ALB's idle timeout: how long it keeps a client's idle connection open.
ALB_IDLE_TIMEOUT_S = 60
# The backends of a node, as its stats name them.
TARGET_GROUP = "target_group"  # every registered replica, health-checked: the target group's view
NODE_TARGETS = "node_targets"  # the replicas this node routes to, each following its health in TARGET_GROUP
FAIL_OPEN = "fail_open"  # the same replicas unchecked: used when none of them is healthy
# A traffic-shifting plan's alternate target group as a node routes to it: the green replicas, each
# following its health in TARGET_GROUP (NODE_TARGETS and FAIL_OPEN then hold the blue ones).
GREEN_TARGETS = "green_targets"
# ECS's listener rules forward to both groups by weight; a node draws a number in [0, 1000) per request
# and sends it to green when the number is in a range of this ACL file, which the deploy rewrites through
# HAProxy's runtime API (add/del acl). One file for production traffic, one for test traffic (requests
# carrying TEST_HEADER). Empty at the start: all traffic to blue.
SHIFT_PERMILLE = 1000
SERVER_IDS_PER_NODE = 1000  # above the most replicas a plan holds: a stack's 100, twice in a deploy


def haproxy_weights(weights: list[int]) -> list[int]:
    """The plan's relative weights scaled up to HAProxy's largest, keeping their ratios.

    `balance random` draws from a hash ring with points in proportion to each weight: at weight 1
    there are few, and the split is biased (35 / 36 / 29 % over 20k requests on 3 servers, every
    run); at 256 it is even (p-values from 0.02 to 0.98 run by run).
    """
    scale = HAPROXY_MAX_WEIGHT // max(weights)
    return [weight * scale for weight in weights]


def haproxy_server_name(index: int) -> str:
    """The name of the plan's replica `index` in every backend of every node (and in their stats)."""
    return f"r{index + 1}"


def routes_to(plan: Plan, zone: Zone, replica: ReplicaPlan) -> bool:
    """Whether the node of `zone` sends requests to `replica`: all of them with cross-zone on."""
    return plan.cross_zone or replica.zone == zone


def _seconds_of(timer: str, into: str) -> str:
    """Rules that put HAProxy's timer `timer` (ms, -1 when it did not run) into `txn.<into>` as the ALB
    writes its processing times: seconds with 3 decimals, or -1 (HAProxy 2.6 has no fetch for its timers,
    so the value goes through a variable to reach the converters)."""
    return (
        f'    http-after-response set-var-fmt(txn.{into}_ms) "%{timer}"\n'
        f"    http-after-response set-var(txn.{into}) str(-1)\n"
        f'    http-after-response set-var-fmt(txn.{into}) "%[var(txn.{into}_ms),div(1000)].'
        f'%[var(txn.{into}_ms),mod(1000),add(1000),regsub(^1,)]" if {{ var(txn.{into}_ms) -m int ge 0 }}\n'
    )


def _utc(variable: str) -> str:
    """A log-format expression: the microseconds since the epoch in `variable` as the ALB writes times."""
    return f"%[{variable},div(1000000),utime(%Y-%m-%dT%H:%M:%S)].%[{variable},mod(1000000),add(1000000),regsub(^1,)]Z"


def access_log_rules(plan: Plan, zone: Zone) -> str:
    """The frontend lines that make a node log each request as the ALB does: its fields in its order.

    type, time, elb, client:port, target:port ("-" when none was chosen), request, target and response
    processing times (seconds; -1 when not dispatched), the ELB's and the target's status codes
    ("-" when the target gave none), bytes in and out, "request line", "user agent" (escaped), TLS
    fields ("-": plain HTTP), target group, trace id, domain, certificate, rule priority,
    request_creation_time, actions, redirect, error reason, target list, target status list,
    classification, classification reason, conn_trace_id. Placed after the 503-to-502 rule, so the
    status logged is the one the client got.
    """
    target_group = f"arn:aws:elasticloadbalancing:rehearsal:000000000000:targetgroup/{TARGET_GROUP}/{zone.name}"
    # The ALB writes an IPv6 target in brackets ([2600:1f18::5]:8080); HAProxy's %si does not.
    target = "[%si]:%sp" if plan.ipv6_only else "%si:%sp"
    fields = [
        "http", _utc("date(0,us)"), f"app/rehearsal/{zone.name}", "%ci:%cp", "%[var(txn.target)]",
        "%[var(txn.request_s)]", "%[var(txn.target_s)]", "%[var(txn.response_s)]", "%ST",
        "%[var(txn.target_status)]", "%U", "%B", '\\"%HM http://%[var(txn.host)]%HU %HV\\"',
        "%{+Q,+E}[capture.req.hdr(0)]", "-", "-", target_group, '\\"Root=%ID\\"', '\\"-\\"', '\\"-\\"', "0",
        _utc("var(txn.received)"), '\\"forward\\"', '\\"-\\"', '\\"-\\"', '\\"%[var(txn.target)]\\"',
        '\\"%[var(txn.target_status)]\\"', '\\"-\\"', '\\"-\\"', "TID_%ID",
    ]  # fmt: skip
    return (
        "    http-request set-var(txn.received) date(0,us)\n"
        '    http-request set-var-fmt(txn.host) "%[req.hdr(host)]"\n'
        "    http-request capture req.fhdr(user-agent) len 512\n"
        "    http-after-response set-var(txn.target) str(-)\n"
        f'    http-after-response set-var-fmt(txn.target) "{target}" if {{ srv_name -m found }}\n'
        "    http-after-response set-var(txn.target_status) str(-)\n"
        # A 502 here is HAProxy's own (the replica refused or reset): the target answered nothing.
        '    http-after-response set-var-fmt(txn.target_status) "%[status]" if { srv_name -m found } !{ status 502 }\n'
        + _seconds_of("Tc", "request_s")
        + _seconds_of("Tr", "target_s")
        + "    http-after-response set-var(txn.response_s) str(-1)\n"
        "    http-after-response set-var(txn.response_s) str(0.000) if { var(txn.target_s_ms) -m int ge 0 }\n"
        f'    log-format "{" ".join(fields)}"\n'
    )


def shift_acl_files(admin_socket: Path) -> tuple[Path, Path]:
    """The node's production and test ACL files of a traffic-shifting plan, beside its admin socket."""
    return admin_socket.with_suffix(".production.acl"), admin_socket.with_suffix(".test.acl")


def routing_backends(plan: Plan, replica: ReplicaPlan) -> tuple[str, ...]:
    """The routing backends that hold `replica`: green ones only GREEN_TARGETS in a traffic-shifting plan, a
    rolling deploy's after a switch back both groups' or the primary's (ReplicaPlan.switch)."""
    if replica.switch == "both":
        return (NODE_TARGETS, FAIL_OPEN, GREEN_TARGETS)
    if plan.traffic_shifting and not replica.registered and replica.switch is None:
        return (GREEN_TARGETS,)
    return (NODE_TARGETS, FAIL_OPEN)


def haproxy_config(plan: Plan, zone: Zone, admin_socket: Path, access_log_fd: int | None = None) -> str:
    """The config of the node in `zone`: routes like the ALB's node, per request, health-checked.

    No `user`/`chroot`/`daemon` lines: HAProxy runs unprivileged, in the foreground (`-db`). With
    `access_log_fd`, each request is logged there (an open file HAProxy inherits) as the ALB logs it.
    """
    # One thread when logging: with two, a node lost a line now and then (1 of 300 requests in 2 of 7
    # runs, never written); with one, none in 16 runs of 300 to 3,000 requests. HAProxy's fd logger
    # seems not to wait for a descriptor another thread is writing to.
    log_global = f"    log fd@{access_log_fd} format raw local0\n    nbthread 1\n" if access_log_fd is not None else ""
    log_defaults = "    log global\n    unique-id-format %[uuid()]\n" if access_log_fd is not None else ""
    log_rules = access_log_rules(plan, zone) if access_log_fd is not None else ""
    shift_rules = _shift_rules(plan, admin_socket)
    health = plan.health
    weights = haproxy_weights([r.weight for r in plan.replicas])

    # Every HAProxy process draws `balance random`'s keys from the same sequence (its statistical
    # PRNG starts from a constant): with the same hash ring, all nodes would pick the same replicas
    # in the same order, which ALB nodes do not. Server ids place the ring's points: one set per node.
    first_id = plan.zones.index(zone) * SERVER_IDS_PER_NODE + 1

    def servers(backend: str, options: str) -> str:
        lines = []
        for i, (replica, weight) in enumerate(zip(plan.replicas, weights, strict=True)):
            if backend != TARGET_GROUP and not routes_to(plan, zone, replica):
                continue
            if backend != TARGET_GROUP and backend not in routing_backends(plan, replica):
                continue
            name = haproxy_server_name(i)
            line = f"    server {name} {replica.address} id {first_id + i} weight {weight}{options.format(name=name)}"
            # A tracking server inherits the maintenance of the one it tracks; disabled itself, it
            # would stay out once registered (a new replica then got requests only by failing open).
            lines.append(line + ("" if replica.registered or backend == NODE_TARGETS else " disabled"))
        return "\n".join(lines)

    cookie = " cookie {name}" if plan.sticky_cookie else ""
    cookie_line = "    cookie REPLICA insert indirect nocache\n" if plan.sticky_cookie else ""
    interval_ms, timeout_ms = round(plan.seconds(health.interval_seconds) * 1000), round(plan.check_timeout_s * 1000)
    # A dual-stack ALB's node answers on an IPv4 and an IPv6 address.
    binds = "\n".join(f"    bind {host_port(address, plan.port)}" for address in zone.node_addresses)
    return f"""\
# Generated by rehearsal/configs.py: the {zone.name} node of a local rehearsal's load balancer.
global
    stats socket {admin_socket} mode 600 level admin
    # Two rehearsals on one port must not share it: HAProxy binds with SO_REUSEPORT unless told.
    noreuseport
{log_global}
defaults
    mode http
{log_defaults}    option http-keep-alive
    timeout connect 2s
    timeout client {ALB_IDLE_TIMEOUT_S}s
    timeout server 30s
    timeout http-keep-alive {ALB_IDLE_TIMEOUT_S}s
    timeout check {timeout_ms}ms
    # The ALB never retries a request on another target: a replica that dies undrained costs
    # requests. No redispatch, no retry-on (HAProxy's default of 3 retries would hide it).
    retries 0

frontend node
{binds}
    # A connection refused by a chosen replica is HAProxy's 503; the ALB answers 502 for it (503 is
    # the ALB's "no registered targets", which HAProxy also answers when no server was chosen).
    http-after-response set-status 502 if {{ status 503 }} {{ srv_name -m found }}
{log_rules}{shift_rules}    # The ALB fails open: with no healthy target it routes to all of them anyway.
    use_backend {FAIL_OPEN} if {{ nbsrv({NODE_TARGETS}) eq 0 }}
    default_backend {NODE_TARGETS}

backend {TARGET_GROUP}
    option httpchk
    http-check send meth GET uri {health.path}
    http-check expect status 200
    default-server check inter {interval_ms}ms rise {health.healthy_threshold} fall {health.unhealthy_threshold}
{servers(TARGET_GROUP, "")}

backend {NODE_TARGETS}
    balance {plan.haproxy_balance}
{cookie_line}{servers(NODE_TARGETS, " track " + TARGET_GROUP + "/{name}" + cookie)}

backend {FAIL_OPEN}
    balance {plan.haproxy_balance}
{servers(FAIL_OPEN, "")}
{_green_backend(plan, servers(GREEN_TARGETS, " track " + TARGET_GROUP + "/{name}"))}
listen stats
    bind {zone.node_ip}:{plan.stats_port}
    no log
    stats enable
    stats uri /stats
    stats scope {TARGET_GROUP}
    # The CSV's addr column (ip:port), by which verify matches targets to replica ids.
    stats show-legends
"""


def _shift_rules(plan: Plan, admin_socket: Path) -> str:
    """The frontend lines of ECS's weighted listener rules: test traffic first (the test rule's higher
    priority), then production traffic, each to green for the share of draws its ACL file holds."""
    if not plan.traffic_shifting:
        return ""
    production, test = shift_acl_files(admin_socket)
    header, value = TEST_HEADER
    return f"""\
    # ECS's listener rules, weighted between blue ({NODE_TARGETS}) and green ({GREEN_TARGETS}).
    acl to_green_production rand({SHIFT_PERMILLE}) -m int -f {production}
    acl to_green_test rand({SHIFT_PERMILLE}) -m int -f {test}
    acl test_traffic req.hdr({header}) -m str {value}
    use_backend {GREEN_TARGETS} if test_traffic to_green_test
    use_backend {GREEN_TARGETS} if !test_traffic to_green_production
"""


def _green_backend(plan: Plan, servers: str) -> str:
    if not plan.traffic_shifting:
        return ""
    return f"""
backend {GREEN_TARGETS}
    balance {plan.haproxy_balance}
{servers}
"""
