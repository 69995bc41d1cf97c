"""The one SQL text that counts the ALB's access logs, for DuckDB here and Athena at scale. No I/O.

An access-log line is one request, fields separated by spaces, some in double quotes (ELB user guide,
"Access log entries for your Application Load Balancer"); `verify.sources.logs.line` defines how verify
reads one. AWS appends new fields at the end (2024: conn_trace_id; 2025: three transform fields), so
nothing here depends on how many fields a line has beyond the 22nd: DuckDB does not read past them,
and Athena's table ends its regex in the optional catch-all group AWS documents for that reason.

Both engines see the same relation, `logs`: the columns of `LOGS_COLUMNS`. Each engine builds it its
own way (`duckdb_source`, `athena_source`); `counts_sql` and `order_sql` are the same text on both.
The p95 of the work comes from a histogram both count alike (`WORK_BUCKETS_PER_E`), not from either
engine's own approximate percentile.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from verify.core.errors import CouldNotMeasure
from verify.core.text import shown_value
from verify.sources.logs.line import EXACT, duckdb_lines, parse_line

# AWS's regex for the Athena table (Athena user guide, "Create the table for ALB access logs"), as the
# SerDe reads it: `?( .*)?` at the end keeps lines with fields AWS adds later matching.
ATHENA_REGEX = (
    r"([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*)"
    r' (|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" "([^"]*)" ([A-Z0-9-_]+)'
    r' ([A-Za-z0-9.-]*) ([^ ]*) "([^"]*)" "([^"]*)" "([^"]*)" ([-.0-9]*) ([^ ]*) "([^"]*)" "([^"]*)"'
    r' "([^ ]*)" "([^\s]+?)" "([^\s]+)" "([^ ]*)" "([^ ]*)" ?([^ ]*)? ?( .*)?'
)
# The Athena table's columns, one per group of ATHENA_REGEX before the catch-all, with AWS's types.
ATHENA_COLUMNS = (
    ("type", "string"), ("time", "string"), ("elb", "string"), ("client_ip", "string"), ("client_port", "int"),
    ("target_ip", "string"), ("target_port", "int"), ("request_processing_time", "double"),
    ("target_processing_time", "double"), ("response_processing_time", "double"), ("elb_status_code", "int"),
    ("target_status_code", "string"), ("received_bytes", "bigint"), ("sent_bytes", "bigint"),
    ("request_verb", "string"), ("request_url", "string"), ("request_proto", "string"), ("user_agent", "string"),
    ("ssl_cipher", "string"), ("ssl_protocol", "string"), ("target_group_arn", "string"), ("trace_id", "string"),
    ("domain_name", "string"), ("chosen_cert_arn", "string"), ("matched_rule_priority", "string"),
    ("request_creation_time", "string"), ("actions_executed", "string"), ("redirect_url", "string"),
    ("lambda_error_reason", "string"), ("target_port_list", "string"), ("target_status_code_list", "string"),
    ("classification", "string"), ("classification_reason", "string"), ("conn_trace_id", "string"),
)  # fmt: skip
# The partition the table projects from the key's yyyy/mm/dd (partition projection: no crawler).
ATHENA_PARTITION = "day"
ATHENA_DAY_FORMAT = "%Y/%m/%d"

# What `logs` holds, whatever the engine: text, but target_processing_time (a number). `path` is the
# log file's (the node's address is in its name); `client` and `target` are "ip:port", `target` "-"
# for none; `kind` '' for a well-formed line, else what is wrong with it (line.EXACT: the line is in
# `raw`, to be read in Python, `more` true when it goes on past what is read).
LOGS_COLUMNS = (
    "path", "client", "target", "target_processing_time", "elb_status_code", "target_status_code",
    "user_agent", "time", "request_creation_time", "kind", "raw", "more",
)  # fmt: skip

# A log file's key: `..._app.<lb-name>.<lb-id>_<end-time>_<node-ip>_<random>.log.gz`.
LOG_FILE_NAME = re.compile(r"_(\d{8}T\d{4}Z)_([0-9A-Fa-f.:]+)_[A-Za-z0-9]+\.log(?:\.gz)?$")
# The same, as SQL's regexp_extract reads it from the file's path: group 1 is the node's address.
NODE_FROM_PATH = r"_[0-9]{8}T[0-9]{4}Z_([0-9A-Fa-f.:]+)_[A-Za-z0-9]+\.log(\.gz)?$"
# The ALB's `time` field: ISO 8601 in UTC with microseconds, so text order is time order.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

PLACE_COUNTED = "counted"  # complete, inside the window
PLACE_OUTSIDE = "outside"  # complete, outside the window
PLACE_INCOMPLETE = "truncated or malformed line"  # Athena: a line AWS's regex does not match

DUCKDB = "duckdb"
ATHENA = "athena"
# target_processing_time is counted in buckets of ln(1 + milliseconds) x this: each 2.5 % of 1 + ms wide,
# so a p95 read from them is within 1.26 % of 1 + ms of the exact one (a request of 1000 s: bucket 553).
WORK_BUCKETS_PER_E = 40


def work_of_bucket(bucket: int) -> float:
    """The middle of a work bucket, in seconds (the inverse of the bucket `counts_sql` puts a request in)."""
    return (math.exp(bucket / WORK_BUCKETS_PER_E) - 1) / 1000


# A log file holds the 5 minutes before the end time in its name, and is filed under the day of that end time;
# delivery can add a file for the same period later. Files ending up to this long after the window are read too
# (their lines are filtered), and so is the day folder they fall in.
FILE_SLACK = timedelta(minutes=15)


@dataclass(frozen=True)
class Window:
    """The requests counted: those whose `time` is at or after `since` and before `until` (UTC)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("a window's ends must be aware datetimes")
        if self.since >= self.until:
            raise ValueError("a window must end after it starts")

    def bounds(self) -> tuple[str, str]:
        """Both ends as the ALB writes `time`, so that text comparison in SQL is time comparison."""
        return tuple(moment.astimezone(UTC).strftime(TIME_FORMAT) for moment in (self.since, self.until))  # type: ignore[return-value]

    def file_dates(self) -> tuple[date, date]:
        """The first and last day a log file holding the window's lines is filed under: `since`'s, and that of
        `until` + FILE_SLACK (the lines of 23:57 are in a file ending after midnight, under the next day)."""
        return self.since.astimezone(UTC).date(), (self.until + FILE_SLACK).astimezone(UTC).date()

    def days(self) -> tuple[str, str]:
        """`file_dates` as the S3 key (and Athena's `day` partition) write them."""
        return tuple(day.strftime(ATHENA_DAY_FORMAT) for day in self.file_dates())  # type: ignore[return-value]


