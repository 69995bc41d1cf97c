"""--expect-weights: verify judges the split against weights (a canary's 10 % over its new replicas,
90 % over the old) instead of an even split, with the power against the same 1.5:1 alternative."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from verify_helpers import replica_answer

from verify.cli import ExitCode, _weights, main
from verify.core.tally import Second
from verify.judging.evidence import Expectation, WeightGroup, default_requests, expected_shares
from verify.judging.judge import judge
from verify.rendering.terminal import render_report, report_json

GREEN = ("127.0.2.1", "127.0.2.2", "127.0.2.3")
BLUE = ("127.0.1.1", "127.0.1.2", "127.0.1.3")
CANARY_10 = (WeightGroup(GREEN, 10), WeightGroup(BLUE, 90))
FAST = ["--wait", "2", "--timeout", "2", "--concurrency", "4"]


def canary_counts(green_share: float, answers: int = 6000) -> dict[str, int]:
    green_each = round(answers * green_share / len(GREEN))
    blue_each = round(answers * (1 - green_share) / len(BLUE))
    return {**dict.fromkeys(GREEN, green_each), **dict.fromkeys(BLUE, blue_each)}


def test_a_canary_that_got_its_10_percent_passes(make_tally) -> None:
    verdict = judge(make_tally(canary_counts(0.10)), Expectation(weights=CANARY_10))
    assert verdict.even, verdict.reason
    assert verdict.sentence.startswith("As weighted: 6 replicas got")
    assert [round(stats.deviation, 3) for stats in verdict.replicas] == [0.0] * 6


def test_a_canary_that_got_20_percent_where_10_was_set_fails(make_tally) -> None:
    verdict = judge(make_tally(canary_counts(0.20)), Expectation(weights=CANARY_10))
    assert not verdict.even
    assert "chi-square" in verdict.reason and verdict.evidence.p_value < 1e-10
    assert verdict.sentence.startswith("Off the weights: 6 replicas got")
    green = next(stats for stats in verdict.replicas if stats.replica == GREEN[0])
    assert green.deviation == pytest.approx(1.0, abs=0.01), "twice its weighted share"


def test_the_same_canary_judged_as_even_fails_so_the_weights_are_what_passes_it(make_tally) -> None:
    assert not judge(make_tally(canary_counts(0.10)), Expectation(replica_range=(6, 6))).even


def test_a_replica_not_named_is_unexpected_and_one_named_that_never_answered_is_missing(make_tally) -> None:
    counts = {**canary_counts(0.10), "127.0.3.1": 50}
    del counts[GREEN[2]]
    verdict = judge(make_tally(counts), Expectation(weights=CANARY_10))
    assert not verdict.even
    assert "1 of 6 expected replicas never answered (127.0.2.3)" in verdict.reason
    assert "(127.0.3.1)" in verdict.reason


def test_power_and_the_default_count_follow_the_weights() -> None:
    shares = tuple(expected_shares(CANARY_10).values())
    assert shares == pytest.approx((0.1 / 3,) * 3 + (0.3,) * 3)
    # A new replica at 1.5:1 on a 3.3 % share is harder to catch than on an even sixth.
    assert default_requests(6, shares=shares) > default_requests(6)


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("a=1,b=3", (WeightGroup(("a",), 1.0), WeightGroup(("b",), 3.0))),
        ("a+b+c=10,d+e=90", (WeightGroup(("a", "b", "c"), 10.0), WeightGroup(("d", "e"), 90.0))),
        (" a = 0.5 , b=0.5", (WeightGroup(("a",), 0.5), WeightGroup(("b",), 0.5))),
    ],
)
def test_weights_parse_single_replicas_and_groups(text, groups) -> None:
    assert _weights(text) == groups


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=1", "names 1 replica(s); allowed: 2 to"),
        ("a=1,a=2", "a is named twice"),
        ("a=0,b=1", "weight 0 of a must be a finite number above 0"),
        ("a=nan,b=1", "weight nan of a must be a finite number"),
        ("a=inf,b=1", "weight inf of a must be a finite number"),
        ("a=-1,b=1", "must be a finite number above 0"),
        ("a=1e7,b=1", "at most 1e+06"),
        ("a=x,b=1", "weight 'x' of a is not a number"),
        ("a,b=1", "'a' in 'a,b=1': use ID=W"),
        ("a+=1,b=1", "use ID=W"),
    ],
)
def test_bad_weights_are_one_line_naming_what_is_allowed(text, message, capsys) -> None:
    code = main(["http://127.0.0.1:9/", "--expect-weights", text])
    err = capsys.readouterr().err
    assert code == ExitCode.COULD_NOT_MEASURE and message in err and len(err.splitlines()) == 1


def test_weights_and_a_replica_count_are_one_or_the_other(capsys) -> None:
    code = main(["http://127.0.0.1:9/", "--expect-weights", "a=1,b=1", "--expect-replicas", "2"])
    assert code == ExitCode.COULD_NOT_MEASURE and "not allowed with argument" in capsys.readouterr().err


@given(st.lists(st.floats(min_value=0.001, max_value=1e6), min_size=2, max_size=8))
def test_expected_shares_sum_to_one_and_keep_the_ratio_of_the_weights(weights) -> None:
    groups = tuple(WeightGroup((f"r{index}",), weight) for index, weight in enumerate(weights))
    shares = expected_shares(groups)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["r0"] / shares["r1"] == pytest.approx(weights[0] / weights[1])


def test_the_timeline_shows_each_group_s_share_per_second(make_tally) -> None:
    counts = canary_counts(0.10, answers=600)
    tally = make_tally(counts)
    timeline = [
        Second(0, 300, {}, {r: c // 2 for r, c in counts.items()}),
        Second(1, 300, {}, {r: c // 2 for r, c in counts.items()}),
    ]
    tally = dataclasses.replace(tally, duration_s=2.0, timeline=timeline)
    verdict = judge(tally, Expectation(weights=CANARY_10))
    out = io.StringIO()
    render_report(verdict, tally, out)
    text = out.getvalue()
    assert "each weight group's share" in text
    assert "127.0.2.1+127.0.2.2+127.0.2.3 10.0%  127.0.1.1+127.0.1.2+127.0.1.3 90.0%" in text
    assert "weight 10 for 127.0.2.1+127.0.2.2+127.0.2.3: expected 10.0% of the answers, got 10.0%" in text
    groups = report_json(verdict, tally)["timeline"][0]["groups"]
    assert groups == pytest.approx({"127.0.2.1+127.0.2.2+127.0.2.3": 0.1, "127.0.1.1+127.0.1.2+127.0.1.3": 0.9})


def canary_server(green_per_ten: int):
    """Answers in a cycle of 30: each new replica `green_per_ten` times, each old one the rest."""
    cycle = [replica for replica in GREEN for _ in range(green_per_ten)]
    cycle += [replica for replica in BLUE for _ in range(10 - green_per_ten)]
    return lambda number: replica_answer(cycle[number % len(cycle)])


@pytest.mark.parametrize(("green_per_ten", "code"), [(1, ExitCode.EVEN), (2, ExitCode.UNEVEN)])
def test_the_command_passes_a_10_percent_canary_and_fails_a_20_percent_one(serve, capsys, green_per_ten, code) -> None:
    server = serve("127.0.0.2", canary_server(green_per_ten))
    weights = f"{'+'.join(GREEN)}=10,{'+'.join(BLUE)}=90"
    argv = [f"http://127.0.0.2:{server.port}/", "--expect-weights", weights, "--requests", "3000", "--json", *FAST]
    assert main(argv) == code
    report = json.loads(capsys.readouterr().out)
    assert report["expected_replicas"] == 6 and report["requests"] == 3000
