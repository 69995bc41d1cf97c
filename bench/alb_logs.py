"""ALB access-log files as AWS writes them, made up: for the tests of `verify --access-logs` and the benchmark.

A line has the ALB's fields in the ALB's order (ELB user guide, "Access log entries for your
Application Load Balancer"), up to conn_trace_id and the three transform fields of 2025; a file is
gzip'd and named in the S3 key layout, one per balancer node per 5 minutes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from verify.sources.logs.query import log_key

ACCOUNT = "123456789012"
REGION = "us-east-1"
LB = "app.alb-replicas.50dc6c495c0c9188"
TARGET_GROUP_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/replicas/73e2d6bc24d8a067"


@dataclass(frozen=True)
class Request:
    """One request as the ALB logs it; `target` is "ip:port" or "-" (no target reached)."""

    at: datetime  # when the ALB received it (request_creation_time); `time` is this plus the durations
    target: str = "10.0.1.10:80"
    client: str = "203.0.113.7:40000"
    elb_status: str = "200"
    target_status: str = "200"
    work_s: float = 0.002  # target_processing_time; -1 when not dispatched
    user_agent: str = "curl/8.5.0"
    url: str = "http://alb.example.com:80/"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line(request: Request) -> str:
    """The access-log line of `request`, every field of 2025's format (34 of them, 3 appended in 2025)."""
    dispatched = request.target != "-"
    work = f"{request.work_s:.3f}" if dispatched else "-1"
    done = request.at + timedelta(seconds=max(request.work_s, 0) + 0.001)
    return " ".join(
        (
            "http", _iso(done), LB.replace("app.", "app/").replace(".", "/", 1), request.client, request.target,
            "0.001" if dispatched else "-1", work, "0.000" if dispatched else "-1", request.elb_status,
            request.target_status if dispatched else "-", "120", "420",
            _quoted(f"GET {request.url} HTTP/1.1"), _quoted(request.user_agent), "-", "-", TARGET_GROUP_ARN,
            _quoted("Root=1-67891233-abcdef012345678912345678"), _quoted("-"), _quoted("-"), "0",
            _iso(request.at), _quoted("forward"), _quoted("-"), _quoted("-"),
            _quoted(request.target if dispatched else "-"), _quoted(request.target_status if dispatched else "-"),
            _quoted("-"), _quoted("-"), "TID_0123456789abcdef", _quoted("-"), _quoted("-"), _quoted("-"),
        )
    )  # fmt: skip


def key(end: datetime, node: str, random: str = "abcd1234") -> str:
    """The S3 key of the file node `node` writes for the 5 minutes ending at `end`."""
    return log_key(ACCOUNT, REGION, LB, end, node, random)


def write_log(root: Path, node: str, end: datetime, lines: Iterable[str | bytes], random: str = "abcd1234") -> Path:
    """A gzip'd log file under `root` in the S3 key layout; lines given as bytes are written as they are."""
    path = root / key(end, node, random)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as out:
        for text in lines:
            out.write((text if isinstance(text, bytes) else text.encode()) + b"\n")
    return path
