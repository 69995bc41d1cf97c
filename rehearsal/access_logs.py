"""The rehearsal's access logs: the nodes' lines filed as the ALB files them in S3, then held against verify.

Each HAProxy node writes one ALB access-log line per request to a plain file (`configs.access_log_rules`).
After the run they are filed under a folder in the S3 key layout, one gzip file per node per 5 minutes,
so `python -m verify --access-logs DIR` reads them exactly as it reads a bucket's copy. The counts of
verify's own measured requests in them (its warm-up has a User-Agent of its own) must equal, replica for
replica, what verify counted live.
"""

from __future__ import annotations

import gzip
import itertools
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from verify.core.errors import CouldNotMeasure
from verify.core.files import shown
from verify.core.tally import Tally
from verify.rendering.outputs import check_folder_takes_files
from verify.sources.logs.query import log_key, period_end

ACCOUNT = "000000000000"
REGION = "rehearsal"
LOAD_BALANCER = "app.rehearsal.0000000000000000"
# HAProxy writes each line when its request ends, as verify gets its answer: the lines are in moments after
# verify ends. Only a request that never reached a node has none, and then the counts disagree after this.
WRITTEN_WITHIN_S = 30.0


def wait_until_written(paths: Sequence[Path], user_agent: str, requests: int) -> None:
    """Until the nodes' files hold a line for each of the `requests` that carried `user_agent` (verify's
    measured ones: its warm-up's have a User-Agent of their own), at most WRITTEN_WITHIN_S."""
    field = b'"' + user_agent.encode() + b'"'
    deadline = time.monotonic() + WRITTEN_WITHIN_S
    while time.monotonic() < deadline:
        if sum(path.read_bytes().count(field) for path in paths if path.exists()) >= requests:
            return
        time.sleep(0.05)


def check_log_folder(folder: Path) -> None:
    """Before anything starts: the folder is there (made if it is not) and takes a file (a read-only file
    system or a full disk refuses it now, not after the run); CouldNotMeasure naming --access-logs."""
    named = f"--access-logs {shown(str(folder))}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CouldNotMeasure(f"{named}: {error.strerror or error}") from None
    if not folder.is_dir():
        raise CouldNotMeasure(f"{named} is not a folder")
    check_folder_takes_files(str(folder), f"{named}: the folder")


def file_logs(nodes: Sequence[tuple[str, Path]], folder: Path) -> list[Path]:
    """Each node's lines, in gzip files of 5 minutes each under `folder` in the S3 key layout; the files.

    Lines are in the order HAProxy wrote them, so one file is open at a time; a line whose time cannot
    be read stays in the file of the line before it (verify counts it as malformed).
    """
    written: list[Path] = []
    for node, source in nodes:
        last: list[datetime | None] = [None]

        def period(line: bytes, last: list[datetime | None] = last) -> datetime | None:
            moment = _time_of(line)
            last[0] = period_end(moment) if moment is not None else last[0]
            return last[0]

        with source.open("rb") as lines:
            for end, group in itertools.groupby(lines, key=period):
                if end is None:  # lines before any readable time: nowhere to file them
                    continue
                path = folder / log_key(ACCOUNT, REGION, LOAD_BALANCER, end, node, secrets.token_hex(4))
                path.parent.mkdir(parents=True, exist_ok=True)
                with gzip.open(path, "wb") as out:
                    out.writelines(group)
                written.append(path)
    return written


def _time_of(line: bytes) -> datetime | None:
    fields = line.split(b" ", 2)
    try:
        return datetime.fromisoformat(fields[1].decode("ascii"))
    except (IndexError, UnicodeDecodeError, ValueError):
        return None


def disagreements(live: Tally, logged: Tally) -> list[str]:
    """Where the access logs' count of verify's measured requests differs from verify's live count."""
    found = []
    for replica in sorted(live.counts.keys() | logged.counts.keys()):
        seen, written = live.counts.get(replica, 0), logged.counts.get(replica, 0)
        if seen != written:
            found.append(f"{replica}: {seen} answers live, {written} in the access logs")
    if live.requests != logged.requests:
        found.append(f"{live.requests} requests sent live, {logged.requests} in the access logs")
    return found
