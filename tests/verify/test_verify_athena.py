"""verify --access-logs in AWS: Athena and S3 through boto3, with botocore's Stubber (no network)."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from bench.alb_logs import Request, key, line
from verify import cli
from verify.cli import ExitCode, main
from verify.core.errors import CouldNotMeasure
from verify.sources.logs.athena import (
    ATHENA_MIN_BYTES,
    AthenaTable,
    S3Location,
    athena_cost_usd,
    read_athena_logs,
    read_s3_logs,
)
from verify.sources.logs.query import COUNTS_COLUMNS, Window
from verify.sources.stack import StackOutputs, parse_outputs

START = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))
TABLE = AthenaTable("alb_logs", "access_logs", "verify", "us-east-1")
PATH = "s3://logs/AWSLogs/1/elasticloadbalancing/us-east-1/2026/12/04/" + key(START, "10.0.1.5").rsplit("/", 1)[1]


def client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def results(*rows: list[str | None]) -> dict:
    return {
        "ResultSet": {"Rows": [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in rows]}
    }


COUNTS_HEADER = list(COUNTS_COLUMNS)


def stub_query(
    stubber: Stubber, execution: str, rows: list[list[str | None]], scanned: int, states=("SUCCEEDED",)
) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": execution},
        {"QueryString": ANY, "WorkGroup": "verify", "QueryExecutionContext": {"Database": "alb_logs"}},
    )
    for state in states:
        stubber.add_response(
            "get_query_execution",
            {"QueryExecution": {"Status": {"State": state}, "Statistics": {"DataScannedInBytes": scanned}}},
            {"QueryExecutionId": execution},
        )
    stubber.add_response("get_query_results", results(*rows), {"QueryExecutionId": execution, "MaxResults": 1000})


def test_athena_counts_page_into_the_same_tally_with_bytes_scanned_and_cost() -> None:
    athena = client("athena")
    counts = [
        ["10.0.1.5", "10.0.1.10:80", "counted", "200", "200", "100", "100", "2.5", None, "0", None, None, None],
        ["10.0.2.6", "10.0.2.10:80", "counted", "200", "200", "98", "98", "1.96", None, "0", None, None, None],
        ["10.0.2.6", "10.0.2.10:80", "counted", "200", "500", "1", "1", "0.04", None, "0", None, None, None],
        ["10.0.2.6", "10.0.2.10:80", "counted", "502", "-", "1", "0", "0", None, "0", None, None, None],
        [None, "10.0.1.10:80", "counted", "200", "200", "100", "100", "2.5", "149", "1", None, None, None],  # 40 ms
        [None, "10.0.2.10:80", "counted", "200", "200", "99", "99", "2.0", "137", "1", None, None, None],  # 30 ms
        ["10.0.1.5", None, "truncated or malformed line", None, None, "2", "0", "0", None, "0", None, None, None],
    ]
    order = [[PATH, "203.0.113.7:40000", f"2026-12-04T18:00:0{i}.000000Z", "10.0.1.10:80"] for i in range(5)]
    with Stubber(athena) as stubber:
        stub_query(stubber, "q1", [COUNTS_HEADER, *counts], 20 * 1000**3, states=("RUNNING", "SUCCEEDED"))
        stub_query(stubber, "q2", [["path", "client", "request_creation_time", "target"], *order], 20 * 1000**3)
        tally = read_athena_logs(TABLE, WINDOW, client=lambda service, region: athena, sleep=lambda s: None)
        stubber.assert_no_pending_responses()
    assert tally.counts == {"10.0.1.10": 100, "10.0.2.10": 99}
    assert tally.errors == {"HTTP 502": 1}
    reading = tally.access_logs
    assert reading.engine == "athena" and reading.bytes_read == 40 * 1000**3
    assert reading.cost_usd == pytest.approx(0.2)  # 40 GB at $5 per TB
    assert reading.skipped == {"truncated or malformed line": 2}
    p95 = {work.replica: work.p95_s for work in reading.targets}
    assert p95 == {"10.0.1.10": pytest.approx(0.04, rel=0.013), "10.0.2.10": pytest.approx(0.03, rel=0.013)}
    assert [log.replicas for log in tally.connections] == [["10.0.1.10"] * 5]


def test_a_failed_athena_query_is_one_line() -> None:
    athena = client("athena")
    with Stubber(athena) as stubber:
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stubber.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "Status": {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: alb_logs.access_logs"}
                }
            },
        )
        with pytest.raises(CouldNotMeasure, match="Athena query q1 failed: TABLE_NOT_FOUND"):
            read_athena_logs(TABLE, WINDOW, client=lambda service, region: athena, sleep=lambda s: None)


def test_an_athena_query_past_its_deadline_is_stopped() -> None:
    athena = client("athena")
    with Stubber(athena) as stubber:
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stubber.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q1"})
        with pytest.raises(CouldNotMeasure, match="still running at the deadline: stopped"):
            read_athena_logs(TABLE, WINDOW, client=lambda s, r: athena, deadline_s=0.1, sleep=lambda s: None)
        stubber.assert_no_pending_responses()


def test_an_aws_error_is_one_line() -> None:
    athena = client("athena")
    with Stubber(athena) as stubber:
        stubber.add_client_error("start_query_execution", "AccessDeniedException", "not authorized to athena:Start")
        with pytest.raises(CouldNotMeasure, match=r"^Athena in workgroup verify: .*not authorized"):
            read_athena_logs(TABLE, WINDOW, client=lambda service, region: athena)


def test_the_cost_is_the_list_price_with_athenas_minimum_per_query() -> None:
    assert athena_cost_usd(0) == pytest.approx(ATHENA_MIN_BYTES / 1e12 * 5)
    assert athena_cost_usd(10**12) == pytest.approx(5.0)


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_s3_objects_in_the_window_are_fetched_and_read_by_duckdb() -> None:
    s3 = client("s3")
    inside = key(START + timedelta(minutes=5), "10.0.1.5")
    before = key(START - timedelta(hours=2), "10.0.1.5")
    data = gzip.compress(
        "".join(
            line(Request(START + timedelta(seconds=i), target=f"10.0.1.{10 + i % 2}:80")) + "\n" for i in range(40)
        ).encode()
    )
    with Stubber(s3) as stubber:
        stubber.add_response(
            "list_objects_v2",
            {
                "Contents": [
                    {"Key": f"p/{before}", "Size": 10},
                    {"Key": f"p/{inside}", "Size": len(data)},
                    {"Key": "p/README", "Size": 3},
                ],
                "IsTruncated": False,
            },
            {"Bucket": "logs", "Prefix": "p/", "MaxKeys": 1000},
        )
        stubber.add_response("get_object", {"Body": body(data)}, {"Bucket": "logs", "Key": f"p/{inside}"})
        tally = read_s3_logs(S3Location.parse("s3://logs/p/"), WINDOW, client=lambda service, region: s3)
        stubber.assert_no_pending_responses()
    assert tally.counts == {"10.0.1.10": 20, "10.0.1.11": 20}
    assert tally.access_logs.source == "s3://logs/p/ (1 objects fetched)"


def test_too_many_s3_objects_in_the_window_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("verify.sources.logs.athena.MAX_S3_OBJECTS", 2)
    s3 = client("s3")
    keys = [{"Key": key(START + timedelta(minutes=5), f"10.0.1.{i}"), "Size": 100} for i in range(3)]
    with Stubber(s3) as stubber:
        stubber.add_response("list_objects_v2", {"Contents": keys, "IsTruncated": False})
        with pytest.raises(CouldNotMeasure, match=r"3 log objects .* more than 2 objects .* --engine athena"):
            read_s3_logs(S3Location.parse("s3://logs"), WINDOW, client=lambda service, region: s3)


@pytest.mark.parametrize("text", ["logs/p", "s3:///p", "s3://logs/p?x=1", "http://logs/p"])
def test_a_bad_s3_location_is_one_line(text: str) -> None:
    with pytest.raises(CouldNotMeasure, match="is not an S3 location: use s3://BUCKET/PREFIX"):
        S3Location.parse(text)


def test_the_stack_names_everything_athena_needs(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    outputs = parse_outputs(
        {
            "url": "http://x/",
            "access_logs_location": "s3://logs/",
            "access_logs_region": "us-east-1",
            "athena_database": "alb_logs",
            "athena_table": "access_logs",
            "athena_workgroup": "verify",
        }
    )
    seen: list[AthenaTable] = []

    def fake_athena(table: AthenaTable, window: Window) -> Any:
        seen.append(table)
        raise CouldNotMeasure("stop here")

    monkeypatch.setattr(cli, "read_stack_outputs", lambda stack: outputs)
    monkeypatch.setattr(cli, "read_athena_logs", fake_athena)
    code = main(["--access-logs", "--stack", "prod", "--engine", "athena", "--json"])
    assert code == ExitCode.COULD_NOT_MEASURE
    assert seen == [TABLE]
    assert json.loads(capsys.readouterr().out)["reason"] == "stop here"


def test_athena_without_a_table_says_what_it_needs(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(cli, "read_stack_outputs", lambda stack: StackOutputs("http://x/", None, None, None, ()))
    code = main(["--access-logs", "--engine", "athena"])
    assert code == ExitCode.COULD_NOT_MEASURE
    assert "--engine athena needs the stack's Athena table" in capsys.readouterr().err


def test_a_region_folder_is_listed_day_by_day_over_the_window_only() -> None:
    s3 = client("s3")
    region = "alb/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
    window = Window(datetime(2026, 12, 3, 23, tzinfo=UTC), datetime(2026, 12, 4, 1, tzinfo=UTC))
    with Stubber(s3) as stubber:
        for day in ("2026/12/03/", "2026/12/04/"):
            stubber.add_response(
                "list_objects_v2", {"IsTruncated": False}, {"Bucket": "logs", "Prefix": region + day, "MaxKeys": 1000}
            )
        tally = read_s3_logs(S3Location.parse(f"s3://logs/{region}"), window, client=lambda service, r: s3)
        stubber.assert_no_pending_responses()
    assert tally.requests == 0


def test_a_prefix_with_too_many_objects_stops_listing_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("verify.sources.logs.athena.MAX_LISTED", 2)
    s3 = client("s3")
    keys = [{"Key": f"other/{i}", "Size": 1} for i in range(3)]
    with Stubber(s3) as stubber:
        stubber.add_response("list_objects_v2", {"Contents": keys, "IsTruncated": False})
        with pytest.raises(CouldNotMeasure, match=r"more than 2 objects under s3://logs/: give the day's prefix"):
            read_s3_logs(S3Location.parse("s3://logs"), WINDOW, client=lambda service, region: s3)


@pytest.mark.parametrize("table", ['logs".x; DROP TABLE y --', "", "a-b"])
def test_a_table_name_that_could_end_its_quotes_in_the_sql_is_refused(table: str) -> None:
    with pytest.raises(CouldNotMeasure, match="use letters, digits and underscores"):
        AthenaTable("alb_logs", table, "verify")


def test_without_a_source_the_stacks_log_bucket_is_read_in_its_region(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = parse_outputs({
        "url": "http://x/", "access_logs_location": "s3://logs/alb/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
        "access_logs_region": "eu-west-1"})  # fmt: skip
    asked: list[tuple[S3Location, str | None]] = []

    def fake_s3(location: S3Location, window: Window, *, region: str | None = None, choice: Any = None) -> Any:
        asked.append((location, region))
        raise CouldNotMeasure("stop here")

    monkeypatch.setattr(cli, "read_stack_outputs", lambda stack: outputs)
    monkeypatch.setattr(cli, "read_s3_logs", fake_s3)
    assert main(["--access-logs", "--stack", "prod"]) == ExitCode.COULD_NOT_MEASURE
    assert asked == [(S3Location("logs", "alb/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/"), "eu-west-1")]
