"""The last minutes of a day: a log file is filed under the day its end time falls on and may arrive up to
FILE_SLACK late, so the lines of 23:57 can be in a file under the next day. S3's listing and Athena's `day` bounds
reach the day of `until` + FILE_SLACK (botocore's Stubber; no network)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import boto3
from botocore.stub import Stubber
from test_verify_athena import body

from bench.alb_logs import Request, key, line
from verify.sources.logs.athena import S3Location, read_s3_logs
from verify.sources.logs.query import FILE_SLACK, Window, athena_source

REGION = "alb/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
MIDNIGHT = datetime(2026, 12, 5, tzinfo=UTC)
# 23:50 to 23:59 of December 4th: the window a run ending at 23:59 asks for.
WINDOW = Window(MIDNIGHT - timedelta(minutes=10), MIDNIGHT - timedelta(minutes=1))


def log_file(first: datetime, seconds: int, target: str) -> bytes:
    """One node's lines of `seconds` requests from `first`, a second apart, gzip'd."""
    lines = (line(Request(first + timedelta(seconds=i), target=target)) + "\n" for i in range(seconds))
    return gzip.compress("".join(lines).encode())


def test_the_file_that_holds_23_57_is_under_the_next_day_and_is_read():
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    # The 5 minutes ending 23:55, under December 4th; the 5 minutes ending at midnight, which hold 23:57, under
    # December 5th (the key's day is the file's end time's: bench.alb_logs.key, as the ALB names them).
    early_end, late_end = MIDNIGHT - timedelta(minutes=5), MIDNIGHT
    early, late = key(early_end, "10.0.1.5"), key(late_end, "10.0.1.5")
    assert "/2026/12/04/" in early and "/2026/12/05/" in late
    early_data = log_file(early_end - timedelta(minutes=5), 300, "10.0.1.10:80")
    late_data = log_file(late_end - timedelta(minutes=5), 300, "10.0.1.11:80")
    with Stubber(s3) as stubber:
        for day, found, data in (("2026/12/04/", early, early_data), ("2026/12/05/", late, late_data)):
            contents = [{"Key": f"alb/{found}", "Size": len(data)}]
            stubber.add_response(
                "list_objects_v2",
                {"Contents": contents, "IsTruncated": False},
                {"Bucket": "logs", "Prefix": REGION + day, "MaxKeys": 1000},
            )
        for found, data in ((early, early_data), (late, late_data)):
            stubber.add_response("get_object", {"Body": body(data)}, {"Bucket": "logs", "Key": f"alb/{found}"})
        tally = read_s3_logs(S3Location.parse(f"s3://logs/{REGION}"), WINDOW, client=lambda service, region: s3)
        stubber.assert_no_pending_responses()
    # 23:50:00 to 23:54:59 from the first file, 23:55:00 to 23:58:59 from the second (the window ends at 23:59).
    assert tally.counts == {"10.0.1.10": 300, "10.0.1.11": 240}


def test_athena_reads_the_next_day_s_partition_too():
    sql = athena_source("alb_logs", "access_logs", WINDOW)
    assert "WHERE day BETWEEN '2026/12/04' AND '2026/12/05'" in sql


def test_a_window_far_from_midnight_reads_its_own_day_only():
    noon = Window(MIDNIGHT - timedelta(hours=13), MIDNIGHT - timedelta(hours=12))
    assert noon.days() == ("2026/12/04", "2026/12/04")
    # The bound is the slack itself: a window ending FILE_SLACK before midnight, to the second, stays on its day.
    assert Window(noon.since, MIDNIGHT - FILE_SLACK - timedelta(seconds=1)).days()[1] == "2026/12/04"
    assert Window(noon.since, MIDNIGHT - FILE_SLACK).days()[1] == "2026/12/05"
