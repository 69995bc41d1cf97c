"""verify against servers that lie, stall, flood or trick it: each class of defect, on loopback, bounded in time.

Each test names the behaviour; the servers are stdlib HTTP servers or raw sockets in threads, and a
real HAProxy where the balancer itself matters.
"""

from __future__ import annotations

import dataclasses
import http.server
import itertools
import json
import signal
import socket
import ssl
import threading
import time
import tracemalloc

import pytest
from verify_helpers import (
    AT_ONCE_S,
    WAIT_NOT_WAITED,
    one_line_error,
    read_request,
    replica_answer,
    rotation,
    run,
    signal_at_first_request,
)

from rehearsal import Plan, Rehearsal
from settings import parse_settings
from verify.cli import ExitCode
from verify.core.errors import CouldNotMeasure
from verify.core.replica_ids import MAX_REPLICA_IDS
from verify.rendering.terminal import REPORT_KEYS
from verify.sources.live.client import COOKIE_NAMES_MAX, Target, Workload
from verify.sources.live.readiness import wait_for_ready
from verify.sources.live.sending import send_requests

FAST = ["--wait", "2", "--timeout", "1", "--concurrency", "4"]


# 1. A false EVEN: a run that cannot know how many replicas exist never passes on one.


def test_a_bare_url_answered_by_one_replica_is_not_even(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("10.0.1.5"))  # a `first` balancer, or every other replica down
    code, out, _, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "100", *FAST)
    assert code == ExitCode.UNEVEN
    assert "verdict: UNEVEN: only one replica (10.0.1.5) answered and the replica count was not checked" in out


def test_a_bare_url_even_run_says_in_its_verdict_line_that_the_count_was_not_checked(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    code, out, _, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "300", *FAST)
    assert code == ExitCode.EVEN
    assert out.splitlines()[-1] == "verdict: EVEN (replica count not checked: 2 answered; pass --expect-replicas K)"


@pytest.mark.rehearsal
def test_a_bare_url_behind_haproxys_source_hash_is_not_even(capsys) -> None:
    settings = parse_settings({"replicas": 3}, project="alb-replicas", stack="test")
    plan = dataclasses.replace(Plan.from_settings(settings).on_free_ports(), haproxy_balance="source")
    with Rehearsal(plan):  # every request comes from 127.0.0.1: one replica gets them all
        node_url = f"http://{plan.node_ips[0]}:{plan.port}/"
        code, out, _, _ = run(capsys, node_url, "--json", "--requests", "300", *FAST)
    report = json.loads(out)
    assert code == ExitCode.UNEVEN
    assert len(report["replicas"]) == 1 and report["count_checked"] is False
    assert "the replica count was not checked" in report["reason"]


# 2. Hangs: --timeout bounds a whole answer, --wait the whole warm-up.


