"""verify's promises on the surfaces beside the live run (issue 24, items 3 to 5, and what the earlier pass
left open): one judgement is of one balancer, replica ids follow one rule whatever the source, every option
applies or is refused, every value and derived number is bounded, and each named case a pass found."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alb_log_helpers import START, WINDOW, rotation, write
from verify_helpers import AT_ONCE_S, WAIT_NOT_WAITED, one_line_error, read_request, replica_answer, run
from verify_helpers import rotation as live_rotation

from bench.alb_logs import Request, line
from components.errors import SettingsError
from settings import parse_settings
from verify.cli import ExitCode
from verify.core.numbers import MAX_REQUESTS
from verify.core.replica_ids import REPLICA_ID_MAX, ReplicaIdTooLong, replica_id
from verify.judging.evidence import WeightGroup, default_requests, expected_shares, requests_and_power
from verify.sources.logs.query import log_key, period_end

FAST = ["--wait", "1", "--timeout", "0.5", "--concurrency", "2"]


# One judgement is of one balancer.


def write_balancer(root: Path, region: str, load_balancer: str, count: int, replicas: tuple[str, ...]) -> None:
    """One node's file of `count` requests over `replicas`, named as the ALB names a file of this balancer's."""
    lines = [line(request) for _, request in rotation(count, replicas=replicas, nodes=("10.0.1.5",))]
    path = root / log_key("123456789012", region, load_balancer, period_end(START), "10.0.1.5", "abcd1234")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


@pytest.mark.parametrize(
    ("second", "choose"),
    [
        (("us-east-1", "app.other.1234abcd"), ["--balancer", "alb-replicas"]),
        (("eu-west-1", "app.alb-replicas.50dc6c495c0c9188"), ["--region", "us-east-1"]),
    ],
    ids=["two-balancers", "two-regions"],
)
def test_logs_of_two_balancers_are_refused_in_one_line_or_one_is_chosen(tmp_path, capsys, second, choose) -> None:
    write_balancer(tmp_path, "us-east-1", "app.alb-replicas.50dc6c495c0c9188", 300, ("10.0.1.10", "10.0.1.11"))
    write_balancer(tmp_path, *second, 90, ("10.0.2.10", "10.0.2.11", "10.0.2.12"))
    code, out, err, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    assert code == ExitCode.COULD_NOT_MEASURE
    said = one_line_error(err)
    assert "of 2 load balancers" in said and "--balancer" in said
    code, out, err, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, *choose, "--json")
    report = json.loads(out)
    assert code == ExitCode.EVEN, err
    assert report["replicas"] == {"10.0.1.10": 150, "10.0.1.11": 150}  # never summed with the other's
    assert report["access_logs"]["skipped"] == {"another load balancer's file (--balancer, --region)": 1}


def test_a_port_seen_only_outside_the_window_renames_no_replica(tmp_path, capsys) -> None:
    inside = rotation(300, replicas=("10.0.1.10", "10.0.1.11"))
    outside = [(node, Request(START - timedelta(minutes=30), target="10.0.1.10:81")) for node, _ in inside[:5]]
    write(tmp_path, inside + outside)
    code, out, err, _ = run(
        capsys, "--access-logs", str(tmp_path), *WINDOW, "--expect-weights", "10.0.1.10=1,10.0.1.11=1"
    )
    assert code == ExitCode.EVEN, out + err


def test_targets_seen_only_outside_the_window_count_toward_no_cap(tmp_path, capsys) -> None:
    many = tuple(f"10.9.{i // 250}.{i % 250}" for i in range(1100))
    write(tmp_path, rotation(300) + rotation(1100, replicas=many, start=START - timedelta(minutes=1)))
    code, out, err, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    assert code == ExitCode.EVEN, err
    assert json.loads(out)["access_logs"]["outside_window"] == 1100


@pytest.mark.parametrize("target", ["10.0.1.10", "", "10.0.1.10:", ":80", "host:80", "10.0.1.010:80", "[fd00::1]:0"])
def test_a_target_not_in_the_albs_form_is_a_malformed_line_never_an_id(tmp_path, capsys, target) -> None:
    bad = [(node, Request(START + timedelta(seconds=1), target=target or '""')) for node, _ in rotation(2)]
    write(tmp_path, rotation(300) + bad)
    code, out, err, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    report = json.loads(out)
    assert code == ExitCode.EVEN, err
    assert set(report["replicas"]) == {"10.0.1.10", "10.0.2.10", "10.0.1.11"}
    assert sum(report["access_logs"]["skipped"].values()) == 2


# Replica ids: one rule for every source.


def test_ids_are_counted_whole_escaped_so_that_no_two_values_print_alike() -> None:
    long_a, long_b = "x" * 100 + "a", "x" * 100 + "b"
    assert replica_id(long_a) != replica_id(long_b)  # cut at 64 they were one replica: a false UNEVEN
    assert replica_id("a\nb") != replica_id("a\\nb")
    assert replica_id("a\nb").isprintable() and replica_id("a\\nb").isprintable()
    assert replica_id("  10.0.1.5 ") == "10.0.1.5"
    assert replica_id("   ") is None
    with pytest.raises(ReplicaIdTooLong, match="5,000 characters"):
        replica_id("9" * 5000)
    assert replica_id("9" * REPLICA_ID_MAX) == "9" * REPLICA_ID_MAX


def test_two_long_ids_that_begin_alike_are_two_replicas(serve, capsys) -> None:
    ids = ("replica-" + "x" * 80 + "-one", "replica-" + "x" * 80 + "-two")
    server = serve("127.0.0.2", lambda number: replica_answer(ids[number % 2]))
    code, out, err, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "40", "--json", *FAST)
    assert code in (ExitCode.EVEN, ExitCode.UNEVEN), err
    assert sorted(json.loads(out)["replicas"]) == sorted(ids)


def test_an_id_of_5000_digits_is_exit_2_in_one_line(serve, capsys) -> None:
    server = serve("127.0.0.2", lambda number: (200, {}, b'{"replica": ' + b"7" * 5000 + b"}"))
    code, _, err, _ = run(capsys, f"http://127.0.0.2:{server.port}/", *FAST)
    assert code == ExitCode.COULD_NOT_MEASURE  # was 1: the id cut at 64, one replica, "uneven"
    assert "a replica id of 5,000 characters" in one_line_error(err)
    assert len(err) < 400


# Every option applies, or is refused in one line, for each source.


@pytest.mark.parametrize(
    "option",
    [
        ["--requests", "10"], ["--duration", "1"], ["--concurrency", "2"], ["--timeout", "1"], ["--wait", "1"],
        ["--resolve", "a.test:127.0.0.1"], ["--ip-version", "4"], ["--identity", "body"], ["--cacert", "ca.pem"],
        ["--target-health", "haproxy:http://127.0.0.1:1/"], ["--phases", "p"], ["--until-mark", "done"],
        ["--athena-table", "a.b"], ["--athena-workgroup", "w"],
    ],
)  # fmt: skip
def test_an_option_that_does_not_apply_to_the_logs_read_here_is_refused_naming_it(tmp_path, capsys, option) -> None:
    write(tmp_path, rotation(300))
    code, _, err, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, *option)
    assert code == ExitCode.COULD_NOT_MEASURE  # --requests, --duration, --target-health were ignored before
    assert one_line_error(err).startswith(f"verify: {option[0]} applies to ")


@pytest.mark.parametrize(
    "option",
    [["--since", "1h"], ["--until", "1h"], ["--engine", "duckdb"], ["--balancer", "a"], ["--region", "us-east-1"],
     ["--athena-table", "a.b"], ["--athena-workgroup", "w"]],
)  # fmt: skip
def test_a_logs_option_with_a_live_run_is_refused_naming_it(capsys, free_port, option) -> None:
    code, _, err, _ = run(capsys, f"http://127.0.0.2:{free_port}/", *option, *FAST)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert one_line_error(err).startswith(f"verify: {option[0]} applies to ")


@pytest.mark.parametrize("option", [["--balancer", "a"], ["--region", "us-east-1"]])
def test_a_duckdb_only_option_with_athena_is_refused(capsys, option) -> None:
    code, _, err, _ = run(capsys, "--access-logs", "--engine", "athena", *WINDOW, *option)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert f"{option[0]} applies to --access-logs read here, not to --access-logs --engine athena" in err


@pytest.mark.parametrize("value", ["", " ", "9" * 5000])
@pytest.mark.parametrize("option", ["--stack", "--identity", "--report", "--balancer", "--since", "--athena-table"])
def test_an_empty_or_oversized_value_is_refused_with_the_value_cut(capsys, option, value) -> None:
    started = time.monotonic()
    code, _, err, _ = run(capsys, option, value)
    assert code == ExitCode.COULD_NOT_MEASURE
    said = one_line_error(err)
    assert f"argument {option}: " in said and len(said) < 200, said
    assert time.monotonic() - started < AT_ONCE_S


def test_a_5000_digit_deployment_strategy_is_refused_with_the_value_cut() -> None:
    with pytest.raises(SettingsError) as refused:
        parse_settings({"deploymentStrategy": "9" * 5000}, project="alb-replicas", stack="dev")
    said = refused.value.one_line()
    assert "deploymentStrategy: '99999" in said and "(5,000 characters)" in said
    assert len(said) < 800, len(said)  # was 5,226 characters: the value whole


@pytest.mark.parametrize(("length", "says"), [(20_000, "an ALB takes at most 16,384"), (100_000, "65,536")])
def test_a_long_path_is_refused_at_once_in_one_line(capsys, length, says) -> None:
    code, _, err, elapsed = run(capsys, "http://127.0.0.2:1/" + "a" * length, "--json")
    assert code == ExitCode.COULD_NOT_MEASURE  # took 17 s: redact's regular expressions were quadratic
    assert says in one_line_error(err) and len(err) < 600
    assert elapsed < AT_ONCE_S  # quadratic, 100,000 characters took 40 s


# Every derived number is bounded like the ones users type.


@pytest.mark.parametrize("weights", [(1e-9, 1.0), (1e-12, 1e6), (1.0, 1.0), (0.001, 1.0), (1e-6, 1.0, 1.0)])
def test_the_default_request_count_stays_within_1_and_1000000_whatever_the_weights(weights) -> None:
    shares = tuple(expected_shares([WeightGroup((f"r{i}",), w) for i, w in enumerate(weights)]).values())
    requests, power = requests_and_power(len(weights), shares=shares)
    assert 1 <= requests <= MAX_REQUESTS  # a=1e-9,b=1 asked 117,059,044,394 requests
    assert default_requests(len(weights), shares=shares) == requests
    assert power is not None and (power >= 0.9 or requests == MAX_REQUESTS)


# What the earlier pass left open.


def test_a_304_is_no_redirect(serve, capsys) -> None:
    server = serve("127.0.0.2", lambda number: (304, {}, b""))
    code, _, err, elapsed = run(capsys, f"http://127.0.0.2:{server.port}/", "--wait", WAIT_NOT_WAITED, "--timeout", "1")
    assert code == ExitCode.COULD_NOT_MEASURE
    said = one_line_error(err)
    assert "answered 304, which is no redirect" in said and "does not follow redirects" not in said
    assert elapsed < AT_ONCE_S


def test_a_stats_row_without_its_status_is_exit_2_not_an_unhealthy_target(serve, raw_server, capsys) -> None:
    page = b"# pxname,svname,status,addr,type\nbe,s1,UP,127.0.0.2:80,2\nbe,s2\n"

    def stats(connection: socket.socket, _number: int, stop: threading.Event) -> None:
        if read_request(connection):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(page) + page)

    server = serve("127.0.0.2", live_rotation("a", "b"))
    stats_page = raw_server(stats, "127.0.0.3")
    code, _, err, _ = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--requests", "20", "--expect-replicas", "2",
        "--target-health", f"haproxy:http://127.0.0.3:{stats_page.port}/stats;csv", *FAST,
    )  # fmt: skip
    assert code == ExitCode.COULD_NOT_MEASURE  # was 1: a state of "" taken for an unhealthy target
    assert "has no status" in one_line_error(err)
