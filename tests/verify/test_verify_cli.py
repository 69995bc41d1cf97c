"""The command: exit codes, one-line errors, --json on stdout alone, the stack as the source of defaults."""

from __future__ import annotations

import json
import signal
import time

import pytest
from verify_helpers import AT_ONCE_S, replica_answer, rotation, signal_at_first_request

from verify import cli
from verify.cli import ExitCode, build_parser, main
from verify.sources.live.client import WARM_UP_USER_AGENT, Workload
from verify.sources.stack import StackOutputs

FAST = ["--wait", "2", "--timeout", "2", "--concurrency", "4"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_even_split_exits_0_with_a_report(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("10.0.1.5", "10.0.2.6", "10.0.1.7"))
    code, out, err = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--expect-replicas", "3", "--strict", "--requests", "300",
        "--subnet", "10.0.1.0/24=zone-a", "--subnet", "10.0.2.0/24=zone-b", *FAST,
    )  # fmt: skip
    assert code == ExitCode.EVEN, out + err
    assert "Even: 3 replicas got 100, 100 and 100 of 300 answers" in out
    assert "10.0.1.5  zone-a      100   33.3%    +0.0%" in out
    assert "#" * 30 in out  # the bar chart
    assert "zone-a         2      200   66.7%" in out
    assert "balancer behaviour: round-robin-like" in out
    assert out.rstrip().endswith("verdict: EVEN")
    assert "\033[" not in out  # no colour into a pipe
    assert "\r" not in err  # no progress bar into a pipe


def test_uneven_split_exits_1_and_says_why(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "a", "b", "c"))  # a gets twice the others' share
    code, out, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "400", *FAST)
    assert code == ExitCode.UNEVEN
    assert "Uneven: 3 replicas got 200, 100 and 100 of 400 answers" in out
    assert "verdict: UNEVEN: chi-square 50.0 with 2 df" in out