def _text(value: str) -> str:
    """A SQL string literal; quotes doubled (the values come from parsed dates and paths, never raw input)."""
    return "'" + value.replace("'", "''") + "'"


def duckdb_source(*, tolerant: bool, files_parameter: str = "$files") -> str:
    """`logs` over gzip'd log files, read by DuckDB line by line as `verify.sources.logs.line` defines a line:
    one row per line whatever its quotes (one bad line never takes its neighbours with it). A line the
    reader refuses (not UTF-8, too long) fails the query, or, when `tolerant`, goes to the rejects table
    (REJECTS), counted by kind."""
    return duckdb_lines(files_parameter, tolerant=tolerant, rejects=REJECTS)


# The rejects tables of a tolerant read: REJECTS + "_errors" and REJECTS + "_scans".
REJECTS = "verify_rejects"


def athena_source(database: str, table: str, window: Window) -> str:
    """`logs` over the stack's Glue table: only the days of the window are read (partition projection). A line
    AWS's regex does not match has every column NULL: kind PLACE_INCOMPLETE."""
    first, last = window.days()
    return f"""
    SELECT
        "$path" AS path,
        client_ip || ':' || CAST(client_port AS varchar) AS client,
        CASE WHEN target_ip = '' THEN '-' ELSE target_ip || ':' || CAST(target_port AS varchar) END AS target,
        target_processing_time, CAST(elb_status_code AS varchar) AS elb_status_code, target_status_code,
        user_agent, time, request_creation_time,
        CASE WHEN elb_status_code IS NULL OR time IS NULL OR request_creation_time IS NULL OR target_ip IS NULL
            THEN '{PLACE_INCOMPLETE}' ELSE '' END AS kind,
        CAST(NULL AS varchar) AS raw, CAST(NULL AS boolean) AS more
    FROM "{database}"."{table}"
    WHERE {ATHENA_PARTITION} BETWEEN {_text(first)} AND {_text(last)}"""