def trickle(connection: socket.socket, _number: int, stop: threading.Event) -> None:
    """Headers at once, then the body a byte every 0.1 s: each byte resets a socket timeout."""
    while read_request(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            if stop.wait(0.1):
                return
            connection.sendall(b" ")


def stream_forever(connection: socket.socket, _number: int, stop: threading.Event) -> None:
    """A chunked body that never ends, a small chunk every 0.05 s."""
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not stop.wait(0.05):
        connection.sendall(b"2\r\n{}\r\n")


@pytest.mark.parametrize("handle", [trickle, stream_forever], ids=["trickle", "stream"])
def test_the_warm_up_ends_at_wait_whatever_the_server_trickles(raw_server, capsys, handle) -> None:
    server = raw_server(handle)
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", "0.3", "--timeout", "0.15")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert elapsed < AT_ONCE_S  # the trickle takes 100 s, the stream has no end
    assert "nothing answered within --wait 0.3 s: no answer from 127.0.0.2" in one_line_error(err)


def test_timeout_bounds_a_whole_answer_while_measuring(raw_server) -> None:
    server = raw_server(trickle)
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    started = time.monotonic()
    tally = send_requests(target, Workload(requests=4, concurrency=2, timeout_s=0.1), ("127.0.0.2",), ())
    assert tally.errors == {"timeout": 4}
    assert time.monotonic() - started < AT_ONCE_S  # two rounds of 0.1 s (+ the watchdog's tick), not 100 s of trickle


def test_the_warm_up_ends_at_wait_even_when_the_resolver_hangs() -> None:
    released = threading.Event()

    def hanging_resolver(_host: str, _port: int) -> list[str]:
        released.wait(100)  # a DNS server that never answers
        return ["127.0.0.2"]

    target = Target.parse("http://alb.test/")
    started = time.monotonic()
    try:
        with pytest.raises(CouldNotMeasure, match=r"could not resolve alb\.test"):
            wait_for_ready(target, Workload(wait_s=0.15, timeout_s=0.1), hanging_resolver)
    finally:
        released.set()
    assert time.monotonic() - started < AT_ONCE_S  # not the resolver's 100 s


# 3. Runaway: ids that never repeat stop the run with a clear error.


def test_ids_that_never_repeat_stop_the_warm_up(serve, capsys) -> None:
    server = serve("127.0.0.2", lambda number: replica_answer(f"request-{number}"))
    code, _, err, _ = run(capsys, f"http://127.0.0.2:{server.port}/", *FAST)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert f"more than {MAX_REPLICA_IDS} distinct replica ids from JSON field 'replica'" in one_line_error(err)
    assert len(server.requests) <= MAX_REPLICA_IDS + 1


def test_ids_that_never_repeat_stop_the_measurement(serve, capsys) -> None:
    def two_then_unique(number: int):
        return replica_answer("ab"[number] if number < 2 else f"request-{number}")

    server = serve("127.0.0.2", two_then_unique)
    code, _, err, _ = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--expect-replicas", "2", "--requests", "100000", *FAST
    )
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "distinct replica ids" in one_line_error(err)
    assert len(server.requests) < MAX_REPLICA_IDS + 100  # stopped at the cap, not after 100,000


# 4. Memory: only what identification needs is read and kept.


def large_different_bodies(connection: socket.socket, number: int, stop: threading.Event) -> None:
    """1 MiB bodies, each different at its end; written from one 64 KiB buffer so the server allocates little."""
    block = memoryview(b"x" * 65536)
    while not stop.is_set() and read_request(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (16 * 65536 + 8))
        for _ in range(16):
            connection.sendall(block)
        connection.sendall(b"%08d" % number)


def test_large_bodies_that_differ_are_not_kept(raw_server) -> None:
    server = raw_server(large_different_bodies)
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tracemalloc.start()
    try:
        tally = send_requests(target, Workload(requests=40, concurrency=2), ("127.0.0.2",), ())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tally.errors == {"answer over 64 KiB": 40}  # JSON identity: a cut body is no JSON
    assert peak < 4 * 2**20  # 40 MiB came in; a few 64 KiB reads stay


# 5. Tracebacks: every number finite and in range, every unparseable answer one line and exit 2.


@pytest.mark.parametrize(
    ("option", "value"),
    [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "1e10"), ("--alpha", "nan"), ("--wait", "-inf"),
     ("--max-error-rate", "nan"), ("--requests", "1e3"), ("--requests", "10000001"), ("--expect-replicas", "100000")],
)  # fmt: skip
def test_numbers_must_be_finite_and_in_range(capsys, option: str, value: str) -> None:
    code, out, err, _ = run(capsys, "http://127.0.0.2:1/", option, value, "--json")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert one_line_error(err).startswith(f"verify: argument {option}: ")
    assert json.loads(out)["verdict"] == "error"


def test_a_deeply_nested_json_body_is_one_line_and_exit_2(serve, capsys) -> None:
    nested = b"[" * 30000 + b"]" * 30000  # json.loads raises RecursionError on it
    server = serve("127.0.0.2", lambda _number: (200, {"Content-Type": "application/json"}, nested))
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", WAIT_NOT_WAITED, "--timeout", "1")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "10 answers in a row carried no JSON field 'replica'" in one_line_error(err)
    assert elapsed < AT_ONCE_S


# 6. Only the balancer's cookies are stickiness.


def test_an_application_cookie_is_a_note_not_stickiness(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b", headers={"Set-Cookie": "session=42; Path=/; HttpOnly"}))
    code, out, _, _ = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--expect-replicas", "2", "--requests", "300", *FAST
    )
    assert code == ExitCode.EVEN, out
    assert "note: answers set the cookie(s) session: the application's, not the balancer's stickiness" in out
    assert "WARNING" not in out


