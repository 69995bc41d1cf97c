"""The measuring layer against the real replica: nginx with replica/nginx.py's config on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from replica.nginx import nginx_config
from verify.judging.evidence import Expectation
from verify.judging.judge import judge
from verify.judging.pattern import PATTERN_STICKY
from verify.sources.live.client import Identity, Target, Workload
from verify.sources.live.readiness import wait_for_ready
from verify.sources.live.sending import send_requests

# No skip when nginx is missing: make test installs it (scripts/install-deps), so a missing one fails here.
pytestmark = pytest.mark.rehearsal

ADDRESSES = ("127.0.3.1", "127.0.3.2")


@pytest.fixture(scope="module")
def nginx_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Two replicas on one port of two loopback addresses; yields the port, stops both after."""
    with socket.socket() as probe:
        probe.bind((ADDRESSES[0], 0))
        port = probe.getsockname()[1]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for address in ADDRESSES:
            folder = tmp_path_factory.mktemp(f"nginx-{address}")
            config = folder / "nginx.conf"
            config.write_text(nginx_config(listen=f"{address}:{port}", health_path="/health", scratch_dir=str(folder)))
            processes.append(
                subprocess.Popen(
                    ["nginx", "-c", str(config), "-p", str(folder), "-e", "stderr"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: the finalizer stops master and workers
                )
            )
        _wait_until_listening(port)
        yield port
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def _wait_until_listening(port: int, budget_s: float = 5.0) -> None:
    deadline = time.monotonic() + budget_s
    for address in ADDRESSES:
        while True:
            try:
                socket.create_connection((address, port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def test_replica_contract_identities(nginx_replicas: int) -> None:
    # Each address is its own "node" here (no balancer): every connection stays on one replica.
    target = Target.parse(f"http://replicas.test:{nginx_replicas}/")
    workload = Workload(requests=200, concurrency=4, timeout_s=2.0, wait_s=5.0, expected_replicas=2)
    addresses, warmup = wait_for_ready(target, workload, resolver=lambda _host, _port: list(ADDRESSES))
    assert sorted(warmup) == list(ADDRESSES)

    by_json = send_requests(target, workload, addresses, warmup)
    assert set(by_json.counts) == set(ADDRESSES)  # connections share one pool of requests: not 100 each
    assert sum(by_json.counts.values()) == 200
    assert all(set(log.replicas) == {log.address} for log in by_json.connections)
    assert by_json.errors == {}
    assert by_json.cookies == {}
    # No balancer rotates here: each connection only ever sees its own replica, which reads as sticky.
    assert judge(by_json, Expectation(replica_range=(2, 2))).evidence.pattern == PATTERN_STICKY

    by_header = send_requests(
        target, Workload(requests=20, concurrency=2, identity=Identity("header", "X-Replica")), addresses, warmup
    )
    # Which connections get the 20 requests is up to the scheduler; each answer names its own replica.
    assert all(set(log.replicas) <= {log.address} for log in by_header.connections)
    assert set(by_header.counts) <= set(ADDRESSES) and sum(by_header.counts.values()) == 20


def test_health_path_has_no_replica_id(nginx_replicas: int) -> None:
    target = Target.parse(f"http://{ADDRESSES[0]}:{nginx_replicas}/health")
    tally = send_requests(target, Workload(requests=3, concurrency=1), (ADDRESSES[0],), ())
    assert tally.errors == {"answer without JSON field 'replica'": 3}


def test_every_request_of_a_long_run_is_answered_and_timed(nginx_replicas: int) -> None:
    # How fast is bench/verify_vs_hey.py's to say, not a test's: here only that the count and clock add up.
    target = Target.parse(f"http://{ADDRESSES[0]}:{nginx_replicas}/")
    tally = send_requests(target, Workload(requests=2000, concurrency=4), (ADDRESSES[0],), ())
    assert tally.answers == tally.requests == 2000
    assert tally.elapsed_s > 0


@pytest.mark.parametrize("path", ["/", "/a.html", "/b.gif", "/style.css", "/x.json", "/deep/path.txt", "/health"])
def test_every_path_answers_json(nginx_replicas: int, path: str) -> None:
    connection = http.client.HTTPConnection(ADDRESSES[0], nginx_replicas, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/json", path
    assert isinstance(json.loads(body), dict)
