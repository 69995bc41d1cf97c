"""verify --access-logs: real gzip'd ALB logs in the S3 layout, read by DuckDB, judged and reported like a live run."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alb_log_helpers import NODES, START, WINDOW, rotation, write
from hypothesis import given
from hypothesis import strategies as st

from bench.alb_logs import Request, key, line, write_log
from verify.cli import ExitCode, main
from verify.core.errors import CouldNotMeasure
from verify.sources.logs.query import (
    WORK_BUCKETS_PER_E,
    Window,
    athena_source,
    counts_sql,
    duckdb_source,
    order_sql,
    period_end,
)
from verify.sources.logs.reader import p95_of, parse_window, read_local_logs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_even_rotation_in_the_logs_is_even_with_counts_per_replica_node_and_zone(tmp_path, capsys) -> None:
    write(tmp_path, rotation(600))
    code, out, err = run(
        capsys, "--access-logs", str(tmp_path), *WINDOW, "--expect-replicas", "3", "--strict",
        "--subnet", "10.0.1.0/24=zone-a", "--subnet", "10.0.2.0/24=zone-b",
    )  # fmt: skip
    assert code == ExitCode.EVEN, out + err
    assert "Even: 3 replicas got 200, 200 and 200 of 600 answers" in out
    assert "10.0.1.10  zone-a      200   33.3%" in out
    assert "zone-a         2      400   66.7%" in out
    assert "node 10.0.1.5 (IPv4): 300 requests, 300 answers, 0 errors" in out
    assert "AWS writes access logs best effort" in out
    assert "balancer behaviour: round-robin-like" in out
    assert "skipped: none" in out
    assert out.rstrip().endswith("verdict: EVEN")


def test_json_carries_the_same_keys_and_how_the_logs_were_read(tmp_path, capsys) -> None:
    write(tmp_path, rotation(300, work_s=0.25))
    code, out, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    report = json.loads(out)
    assert code == ExitCode.EVEN
    assert report["replicas"] == {"10.0.1.10": 100, "10.0.1.11": 100, "10.0.2.10": 100}
    assert [node["address"] for node in report["nodes"]] == list(NODES)
    logs = report["access_logs"]
    assert logs["engine"] == "duckdb" and logs["files"] == 2
    assert logs["since"] == "2026-12-04T18:00:00.000000Z"
    work = {target["replica"]: target for target in logs["targets"]}
    assert work["10.0.1.10"]["work_s"] == pytest.approx(25.0)
    assert work["10.0.1.10"]["p95_s"] == pytest.approx(0.25, rel=0.013)


def test_a_replica_with_twice_the_requests_is_uneven(tmp_path, capsys) -> None:
    write(tmp_path, rotation(400, replicas=("10.0.1.10", "10.0.1.10", "10.0.2.10", "10.0.1.11")))
    code, out, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW)
    assert code == ExitCode.UNEVEN
    assert "Uneven: 3 replicas got 200, 100 and 100 of 400 answers" in out


def test_5xx_per_replica_and_requests_that_reached_no_target(tmp_path, capsys) -> None:
    requests = rotation(300)
    later = START + timedelta(minutes=1)
    requests += [("10.0.1.5", Request(later, target="10.0.1.11:80", elb_status="502", target_status="-"))] * 3
    requests += [("10.0.1.5", Request(later, target="10.0.2.10:80", elb_status="500", target_status="500"))] * 2
    requests += [("10.0.2.6", Request(later, target="-", elb_status="503", work_s=-1))] * 4
    requests += [("10.0.2.6", Request(later, target="-", elb_status="301", work_s=-1))] * 5
    write(tmp_path, requests)
    code, out, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    report = json.loads(out)
    assert report["errors"] == {"HTTP 500": 2, "HTTP 502": 3, "HTTP 503, no target": 4}
    assert report["requests"] == 314 and report["answers"] == 300
    assert report["access_logs"]["no_target"] == {"503": 4, "not 5xx": 5}
    work = {target["replica"]: target for target in report["access_logs"]["targets"]}
    assert (work["10.0.1.11"]["elb_5xx"], work["10.0.1.11"]["target_5xx"]) == (3, 0)
    assert (work["10.0.2.10"]["elb_5xx"], work["10.0.2.10"]["target_5xx"]) == (2, 2)
    assert code == ExitCode.UNEVEN  # 9 errors of 314 is above the default 1 %


def test_hostile_lines_and_files_each_get_a_named_count(tmp_path, capsys) -> None:
    good = rotation(300)
    appended = line(good[0][1]) + ' "new-field" "another one" 42'
    quoted = line(Request(START, target="10.0.1.10:80", user_agent='Mozilla/5.0 (X11) "quoted" \\ agent'))
    hostile: dict[str, list[str | bytes]] = {
        NODES[0]: [appended, quoted, line(good[1][1])[:90], b"http \xff\xfe not utf-8 " + line(good[2][1]).encode()],
        NODES[1]: ['http 2026-12-04T18:00:00.000000Z app/x/y 1.2.3.4:5 10.0.1.10:80 "unterminated'],
    }
    write(tmp_path, good, hostile)
    folder = tmp_path / key(START, "10.0.3.7").rsplit("/", 1)[0]
    (folder / Path(key(START, "10.0.3.7", "empty0")).name).write_bytes(b"")
    (folder / Path(key(START, "10.0.3.8", "plain0")).name).write_text("not gzip at all\n")
    whole = gzip.compress(("\n".join(line(request) for _, request in good) + "\n").encode())
    (folder / Path(key(START, "10.0.3.9", "trunc0")).name).write_bytes(whole[: len(whole) // 2])
    (folder / Path(key(START, "10.0.4.1", "badgz0")).name).write_bytes(b"\x1f\x8b\x08" + b"\x00" * 40)
    code, out, err = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    report = json.loads(out)
    assert report["replicas"] == {"10.0.1.10": 102, "10.0.1.11": 100, "10.0.2.10": 100}, err
    skipped = report["access_logs"]["skipped"]
    assert skipped["empty file"] == 1
    assert skipped["not a gzip file"] == 1
    assert skipped["truncated gzip file"] == 1
    assert skipped["corrupt gzip file"] == 1
    assert skipped["not UTF-8"] == 1
    assert skipped["too few fields"] == 1  # the line cut short
    assert skipped["quotes out of place"] == 1  # field 6 opens a quote: the ALB quotes no field there
    assert len(skipped) == 7, list(skipped.items())[4:]
    assert code == ExitCode.EVEN
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("spoil", "kind"),
    [
        (lambda whole: whole[: len(whole) // 2], "truncated gzip file"),
        (lambda whole: whole[:-4], "truncated gzip file"),  # the trailer's length cut
        (lambda whole: b"\x1f\x8b\x08" + b"\x00" * 40, "corrupt gzip file"),
    ],
)
def test_a_connection_whose_every_file_is_unreadable_counts_them_and_the_others_are_read(
    tmp_path, capsys, monkeypatch, spoil, kind
) -> None:
    # A gzip error fails the strict read and the tolerant one alike. With two processors each file is a
    # connection's share of its own: the bad one's share then has no file left to read (its tolerant read
    # never made the rejects tables; emptying them was an internal error, exit 2).
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    good = rotation(300, nodes=NODES[:1])
    write(tmp_path, good)
    whole = gzip.compress(("\n".join(line(request) for _, request in good) + "\n").encode())
    write_log(tmp_path, NODES[1], START, []).write_bytes(spoil(whole))
    code, out, err = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    assert code == ExitCode.EVEN, err
    report = json.loads(out)
    assert report["access_logs"]["skipped"] == {kind: 1}
    assert report["requests"] == 300 and report["access_logs"]["files"] == 1


def test_lines_outside_the_window_are_counted_apart(tmp_path, capsys) -> None:
    write(tmp_path, rotation(300) + rotation(30, start=START - timedelta(minutes=1)))
    code, out, _ = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--json")
    assert json.loads(out)["access_logs"]["outside_window"] == 30
    assert json.loads(out)["answers"] == 300
    assert code == ExitCode.EVEN


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--since", "yesterday"], "--since 'yesterday': use an ISO 8601 time"),
        (["--since", "2026-12-04T19:00:00Z", "--until", "2026-12-04T18:00:00Z"], "must be before --until"),
        (["--since", "40d"], "longer than 31 days"),
        (["--since", "99999999999d"], "before 2016-08-11"),
        (["--until", "2999-01-01T00:00:00"], "more than a day in the future"),
    ],
)
def test_a_bad_window_is_one_line_and_exit_2(tmp_path, capsys, argv, says) -> None:
    code, out, err = run(capsys, "--access-logs", str(tmp_path), *argv)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert says in err and err.count("\n") == 1 and out == ""


def test_no_logs_in_the_window_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "--access-logs", str(tmp_path / "nowhere"), *WINDOW)
    assert code == ExitCode.COULD_NOT_MEASURE and "no such file or folder" in err
    write(tmp_path, rotation(10, start=START - timedelta(hours=3)))
    code, _, err = run(capsys, "--access-logs", str(tmp_path), *WINDOW)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "no request in the access logs reached a replica" in err and err.count("\n") == 1


def test_more_distinct_targets_than_replica_ids_stops_with_one_line(tmp_path, capsys) -> None:
    many = [f"10.9.{i // 250}.{i % 250}" for i in range(1001)]
    write(tmp_path, rotation(1001, replicas=many, nodes=(NODES[0],)))
    code, _, err = run(capsys, "--access-logs", str(tmp_path), *WINDOW)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "more than 1000 distinct targets" in err


def test_one_ip_on_several_ports_is_told_apart_by_port(tmp_path) -> None:
    at = [START + timedelta(seconds=i) for i in range(10)]
    write(tmp_path, [(NODES[0], Request(moment, target=f"10.0.1.10:{80 + i % 2}")) for i, moment in enumerate(at)])
    tally = read_local_logs([str(tmp_path)], Window(START, START + timedelta(hours=1)))
    assert tally.counts == {"10.0.1.10:80": 5, "10.0.1.10:81": 5}


def test_the_sql_is_one_text_for_both_engines_over_each_ones_source() -> None:
    window = Window(START, START + timedelta(hours=1))
    athena = athena_source("alb_logs", "access_logs", window)
    duckdb = duckdb_source(tolerant=False)
    assert counts_sql(duckdb, window).replace(duckdb, "") == counts_sql(athena, window).replace(athena, "")
    assert order_sql(duckdb, window, 10).replace(duckdb, "") == order_sql(athena, window, 10).replace(athena, "")


@given(st.lists(st.floats(0, 1000), min_size=1, max_size=300))
def test_the_p95_from_the_work_histogram_is_within_half_a_bucket_of_the_exact_one(works) -> None:
    buckets: dict[int, int] = {}
    for work in works:
        bucket = round(math.log(1 + 1000 * work) * WORK_BUCKETS_PER_E)
        buckets[bucket] = buckets.get(bucket, 0) + 1
    exact = sorted(works)[math.ceil(0.95 * len(works)) - 1]
    # Half a bucket either way: a factor of e ** (1 / 80) on 1 + milliseconds, 1.26 % of it.
    assert abs(p95_of(buckets) - exact) <= (1 / 1000 + exact) * 0.0126


def test_the_default_window_is_the_last_hour() -> None:
    now = datetime(2026, 12, 4, 19, 30, tzinfo=UTC)
    assert parse_window(None, None, now) == Window(now - timedelta(hours=1), now)
    assert parse_window("90m", "2026-12-04T19:00:00", now) == Window(
        now - timedelta(minutes=90), datetime(2026, 12, 4, 19, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    "appended",
    ["", ' "x y" 7', ' "a b c"' * 40, ' "never closed', ' \\"odd'],
    ids=["none", "two", "forty-quoted", "open-quote", "backslashes"],
)
def test_what_aws_appends_after_field_22_is_not_read(tmp_path, appended) -> None:
    write_log(tmp_path, NODES[0], period_end(START), [line(request) + appended for _, request in rotation(30)])
    tally = read_local_logs([str(tmp_path)], Window(START, START + timedelta(hours=1)))
    assert tally.answers == 30, tally.access_logs.skipped


def test_the_log_benchmark_runs_small_and_both_readings_agree() -> None:
    done = subprocess.run(
        [sys.executable, "bench/logs.py", "--lines", "4000", "--files", "2"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reader: 4,000 lines in" in done.stdout and " plain: 4,000 lines in" in done.stdout
    assert "ratio: verify's reader reads" in done.stdout and "load average before:" in done.stdout


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["http://127.0.0.1:9/", "--since", "1h"], "--since applies to --access-logs read here and --access-logs"),
        (["--engine", "athena"], "--engine applies to --access-logs read here and --access-logs --engine athena, not"),
        (["http://127.0.0.1:9/", "--access-logs", "logs"], "a URL applies to a live run (a URL, or the stack's), not"),
    ],
)
def test_log_flags_without_logs_and_a_url_with_them_are_one_line(capsys, argv, says) -> None:
    code, _, err = run(capsys, *argv)
    assert code == ExitCode.COULD_NOT_MEASURE and says in err and err.count("\n") == 1


def test_a_read_past_its_deadline_is_one_line(tmp_path) -> None:
    from bench.logs import generate

    generate(tmp_path, 300_000, 2)
    with pytest.raises(CouldNotMeasure, match=r"reading the access logs took longer than 0.05 s"):
        read_local_logs([str(tmp_path)], Window(START, START + timedelta(hours=1)), deadline_s=0.05)


def test_more_bytes_than_a_local_run_reads_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("verify.sources.logs.reader.MAX_BYTES", 100)
    write(tmp_path, rotation(30))
    code, _, err = run(capsys, "--access-logs", str(tmp_path), *WINDOW)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "bytes of log files in the window, more than 100 (" in err and "or use --engine athena" in err


def test_the_html_report_of_access_logs_says_what_they_held(tmp_path, capsys) -> None:
    write(tmp_path / "logs", rotation(300))
    page = tmp_path / "report.html"
    code, _, err = run(capsys, "--access-logs", str(tmp_path / "logs"), *WINDOW, "--report", str(page))
    assert code == ExitCode.EVEN, err
    assert "300 requests in the access logs from 2026-12-04T18:00:00.000000Z" in page.read_text()


def test_phases_go_without_access_logs(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "--access-logs", str(tmp_path), *WINDOW, "--phases", str(tmp_path / "p"))
    assert code == ExitCode.COULD_NOT_MEASURE and "--phases applies to a live run (a URL, or the stack's), not" in err


def test_ipv6_targets_logged_in_brackets_count_as_their_replicas_and_zones(tmp_path, capsys) -> None:
    """The ALB writes an IPv6 target as [2600:1f18::5]:8080 (IPv6-only replicas): counted by address, zoned
    by the replicas' IPv6 /64s."""
    replicas = ("[2600:1f18:4c2:a610::5]", "[2600:1f18:4c2:a611::6]", "[2600:1f18:4c2:a610::7]")
    write(tmp_path, rotation(600, replicas=replicas))
    code, out, err = run(
        capsys, "--access-logs", str(tmp_path), *WINDOW, "--expect-replicas", "3",
        "--subnet", "2600:1f18:4c2:a610::/64=zone-a", "--subnet", "2600:1f18:4c2:a611::/64=zone-b",
    )  # fmt: skip
    assert code == ExitCode.EVEN, out + err
    assert "Even: 3 replicas got 200, 200 and 200 of 600 answers" in out
    assert "2600:1f18:4c2:a610::5  zone-a      200" in out and "[" not in out.split("verdict")[0].split("replica")[1]