def _inside(window: Window, user_agent: str | None) -> str:
    """Whether a line's time is in the window (and of `user_agent`, when given): SQL over `logs`' columns."""
    since, until = window.bounds()
    agent = f" AND user_agent = {_text(user_agent)}" if user_agent is not None else ""
    return f"time >= {_text(since)} AND time < {_text(until)}{agent}"


def _place(kind: str, inside: str) -> str:
    """A line's place: its kind when it is malformed (or EXACT: to be read whole in Python), else counted or
    outside the window."""
    return f"CASE WHEN {kind} <> '' THEN {kind} WHEN {inside} THEN '{PLACE_COUNTED}' ELSE '{PLACE_OUTSIDE}' END"


def counts_sql(source: str, window: Window, user_agent: str | None = None) -> str:
    """One row per (node, target, place, ELB status, target status), and one per (target, place, the statuses,
    work bucket).

    Columns (COUNTS_COLUMNS): node, target ("ip:port" or "-"), place, elb_status_code,
    target_status_code, requests, dispatched, work_s, work_bucket, per_target (not 0 on the rows of the
    work histogram: a target's requests per bucket of target_processing_time, across nodes), and, for the
    lines to be read in Python (place line.EXACT), raw, more and their file's path, one row per distinct
    line of a file. Only the window's counted lines keep their target and statuses (a line outside the
    window or malformed is only counted). Each line is looked at once: its values as they are, grouped
    (one pass, few and cheap expressions per line); placing, the node's address (from the file's path) and
    the two kinds of rows are made of the groups, which are few. `user_agent` counts only requests of that
    client (the rehearsal tells verify's warm-up apart by it).
    """
    node = _text(NODE_FROM_PATH)
    exact_path = f"CASE WHEN place = '{EXACT}' THEN path END"
    kept = f"CASE WHEN place = '{PLACE_COUNTED}' THEN"
    line_keys = "path, kind, inside, target, elb_status_code, target_status_code, work_bucket, raw, more"
    return f"""
WITH logs AS ({source}
),
lines AS (
    SELECT path, kind, {_inside(window, user_agent)} AS inside, target, elb_status_code, target_status_code, raw,
        more, work, CASE WHEN work >= 0 THEN CAST(round(ln(1 + 1000 * work) * {WORK_BUCKETS_PER_E}) AS INTEGER) END
            AS work_bucket
    FROM (SELECT *, TRY_CAST(target_processing_time AS DOUBLE) AS work FROM logs)
),
line_groups AS (
    SELECT {line_keys}, count(*) AS requests, sum(work) AS work_s
    FROM lines
    GROUP BY {line_keys}
),
placed AS (
    SELECT path, {_place("kind", "inside")} AS place, target, elb_status_code, target_status_code, work_bucket,
        raw, more, requests, work_s
    FROM line_groups
),
counted AS (
    SELECT path, place, raw, more, requests, {kept} target END AS target,
        {kept} elb_status_code END AS elb_status_code, {kept} target_status_code END AS target_status_code,
        {kept} work_bucket END AS work_bucket,
        CASE WHEN place = '{PLACE_COUNTED}' AND work_bucket IS NOT NULL THEN requests ELSE 0 END AS dispatched,
        CASE WHEN place = '{PLACE_COUNTED}' AND work_bucket IS NOT NULL THEN work_s ELSE 0 END AS work_s
    FROM placed
),
grouped AS (
    SELECT path, target, place, elb_status_code, target_status_code, work_bucket, raw, more,
        sum(requests) AS requests, sum(dispatched) AS dispatched, sum(work_s) AS work_s
    FROM counted
    GROUP BY GROUPING SETS ((path, target, place, elb_status_code, target_status_code, raw, more),
        (target, place, elb_status_code, target_status_code, work_bucket))
)
SELECT regexp_extract(path, {node}, 1) AS node, target, place, elb_status_code, target_status_code,
    sum(requests) AS requests, sum(dispatched) AS dispatched, sum(work_s) AS work_s, work_bucket,
    CASE WHEN path IS NULL THEN 1 ELSE 0 END AS per_target, raw, more, {exact_path} AS path
FROM grouped
GROUP BY regexp_extract(path, {node}, 1), target, place, elb_status_code, target_status_code, work_bucket,
    CASE WHEN path IS NULL THEN 1 ELSE 0 END, raw, more, {exact_path}
"""