def test_json_prints_one_object_and_nothing_else(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b", headers={"Set-Cookie": "AWSALB=1; Path=/"}))
    code, out, _ = run(capsys, f"http://127.0.0.2:{server.port}/", "--json", "--requests", "40", *FAST)
    assert code == ExitCode.UNEVEN  # the split is even, but a sticky cookie fails the run
    report = json.loads(out)
    assert report["verdict"] == "uneven"
    assert "AWSALB" in report["reason"]
    assert report["replicas"] == {"a": 20, "b": 20}
    assert report["pattern"] == "sticky"
    assert report["requests"] == 40
    assert report["count_checked"] is False  # bare URL, no --expect-replicas
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["timeline"] is None and report["replica_changes"] is None  # no --duration
    for key in ("errors", "error_rate", "p_value", "chi_square", "expected_replicas", "missing", "unexpected",
                "latency_ms", "zones", "nodes", "url"):  # fmt: skip
        assert key in report


def test_resolve_pins_the_name_to_every_node_and_json_lists_each_node(serve, capsys) -> None:
    first = serve("127.0.0.2", rotation("10.0.1.5", "10.0.2.6"))
    serve("127.0.0.3", rotation("10.0.1.5", "10.0.2.6"), port=first.port)
    code, out, _ = run(
        capsys, f"http://alb.test:{first.port}/", "--resolve", "ALB.test:127.0.0.2,127.0.0.3", "--json",
        "--requests", "40", "--expect-replicas", "2", *FAST,
    )  # fmt: skip
    report = json.loads(out)
    assert code == ExitCode.EVEN, report["reason"]
    assert [node["address"] for node in report["nodes"]] == ["127.0.0.2", "127.0.0.3"]
    assert all(node["requests"] == node["answers"] > 0 and node["errors"] == 0 for node in report["nodes"])
    assert sum(node["requests"] for node in report["nodes"]) == 40
    assert report["balancer_nodes"] == 2


def test_duration_sends_for_that_long_and_judges_the_replicas_after_the_change(serve, capsys) -> None:
    began: list[float] = []  # when the measuring began: its first request without the warm-up's User-Agent

    def deploying(number: int):  # a, b answer for the measuring's first 0.5 s; c, d from then on (no overlap)
        if not began and server.requests[-1].get("User-Agent") != WARM_UP_USER_AGENT:
            began.append(time.monotonic())
        return replica_answer(("cd" if began and time.monotonic() >= began[0] + 0.5 else "ab")[number % 2])

    server = serve("127.0.0.2", deploying)
    code, out, _ = run(
        capsys, f"http://127.0.0.2:{server.port}/", "--duration", "1.5", "--expect-replicas", "2", "--json", *FAST
    )
    report = json.loads(out)
    assert code == ExitCode.EVEN, report["reason"]
    assert 1.5 <= report["elapsed_s"] < 1.5 + 2  # at most one --timeout more, for the answers in flight
    assert [entry["second"] for entry in report["timeline"]] == [0, 1]
    assert report["timeline"][0]["replicas"] == ["a", "b", "c", "d"]
    assert report["timeline"][1]["replicas"] == ["c", "d"]
    assert sum(entry["requests"] for entry in report["timeline"]) == report["requests"]
    assert report["replica_changes"] == [
        {"second": 0, "appeared": ["c", "d"], "disappeared": []},
        {"second": 1, "appeared": [], "disappeared": ["a", "b"]},
    ]
    assert set(report["replicas"]) == {"c", "d"}  # judged after the last change


def test_rate_spaces_the_requests_evenly_whichever_connection_sends_them(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b", "c"))  # 4 connections: each meets every replica
    url = f"http://127.0.0.2:{server.port}/"
    code, out, _ = run(capsys, url, "--requests", "60", "--rate", "40", "--concurrency", "4", "--json")
    report = json.loads(out)
    assert code == ExitCode.EVEN, report["reason"]
    assert report["requests"] == 60
    # The n-th request leaves no sooner than n / 40 s after the start: a floor a busy machine only raises.
    assert report["elapsed_s"] >= 59 / 40
    code, out, _ = run(capsys, url, "--duration", "2", "--rate", "40", "--concurrency", "4", "--json")
    report = json.loads(out)
    assert code == ExitCode.EVEN, report["reason"]
    sent_by_then = 0
    for entry in report["timeline"]:
        sent_by_then += entry["requests"]
        assert sent_by_then <= 40 * (entry["second"] + 1), report["timeline"]  # never ahead of the pace


def test_a_paced_duration_ends_at_its_duration_even_when_requests_fall_due_after_it(serve, capsys) -> None:
    """At one request every 5 s over 10 connections, 9 of the first 10 fall due after the 1 s: their connections
    end with the duration, not when their request falls due (45 s) nor a --timeout later ("ran out of time")."""
    server = serve("127.0.0.2", rotation("a", "b", "c"))
    url = f"http://127.0.0.2:{server.port}/"
    code, out, _ = run(capsys, url, "--duration", "1", "--rate", "0.2", "--timeout", "60", "--json")
    report = json.loads(out)
    assert code in (ExitCode.EVEN, ExitCode.UNEVEN), report["reason"]
    assert report["requests"] == 1
    assert report["elapsed_s"] < AT_ONCE_S  # broken: 45 s, the last connection's request falling due
    assert not any("ran out of time" in note for note in report["notes"]), report["notes"]


def test_the_measurement_s_bound_includes_the_time_the_rate_spaces_it_over() -> None:
    paced = Workload(requests=100, concurrency=10, timeout_s=1.0, rate=10.0)
    assert paced.deadline_s == Workload(requests=100, concurrency=10, timeout_s=1.0).deadline_s + 100 / 10


def test_missing_replica_exits_1(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation("a", "b"))
    code, out, err = run(capsys, f"http://127.0.0.2:{server.port}/", "--expect-replicas", "3", "--wait", "0.3")
    assert code == ExitCode.UNEVEN
    assert "1 of 3 expected replicas never answered" in out
    assert err == ""  # waiting lines start only after 2 s


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ftp://x/"], "verify: bad URL 'ftp://x/'"),
        (["http://127.0.0.1/", "--requests", "0"], "verify: argument --requests: 0 must be a finite number at least 1"),
        (["http://127.0.0.1/", "--alpha", "2"], "verify: argument --alpha: 2 must be a finite number above 0 and"),
        (["http://127.0.0.1/", "--timeout", "soon"], "verify: argument --timeout: 'soon' is not a number"),
        (["http://127.0.0.1/", "--subnet", "10.0.1.0/24"], "verify: argument --subnet: '10.0.1.0/24' names no zone"),
        (["http://127.0.0.1/", "--identity", "xml:id"], "verify: bad --identity 'xml:id'"),
        (["http://127.0.0.1/", "--algorithm", "fastest"], "verify: argument --algorithm: invalid choice: 'fastest'"),
        (["http://127.0.0.1/", "--duration", "0"], "verify: argument --duration: 0 must be a finite number above 0"),
        (["http://127.0.0.1/", "--duration", "nan"], "verify: argument --duration: nan must be a finite number"),
        (["http://127.0.0.1/", "--duration", "3601"], "verify: argument --duration: 3601 must be a finite number"),
        (
            ["http://127.0.0.1/", "--rate", "0"],
            "verify: argument --rate: 0 must be a finite number above 0",
        ),
        (["http://127.0.0.1/", "--rate", "inf"], "verify: argument --rate: inf must be a finite number above 0 and"),
        (
            ["http://127.0.0.1/", "--duration", "1", "--requests", "9"],
            "verify: argument --requests: not allowed with argument --duration",
        ),
        (["http://a.test/", "--resolve", "a.test"], "verify: argument --resolve: 'a.test': use HOST:ADDR[,ADDR...]"),
        (["http://a.test/", "--resolve", "a.test:127.0.0.1,"], "verify: argument --resolve: 'a.test:127.0.0.1,': use"),
        (
            ["http://a.test/", "--resolve", "a.test:alb.test"],
            "verify: argument --resolve: 'alb.test' is not an IPv4 or IPv6 address (in --resolve 'a.test:alb.test')",
        ),
        (
            ["http://a.test/", "--resolve", "a.test:127.0.0.1", "--resolve", "A.test:127.0.0.2"],
            "verify: --resolve gives a.test twice; give all its addresses in one: --resolve a.test:ADDR,ADDR",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert out == ""
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_could_not_measure_in_json(capsys, free_port: int) -> None:
    code, out, err = run(capsys, f"http://127.0.0.1:{free_port}/", "--json", "--wait", "0.2")
    assert code == ExitCode.COULD_NOT_MEASURE
    report = json.loads(out)
    assert report["verdict"] == "error"
    assert report["reason"].startswith("nothing answered within --wait 0.2 s: connection refused")
    assert err.startswith("verify: nothing answered") and err.count("\n") == 1


def test_without_url_the_stack_gives_url_count_algorithm_and_zones(serve, capsys, monkeypatch) -> None:
    server = serve("127.0.0.2", rotation("10.0.1.5", "10.0.2.6"))
    outputs = StackOutputs(
        url=f"http://127.0.0.2:{server.port}/",
        replicas=2,
        max_replicas=4,
        algorithm="least_outstanding_requests",
        subnets=(("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")),
    )
    asked: list[str | None] = []
    monkeypatch.setattr(cli, "read_stack_outputs", lambda stack: asked.append(stack) or outputs)
    code, out, _ = run(capsys, "--stack", "dev", "--json", *FAST)
    report = json.loads(out)
    assert asked == ["dev"]
    assert code == ExitCode.EVEN, report["reason"]
    assert report["url"] == outputs.url
    assert report["requests"] == 367  # the fewest that catch a 1.5:1 replica of 2 (60 % against 40 %) 90 % of the time
    assert (report["expected_replicas"], report["expected_replicas_max"]) == (2, 4)
    assert report["split_judged"] is False
    assert set(report["zones"]) == {"us-east-1a", "us-east-1b"}


def test_ctrl_c_exits_130_promptly(serve, capsys) -> None:
    server = serve("127.0.0.2", signal_at_first_request(signal.SIGALRM))
    previous = signal.signal(signal.SIGALRM, signal.default_int_handler)  # SIGALRM raises KeyboardInterrupt
    started = time.monotonic()
    try:
        code, _, err = run(capsys, f"http://127.0.0.2:{server.port}/", "--requests", "100000", *FAST)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert code == ExitCode.INTERRUPTED
    assert time.monotonic() - started < AT_ONCE_S  # 100,000 answers of 0.05 s, 4 at a time, would take 1,250 s
    assert "verify: interrupted" in err
    assert "Traceback" not in err


def test_every_flag_has_help_text(capsys) -> None:
    for action in build_parser()._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help text"
    assert main(["--help"]) == 0
    assert "--expect-replicas" in capsys.readouterr().out


def test_exit_codes_are_one_int_enum() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 129, 130, 131, 143]