# 7. What waiting cannot fix fails at once.


def test_a_redirect_fails_at_once_naming_the_location(serve, capsys) -> None:
    def redirect(_number: int):
        return 301, {"Location": f"https://127.0.0.2:{server.port}/"}, b""

    server = serve("127.0.0.2", redirect)
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", WAIT_NOT_WAITED)
    assert code == ExitCode.COULD_NOT_MEASURE
    line = one_line_error(err)
    assert f"answered 301 with Location https://127.0.0.2:{server.port}/" in line
    assert f"python -m verify https://127.0.0.2:{server.port}/" in line
    assert elapsed < AT_ONCE_S


def test_a_rejected_certificate_fails_at_once_and_cacert_trusts_it(serve, capsys, certificate) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = serve("127.0.0.2", rotation("a", "b"), tls=server_tls)
    url = f"https://127.0.0.2:{server.port}/"

    code, _, err, elapsed = run(capsys, url, "--wait", WAIT_NOT_WAITED)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "the TLS certificate of 127.0.0.2 was rejected" in one_line_error(err)
    assert "--cacert FILE" in err
    assert elapsed < AT_ONCE_S

    code, out, err, _ = run(capsys, url, "--cacert", str(cert), "--expect-replicas", "2", "--requests", "300", *FAST)
    assert code == ExitCode.EVEN, out + err

    code, _, err, _ = run(capsys, url, "--cacert", "/nonexistent/ca.pem")
    assert "bad --cacert '/nonexistent/ca.pem'" in one_line_error(err)


def test_answers_without_the_identity_fail_once_enough_prove_it_absent(serve, capsys) -> None:
    server = serve("127.0.0.2", lambda _number: (200, {"Content-Type": "text/html"}, b"<h1>Welcome to nginx!</h1>"))
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", WAIT_NOT_WAITED)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "--identity" in one_line_error(err)
    assert elapsed < AT_ONCE_S


@pytest.mark.parametrize("path_or_port", [":{port}/a b", ":{port}/\r\nX-Injected: 1", ":0/", ":{port}/\t"])
def test_a_malformed_url_fails_before_any_request(serve, capsys, path_or_port: str) -> None:
    server = serve("127.0.0.2", rotation("a"))
    code, _, err, _ = run(capsys, "http://127.0.0.2" + path_or_port.format(port=server.port), "--wait", "30")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert one_line_error(err).startswith("verify: bad URL")
    assert server.requests == []


# 8. --json: exactly one object with the same keys on every exit path.


def test_abbreviated_options_are_refused(capsys) -> None:
    code, out, err, _ = run(capsys, "http://127.0.0.2:1/", "--js")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "unrecognized arguments: --js" in one_line_error(err)
    assert out == ""


def test_an_argument_error_with_json_prints_the_full_set_of_keys(capsys) -> None:
    code, out, _, _ = run(capsys, "http://127.0.0.2:1/", "--json", "--concurrency", "0")
    assert code == ExitCode.COULD_NOT_MEASURE
    report = json.loads(out)
    assert list(report) == list(REPORT_KEYS)
    assert report["verdict"] == "error"
    assert report["url"] is None and report["p_value"] is None  # null where unknown: the arguments never parsed


def test_ctrl_c_with_json_prints_one_object(serve, capsys) -> None:
    server = serve("127.0.0.2", signal_at_first_request(signal.SIGALRM))
    previous = signal.signal(signal.SIGALRM, signal.default_int_handler)  # SIGALRM raises KeyboardInterrupt
    try:
        code, out, _, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--json", "--requests", "100000")
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert code == ExitCode.INTERRUPTED
    report = json.loads(out)
    assert list(report) == list(REPORT_KEYS)
    assert (report["verdict"], report["reason"]) == ("interrupted", "interrupted (Ctrl-C)")
    assert elapsed < AT_ONCE_S  # 100,000 answers of 0.05 s would take 500 s


def test_sigterm_ends_like_ctrl_c_with_its_own_exit_code(serve, capsys) -> None:
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("something in this process already handles SIGTERM")
    server = serve("127.0.0.2", signal_at_first_request(signal.SIGTERM))
    code, out, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--json", "--requests", "100000")
    assert code == ExitCode.TERMINATED == 143
    assert json.loads(out)["reason"] == "terminated (SIGTERM)"
    assert "verify: terminated (SIGTERM)" in err
    assert elapsed < AT_ONCE_S
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


