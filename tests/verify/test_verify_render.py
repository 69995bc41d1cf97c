"""Rendering: the terminal report, the JSON object and the progress printer, each into a StringIO."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from verify_helpers import rolling_deploy

from verify.core.progress import Measuring, Waiting
from verify.core.tally import TargetState
from verify.judging.evidence import Expectation
from verify.judging.judge import judge
from verify.rendering.terminal import REPORT_KEYS, ProgressPrinter, error_json, render_report, report_json, write_json

EXPECT = Expectation(replica_range=(3, 3), subnets=(("10.0.1.0/24", "us-east-1a"),))


def test_report_has_table_chart_statistics_and_verdict(make_tally) -> None:
    tally = make_tally({"10.0.1.5": 150, "10.0.1.6": 75, "10.0.9.7": 75}, errors={"HTTP 503": 3, "timeout": 1})
    out = io.StringIO()
    render_report(judge(tally, EXPECT), tally, out)
    text = out.getvalue()
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("10.0.1.5"))
    assert row.split()[:5] == ["10.0.1.5", "us-east-1a", "150", "50.0%", "+50.0%"]
    assert row.endswith("#" * 30)
    assert next(line for line in lines if line.startswith("10.0.1.6")).endswith(" " + "#" * 15)
    assert next(line for line in lines if line.startswith("10.0.9.7")).split()[1] == "-"  # zone unknown
    assert "errors: HTTP 503: 3, timeout: 1" in lines
    assert "chi-square 37.50 with 2 degrees of freedom, p-value 7.19e-09" in lines
    assert "counts: min 75, max 150, spread (max - min) 75; --strict allows 1 (1 balancer node(s))" in lines
    assert lines[-2].startswith("Uneven: 3 replicas got 150, 75 and 75 of 300 answers")
    assert lines[-1].startswith("verdict: UNEVEN: chi-square 37.5")
    assert "\033[" not in text


def test_colour_only_when_asked(make_tally) -> None:
    tally = make_tally({"a": 10, "b": 10})
    out = io.StringIO()
    render_report(judge(tally, Expectation(replica_range=(2, 2))), tally, out, color=True)
    assert "verdict: \033[32mEVEN\033[0m" in out.getvalue()


def test_a_balancer_cookie_is_a_warning_and_an_application_cookie_a_note(make_tally) -> None:
    tally = make_tally({"a": 100, "b": 100}, cookies={"AWSALB": 200, "session": 200})
    out = io.StringIO()
    render_report(judge(tally, Expectation(replica_range=(2, 2))), tally, out)
    text = out.getvalue()
    assert "WARNING: answers set the balancer's stickiness cookies: AWSALB (set by 200 answers)." in text
    assert "note: answers set the cookie(s) session: the application's, not the balancer's stickiness" in text
    app_only = make_tally({"a": 100, "b": 100}, cookies={"session": 200})
    verdict = judge(app_only, Expectation(replica_range=(2, 2)))
    assert verdict.even, verdict.reason


def test_never_even_above_an_uneven_verdict(make_tally) -> None:
    tally = make_tally({"a": 100, "b": 100}, errors={"HTTP 502": 50})
    out = io.StringIO()
    render_report(judge(tally, Expectation(replica_range=(2, 2))), tally, out)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("verdict: UNEVEN: error rate 20.0%")
    assert lines[-2].startswith("The counts alone look even, but another check fails (see the verdict): 2 replicas")
    assert not any(line.startswith("Even") for line in lines)


def test_an_unchecked_count_is_said_in_the_verdict_line(make_tally) -> None:
    tally = make_tally({"a": 100, "b": 100})
    out = io.StringIO()
    render_report(judge(tally, Expectation(replica_range=None)), tally, out)
    assert out.getvalue().splitlines()[-1] == (
        "verdict: EVEN (replica count not checked: 2 answered; pass --expect-replicas K)"
    )


def test_json_object(make_tally) -> None:
    tally = make_tally({"10.0.1.5": 100, "10.0.1.6": 100, "10.0.9.7": 100})
    out = io.StringIO()
    write_json(report_json(judge(tally, EXPECT), tally), out)
    report = json.loads(out.getvalue())
    assert report["verdict"] == "even"
    assert report["replicas"] == {"10.0.1.5": 100, "10.0.1.6": 100, "10.0.9.7": 100}
    assert report["zones"] == {
        "(no known zone)": {"replicas": 1, "count": 100, "share": 100 / 300},
        "us-east-1a": {"replicas": 2, "count": 200, "share": 200 / 300},
    }
    assert report["latency_ms"]["replicas"]["10.0.1.5"] == {"p50": 1.0, "p95": 1.0}
    assert report["nodes"] == [{"address": "127.0.0.1", "requests": 300, "answers": 300, "errors": 0, "family": "IPv4"}]
    assert report["p_value"] == 1.0
    assert report["power"] == pytest.approx(0.7176, abs=1e-4)  # 300 answers over 3 replicas, against 1.5:1
    assert list(report) == list(REPORT_KEYS)
    stopped = error_json("interrupted", "interrupted (Ctrl-C)", None)
    assert list(stopped) == list(REPORT_KEYS)
    assert stopped["verdict"] == "interrupted" and stopped["p_value"] is None


def test_progress_printer_lines_and_bar() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, bar=False, quiet_s=1.0)
    printer(Waiting("resolving a.test", 0.5, 300.0))  # quick waits stay quiet
    for reason in ("a.test does not resolve yet", "a.test does not resolve yet", "503 from the balancer"):
        printer(Waiting(reason, 1.0, 300.0))
    printer(Measuring(5, 10))
    printer.finish()
    assert out.getvalue().splitlines() == [
        "verify: waiting (1 of 300 s): a.test does not resolve yet",
        "verify: waiting (1 of 300 s): 503 from the balancer",
    ]
    tty = io.StringIO()
    bar = ProgressPrinter(tty, bar=True)
    bar(Measuring(5, 10))
    bar.finish()
    assert tty.getvalue() == "\r[" + "#" * 15 + "." * 15 + "] 5/10\n"
    seconds = io.StringIO()
    ProgressPrinter(seconds, bar=True)(Measuring(3, 10, " s"))  # a --duration run counts seconds
    assert seconds.getvalue() == "\r[" + "#" * 9 + "." * 21 + "] 3/10 s"


def test_a_duration_run_prints_its_timeline_with_the_changes_and_errors() -> None:
    tally = rolling_deploy({4: {"HTTP 502": 1}})
    out = io.StringIO()
    render_report(judge(tally, EXPECT), tally, out)
    lines = out.getvalue().splitlines()
    start = lines.index("timeline of 8 s (second: requests, answers, replicas answering; changes; errors):")
    assert lines[start + 1 : start + 9] == [
        "    0      180      180    3 replicas",
        "    1      180      180    3 replicas",
        "    2      180      180    3 replicas",
        "    3      360      360    6 replicas  +10.0.1.20 +10.0.1.22 +10.0.2.21",
        "    4      361      360    6 replicas  errors: HTTP 502: 1",
        "    5      180      180    3 replicas  -10.0.1.5 -10.0.1.10 -10.0.2.7",
        "    6      180      180    3 replicas",
        "    7      180      180    3 replicas",
    ]
    assert "1801 requests over 1 kept-alive connections in 1.00 s (1801 requests/s): 1800 answers, 1 errors" in lines[2]
    report = report_json(judge(tally, EXPECT), tally)
    assert report["timeline"][4] == {
        "second": 4, "requests": 361, "answers": 360, "errors": {"HTTP 502": 1},
        "replicas": ["10.0.1.5", "10.0.1.10", "10.0.1.20", "10.0.1.22", "10.0.2.7", "10.0.2.21"],
        "answers_by_replica": {"10.0.1.5": 60, "10.0.1.10": 60, "10.0.1.20": 60, "10.0.1.22": 60, "10.0.2.7": 60,
                               "10.0.2.21": 60},
    }  # fmt: skip


def test_haproxys_in_between_states_are_explained_once(make_tally) -> None:
    """HAProxy's "UP 1/2" (how every server starts, before its first check) reads like a failure."""
    tally = dataclasses.replace(
        make_tally({"10.0.1.5": 100, "10.0.1.6": 100}),
        target_health={
            "start": (TargetState("10.0.1.5:8080", "UP 1/2"), TargetState("10.0.1.6:8080", "DOWN 1/2")),
            "end": (TargetState("10.0.1.5:8080", "UP"), TargetState("10.0.1.6:8080", "UP 1/2")),
        },
    )
    out = io.StringIO()
    render_report(judge(tally, Expectation(replica_range=(2, 2))), tally, out)
    lines = out.getvalue().splitlines()
    legends = [line for line in lines if line.startswith("  HAProxy's ")]
    assert legends == [
        "  HAProxy's UP a/b: up, a more failed check(s) take it down (every server starts so, before its first"
        " check); DOWN a/b: down, a of the b passing checks it needs to come back"
    ]
    assert lines.index(legends[0]) == max(i for i, line in enumerate(lines) if line.startswith("target health")) + 1


def test_no_legend_when_every_state_is_plain(make_tally) -> None:
    tally = dataclasses.replace(
        make_tally({"10.0.1.5": 100}), target_health={"start": (TargetState("10.0.1.5:8080", "UP"),)}
    )
    out = io.StringIO()
    render_report(judge(tally, Expectation()), tally, out)
    assert "HAProxy's " not in out.getvalue()
