"""The rehearsal itself: layout, configs that the real programs accept, the replica contract, cleanup."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from rehearsal_helpers import alive, command_line, descendants, quick_plan, stack_settings

import rehearsal.stage
from rehearsal import Plan, Rehearsal, RehearsalError, Running
from rehearsal.configs import haproxy_config
from rehearsal.processes import Process, ensure_free, free_port, http_status, wait_until

pytestmark = pytest.mark.rehearsal


def test_replicas_are_spread_over_zones_like_ecs_tasks() -> None:
    plan = Plan.from_settings(stack_settings(5), port=18080)

    assert [r.ip for r in plan.replicas] == ["127.0.1.10", "127.0.2.10", "127.0.1.11", "127.0.2.11", "127.0.1.12"]
    assert [r.zone.name for r in plan.replicas] == ["zone-a", "zone-b", "zone-a", "zone-b", "zone-a"]
    assert {r.port for r in plan.replicas} == {8080}  # the stack's containerPort, on every replica
    assert plan.node_ips == ["127.0.1.1", "127.0.2.1"]  # one balancer node per zone
    assert plan.verify_args() == [
        "http://alb.rehearsal.test:18080/",
        "--resolve",
        "alb.rehearsal.test:127.0.1.1,127.0.2.1",
        "--target-health",
        "haproxy:http://127.0.1.1:18081/stats;csv",
        "--expect-replicas",
        "5",
        "--algorithm",
        "round_robin",
        "--subnet",
        "127.0.1.0/24=zone-a",
        "--subnet",
        "127.0.2.0/24=zone-b",
    ]


@pytest.mark.parametrize(
    ("algorithm", "balance"),
    [("round_robin", "roundrobin"), ("least_outstanding_requests", "leastconn"), ("weighted_random", "random(1)")],
)
def test_haproxy_balances_with_the_stacks_algorithm(algorithm: str, balance: str) -> None:
    plan = Plan.from_settings(stack_settings(3, algorithm))

    assert plan.haproxy_balance == balance
    assert f"    balance {balance}\n" in haproxy_config(plan, plan.zones[0], Path("/tmp/x.sock"))


@pytest.mark.parametrize(("scale", "timeout"), [(1.0, "3000ms"), (0.5, "1500ms"), (0.1, "1000ms"), (0.02, "1000ms")])
def test_a_health_check_s_timeout_is_scaled_but_never_below_a_second(scale: float, timeout: str) -> None:
    """At 0.02 of the stack's 3 s a check timed out at 60 ms, and on a busy machine sound replicas were taken out."""
    plan = replace(Plan.from_settings(stack_settings()), time_scale=scale)
    assert f"    timeout check {timeout}\n" in haproxy_config(plan, plan.zones[0], Path("/tmp/x.sock"))
    assert f"inter {round(5000 * scale)}ms" in haproxy_config(plan, plan.zones[0], Path("/tmp/x.sock"))


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        {"weights": (3, 1, 1), "haproxy_balance": "source"},
        {"sticky_cookie": True, "haproxy_balance": "leastconn"},
        {"cross_zone": False, "haproxy_balance": "random(1)"},
    ],
    ids=["roundrobin", "weights-source", "cookie-leastconn", "single-zone-random"],
)
def test_haproxy_accepts_every_config(knobs: dict[str, object], tmp_path: Path) -> None:
    """What the knobs write is checked by haproxy -c, not by reading strings; deploy slots included."""
    plan = quick_plan(3, **knobs).with_deploy_slots()
    (tmp_path / "haproxy.cfg").write_text(haproxy_config(plan, plan.zones[1], tmp_path / "haproxy.sock"))
    argv = ["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")]
    checked = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_replica_answers_the_contract_with_its_own_ip(even_rehearsal: Running) -> None:
    for replica in even_rehearsal.plan.replicas:
        with urllib.request.urlopen(f"http://{replica.address}/any/path", timeout=2) as answer:
            assert answer.headers["X-Replica"] == replica.ip
            assert answer.headers["Cache-Control"] == "no-store"
            assert answer.headers["Content-Type"] == "application/json"
            body = json.load(answer)
        assert body["replica"] == body["ip"] == replica.ip
        assert body["port"] == str(replica.port)
        with urllib.request.urlopen(f"http://{replica.address}{even_rehearsal.plan.health.path}", timeout=2) as health:
            assert json.load(health) == {"status": "ok"}