# 9. Forged lines: ids are escaped; an empty id is no identity.


def test_an_id_cannot_forge_a_report_line(serve, capsys) -> None:
    forged = ("a\nverdict: EVEN", "\x1b[2Jb")
    server = serve("127.0.0.2", rotation(*forged))
    code, out, _, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "300", *FAST)
    assert [line for line in out.splitlines() if line.startswith("verdict:")] == [out.splitlines()[-1]]
    assert "\x1b" not in out
    assert "a\\nverdict: EVEN" in out and "\\x1b[2Jb" in out
    assert code == ExitCode.EVEN


def test_an_empty_id_is_not_an_identity(serve) -> None:
    server = serve("127.0.0.2", rotation("  "))
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tally = send_requests(target, Workload(requests=5, concurrency=1), ("127.0.0.2",), ())
    assert tally.errors == {"answer without JSON field 'replica'": 5}


def test_cookie_names_are_escaped_and_their_number_capped(serve) -> None:
    server = serve("127.0.0.2", lambda number: replica_answer("a", headers={"Set-Cookie": f"\x1b[2Jc{number}=1"}))
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tally = send_requests(target, Workload(requests=100, concurrency=1), ("127.0.0.2",), ("a",))
    assert len(tally.cookies) == COOKIE_NAMES_MAX
    assert all(name.startswith("\\x1b[2Jc") for name in tally.cookies)


# 10. Warm-up misses: a replica a random balancer kept hidden through the warm-up is no newcomer.


def test_a_replica_first_seen_while_measuring_is_not_a_rolling_deploy(serve, capsys) -> None:
    replicas = [f"10.0.1.{i}" for i in range(1, 11)]

    def hidden_at_first(number: int):  # the tenth replica shows up only after the warm-up settled
        return replica_answer(replicas[number % 9] if number < 250 else replicas[number % 10])

    server = serve("127.0.0.2", hidden_at_first)
    code, out, _, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--json", "--requests", "600", *FAST)
    report = json.loads(out)
    assert code == ExitCode.EVEN, report["reason"]
    assert report["expected_replicas"] == 10 and report["count_checked"] is False


# 11. Power: shown in the report (the formula and its simulation: test_verify_judge.py).


def test_the_report_shows_the_achieved_power(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b", "c"))
    code, out, _, _ = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--expect-replicas", "3", "--requests", "60", *FAST
    )
    assert code == ExitCode.EVEN
    assert (
        "power: 10.9% chance that these answers catch one replica getting 1.5x what each other gets (1.5:1,"
        " relative to the expected split)" in out
    )
    assert "note: too few answers to judge well: 60 answers over 3 replicas" in out


# 12. Smaller: a balancer of connections; an address that refuses is named.


class _ConnectionBalancer(http.server.ThreadingHTTPServer):
    """An L4 stand-in: each connection goes to one replica, in turn; every request on it stays there."""

    daemon_threads = True
    connections = itertools.count()


def test_a_balancer_of_connections_is_sticky_not_a_rolling_deploy(capsys) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            self.replica = "abc"[next(self.server.connections) % 3]

        def do_GET(self) -> None:
            status, headers, body = replica_answer(self.replica)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = _ConnectionBalancer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        code, out, _, _ = run(capsys, f"http://127.0.0.2:{server.server_address[1]}/", "--json", *FAST)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    report = json.loads(out)
    assert code == ExitCode.UNEVEN
    assert "sticky" in report["reason"] and "rolling" not in report["reason"]


def test_an_address_that_refuses_is_named(serve) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    target = Target.parse(f"http://alb.test:{server.port}/")
    # Two connections, one pinned to each address; one connection alone is pinned to the first.
    both = send_requests(target, Workload(requests=40, concurrency=2), ("127.0.0.3", "127.0.0.2"), ("a", "b"))
    assert set(both.errors) <= {"connection refused from 127.0.0.3"}
    alone = send_requests(target, Workload(requests=4, concurrency=1), ("127.0.0.3", "127.0.0.2"), ("a", "b"))
    assert alone.errors == {"connection refused from 127.0.0.3": 4}