# The columns of a row of counts_sql, in order.
COUNTS_COLUMNS = (
    "node", "target", "place", "elb_status_code", "target_status_code", "requests", "dispatched", "work_s",
    "work_bucket", "per_target", "raw", "more", "path",
)  # fmt: skip


def order_sql(source: str, window: Window, limit: int, user_agent: str | None = None) -> str:
    """The counted requests that reached a target, in the order each file received them (up to `limit`)."""
    return f"""
WITH logs AS ({source}
)
SELECT path, client, request_creation_time, target, elb_status_code, target_status_code
FROM logs
WHERE kind = '' AND {_inside(window, user_agent)} AND target <> '-'
    AND elb_status_code NOT LIKE '5%'
ORDER BY path, request_creation_time
LIMIT {int(limit)}
"""


def log_key(account: str, region: str, load_balancer: str, end: datetime, node: str, random: str) -> str:
    """The key (below the bucket's prefix) of the file `node` writes for the 5 minutes ending at `end`;
    `load_balancer` is "app.<name>.<id>"."""
    end = end.astimezone(UTC)
    folder = f"AWSLogs/{account}/elasticloadbalancing/{region}/{end:%Y/%m/%d}"
    return f"{folder}/{account}_elasticloadbalancing_{region}_{load_balancer}_{end:%Y%m%dT%H%MZ}_{node}_{random}.log.gz"


