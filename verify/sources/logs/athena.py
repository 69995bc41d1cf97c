"""Access logs where they lie: Athena over the stack's Glue table, or S3 objects fetched for DuckDB.

Both through boto3, every wait bounded: Athena's query is started, polled until its deadline (then
stopped), and its result paged; an S3 prefix is listed up to MAX_LISTED keys and at most
`access_logs.MAX_S3_OBJECTS` objects and `MAX_S3_BYTES` bytes are fetched into a temporary folder,
which is gone when the run ends. Athena runs the same SQL as DuckDB (`access_log_query`); it bills
the data it scans, which the report gives with its cost at the list price.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from verify.core.errors import CouldNotMeasure
from verify.core.scratch import owned_folder
from verify.core.tally import Tally
from verify.sources.logs.query import (
    ANY_BALANCER,
    ATHENA,
    FILE_SLACK,
    PLACE_COUNTED,
    BalancerChoice,
    Window,
    athena_source,
    counts_sql,
    end_time_of,
    order_sql,
)
from verify.sources.logs.reader import (
    ORDER_MAX,
    QUERY_DEADLINE_S,
    OrderRow,
    read_local_logs,
    tally_from_rows,
)

# Athena's list price in us-east-1: $5 per TB scanned, at least 10 MB per query (Athena pricing page).
ATHENA_USD_PER_TB = 5.0
ATHENA_MIN_BYTES = 10 * 1000**2
AWS_TIMEOUT_S = 30
POLL_FIRST_S = 0.5
POLL_MAX_S = 5.0
MAX_RESULT_ROWS = 250_000  # rows of an answer: the order query's up to ORDER_MAX, the counts far fewer
# What one run fetches from S3 for DuckDB; beyond, --engine athena reads it where it lies.
MAX_LISTED = 200_000
MAX_S3_OBJECTS = 5_000
MAX_S3_BYTES = 5 * 1024**3
_CHUNK = 1024**2

# The folder of one account's logs in one region, below which the ALB writes yyyy/mm/dd/.
_REGION_FOLDER = re.compile(r"(^|/)AWSLogs/[0-9]{12}/elasticloadbalancing/[a-z0-9-]+/$")

_GLUE_NAME = re.compile(r"[A-Za-z0-9_]{1,255}")

ClientFactory = Callable[[str, str | None], Any]  # (service, region) -> a boto3 client


def boto3_client(service: str, region: str | None) -> Any:
    """A boto3 client with bounded waits; a CouldNotMeasure when boto3 is not installed."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise CouldNotMeasure("reading access logs in AWS needs boto3: pip install -r requirements.txt") from None
    config = Config(connect_timeout=AWS_TIMEOUT_S, read_timeout=AWS_TIMEOUT_S, retries={"max_attempts": 3})
    return boto3.client(service, region_name=region, config=config)


def _aws_error(what: str, error: Exception) -> CouldNotMeasure:
    """botocore's many errors (no credentials, access denied, throttling, network) as one line."""
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return CouldNotMeasure(f"{what}: {detail}")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    def prefixes_for(self, window: Window) -> list[str]:
        """The prefixes to list: the day folders of the window's files (Window.file_dates: up to the day of
        `until` + FILE_SLACK) when the prefix ends at a region's folder (as the stack's `access_logs_location`
        does), so a bucket of months lists only the days asked for."""
        if not _REGION_FOLDER.search(self.prefix):
            return [self.prefix]
        day, last = window.file_dates()
        days = []
        while day <= last:
            days.append(f"{self.prefix}{day:%Y/%m/%d}/")
            day += timedelta(days=1)
        return days

    @classmethod
    def parse(cls, text: str) -> S3Location:
        parts = urlsplit(text)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise CouldNotMeasure(f"{text!r} is not an S3 location: use s3://BUCKET/PREFIX")
        return cls(parts.netloc, parts.path.lstrip("/"))


def read_s3_logs(
    location: S3Location,
    window: Window,
    *,
    region: str | None = None,
    client: ClientFactory | None = None,
    user_agent: str | None = None,
    choice: BalancerChoice = ANY_BALANCER,
) -> Tally:
    """The log objects under the prefix whose name's end time can hold the window, fetched and read by DuckDB
    (those of the balancer `choice` names, as local files are)."""
    s3 = (client if client is not None else boto3_client)("s3", region)
    wanted: list[tuple[str, int]] = []
    listed = 0
    try:
        pages = (
            page
            for prefix in location.prefixes_for(window)
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=location.bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}
            )
        )
        for page in pages:
            for item in page.get("Contents", ()):
                listed += 1
                if listed > MAX_LISTED:
                    raise CouldNotMeasure(
                        f"more than {MAX_LISTED:,} objects under s3://{location.bucket}/{location.prefix}: give the"
                        " day's prefix (.../AWSLogs/ACCOUNT/elasticloadbalancing/REGION/yyyy/mm/dd/), or use"
                        " --engine athena"
                    )
                end = end_time_of(item["Key"])
                if end is not None and window.since <= end <= window.until + FILE_SLACK:
                    wanted.append((item["Key"], int(item.get("Size", 0))))
    except CouldNotMeasure:
        raise
    except Exception as error:  # botocore's errors have no common base worth naming here
        raise _aws_error(f"could not list s3://{location.bucket}/{location.prefix}", error) from None
    total = sum(size for _, size in wanted)
    if len(wanted) > MAX_S3_OBJECTS or total > MAX_S3_BYTES:
        raise CouldNotMeasure(
            f"{len(wanted):,} log objects ({total / 1024**2:,.0f} MiB) in the window, more than {MAX_S3_OBJECTS:,}"
            f" objects or {MAX_S3_BYTES / 1024**3:.0f} GiB to fetch: narrow --since/--until, or use --engine athena"
        )
    with owned_folder("verify-s3-logs-") as folder:  # up to MAX_S3_BYTES: a killed run's is removed by the next
        for number, (key, size) in enumerate(wanted):
            # Named by number under the key's own name: a key cannot climb out of the folder.
            path = Path(folder) / f"{number:06d}" / key.rsplit("/", 1)[-1]
            path.parent.mkdir()
            try:
                body = s3.get_object(Bucket=location.bucket, Key=key)["Body"]
                with path.open("wb") as out:
                    while chunk := body.read(min(_CHUNK, size + 1 - out.tell())):  # never past its listed size
                        out.write(chunk)
            except Exception as error:
                raise _aws_error(f"could not fetch s3://{location.bucket}/{key}", error) from None
        source = f"s3://{location.bucket}/{location.prefix} ({len(wanted)} objects fetched)"
        return read_local_logs([folder], window, user_agent=user_agent, source=source, choice=choice)