def seen_through(plan: Plan, node_ip: str, requests: int) -> list[str]:
    """The replica ids that answer `requests` requests sent to one balancer node."""
    seen = []
    for _ in range(requests):
        with urllib.request.urlopen(f"http://{node_ip}:{plan.port}/", timeout=2) as answer:
            seen.append(answer.headers["X-Replica"])
    return seen


def test_every_node_spreads_requests_over_every_replica(even_rehearsal: Running) -> None:
    plan = even_rehearsal.plan
    for node_ip in plan.node_ips:
        assert sorted(set(seen_through(plan, node_ip, 6))) == sorted(r.ip for r in plan.replicas)
    assert all(state.startswith("UP") for state in even_rehearsal.server_states().values())


def test_without_cross_zone_each_node_routes_only_to_its_zone() -> None:
    plan = quick_plan(3, cross_zone=False)
    with Rehearsal(plan) as running:
        for node, zone in enumerate(plan.zones):
            assert set(seen_through(plan, zone.node_ip, 6)) == {r.ip for r in plan.replicas if r.zone == zone}
            # Every node still checks every target: its stats are the whole target group's health.
            assert set(running.server_states(node)) == {r.ip for r in plan.replicas}


def test_a_replica_that_is_not_started_is_down_in_haproxy() -> None:
    plan = quick_plan(3, start=(True, True, False))
    with Rehearsal(plan) as running:
        states = running.server_states()
        assert states[plan.replicas[2].ip] == "DOWN"
        assert states[plan.replicas[0].ip].startswith("UP")
        assert set(running.replicas) == {plan.replicas[0].ip, plan.replicas[1].ip}


def test_leaving_stops_every_process_and_frees_every_address() -> None:
    plan = quick_plan(2)
    with Rehearsal(plan) as running:
        processes = [*running.replicas.values(), *running.balancers]
        scratch = running.balancers[0].log_path.parent
        assert all(p.running for p in processes)
    assert not any(p.running for p in processes)
    assert not scratch.exists()
    nodes = [(ip, port) for ip in plan.node_ips for port in (plan.port, plan.stats_port)]
    ensure_free([*nodes, *((r.ip, r.port) for r in plan.replicas)])  # raises if still bound


def test_a_bind_failure_seen_in_nginx_output_stops_what_was_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before starting can lose a race; nginx's own complaint must then end the start at once."""
    plan = quick_plan(3)
    taken = plan.replicas[1]
    started: list[Process] = []

    def recording_start(*args: object, **kwargs: object) -> Process:
        process = original_start(*args, **kwargs)
        started.append(process)
        return process

    refused_after: list[str] = []  # nginx's output when the start was refused

    def recording_check(process: Process) -> None:
        try:
            original_check(process)
        except RehearsalError:
            refused_after.append(process.log())
            raise

    original_start, original_check = rehearsal.stage.start_process, Process.check
    monkeypatch.setattr(rehearsal.stage, "start_process", recording_start)
    monkeypatch.setattr(Process, "check", recording_check)
    monkeypatch.setattr(rehearsal.stage, "ensure_free", lambda addresses: None)  # as if the race was lost
    with socket.socket() as squatter:
        squatter.bind((taken.ip, taken.port))
        squatter.listen()
        with (
            pytest.raises(RehearsalError, match=f"could not listen on {taken.address}: address in use"),
            Rehearsal(plan),
        ):
            pass
    # nginx tries the bind 5 times 0.5 s apart, then says this and exits: the start ended before.
    assert "Address already in use" in refused_after[0] and "still could not bind()" not in refused_after[0]
    assert len(started) == 3
    assert not any(p.running for p in started)


def test_a_busy_balancer_port_fails_before_anything_starts() -> None:
    plan = quick_plan(2)
    with socket.socket() as squatter:
        squatter.bind((plan.node_ips[1], plan.port))
        squatter.listen()
        with pytest.raises(RehearsalError, match=f"{plan.node_ips[1]}:{plan.port} is not free"), Rehearsal(plan):
            pass
    assert http_status(plan.replicas[0].ip, plan.replicas[0].port, "/health") is None


def test_a_plan_refuses_weights_haproxy_does_not_have() -> None:
    with pytest.raises(ValueError, match="replica weights must be 1 to 256"):
        quick_plan(2, weights=(1, 300))


