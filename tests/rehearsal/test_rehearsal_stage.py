"""The rehearsal itself: layout, configs that the real programs accept, the replica contract, cleanup."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from rehearsal_helpers import QUICK_HEALTH, quick_plan, stack_settings

import rehearsal.stage
from rehearsal import Plan, Rehearsal, RehearsalError, Running
from rehearsal.configs import haproxy_config, nginx_balancer_config
from rehearsal.processes import Process, ensure_free, http_status

pytestmark = pytest.mark.rehearsal


def test_replicas_are_spread_over_zones_like_ecs_tasks() -> None:
    plan = Plan.from_settings(stack_settings(5), port=18080)

    assert [r.ip for r in plan.replicas] == ["127.0.1.10", "127.0.2.10", "127.0.1.11", "127.0.2.11", "127.0.1.12"]
    assert [r.zone.name for r in plan.replicas] == ["zone-a", "zone-b", "zone-a", "zone-b", "zone-a"]
    assert {r.port for r in plan.replicas} == {8080}  # the stack's containerPort, on every replica
    assert plan.verify_args() == [
        "http://127.0.0.1:18080/",
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

    assert plan.balance == balance
    assert f"    balance {balance}\n" in haproxy_config(plan, Path("/tmp/x.sock"))


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        {"weights": (3, 1, 1), "balance": "source"},
        {"sticky_cookie": True, "balance": "leastconn"},
        {"balancer": "nginx", "balance": "random(1)", "nginx_workers": 3},
    ],
    ids=["roundrobin", "weights-source", "cookie-leastconn", "nginx-random"],
)
def test_the_real_programs_accept_every_config(knobs: dict[str, object], tmp_path: Path) -> None:
    """What the knobs write is checked by haproxy -c and nginx -t, not by reading strings."""
    plan = quick_plan(3, **knobs)
    if plan.balancer == "haproxy":
        (tmp_path / "haproxy.cfg").write_text(haproxy_config(plan, tmp_path / "haproxy.sock"))
        argv = ["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")]
    else:
        (tmp_path / "nginx.conf").write_text(nginx_balancer_config(plan, tmp_path))
        argv = ["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
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
        with urllib.request.urlopen(f"http://{replica.address}{QUICK_HEALTH.path}", timeout=2) as health:
            assert json.load(health) == {"status": "ok"}


def test_the_balancer_spreads_requests_over_every_replica(even_rehearsal: Running) -> None:
    seen = []
    for _ in range(6):
        with urllib.request.urlopen(even_rehearsal.url, timeout=2) as answer:
            seen.append(answer.headers["X-Replica"])
    assert sorted(set(seen)) == sorted(r.ip for r in even_rehearsal.plan.replicas)
    assert all(state.startswith("UP") for state in even_rehearsal.server_states().values())


def test_a_replica_that_is_not_started_is_down_in_haproxy() -> None:
    plan = quick_plan(3, start=(True, True, False))
    with Rehearsal(plan) as running:
        states = running.server_states()
        assert states[plan.replicas[2].ip] == "DOWN"
        assert states[plan.replicas[0].ip].startswith("UP")
        assert set(running.replicas) == {plan.replicas[0].ip, plan.replicas[1].ip}


def test_leaving_stops_every_process_and_frees_every_address() -> None:
    plan = quick_plan(2, balancer="nginx")
    with Rehearsal(plan) as running:
        processes = [*running.replicas.values(), running.balancer]
        scratch = running.balancer.log_path.parents[1]
        assert all(p.running for p in processes)
    assert not any(p.running for p in processes)
    assert not scratch.exists()
    ensure_free([("127.0.0.1", plan.port), *((r.ip, r.port) for r in plan.replicas)])  # raises if still bound


def test_a_bind_failure_seen_in_nginx_output_stops_what_was_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before starting can lose a race; nginx's own complaint must then end the start at once."""
    plan = quick_plan(3)
    taken = plan.replicas[1]
    started: list[Process] = []

    def recording_start(*args: object, **kwargs: object) -> Process:
        process = original_start(*args, **kwargs)
        started.append(process)
        return process

    original_start = rehearsal.stage.start_process
    monkeypatch.setattr(rehearsal.stage, "start_process", recording_start)
    monkeypatch.setattr(rehearsal.stage, "ensure_free", lambda addresses: None)  # as if the race was lost
    with socket.socket() as squatter:
        squatter.bind((taken.ip, taken.port))
        squatter.listen()
        begun = time.monotonic()
        with (
            pytest.raises(RehearsalError, match=f"could not listen on {taken.address}: address in use"),
            Rehearsal(plan),
        ):
            pass
        elapsed = time.monotonic() - begun
    assert elapsed < 2.0  # nginx itself would retry the bind for 2.5 s
    assert len(started) == 3
    assert not any(p.running for p in started)


def test_a_busy_balancer_port_fails_before_anything_starts() -> None:
    plan = quick_plan(2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", plan.port))
        squatter.listen()
        with pytest.raises(RehearsalError, match=f"127.0.0.1:{plan.port} is not free"), Rehearsal(plan):
            pass
    assert http_status(plan.replicas[0].ip, plan.replicas[0].port, "/health") is None


def test_a_plan_refuses_knobs_the_balancer_does_not_have() -> None:
    plan = quick_plan(2)
    with pytest.raises(ValueError, match="cookie stickiness needs the haproxy balancer"):
        replace(plan, balancer="nginx", sticky_cookie=True)
    with pytest.raises(ValueError, match="balance 'source' is not one of"):
        replace(plan, balancer="nginx", balance="source")
