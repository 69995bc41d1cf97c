"""The measuring layer against real servers on loopback: pinning, wait-for-ready, errors, TLS, cookies."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import replace

import pytest
from verify_helpers import AT_ONCE_S, replica_answer, rotation

from verify.core.errors import CouldNotMeasure
from verify.core.progress import Waiting
from verify.sources.live.client import Identity, Target, Workload
from verify.sources.live.readiness import wait_for_ready
from verify.sources.live.sending import send_requests

QUICK = Workload(requests=60, concurrency=6, timeout_s=2.0, wait_s=3.0)
# The most a held answer waits for the other nodes' first requests: a bound, never waited out when all goes well.
HELD_S = 10.0


def resolving(mapping: dict[str, list[str]]):
    """A resolver that knows only these names (no system DNS in tests)."""

    def resolve(host: str, _port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


def test_target_parse() -> None:
    assert Target.parse("http://alb.test/") == Target("http://alb.test/", "http", "alb.test", 80, "/")
    assert Target.parse("https://app.example.com").port == 443
    assert Target.parse("http://127.0.0.1:8080/x?y=1").path == "/x?y=1"
    for bad in ("ftp://alb.test/", "alb.test", "http://", "http://alb.test:99999/"):
        with pytest.raises(CouldNotMeasure, match="bad URL"):
            Target.parse(bad)


def test_identity_parse() -> None:
    assert Identity.parse("json:replica") == Identity("json", "replica")
    assert Identity.parse("header:X-Replica") == Identity("header", "X-Replica")
    assert Identity.parse("body") == Identity("body")
    for bad in ("json:", "xml:replica", "header", "bodies"):
        with pytest.raises(CouldNotMeasure, match="bad --identity"):
            Identity.parse(bad)


def test_connections_spread_over_every_address_and_keep_the_host_name(serve) -> None:
    # Three balancer nodes behind one name (one port), each answering as its own replica. While measuring,
    # each holds its answers until every node has had a request: the connections share the 60 requests, and
    # a busy machine's slow connection must still send one (the fast ones took them all at load 10).
    measuring = threading.Event()
    asked = {address: threading.Event() for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4")}

    def node(address: str):
        def answer(number: int):
            if measuring.is_set():
                asked[address].set()
                assert all(event.wait(HELD_S) for event in asked.values()), "a node had no request"
            return replica_answer(address)

        return answer

    first = serve("127.0.0.2", node("127.0.0.2"))
    nodes = [first] + [serve(address, node(address), port=first.port) for address in ("127.0.0.3", "127.0.0.4")]
    target = Target.parse(f"http://alb.test:{first.port}/")
    resolver = resolving({"alb.test": ["127.0.0.2", "127.0.0.3", "127.0.0.4"]})

    addresses, warmup = wait_for_ready(target, QUICK, resolver)
    assert addresses == ("127.0.0.2", "127.0.0.3", "127.0.0.4")
    assert set(warmup) == set(addresses)

    measuring.set()
    tally = send_requests(target, replace(QUICK, timeout_s=2 * HELD_S), addresses, warmup)
    assert tally.requests == 60
    assert sum(tally.counts.values()) == 60
    assert set(tally.counts) == set(addresses)  # every node got connections
    assert [log.address for log in tally.connections] == list(addresses) * 2  # round robin, 6 connections
    # Each connection stays on its node: a node's connections only ever see that node's replica.
    assert all(set(log.replicas) <= {log.address} for log in tally.connections)
    for node in nodes:
        assert {request["Host"] for request in node.requests} == {f"alb.test:{first.port}"}
    assert tally.errors == {}
    assert not tally.deadline_hit


def test_no_cookie_is_sent_back_and_set_cookies_are_counted(serve) -> None:
    server = serve("127.0.0.2", rotation("a", "b", headers={"Set-Cookie": "AWSALB=xyz; Path=/"}))
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tally = send_requests(target, QUICK, ("127.0.0.2",), ("a", "b"))
    assert tally.cookies == {"AWSALB": 60}
    assert all("Cookie" not in request for request in server.requests)


def test_identity_from_a_header_or_the_body(serve) -> None:
    def plain(number: int):
        return 200, {"X-Served-By": f"r{number % 2}"}, f"  replica-{number % 2}\n".encode()

    server = serve("127.0.0.2", plain)
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    by_header = send_requests(
        target, Workload(requests=10, concurrency=1, identity=Identity("header", "X-Served-By")), ("127.0.0.2",), ()
    )
    assert by_header.counts == {"r0": 5, "r1": 5}
    by_body = send_requests(target, Workload(requests=10, concurrency=1, identity=Identity("body")), ("127.0.0.2",), ())
    assert by_body.counts == {"replica-0": 5, "replica-1": 5}
    missing = send_requests(target, Workload(requests=4, concurrency=1), ("127.0.0.2",), ())
    assert missing.errors == {"answer without JSON field 'replica'": 4}


def test_errors_are_counted_by_kind(serve) -> None:
    answers = {0: replica_answer("a", status=503), 1: replica_answer("a", status=500)}
    server = serve("127.0.0.2", lambda number: answers.get(number % 5, replica_answer("a")))
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tally = send_requests(target, Workload(requests=20, concurrency=1), ("127.0.0.2",), ("a",))
    assert tally.errors == {"HTTP 503": 4, "HTTP 500": 4}
    assert tally.counts == {"a": 12}
    assert tally.requests == 20


def test_wait_for_ready_reports_unhealthy_targets_then_goes_on(serve) -> None:
    def warming(number: int):
        return replica_answer("a", status=503) if number < 2 else replica_answer("abc"[number % 3])

    server = serve("127.0.0.2", warming)
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    events: list[Waiting] = []
    workload = Workload(timeout_s=2.0, wait_s=60.0, expected_replicas=3)
    started = time.monotonic()
    addresses, warmup = wait_for_ready(target, workload, progress=events.append)
    assert time.monotonic() - started < AT_ONCE_S  # backoff 0.2, 0.4: on once healthy, not at --wait
    assert addresses == ("127.0.0.2",)
    assert sorted(warmup) == ["a", "b", "c"]
    assert events[0].reason == "503 from the balancer: targets not healthy yet"


def test_wait_for_ready_waits_for_the_name_to_resolve(serve) -> None:
    server = serve("127.0.0.2", rotation("a"))
    target = Target.parse(f"http://new-alb.test:{server.port}/")
    lookups: list[str] = []

    def late_dns(host: str, port: int) -> list[str]:
        lookups.append(host)
        if len(lookups) < 3:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["127.0.0.2"]

    events: list[Waiting] = []
    workload = Workload(timeout_s=2.0, wait_s=10.0, expected_replicas=1)
    _, warmup = wait_for_ready(target, workload, late_dns, events.append)
    assert warmup == ("a",)
    assert events[0].reason == "new-alb.test does not resolve yet"


def test_some_replicas_never_showing_up_is_left_to_the_verdict(serve) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    events: list[Waiting] = []
    _, warmup = wait_for_ready(target, Workload(timeout_s=1.0, wait_s=0.5, expected_replicas=3), progress=events.append)
    assert sorted(warmup) == ["a", "b"]
    assert events[-1].reason == "2 of 3 replicas seen"


def test_nothing_answering_is_could_not_measure(free_port: int) -> None:
    target = Target.parse(f"http://127.0.0.1:{free_port}/")
    started = time.monotonic()
    with pytest.raises(
        CouldNotMeasure, match=f"nothing answered within --wait 0.5 s: connection refused by 127.0.0.1:{free_port}"
    ):
        wait_for_ready(target, Workload(timeout_s=1.0, wait_s=0.5))
    assert time.monotonic() - started < AT_ONCE_S


def test_a_name_that_never_resolves_is_could_not_measure() -> None:
    target = Target.parse("http://never.test/")
    with pytest.raises(CouldNotMeasure, match=r"could not resolve never\.test: a new load balancer.s DNS name"):
        wait_for_ready(target, Workload(wait_s=0.3), resolving({}))


def test_a_silent_server_times_out_within_the_deadline() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.2", 0))
        silent.listen(16)
        target = Target.parse(f"http://127.0.0.2:{silent.getsockname()[1]}/")
        workload = Workload(requests=4, concurrency=2, timeout_s=0.3)
        started = time.monotonic()
        tally = send_requests(target, workload, ("127.0.0.2",), ())
        assert time.monotonic() - started < workload.deadline_s + AT_ONCE_S  # the server never answers
    assert tally.errors == {"timeout": 4}
    assert tally.counts == {}


def test_https_pinned_to_an_address_keeps_sni_and_the_certificate_check_on_the_name(serve, certificate) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = serve("127.0.0.2", rotation("a", "b"), tls=server_tls)
    client_tls = ssl.create_default_context(cafile=str(cert))

    target = Target.parse(f"https://replica.test:{server.port}/")
    tally = send_requests(target, Workload(requests=6, concurrency=2), ("127.0.0.2",), (), tls=client_tls)
    assert tally.counts == {"a": 3, "b": 3}
    assert set(server.server_names) == {"replica.test"}

    # The same address under another name: the certificate does not match, and that is an error.
    other = Target.parse(f"https://other.test:{server.port}/")
    rejected = send_requests(other, Workload(requests=2, concurrency=1), ("127.0.0.2",), (), tls=client_tls)
    assert rejected.errors == {"TLS certificate rejected": 2}
