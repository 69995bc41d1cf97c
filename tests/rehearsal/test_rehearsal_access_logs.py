"""The rehearsal's access logs filed as S3 files them, and held against verify's live tally (no processes)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.alb_logs import Request, line
from rehearsal.access_logs import disagreements, file_logs
from verify.core.tally import Tally
from verify.sources.logs.query import end_time_of, node_of

START = datetime(2026, 12, 4, 18, 3, tzinfo=UTC)


def test_each_node_gets_one_gzip_file_per_five_minutes_named_in_the_s3_layout(tmp_path: Path) -> None:
    raw = tmp_path / "zone-a.access.log"
    moments = [START, START + timedelta(minutes=1), START + timedelta(minutes=3), START + timedelta(minutes=9)]
    raw.write_text("".join(line(Request(moment)) + "\n" for moment in moments) + "garbage without a time\n")

    files = file_logs([("127.0.1.1", raw)], tmp_path / "logs")

    assert [end_time_of(file.name) for file in files] == [
        datetime(2026, 12, 4, 18, 5, tzinfo=UTC),
        datetime(2026, 12, 4, 18, 10, tzinfo=UTC),
        datetime(2026, 12, 4, 18, 15, tzinfo=UTC),
    ]
    assert {node_of(file.name) for file in files} == {"127.0.1.1"}
    assert [len(gzip.decompress(file.read_bytes()).splitlines()) for file in files] == [2, 1, 2]  # garbage kept


def test_disagreements_name_each_replica_whose_counts_differ() -> None:
    live = Tally("u", (), (), requests=200, counts={"a": 100, "b": 100})
    logged = Tally("u", (), (), requests=199, counts={"a": 100, "b": 99})

    assert disagreements(live, live) == []
    assert disagreements(live, logged) == [
        "b: 100 answers live, 99 in the access logs",
        "200 requests sent live, 199 in the access logs",
    ]


def test_the_logs_run_of_verify_leaves_the_live_runs_html_report_alone() -> None:
    from rehearsal.cli import without_report

    assert without_report(["--report", "/r.html", "--json", "--report=/s.html", "--strict"]) == ["--json", "--strict"]