@dataclass(frozen=True)
class AthenaTable:
    """Where Athena reads the logs: the stack's Glue database and table, in its workgroup."""

    database: str
    table: str
    workgroup: str
    region: str | None = None

    def __post_init__(self) -> None:
        # They go into the SQL text (quoted): only the names Glue makes, nothing that could end the quotes.
        for what, name in (("database", self.database), ("table", self.table)):
            if not _GLUE_NAME.fullmatch(name):
                raise CouldNotMeasure(f"Athena {what} {name!r}: use letters, digits and underscores")


def read_athena_logs(
    table: AthenaTable,
    window: Window,
    *,
    client: ClientFactory | None = None,
    deadline_s: float = QUERY_DEADLINE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Tally:
    """The tally of the window's requests, counted by Athena where the logs lie."""
    started = time.monotonic()
    athena = (client if client is not None else boto3_client)("athena", table.region)
    source = athena_source(table.database, table.table, window)
    rows, scanned = _run(athena, table, counts_sql(source, window), started + deadline_s, sleep)
    counts = [_counts_row(row) for row in rows]
    answered = sum(row[5] for row in counts if not row[9] and row[2] == PLACE_COUNTED and row[1] != "-")
    order = None
    if answered <= ORDER_MAX:
        order_rows, order_scanned = _run(
            athena, table, order_sql(source, window, ORDER_MAX), started + deadline_s, sleep
        )
        scanned += order_scanned
        order = [OrderRow(*row) for row in order_rows]
    since, until = window.bounds()
    reading = dict(
        source=f"Athena {table.database}.{table.table} (workgroup {table.workgroup})",
        engine=ATHENA, since=since, until=until, files=0, bytes_read=scanned,
    )  # fmt: skip
    return tally_from_rows(
        counts, order, reading, {}, order_max=ORDER_MAX, elapsed_s=time.monotonic() - started,
        cost_usd=athena_cost_usd(scanned, queries=1 if order is None else 2),
    )  # fmt: skip


def athena_cost_usd(scanned_bytes: int, queries: int = 1) -> float:
    """Athena's bill for the bytes scanned at the list price, each query at least ATHENA_MIN_BYTES."""
    billed = max(scanned_bytes, ATHENA_MIN_BYTES * queries)
    return billed / 1000**4 * ATHENA_USD_PER_TB


def _counts_row(row: Sequence[str | None]) -> tuple:
    """counts_sql's row from Athena's text: the numbers as numbers (no line is handed back whole here)."""
    node, target, place, elb_status, target_status, requests, dispatched, work_s, work_bucket, per_target = row[:10]
    return (
        node or "", target or None, place, elb_status or None, target_status or None, int(requests or 0),
        int(dispatched or 0), float(work_s or 0), None if work_bucket in (None, "") else int(work_bucket),
        int(per_target or 0), None, None, None,
    )  # fmt: skip


def _run(athena: Any, table: AthenaTable, sql: str, deadline: float, sleep: Callable[[float], None]) -> tuple:
    """Rows (as text, header left out) and bytes scanned of one query; stopped at the deadline."""
    try:
        execution = athena.start_query_execution(
            QueryString=sql, WorkGroup=table.workgroup, QueryExecutionContext={"Database": table.database}
        )["QueryExecutionId"]
        pause = POLL_FIRST_S
        while True:
            status = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
            state = status["Status"]["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                reason = status["Status"].get("StateChangeReason", state.lower())
                raise CouldNotMeasure(f"Athena query {execution} {state.lower()}: {reason}")
            if time.monotonic() + pause > deadline:
                athena.stop_query_execution(QueryExecutionId=execution)
                raise CouldNotMeasure(
                    f"Athena query {execution} still running at the deadline: stopped; narrow --since/--until"
                )
            sleep(pause)
            pause = min(pause * 2, POLL_MAX_S)
        scanned = int(status.get("Statistics", {}).get("DataScannedInBytes", 0))
        rows: list[list[str | None]] = []
        pages = athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=execution, PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            for row in page["ResultSet"]["Rows"]:
                rows.append([cell.get("VarCharValue") for cell in row["Data"]])
            if len(rows) > MAX_RESULT_ROWS + 1:
                raise CouldNotMeasure(f"Athena's answer has more than {MAX_RESULT_ROWS:,} rows: narrow --since/--until")
    except CouldNotMeasure:
        raise
    except Exception as error:
        raise _aws_error(f"Athena in workgroup {table.workgroup}", error) from None
    return rows[1:], scanned  # the first row is the header