def period_end(moment: datetime) -> datetime:
    """The end of the 5 minutes `moment` falls in: the end time in the name of the file that holds it."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 5, second=0, microsecond=0) + timedelta(minutes=5)


def end_time_of(name: str) -> datetime | None:
    """The end of the 5 minutes a log file covers, from its name; None for a name not in the ALB's layout."""
    match = LOG_FILE_NAME.search(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Balancer:
    """The load balancer a log file is of, from its name: the account, the region and `app.<name>.<id>`."""

    account: str
    region: str
    load_balancer: str

    @property
    def name(self) -> str:
        return self.load_balancer.split(".")[1]

    def described(self) -> str:
        return f"{self.load_balancer} in {self.region} (account {self.account})"


# The whole key's name: `<account>_elasticloadbalancing_<region>_app.<lb-name>.<lb-id>_<end>_<node>_<random>`.
_KEY_NAME = re.compile(
    r"([0-9]{12})_elasticloadbalancing_([a-z0-9-]{1,32})_(app\.[A-Za-z0-9-]{1,32}\.[0-9a-f]{1,32})_[0-9]{8}T[0-9]{4}Z_"
)


def balancer_of(name: str) -> Balancer | None:
    """The balancer a log file's name says it is of; None for a name not in the ALB's layout."""
    match = _KEY_NAME.match(name)
    return Balancer(*match.groups()) if match and LOG_FILE_NAME.search(name) else None


@dataclass(frozen=True)
class BalancerChoice:
    """--balancer and --region: the one balancer to judge when the logs hold several (None: any)."""

    name: str | None = None
    id: str | None = None
    region: str | None = None

    @classmethod
    def parse(cls, balancer: str | None, region: str | None) -> BalancerChoice:
        """From `NAME`, `app/NAME/ID` (the ALB's ARN suffix) or `app.NAME.ID` (the file names'), and a region."""
        name = id_ = None
        if balancer is not None:
            found = re.fullmatch(r"app([./])([A-Za-z0-9-]{1,32})\1([0-9a-f]{1,32})|([A-Za-z0-9-]{1,32})", balancer)
            if found is None:
                raise CouldNotMeasure(
                    f"--balancer {shown_value(balancer)}: use the balancer's name (1 to 32 letters, digits and"
                    " hyphens), app/NAME/ID or app.NAME.ID"
                )
            name, id_ = (found.group(2), found.group(3)) if found.group(2) else (found.group(4), None)
        if region is not None and not re.fullmatch(r"[a-z0-9-]{1,32}", region):
            raise CouldNotMeasure(f"--region {shown_value(region)}: use a region's name such as us-east-1")
        return cls(name, id_, region)

    def takes(self, balancer: Balancer | None) -> bool:
        """Whether a file of `balancer` (None: a name not in the ALB's layout) is one of the chosen balancer's."""
        if self == ANY_BALANCER:
            return True
        if balancer is None:
            return False
        _, name, id_ = balancer.load_balancer.split(".")
        return (
            (self.name is None or self.name == name)
            and (self.id is None or self.id == id_)
            and (self.region is None or self.region == balancer.region)
        )


ANY_BALANCER = BalancerChoice()  # neither --balancer nor --region: the logs must be of one balancer


def node_of(name: str) -> str | None:
    """The balancer node's address, from a log file's name; None for a name not in the ALB's layout."""
    match = LOG_FILE_NAME.search(name)
    return match.group(2) if match else None


def rows_of_exact_line(row: Sequence, window: Window, user_agent: str | None) -> tuple[list[tuple], list[tuple]]:
    """The rows `counts_sql` makes of lines it hands back whole (place EXACT), as if it had read them, and
    their order rows (path, client, request_creation_time, target and the statuses) when counted.

    `row` is one such row: `requests` copies of one line of one file, in `raw`. Placed as `_place` places
    a line: its fault, else counted inside the window (and of `user_agent`), else outside.
    """
    node, requests, raw, more, path = row[0], int(row[5]), row[10], bool(row[11]), row[12]
    fields = parse_line(raw, more=more)
    if isinstance(fields, str):
        return [(node, None, fields, None, None, requests, 0, 0.0, None, 0, None, None, None)], []
    since, until = window.bounds()
    inside = since <= fields.time < until and (user_agent is None or fields.user_agent == user_agent)
    if not inside:
        return [(node, None, PLACE_OUTSIDE, None, None, requests, 0, 0.0, None, 0, None, None, None)], []
    work = fields.target_processing_time
    done = (requests, requests if work >= 0 else 0, work * requests if work >= 0 else 0.0)
    statuses = (fields.elb_status_code, fields.target_status_code)
    rows = [(node, fields.target, PLACE_COUNTED, *statuses, *done, None, 0, None, None, None)]
    if work >= 0:  # and its row of the work histogram
        rows.append((None, fields.target, PLACE_COUNTED, *statuses, *done, work_bucket(work), 1, None, None, None))
    if fields.target == "-" or fields.elb_status_code.startswith("5"):
        return rows, []
    ordered = (path, fields.client, fields.request_creation_time, fields.target, *statuses)
    return rows, [ordered] * requests


def work_bucket(work_s: float) -> int:
    """The work bucket `counts_sql` puts a request of `work_s` seconds in: round(ln(1 + ms) x WORK_BUCKETS_PER_E),
    halves away from zero as SQL's round()."""
    scaled = math.log(1 + 1000 * work_s) * WORK_BUCKETS_PER_E
    whole = math.floor(scaled)
    return int(whole + (1 if scaled - whole >= 0.5 else 0))