def test_a_replica_stops_gracefully_on_sigterm_as_on_ecs() -> None:
    """ECS sends SIGTERM, nginx's fast stop; the replica's shell turns it into SIGQUIT, so a request
    in flight (here: half sent) is still answered, and the replica exits before the stop timeout."""
    plan = quick_plan(1)
    with Rehearsal(plan) as running:
        replica = plan.replicas[0]
        workers = {
            (pid, started)
            for pid, started in descendants(running.replicas[replica.ip].popen.pid)
            if "nginx: worker process" in command_line(pid)
        }
        assert workers, "no nginx worker found under the replica"
        stopped: list[bool] = []
        with socket.create_connection((replica.ip, replica.port), timeout=2) as client:
            client.sendall(b"GET /in-flight HTTP/1.1\r\nHost: replica\r\n")
            time.sleep(0.05)
            stopping = threading.Thread(target=lambda: stopped.append(running.stop_replica(replica.ip)))
            stopping.start()
            # The rest of the request only once the stop has reached the workers: each is shutting down
            # (graceful) or gone (fast stop). A fixed sleep let a late signal find the request answered.
            deadline = time.monotonic() + 30  # a bound for a busy machine, not a wait
            while time.monotonic() < deadline and not all(
                "is shutting down" in command_line(pid) for pid, _ in alive(workers)
            ):
                time.sleep(0.005)
            assert all("is shutting down" in command_line(pid) for pid, _ in alive(workers)), "not stopping"
            client.sendall(b"\r\n")
            answer = client.recv(4096)
        stopping.join(30)  # a bound for a busy machine, not a wait
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer  # a fast stop cuts it: b""
        assert stopped == [True]  # exited on its own, before the stop timeout's SIGKILL
        assert running.replicas[replica.ip].popen.returncode == 0


def test_two_rehearsals_on_one_port_cannot_share_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """HAProxy binds with SO_REUSEPORT by default: a second one on the same port would take half of
    the connections. The check before starting can lose that race; HAProxy's own bind must not."""
    first = quick_plan(2)
    second = replace(first, replicas=tuple(replace(r, port=free_port([r.ip])) for r in first.replicas))
    monkeypatch.setattr(rehearsal.stage, "ensure_free", lambda addresses: None)  # as if both checked at once
    nodes = "|".join(re.escape(ip) for ip in first.node_ips)  # whichever node finds out first
    refused = pytest.raises(RehearsalError, match=rf"could not listen on ({nodes}):{first.port}: address in use")
    with Rehearsal(first), refused, Rehearsal(second):
        pass


def seen_on_one_connection(plan: Plan, node_ip: str, requests: int) -> list[str]:
    """The replica ids that answer `requests` requests on one kept-alive connection to a node."""
    connection = http.client.HTTPConnection(node_ip, plan.port, timeout=2)
    seen = []
    try:
        for _ in range(requests):
            connection.request("GET", "/")
            answer = connection.getresponse()
            answer.read()
            seen.append(answer.getheader("X-Replica"))
    finally:
        connection.close()
    return seen


def test_nodes_draw_their_random_picks_independently() -> None:
    """Every HAProxy starts its random sequence from the same constant: on the same hash ring, two
    nodes would answer with the same replicas in the same order (40 of 40 alike, measured)."""
    plan = quick_plan(3, algorithm="weighted_random")
    with Rehearsal(plan):
        first, second = (seen_on_one_connection(plan, node_ip, 40) for node_ip in plan.node_ips)
    alike = sum(a == b for a, b in zip(first, second, strict=True))
    assert alike < 30, f"{alike} of 40 picks alike"  # independent nodes: about 13


def test_a_registered_slot_gets_requests_from_every_node_while_the_others_still_serve() -> None:
    """A new task gets its share once its checks pass, through each node's checked targets; not only
    once every other replica is out and the nodes fail open (they reached it only then)."""
    plan = quick_plan(2).with_deploy_slots()
    with Rehearsal(plan) as running:
        slot = plan.replicas[2]
        running.start_replica(slot.ip)
        running.register(slot.ip)
        wait_until(
            lambda: all(running.server_states(node).get(slot.ip) == "UP" for node in range(len(plan.zones))),
            what="the slot did not pass its checks",
            timeout_s=5,
            watch=running.balancers,
        )
        seen = [seen_on_one_connection(plan, node_ip, 30) for node_ip in plan.node_ips]
    assert all(slot.ip in on_node for on_node in seen), seen
