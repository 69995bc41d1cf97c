"""ALB access-log folders for the verify tests: requests in rotation, written as the ALB files them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.alb_logs import Request, line, write_log
from verify.sources.logs.query import period_end

START = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
WINDOW = ["--since", "2026-12-04T18:00:00Z", "--until", "2026-12-04T19:00:00Z"]
NODES = ("10.0.1.5", "10.0.2.6")
REPLICAS = ("10.0.1.10", "10.0.2.10", "10.0.1.11")


def rotation(count: int, replicas=REPLICAS, nodes=NODES, start=START, **fields) -> list[tuple[str, Request]]:
    """`count` requests, each node rotating over the replicas in turn, 10 ms apart, a connection per 10."""
    requests = []
    for i in range(count):
        node = nodes[i % len(nodes)]
        turn = i // len(nodes)
        target = f"{replicas[turn % len(replicas)]}:80"
        client = f"203.0.113.{7 + i % len(nodes)}:{40000 + turn // 10}"
        requests.append((node, Request(start + timedelta(milliseconds=10 * i), target=target, client=client, **fields)))
    return requests


def write(root: Path, requests: list[tuple[str, Request]], extra: dict[str, list[str | bytes]] | None = None) -> None:
    """One file per node per 5 minutes, as the ALB writes them; `extra` lines appended to a node's first file."""
    files: dict[tuple[str, datetime], list[str | bytes]] = {}
    for node, request in requests:
        files.setdefault((node, period_end(request.at)), []).append(line(request))
    for (node, end), lines in files.items():
        write_log(root, node, end, [*lines, *(extra or {}).pop(node, [])])
