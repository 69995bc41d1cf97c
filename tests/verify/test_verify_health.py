"""Target health: HAProxy's stats from a real HAProxy on loopback, AWS's through a fake aws CLI; never real AWS."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from verify_helpers import replica_answer

from verify import cli
from verify.cli import ExitCode, main
from verify.core.errors import CouldNotMeasure
from verify.core.tally import TargetState
from verify.judging.evidence import Expectation
from verify.judging.judge import judge
from verify.sources.live.health import HealthSource, read_aws_target_health, read_haproxy_stats
from verify.sources.stack import StackOutputs

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/alb-replicas-dev-tg-1a2b3c4/0123456789abcdef"
DESCRIBED = {
    "TargetHealthDescriptions": [
        {"Target": {"Id": "10.0.1.5", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
        {"Target": {"Id": "10.0.2.6", "Port": 8080}, "TargetHealth": {"State": "unhealthy",
                                                                      "Reason": "Target.FailedHealthChecks"}},
    ]
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Replica(http.server.BaseHTTPRequestHandler):
    """A replica on loopback whose health path answers 200 only when the server's `healthy` says so."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, headers, body = replica_answer(self.server.server_address[0])
        if self.path == "/health" and not self.server.healthy:  # type: ignore[attr-defined]
            status, body = 503, b"{}"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def haproxy_with_a_failing_target(tmp_path: Path) -> Iterator[tuple[int, str, int]]:
    """HAProxy in front of two replicas, 127.0.0.2 healthy and 127.0.0.3 failing its health check.

    Yields (frontend port, stats URL, replica port); HAProxy and the replicas are stopped after.
    """
    if shutil.which("haproxy") is None:  # make test installs it (scripts/install-deps): fail, never skip
        pytest.fail("haproxy is not on PATH: run make deps (Debian puts it in /usr/sbin)")
    replica_port, front, stats = _free_port(), _free_port(), _free_port()
    servers = []
    for address, healthy in (("127.0.0.2", True), ("127.0.0.3", False)):
        server = http.server.ThreadingHTTPServer((address, replica_port), _Replica)
        server.daemon_threads = True
        server.healthy = healthy  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend web\n  bind 127.0.0.1:{front}\n  default_backend replicas\n"
        "backend replicas\n  balance roundrobin\n  option httpchk GET /health\n"
        f"  server r1 127.0.0.2:{replica_port} check inter 100 fall 1 rise 1\n"
        f"  server r2 127.0.0.3:{replica_port} check inter 100 fall 1 rise 1\n"
        f"listen stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n  stats show-legends\n"
    )
    process = subprocess.Popen(
        ["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{stats}/stats;csv"
    try:
        deadline = time.monotonic() + 30  # a bound for a busy machine, not a wait
        while time.monotonic() < deadline:  # HAProxy counts a server up until its first check fails
            try:
                states = {target.state for target in read_haproxy_stats(url, 1.0)}
            except CouldNotMeasure:
                states = set()
            if states == {"UP", "DOWN"}:
                break
            time.sleep(0.05)
        else:
            pytest.fail("HAProxy did not mark 127.0.0.3 down within 30 s")
        yield front, url, replica_port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(5)
        for server in servers:
            server.shutdown()
            server.server_close()


def test_an_unhealthy_target_in_haproxy_s_stats_fails_the_run_and_is_named(haproxy_with_a_failing_target, capsys):
    front, stats_url, replica_port = haproxy_with_a_failing_target
    code = main([
        f"http://127.0.0.1:{front}/", "--target-health", f"haproxy:{stats_url}", "--expect-replicas", "1",
        "--requests", "50", "--json", "--wait", "2", "--timeout", "2",
    ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == ExitCode.UNEVEN, report["reason"]
    assert report["replicas"] == {"127.0.0.2": 50}  # HAProxy routes only to the healthy one
    assert f"targets not healthy at the start of the run: 127.0.0.3:{replica_port} DOWN" in report["reason"]
    assert f"targets not healthy at the end of the run: 127.0.0.3:{replica_port} DOWN" in report["reason"]
    assert {(entry["target"], entry["state"], entry["at"]) for entry in report["target_health"]} == {
        (f"127.0.0.{n}:{replica_port}", state, at) for n, state in ((2, "UP"), (3, "DOWN")) for at in ("start", "end")
    }


def test_an_unreadable_stats_url_exits_2_with_one_line(capsys, free_port: int) -> None:
    with pytest.raises(CouldNotMeasure, match=rf"could not read target health from http://127.0.0.1:{free_port}/"):
        read_haproxy_stats(f"http://127.0.0.1:{free_port}/stats;csv", 1.0)


def test_a_target_that_fails_its_check_but_answers_shows_the_balancer_failing_open(make_tally) -> None:
    tally = make_tally({"10.0.1.5": 100, "10.0.2.6": 100})
    tally.target_health = {"end": (TargetState("10.0.1.5:8080", "UP 1/2"), TargetState("10.0.2.6:8080", "DOWN"))}
    verdict = judge(tally, Expectation(replica_range=(2, 2)))
    assert verdict.reason == (
        "uneven: targets not healthy at the end of the run: 10.0.2.6:8080 DOWN (answered 100 requests: routed to"
        " anyway, as an ALB fails open)"
    )
    tally.target_health = {"end": (TargetState("10.0.1.5:8080", "healthy"), TargetState("10.0.2.6:8080", "MAINT"))}
    assert judge(tally, Expectation(replica_range=(2, 2))).even  # in maintenance: on its way out, not unhealthy


@pytest.fixture
def fake_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `aws` executable first on PATH that records its arguments and prints DESCRIBED (boto3 is hidden)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "aws"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\ncat <<'EOF'\n{json.dumps(DESCRIBED)}\nEOF\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "args"


def test_without_boto3_the_aws_cli_reads_the_stack_s_target_group(serve, capsys, monkeypatch, fake_aws: Path) -> None:
    server = serve("127.0.0.2", lambda number: replica_answer(("10.0.1.5", "10.0.2.6")[number % 2]))
    outputs = StackOutputs(f"http://127.0.0.2:{server.port}/", 2, 2, None, (), target_group_arn=ARN)
    monkeypatch.setattr(cli, "read_stack_outputs", lambda stack: outputs)
    code = main(["--json", "--wait", "2", "--timeout", "2", "--requests", "40"])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitCode.UNEVEN
    assert (
        "targets not healthy at the start of the run: 10.0.2.6:8080 unhealthy (answered 20 requests"
        in (report["reason"])
    )
    assert fake_aws.read_text().split() == [
        "elbv2", "describe-target-health", "--target-group-arn", ARN, "--output", "json", "--region", "us-east-1",
    ]  # fmt: skip


def test_when_aws_cannot_be_asked_a_note_says_so_and_the_run_is_not_failed_for_it(tmp_path: Path) -> None:
    neither = read_aws_target_health(ARN, which=lambda name: None)
    assert neither.targets is None
    assert neither.note == "target health not checked: neither boto3 nor the aws CLI is installed"
    refused = read_aws_target_health(
        ARN, which=lambda name: "/usr/bin/aws",
        run=lambda *args, **kwargs: subprocess.CompletedProcess(args, 255, "", "\nUnable to locate credentials\n"),
    )  # fmt: skip
    assert refused.note == "target health not read: aws elbv2 describe-target-health: Unable to locate credentials"


def test_with_boto3_the_region_comes_from_the_arn() -> None:
    asked: list[tuple[str | None, str]] = []

    def elbv2_client(region: str | None) -> SimpleNamespace:
        def describe_target_health(TargetGroupArn: str) -> dict[str, object]:
            asked.append((region, TargetGroupArn))
            return DESCRIBED

        return SimpleNamespace(describe_target_health=describe_target_health)

    reading = read_aws_target_health(ARN, elbv2_client=elbv2_client)
    assert asked == [("us-east-1", ARN)]
    assert reading.targets == (TargetState("10.0.1.5:8080", "healthy"), TargetState("10.0.2.6:8080", "unhealthy"))


@pytest.mark.parametrize("spec", ["haproxy:", "haproxy:file:///etc/passwd", "aws:arn:aws:s3:::bucket", "consul:x"])
def test_a_bad_target_health_source_is_refused(spec: str) -> None:
    with pytest.raises(
        CouldNotMeasure, match=r"bad --target-health .*: use haproxy:http://HOST:PORT/stats;csv or aws:"
    ):
        HealthSource.parse(spec)


def test_the_stats_reader_needs_haproxy_s_csv_with_server_addresses(serve) -> None:
    server = serve("127.0.0.2", lambda number: replica_answer("a"))
    with pytest.raises(CouldNotMeasure, match="did not answer with HAProxy's stats CSV"):
        read_haproxy_stats(f"http://127.0.0.2:{server.port}/", 1.0)
    # What HAProxy 2.6 prints without `stats show-legends`: every server's addr empty.
    csv = b"# pxname,svname,status,addr,type,\nreplicas,r1,UP,,2,\nreplicas,BACKEND,UP,,1,\n"
    legendless = serve("127.0.0.2", lambda number: (200, {"Content-Type": "text/csv"}, csv))
    with pytest.raises(CouldNotMeasure, match="gives no server addresses: add 'stats show-legends'"):
        read_haproxy_stats(f"http://127.0.0.2:{legendless.port}/stats;csv", 1.0)


def test_a_forged_stats_page_cannot_print_a_line_of_its_own(serve) -> None:
    """A status or address with a line break or an escape sequence is printed escaped, as replica ids are."""
    csv = b'# pxname,svname,status,addr,type,\nreplicas,r1,"UP\nverdict: EVEN","127.0.0.9:8080\x1b[2K",2,\n'
    forged = serve("127.0.0.2", lambda number: (200, {"Content-Type": "text/csv"}, csv))
    (target,) = read_haproxy_stats(f"http://127.0.0.2:{forged.port}/stats;csv", 1.0)
    assert "\n" not in target.state and "\x1b" not in target.target
    assert target.state == "UP\\nverdict: EVEN"


def test_the_stats_page_is_read_straight_not_through_a_proxy_from_the_environment(
    serve, monkeypatch, free_port: int
) -> None:
    csv = b"# pxname,svname,status,addr,type,\nreplicas,r1,UP,127.0.0.9:8080,2,\n"
    stats = serve("127.0.0.2", lambda number: (200, {"Content-Type": "text/csv"}, csv))
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port}")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (target,) = read_haproxy_stats(f"http://127.0.0.2:{stats.port}/stats;csv", 1.0)
    assert (target.target, target.state) == ("127.0.0.9:8080", "UP")


def test_a_stats_page_that_answers_an_error_or_refuses_is_named_in_one_short_line(serve, free_port: int) -> None:
    failing = serve("127.0.0.2", lambda number: (503, {"Content-Type": "text/plain"}, b"busy"))
    with pytest.raises(CouldNotMeasure, match=r"stats;csv: it answered 503 Service Unavailable$"):
        read_haproxy_stats(f"http://127.0.0.2:{failing.port}/stats;csv", 1.0)
    with pytest.raises(CouldNotMeasure, match=r"stats;csv: \[Errno 111\] Connection refused$"):
        read_haproxy_stats(f"http://127.0.0.1:{free_port}/stats;csv", 1.0)
