"""verify's promises, each shown by a case a hostile pass found (issue 17): exit codes, one line, one JSON
object, a bounded run, checked numbers, no credential printed, bounded lines.

The generated cases of the same promises are in test_verify_generated.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from verify_helpers import (
    AT_ONCE_S,
    WAIT_NOT_WAITED,
    RawServer,
    one_line_error,
    read_request,
    replica_answer,
    rotation,
    run,
)

from verify import cli
from verify.cli import ExitCode
from verify.core.errors import CouldNotMeasure
from verify.core.tally import Second, Tally
from verify.judging.evidence import Expectation
from verify.judging.judge import judge, target_is_healthy
from verify.sources.stack import parse_outputs

PROJECT = Path(__file__).resolve().parents[2]
FAST = ["--wait", "1", "--timeout", "0.5", "--concurrency", "2"]
EXIT_CODES = {0, 1, 2, 129, 130, 131, 143}


# Wrong verdicts.


def _timeline_tally(plan: list[tuple[str, ...]]) -> Tally:
    timeline = [Second(number, 30 * len(ids), {}, dict.fromkeys(ids, 30)) for number, ids in enumerate(plan)]
    counts: dict[str, int] = {}
    for entry in timeline:
        for replica, count in entry.replicas.items():
            counts[replica] = counts.get(replica, 0) + count
    return Tally(
        url="http://balancer.test/",
        addresses=("127.0.0.1",),
        warmup_replicas=plan[0],
        requests=sum(counts.values()),
        counts=counts,
        duration_s=float(len(plan)),
        timeline=timeline,
    )


@pytest.mark.parametrize("expect", [None, (3, 3)], ids=["bare-url", "expect-replicas"])
def test_a_replica_that_crashes_for_good_mid_duration_is_never_even(expect) -> None:
    tally = _timeline_tally([("a", "b", "c")] * 3 + [("a", "b")] * 5)
    verdict = judge(tally, Expectation(replica_range=expect))
    assert not verdict.even
    assert any("c" in failure for failure in verdict.failures), verdict.failures


def test_a_rolling_deploy_that_replaces_every_replica_is_still_even() -> None:
    tally = _timeline_tally([("a", "b")] * 3 + [("a", "b", "c", "d")] * 2 + [("c", "d")] * 3)
    assert judge(tally, Expectation()).even


@pytest.mark.parametrize("state", ["UPSET", "UP but forged", "UP 1/2x", "healthyish", "MAINTENANCE-FAIL"])
def test_a_target_state_that_merely_starts_like_a_healthy_one_is_not_healthy(state: str) -> None:
    assert not target_is_healthy(state)


@pytest.mark.parametrize("state", ["UP", "UP 1/2", "no check", "healthy", "draining", "MAINT", "DRAIN", "NOLB"])
def test_healthy_and_leaving_states_pass(state: str) -> None:
    assert target_is_healthy(state)


def short_body(connection: socket.socket, number: int, stop: threading.Event) -> None:
    """Content-Length promises 200 bytes, the body has 30, then the server closes."""
    if read_request(connection):
        body = json.dumps({"replica": "ab"[number % 2]}).encode()
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + body)


def test_an_answer_shorter_than_its_content_length_is_an_error(raw_server) -> None:
    from verify.sources.live.client import Target, Workload
    from verify.sources.live.sending import send_requests

    server = raw_server(short_body)
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tally = send_requests(target, Workload(requests=6, concurrency=2, timeout_s=1), ("127.0.0.2",), ())
    assert tally.answers == 0
    assert set(tally.errors) == {"answer shorter than its Content-Length"}


def early_hints(connection: socket.socket, number: int, stop: threading.Event) -> None:
    """103 Early Hints before every 200."""
    while read_request(connection):
        body = json.dumps({"replica": "ab"[number % 2]}).encode()
        connection.sendall(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )


def test_informational_answers_before_the_answer_are_skipped(raw_server) -> None:
    from verify.sources.live.client import Target, Workload
    from verify.sources.live.sending import send_requests

    server = raw_server(early_hints)
    target = Target.parse(f"http://127.0.0.2:{server.port}/")
    tally = send_requests(target, Workload(requests=8, concurrency=2, timeout_s=1), ("127.0.0.2",), ())
    assert tally.errors == {}
    assert tally.answers == 8


# Hangs and slow failures.


@pytest.mark.parametrize("requests", ["1", "2"])
def test_one_or_two_answers_over_several_replicas_end_at_once(serve, capsys, requests: str) -> None:
    server = serve("127.0.0.2", rotation("a", "b", "c"))
    code, out, err, elapsed = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--requests", requests, "--expect-replicas", "3", "--json", *FAST
    )
    assert code in (ExitCode.EVEN, ExitCode.UNEVEN), err
    assert "Traceback" not in err
    assert json.loads(out)["answers"] == int(requests)
    assert elapsed < AT_ONCE_S


def test_a_duration_of_a_millisecond_is_a_verdict_or_one_line(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    code, out, err, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--duration", "0.001", "--json", *FAST)
    assert code in EXIT_CODES and "Traceback" not in err
    json.loads(out)


def test_expecting_far_more_replicas_than_answer_sends_a_bounded_number_of_requests(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b", "c"))
    code, _, _, elapsed = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--expect-replicas", "1000", "--json", "--wait", "0.3",
        "--timeout", "0.5",
    )  # fmt: skip
    assert code == ExitCode.UNEVEN
    assert len(server.requests) < 5000
    assert elapsed < AT_ONCE_S


def trickling_stats(connection: socket.socket, _number: int, stop: threading.Event) -> None:
    if read_request(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n# pxname,svname,status,addr,type\n")
        while not stop.wait(0.05):
            connection.sendall(b"x")


def test_a_trickling_stats_page_is_cut_off_by_timeout(serve, raw_server, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    stats = raw_server(trickling_stats, "127.0.0.3")
    code, _, err, elapsed = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--requests", "20", "--expect-replicas", "2",
        "--target-health", f"haproxy:http://127.0.0.3:{stats.port}/stats;csv", "--json", *FAST,
    )  # fmt: skip
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "target health" in one_line_error(err)
    assert elapsed < AT_ONCE_S  # the page trickles for 5,000 s


@pytest.mark.parametrize(
    ("status", "named"),
    [(400, "400"), (401, "401"), (403, "403"), (404, "404")],
)
def test_answers_that_cannot_improve_end_the_wait_at_once_naming_them(serve, capsys, status: int, named: str) -> None:
    server = serve("127.0.0.2", lambda _n: (status, {}, b"no"))
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", WAIT_NOT_WAITED, "--timeout", "1")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert named in one_line_error(err)
    assert elapsed < AT_ONCE_S


def http2_only(connection: socket.socket, _number: int, stop: threading.Event) -> None:
    if read_request(connection):
        connection.sendall(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00" + b"\x00" * 18)  # an HTTP/2 SETTINGS frame


def broken_chunk(connection: socket.socket, _number: int, stop: threading.Event) -> None:
    while read_request(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")


@pytest.mark.parametrize("handle", [http2_only, broken_chunk], ids=["http2-only", "broken-chunk"])
def test_protocol_errors_end_the_wait_at_once(raw_server, capsys, handle) -> None:
    server = raw_server(handle)
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", WAIT_NOT_WAITED, "--timeout", "1")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "bad HTTP answer" in one_line_error(err)
    assert elapsed < AT_ONCE_S


def test_resolve_for_a_host_the_url_does_not_use_is_refused_at_once(capsys) -> None:
    code, _, err, elapsed = run(
        capsys, "http://127.0.0.2:1/", "--resolve", "other.test:127.0.0.3", "--wait", WAIT_NOT_WAITED
    )
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "other.test" in one_line_error(err)
    assert elapsed < AT_ONCE_S


# Tracebacks: numbers from the stack, the stats page, the state of stdout.


@pytest.mark.parametrize(
    "outputs",
    [
        {"url": "http://a.test/", "replicas": float("inf")},
        {"url": "http://a.test/", "replicas": "1e400"},
        {"url": "http://a.test/", "replicas": float("nan")},
        {"url": "http://a.test/", "replicas": 2000},
        {"url": "http://a.test/", "replicas": 1_000_000_000},
        {"url": "http://a.test/", "replicas": 2.5},
        {"url": "http://a.test/", "replicas": True},
        {"url": "http://a.test/", "max_replicas": [3]},
        {"url": "http://a.test/", "replica_subnets": {"10.0.1.0/33": "us-east-1a"}},
        {"url": "http://a.test/", "replica_subnets": {"not a cidr": "us-east-1a"}},
    ],
)
def test_bad_stack_outputs_are_one_line(outputs) -> None:
    with pytest.raises(CouldNotMeasure):
        parse_outputs(outputs)


def test_a_huge_stack_replica_count_is_exit_2_in_json(capsys, monkeypatch) -> None:
    def outputs(_stack):
        return parse_outputs({"url": "http://127.0.0.2:1/", "replicas": 1e308})

    monkeypatch.setattr(cli, "read_stack_outputs", outputs)
    code, out, err, _ = run(capsys, "--json", "--wait", "0")
    assert code == ExitCode.COULD_NOT_MEASURE
    one_line_error(err)
    assert json.loads(out)["verdict"] == "error"


def stats_page(text: bytes):
    def handle(connection: socket.socket, _number: int, stop: threading.Event) -> None:
        if read_request(connection):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(text) + text)

    return handle


@pytest.mark.parametrize(
    "page",
    [
        b"# pxname,svname,status,addr,type\nbe,s1," + b"U" * 200_000 + b",127.0.0.1:1,2\n",
        b"# pxname,svname,status,addr,type\nbe,s1\n",
        b"# pxname,svname,addr,type\nbe,s1,127.0.0.1:1,2\n",
    ],
    ids=["huge-field", "short-row", "no-status-column"],
)
def test_a_hostile_stats_page_is_one_line(serve, raw_server, capsys, page: bytes) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    stats = raw_server(stats_page(page), "127.0.0.3")
    code, out, err, _ = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--requests", "20", "--expect-replicas", "2",
        "--target-health", f"haproxy:http://127.0.0.3:{stats.port}/stats;csv", "--json", *FAST,
    )  # fmt: skip
    assert code in (ExitCode.UNEVEN, ExitCode.COULD_NOT_MEASURE)
    assert "Traceback" not in err
    json.loads(out)


def test_a_stats_url_with_a_space_is_one_line(capsys) -> None:
    code, _, err, _ = run(capsys, "http://127.0.0.2:1/", "--target-health", "haproxy:http://127.0.0.3:1/a b")
    assert code == ExitCode.COULD_NOT_MEASURE
    one_line_error(err)


def _subprocess(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verify", *argv], cwd=PROJECT, capture_output=True, timeout=30, **kwargs
    )


@pytest.mark.parametrize("stdout", ["full", "closed", "pipe-closed"])
def test_an_unwritable_stdout_is_one_line_not_a_traceback(serve, stdout: str) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    argv = [f"http://127.0.0.2:{server.port}/", "--requests", "50", *FAST]
    if stdout == "full":
        with open("/dev/full", "w") as full:
            finished = subprocess.run(
                [sys.executable, "-m", "verify", *argv], cwd=PROJECT, stdout=full, stderr=subprocess.PIPE, timeout=30
            )
    elif stdout == "closed":
        finished = subprocess.run(
            [sys.executable, "-c", "import os, sys, runpy; os.close(1); sys.argv[0] = 'verify'; "
             "runpy.run_module('verify', run_name='__main__')", *argv],
            cwd=PROJECT, stderr=subprocess.PIPE, timeout=30,
        )  # fmt: skip
    else:
        reader, writer = os.pipe()
        os.close(reader)
        try:
            finished = subprocess.run(
                [sys.executable, "-m", "verify", *argv], cwd=PROJECT, stdout=writer, stderr=subprocess.PIPE, timeout=30
            )
        finally:
            os.close(writer)
    err = finished.stderr.decode()
    assert finished.returncode == ExitCode.COULD_NOT_MEASURE, err
    line = one_line_error(err)
    assert "stdout" in line


# --json: one object on every path.


def test_help_with_json_is_one_object(capsys) -> None:
    code, out, err, _ = run(capsys, "--help", "--json")
    assert code == 0
    assert json.loads(out)["verdict"] == "help"
    assert "--expect-replicas" in err


@pytest.mark.parametrize(
    ("signal_number", "code"),
    [(signal.SIGHUP, 129), (signal.SIGQUIT, 131), (signal.SIGINT, 130), (signal.SIGTERM, 143)],
)
def test_every_stop_signal_is_its_exit_code_one_line_and_one_object(serve, signal_number: int, code: int) -> None:
    def slow(_number: int):
        time.sleep(0.05)
        return replica_answer("a")

    server = serve("127.0.0.2", slow)
    process = subprocess.Popen(
        [sys.executable, "-m", "verify", f"http://127.0.0.2:{server.port}/", "--json", "--requests", "100000"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal_number)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == code, err
    assert json.loads(out)["verdict"] == "interrupted"
    one_line_error(err.decode())


# A secret printed.


def test_url_credentials_appear_nowhere(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    url = f"http://user:s3cretPW@127.0.0.2:{server.port}/?token=t0kenV4lue"
    for extra in ([], ["--json"]):
        code, out, err, _ = run(capsys, url, "--requests", "20", *FAST, *extra)
        assert code in (ExitCode.EVEN, ExitCode.UNEVEN)
        assert "s3cretPW" not in out + err and "t0kenV4lue" not in out + err
    code, out, err, _ = run(capsys, "http://user:s3cretPW@127.0.0.2:1/ x", "--json")
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "s3cretPW" not in out + err


# Other.


def test_ids_are_shown_as_they_came(serve, capsys) -> None:
    answers = [
        (200, {}, b'{"replica": true}'),
        (200, {}, b'{"replica": false}'),
        (200, {}, b'{"replica": 1.50}'),
    ]
    server = serve("127.0.0.2", lambda n: answers[n % 3])
    _, out, _, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "30", "--json", *FAST)
    assert set(json.loads(out)["replicas"]) == {"true", "false", "1.50"}


def test_report_lines_are_bounded_in_width(serve, capsys) -> None:
    def many_cookies(connection: socket.socket, number: int, stop: threading.Event) -> None:
        for request in range(1000):  # 50 new cookie names an answer (http.client takes up to 100 headers)
            if not read_request(connection):
                return
            cookies = "".join(f"Set-Cookie: cookie{number}x{request}x{i:02d}=1\r\n" for i in range(50))
            body = json.dumps({"replica": "ab"[request % 2]}).encode()
            connection.sendall(
                b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (cookies.encode(), len(body), body)
            )

    server = RawServer("127.0.0.2", many_cookies).start()
    try:
        code, out, err, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "20", *FAST)
    finally:
        server.stop()
    assert code in (ExitCode.EVEN, ExitCode.UNEVEN), err
    assert "characters more; --json has them all" in out  # the cookie note, cut
    assert max(len(line) for line in out.splitlines()) <= cli.REPORT_LINE_MAX
