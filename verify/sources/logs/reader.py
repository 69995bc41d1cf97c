"""Evidence from the ALB's access logs: the requests real clients sent, counted per replica into a Tally.

The same tally a live run returns, so the same checks judge it and the same report prints it. AWS
writes access logs best effort ("not as a complete accounting of all requests"): the counts are a
sample the balancer chose to keep, nearly all of it, and the report says so.

Engines: DuckDB over local files (embedded, offline: no extension is downloaded), Athena over the
stack's table (`verify.sources.logs.athena`). Both run `verify.sources.logs.query`'s SQL and hand rows to
`tally_from_rows`. Every input is bounded: files and bytes read, distinct targets, rejected lines
kept per file, DuckDB's memory, and the query's time.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import stat
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from verify.core.addresses import host_port
from verify.core.errors import CouldNotMeasure
from verify.core.files import kind_of
from verify.core.replica_ids import MAX_REPLICA_IDS, replica_id, replica_sort_key
from verify.core.scratch import owned_folder
from verify.core.tally import ConnectionLog, LogReading, NodeCounts, Tally, TargetWork
from verify.core.text import printable
from verify.sources.logs.line import EXACT, NOT_UTF8, REJECTS_STORED_PER_FILE, TOO_LONG, target_address, value_fault
from verify.sources.logs.query import (
    ANY_BALANCER,
    DUCKDB,
    FILE_SLACK,
    PLACE_COUNTED,
    PLACE_OUTSIDE,
    REJECTS,
    Balancer,
    BalancerChoice,
    Window,
    balancer_of,
    counts_sql,
    duckdb_source,
    end_time_of,
    node_of,
    order_sql,
    rows_of_exact_line,
    work_of_bucket,
)

# Bounds on what one run reads locally; beyond them, narrow --since/--until or use --engine athena.
MAX_FILES = 20_000
MAX_BYTES = 20 * 1024**3  # compressed
MAX_LISTED = 200_000  # directory entries looked at while finding the files
# The order of requests (the balancer's pattern) is read for windows with up to this many requests.
ORDER_MAX = 200_000
QUERY_DEADLINE_S = 900.0
# DuckDB's memory, shared out among the connections (each spills to a temporary folder beyond its share).
DUCKDB_MEMORY_MB = 512
# Rows of the counts query fetched at a time: a window with a million targets stops at the cap.
_FETCH_ROWS = 10_000
_GZIP_MAGIC = b"\x1f\x8b"
# The name of a thread reading logs with DuckDB. One still running after a stop is not waited for past
# _STOP_JOIN_S: DuckDB notices an interrupt only between chunks it yields, and lines it skips yield none.
LOG_WORKER = "verify-logs"
# Set once this process has read logs with DuckDB: its exit skips the interpreter's teardown (see there).
_DUCKDB_USED = threading.Event()
# How long a stop signal waits for DuckDB to end its query once interrupted.
_STOP_JOIN_S = 5.0

# DuckDB's reject kinds, named as verify.sources.logs.line names them; any other as DuckDB names it.
_REJECT_NAMES = {"INVALID ENCODING": NOT_UTF8, "INVALID UNICODE": NOT_UTF8, "LINE SIZE OVER MAXIMUM": TOO_LONG}
# Rejected lines by kind, each line once (one line can fail twice: bad bytes and length), and the most kept
# for one file (at REJECTS_STORED_PER_FILE the count is a floor).
_REJECTED_LINES = f"""
SELECT error_type, count(*), max(per_file) FROM (
    SELECT arg_min(error_type, CASE WHEN error_type = 'LINE SIZE OVER MAXIMUM' THEN 0 ELSE 1 END) AS error_type,
        count(*) OVER (PARTITION BY scan_id, file_id) AS per_file
    FROM {REJECTS}_errors GROUP BY scan_id, file_id, line
) GROUP BY error_type
"""
SKIPPED_TRUNCATED_GZIP = "truncated gzip file"
SKIPPED_CORRUPT_GZIP = "corrupt gzip file"
SKIPPED_UNPARSABLE_FILE = "file DuckDB could not parse"
_INFLATE_CHUNK = 1024 * 1024  # bytes inflated at a time while finding what is wrong with a file DuckDB refused
UNKNOWN_NODE = "(unknown node)"  # a file whose name is not in the ALB's layout
SKIPPED_EMPTY_FILE = "empty file"
SKIPPED_NOT_GZIP = "not a gzip file"
SKIPPED_NAMED_AGAIN = "named again (read once)"
SKIPPED_OTHER_BALANCER = "another load balancer's file (--balancer, --region)"


@dataclass
class LogFiles:
    """The files a local run reads, and what was set aside before reading (named, counted)."""

    paths: list[Path] = field(default_factory=list)
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seen: set[tuple[int, int]] = field(default_factory=set)  # (device, inode) of every file taken or set aside
    balancers: dict[Balancer | None, int] = field(default_factory=dict)  # of the files taken (None: no layout)

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def find_log_files(locations: Sequence[str], window: Window, choice: BalancerChoice = ANY_BALANCER) -> LogFiles:
    """The log files under folders (and files named directly) whose name's end time can hold the window.

    Each real file is read once, however often it is named (a folder and a file in it, the same folder
    twice, a symlink to a file or a folder already named): each name after the first is counted as named
    again. A symlinked folder is followed, each real folder walked once per location (a loop ends). Only
    regular files are read: any other kind (a FIFO, a socket, a device) is set aside, counted by kind, and
    never opened. A file whose name is not in the ALB's layout is read
    whatever its time (its lines are filtered). Empty and non-gzip files are set aside here, counted;
    too many files or bytes is a CouldNotMeasure.

    One judgement is of one balancer: the files of balancers (or regions) other than `choice` names are set
    aside, counted; files of more than one balancer left is a CouldNotMeasure naming them (a file whose
    name is not in the ALB's layout counts as a balancer of its own).
    """
    found = LogFiles()
    listed = 0
    for location in locations:
        try:
            status = os.stat(location)
        except OSError as error:
            reason = "no such file or folder" if isinstance(error, FileNotFoundError) else error.strerror
            raise CouldNotMeasure(f"--access-logs {printable(location, 512)!r}: {reason}") from None
        if stat.S_ISDIR(status.st_mode):
            candidates: Iterable[tuple[Path, os.stat_result | None]] = _walk(Path(location))
        else:
            candidates = [(Path(location), status)]
        for candidate, candidate_status in candidates:
            listed += 1
            if listed > MAX_LISTED:
                raise CouldNotMeasure(
                    f"more than {MAX_LISTED:,} entries under {location}: name the day's folder, or use --engine athena"
                )
            if candidate_status is None and not candidate.name.endswith((".log.gz", ".log")):
                continue  # in a folder, only names of log files are looked at
            end = end_time_of(candidate.name)
            if end is not None and not (window.since <= end <= window.until + FILE_SLACK):
                continue
            balancer = balancer_of(candidate.name)
            if not choice.takes(balancer):
                found.skip(SKIPPED_OTHER_BALANCER)
                continue
            if _take(found, candidate, candidate_status):
                found.balancers[balancer] = found.balancers.get(balancer, 0) + 1
    if len(found.balancers) > 1:
        raise CouldNotMeasure(_several_balancers(found.balancers))
    if len(found.paths) > MAX_FILES:
        raise CouldNotMeasure(
            f"{len(found.paths):,} log files in the window, more than {MAX_FILES:,}: narrow --since/--until,"
            " or use --engine athena"
        )
    if found.bytes > MAX_BYTES:
        raise CouldNotMeasure(
            f"{found.bytes:,} bytes of log files in the window, more than {MAX_BYTES:,} ({MAX_BYTES / 1024**3:g} GiB):"
            " narrow --since/--until, or use --engine athena"
        )
    return found


def _several_balancers(balancers: dict[Balancer | None, int]) -> str:
    """The refusal of logs of several balancers: each named with its files (the first few), and the way out."""
    named = sorted(balancers.items(), key=lambda item: -item[1])
    listed = ", ".join(
        f"{balancer.described() if balancer else 'files named outside the ALB layout'} ({count:,} files)"
        for balancer, count in named[:4]
    ) + (f" and {len(named) - 4} more" if len(named) > 4 else "")
    return (
        f"the logs in the window are of {len(named)} load balancers: {listed}; one judgement is of one balancer:"
        " choose it with --balancer NAME (and --region REGION), or name its own folder"
    )


def _walk(folder: Path) -> Iterator[tuple[Path, None]]:
    """Every file name under `folder`, symlinked folders followed, each real folder once (a loop ends)."""
    walked: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        try:
            status = os.stat(root)
        except OSError:
            dirs.clear()
            continue
        if (status.st_dev, status.st_ino) in walked:
            dirs.clear()
            continue
        walked.add((status.st_dev, status.st_ino))
        dirs.sort()
        for name in sorted(files):
            yield Path(root, name), None


def _take(found: LogFiles, path: Path, status: os.stat_result | None) -> bool:
    """Take `path` if it is a regular gzip file not seen yet (its size and magic read, opened without waiting);
    whether it was taken."""
    try:
        status = status or os.stat(path)
    except OSError as error:  # a broken symlink, a file removed meanwhile, a folder not readable
        found.skip("broken symlink" if os.path.islink(path) else f"unreadable ({error.strerror})")
        return False
    identity = (status.st_dev, status.st_ino)
    if identity in found.seen:
        found.skip(SKIPPED_NAMED_AGAIN)
        return False
    found.seen.add(identity)
    if not stat.S_ISREG(status.st_mode):
        found.skip(f"{kind_of(status.st_mode)} (not a regular file)")
        return False
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        found.skip(f"unreadable ({error.strerror})")
        return False
    try:
        opened = os.fstat(descriptor)
        magic = os.read(descriptor, 2) if stat.S_ISREG(opened.st_mode) else b""
    except OSError as error:
        found.skip(f"unreadable ({error.strerror})")
        return False
    finally:
        os.close(descriptor)
    if not stat.S_ISREG(opened.st_mode):  # swapped since it was listed
        found.skip(f"{kind_of(opened.st_mode)} (not a regular file)")
    elif opened.st_size == 0:
        found.skip(SKIPPED_EMPTY_FILE)
    elif magic != _GZIP_MAGIC:
        found.skip(SKIPPED_NOT_GZIP)
    else:
        found.paths.append(Path(os.path.realpath(path)))
        found.bytes += opened.st_size
        return True
    return False


@dataclass(frozen=True)
class OrderRow:
    """One counted request in the order its node received it (for the balancer's pattern)."""

    path: str  # the log file's: its name holds the node's address
    client: str  # ip:port: one client connection
    received: str  # request_creation_time
    target: str  # ip:port
    elb_status_code: str | None = None
    target_status_code: str | None = None


def read_local_logs(
    locations: Sequence[str],
    window: Window,
    *,
    user_agent: str | None = None,
    deadline_s: float = QUERY_DEADLINE_S,
    source: str | None = None,
    choice: BalancerChoice = ANY_BALANCER,
) -> Tally:
    """The tally of the requests in local (or fetched) log files of one balancer (`choice`), read by DuckDB.

    The files are shared out among one DuckDB connection per processor (a gzip file is read by one
    thread from start to end, so several files read at once use every core), each in a thread of its own.
    """
    try:
        import duckdb
    except ImportError:
        raise CouldNotMeasure("duckdb is not installed: pip install -r requirements.txt") from None
    started = time.perf_counter()
    _DUCKDB_USED.set()
    files = find_log_files(locations, window, choice)
    skipped = dict(files.skipped)
    shares = [_Share(paths) for paths in _shared_out(files, len(os.sched_getaffinity(0)))]
    with owned_folder("verify-duckdb-") as spill:  # a killed run's is removed by the next
        memory = f"{max(DUCKDB_MEMORY_MB // max(len(shares), 1), 64)}MB"
        for number, share in enumerate(shares):
            share.connection = duckdb.connect(
                config={"memory_limit": memory, "temp_directory": os.path.join(spill, str(number)), "threads": 1,
                        "autoinstall_known_extensions": False}
            )  # fmt: skip
            share.connection.execute("SET enable_progress_bar = false")  # DuckDB's bar would draw on the terminal
        stopping = threading.Event()

        def interrupt() -> None:
            stopping.set()  # an error DuckDB raises from now on is the interrupt's, not a bad file's
            for share in shares:
                with contextlib.suppress(Exception):  # DuckDB refuses while a connection switches calls
                    share.connection.interrupt()

        ends = time.monotonic() + deadline_s
        try:
            run_interruptibly([lambda share=share: share.count(window, user_agent, stopping) for share in shares],
                              interrupt, ends)  # fmt: skip
            rows, order = _read_exact_lines([row for share in shares for row in share.rows], window, user_agent)
            counted = sum(row[5] for row in rows if not row[9] and row[2] == PLACE_COUNTED and row[1] != "-")
            if counted <= ORDER_MAX:
                run_interruptibly([lambda share=share: share.order(window, user_agent) for share in shares],
                                  interrupt, ends)  # fmt: skip
                order = sorted(order + [tuple(row) for share in shares for row in share.ordered])
        except TimeoutError:
            raise CouldNotMeasure(
                f"reading the access logs took longer than {deadline_s:g} s: narrow --since/--until, or use"
                " --engine athena"
            ) from None
        finally:
            for share in shares:
                with contextlib.suppress(duckdb.Error):  # stopped: a result DuckDB still holds goes with it
                    share.connection.close()
    for share in shares:
        for kind, count in share.skipped.items():
            skipped[kind] = skipped.get(kind, 0) + count
    since, until = window.bounds()
    read = sum(len(share.paths) for share in shares)
    reading = dict(
        source=source if source is not None else ", ".join(locations),
        engine=DUCKDB, since=since, until=until, files=read, bytes_read=files.bytes,
    )  # fmt: skip
    return tally_from_rows(
        rows, [OrderRow(*row) for row in order] if counted <= ORDER_MAX else None, reading, skipped,
        order_max=ORDER_MAX, elapsed_s=time.perf_counter() - started,
    )  # fmt: skip


def _shared_out(files: LogFiles, processors: int) -> list[list[str]]:
    """The files in up to `processors` shares of about equal bytes, largest first (no share empty)."""
    shares: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, min(processors, len(files.paths))))]
    for size, path in sorted(((os.stat(path).st_size, str(path)) for path in files.paths), reverse=True):
        lightest = min(range(len(shares)), key=lambda number: shares[number][0])
        shares[lightest] = (shares[lightest][0] + size, [*shares[lightest][1], path])
    return [paths for _, paths in shares if paths]


def _read_exact_lines(rows: list[tuple], window: Window, user_agent: str | None) -> tuple[list[tuple], list[tuple]]:
    """The rows with every line DuckDB handed back whole read in Python, and the order rows of those counted."""
    read: list[tuple] = []
    order: list[tuple] = []
    for row in rows:
        if row[2] != EXACT:
            read.append(row)
        elif not row[9]:  # the histogram's rows of such lines say nothing: their own are made here
            made, ordered = rows_of_exact_line(row, window, user_agent)
            read += made
            order += ordered
    return read, order


@dataclass
class _Share:
    """One connection's files and what it read of them."""

    paths: list[str]
    connection: Any = None
    rows: list[tuple] = field(default_factory=list)
    ordered: list[tuple] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""

    def count(self, window: Window, user_agent: str | None, stopping: threading.Event) -> None:
        """The counts query over the share's files: strictly first (every line readable, the common case:
        keeping rejects costs more), again keeping the lines the reader refuses to count them by kind when
        one fails, and, when a file cannot be read at all, over every file that can (each set aside, named)."""
        import duckdb

        self.source = duckdb_source(tolerant=False)
        try:
            self.rows = _fetch_bounded(self.connection.execute(counts_sql(self.source, window, user_agent),
                                                               {"files": self.paths}))  # fmt: skip
            return
        except duckdb.Error:
            if stopping.is_set():
                raise
        self.source = duckdb_source(tolerant=True)
        sql = counts_sql(self.source, window, user_agent)
        try:
            self.rows = _fetch_bounded(self.connection.execute(sql, {"files": self.paths}))
        except duckdb.Error:
            if stopping.is_set():
                raise
            readable = []
            for path in self.paths:  # one file at a time, only after a failure: a bad file costs one more read
                try:
                    self.connection.execute(f"SELECT count(*) FROM ({self.source})", {"files": [path]}).fetchall()
                    readable.append(path)
                except duckdb.Error:
                    if stopping.is_set():
                        raise
                    kind = _gzip_fault(path, stopping)
                    self.skipped[kind] = self.skipped.get(kind, 0) + 1
            self.paths = readable
            # The lines refused so far were refused while looking for the bad files: counted once, below. The
            # tables exist only if a read got that far (not when every file failed): the next read makes them anew.
            self.connection.execute(f"DROP TABLE IF EXISTS {REJECTS}_errors; DROP TABLE IF EXISTS {REJECTS}_scans")
            self.rows = _fetch_bounded(self.connection.execute(sql, {"files": self.paths})) if self.paths else []
        for kind, count, most_per_file in self.connection.execute(_REJECTED_LINES).fetchall() if self.paths else ():
            name = _REJECT_NAMES.get(str(kind), str(kind).lower())
            if most_per_file >= REJECTS_STORED_PER_FILE:
                name += f" (at least: {REJECTS_STORED_PER_FILE:,} kept per file)"
            self.skipped[name] = self.skipped.get(name, 0) + count

    def order(self, window: Window, user_agent: str | None) -> None:
        if self.paths:
            query = order_sql(self.source, window, ORDER_MAX, user_agent)
            self.ordered = self.connection.execute(query, {"files": self.paths}).fetchall()


def _gzip_fault(path: str, stopping: threading.Event) -> str:
    """What is wrong with a gzip file DuckDB could not read, as Python's gzip finds it inflating the whole file
    (a chunk at a time; DuckDB's messages do not tell a header cut short from a bad one): truncated when the
    data ends inside a member, else corrupt; a file Python reads whole is one DuckDB could not parse."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as raw, gzip.GzipFile(fileobj=raw) as data:  # regular: _take checked
            while data.read(_INFLATE_CHUNK) and not stopping.is_set():
                pass
    except EOFError:
        return SKIPPED_TRUNCATED_GZIP
    except (OSError, zlib.error):
        return SKIPPED_CORRUPT_GZIP
    return SKIPPED_UNPARSABLE_FILE


def run_interruptibly(works: Sequence[Callable[[], None]], interrupt: Callable[[], None], ends: float) -> None:
    """Each of `works` in a thread of its own while this one waits: a stop signal (Ctrl-C, SIGTERM) arrives
    here at once, even while DuckDB runs in C, and ends them through `interrupt()`; so does the monotonic
    time `ends` (then TimeoutError). What a work raised is raised here; the stop signal's own exception
    once every work ended."""
    failures: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # handed to the waiting thread as it is
            failures.append(error)
            interrupt()  # the others stop too: the reading has failed

    workers = [threading.Thread(target=run, args=(work,), name=LOG_WORKER, daemon=True) for work in works]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive() and time.monotonic() < ends:
                worker.join(min(0.2, max(ends - time.monotonic(), 0)))  # a signal interrupts this wait, not DuckDB's
    except BaseException:
        _stop(workers, interrupt)
        raise
    if any(worker.is_alive() for worker in workers):
        _stop(workers, interrupt)
        raise TimeoutError("past the deadline")
    if failures:
        raise next((failure for failure in failures if not _interrupted(failure)), failures[0])


def _interrupted(error: BaseException) -> bool:
    """An error a work raised because another's failure interrupted it (not the failure itself)."""
    return type(error).__name__ == "InterruptException"


def _stop(workers: Sequence[threading.Thread], interrupt: Callable[[], None]) -> None:
    """Interrupt until every worker has ended (at most _STOP_JOIN_S): an interrupt that falls between two
    queries is lost, so it is sent again until the work stops."""
    ends = time.monotonic() + _STOP_JOIN_S
    while any(worker.is_alive() for worker in workers) and time.monotonic() < ends:
        interrupt()
        for worker in workers:
            worker.join(0.05)


def _fetch_bounded(cursor) -> list[tuple]:
    """Every row of the counts query, unless the window's targets outnumber MAX_REPLICA_IDS (a CouldNotMeasure)."""
    rows: list[tuple] = []
    targets: set[str] = set()
    while batch := cursor.fetchmany(_FETCH_ROWS):
        targets.update(row[1] for row in batch if row[1] is not None)
        targets.discard("-")
        if len(targets) > MAX_REPLICA_IDS:
            raise CouldNotMeasure(
                f"the logs name more than {MAX_REPLICA_IDS} distinct targets in the window: a window over many"
                " deploys, or logs of several load balancers; narrow --since/--until or the folder"
            )
        rows.extend(batch)
    return rows


def tally_from_rows(
    rows: Sequence[Sequence],
    order: Sequence[OrderRow] | None,
    reading: dict,
    skipped: dict[str, int],
    *,
    order_max: int,
    elapsed_s: float,
    cost_usd: float | None = None,
) -> Tally:
    """The tally of `counts_sql`'s rows (and `order_sql`'s, when read), whichever engine ran them.

    A replica is named by its target's IP (its id in the replica contract), or IP:port where one IP
    served on several ports. An answer is a request the balancer sent to a replica and did not answer
    with a 5xx; an error, any 5xx of the ELB (with or without a target). A request that reached no
    target without a 5xx (a redirect, a fixed response, WAF) is neither, and is shown apart.
    """
    skipped = dict(skipped)
    # Only the window's counted lines carry a target: the port rule and the cap are over them alone (a
    # target not in the ALB's form makes its lines malformed: line.value_fault, below).
    targets = {row[1] for row in rows if row[2] == PLACE_COUNTED and row[1] not in (None, "-")}
    of_target = {target: target_address(target) for target in targets}
    ports: dict[str, set[int]] = {}
    for address in of_target.values():
        if address is not None:
            ports.setdefault(address[0], set()).add(address[1])
    if len(ports) > MAX_REPLICA_IDS:
        raise CouldNotMeasure(
            f"the logs name {len(ports):,} distinct target addresses in the window, more than {MAX_REPLICA_IDS}: a"
            " window over many deploys, or logs of several load balancers; narrow --since/--until or the source"
        )

    def replica_of(target: str) -> str:
        address, port = of_target[target]  # type: ignore[misc]
        return replica_id(address if len(ports[address]) <= 1 else host_port(address, port))  # type: ignore[return-value]

    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    no_target: dict[str, int] = {}
    outside = 0
    nodes: dict[str, list[int]] = {}  # node -> [requests, answers, errors]
    work: dict[str, list[float]] = {}  # replica -> [requests, elb_5xx, target_5xx, work_s]
    histograms: dict[str, dict[int, int]] = {}  # replica -> work bucket -> requests
    for row in rows:
        node, target, place, elb_status, target_status, requests, _, work_s, work_bucket, per_target = row[:10]
        requests = int(requests or 0)
        if place == PLACE_COUNTED:  # the forms checked once per value, here (line.value_fault)
            place = value_fault(target, elb_status, target_status) or PLACE_COUNTED
        elb_5xx = elb_status if place == PLACE_COUNTED and elb_status.startswith("5") else ""
        target_5xx = requests if place == PLACE_COUNTED and target_status.startswith("5") else 0
        if per_target:
            if place == PLACE_COUNTED and target != "-" and work_bucket is not None:
                histogram = histograms.setdefault(replica_of(target), {})
                histogram[int(work_bucket)] = histogram.get(int(work_bucket), 0) + requests
            continue
        if place == PLACE_OUTSIDE:
            outside += requests
            continue
        if place != PLACE_COUNTED:  # a malformed line, by its fault
            skipped[place] = skipped.get(place, 0) + requests
            continue
        node_id = printable(node) if node else UNKNOWN_NODE
        per_node = nodes.setdefault(node_id, [0, 0, 0])
        per_node[0] += requests
        if target == "-":
            no_target[elb_5xx or "not 5xx"] = no_target.get(elb_5xx or "not 5xx", 0) + requests
            if elb_5xx:
                kind = f"HTTP {printable(elb_5xx)}, no target"
                errors[kind] = errors.get(kind, 0) + requests
                per_node[2] += requests
            continue
        replica = replica_of(target)
        done = work.setdefault(replica, [0, 0, 0, 0.0])
        done[0] += requests
        done[2] += target_5xx
        done[3] += work_s or 0.0
        if elb_5xx:
            done[1] += requests
            kind = f"HTTP {printable(elb_5xx)}"
            errors[kind] = errors.get(kind, 0) + requests
            per_node[2] += requests
        else:
            counts[replica] = counts.get(replica, 0) + requests
            per_node[1] += requests

    addresses = tuple(sorted(nodes, key=replica_sort_key))
    connections: list[ConnectionLog] = []
    order_note = None
    requests_total = sum(per_node[0] for per_node in nodes.values())
    if order is None:
        answered = sum(counts.values())
        order_note = (
            f"the order of requests was not read: {answered:,} answered requests in the window, more than"
            f" {order_max:,} (the counts and the split are judged over all of them)"
        )
    else:
        by_connection: dict[tuple[str, str], ConnectionLog] = {}
        for row in order:
            if value_fault(row.target, row.elb_status_code or "-", row.target_status_code or "-"):
                continue  # a malformed line: counted apart, never an answer
            node = node_of(row.path)
            node_id = printable(node) if node else UNKNOWN_NODE
            log = by_connection.get((node_id, row.client))
            if log is None:
                log = by_connection[(node_id, row.client)] = ConnectionLog(node_id)
            log.replicas.append(replica_of(row.target))
            log.sent_at.append(_seconds(row.received))
            log.answers += 1
        connections = list(by_connection.values())
    since, until = reading["since"], reading["until"]
    return Tally(
        url=reading["source"],
        addresses=addresses,
        warmup_replicas=(),
        requests=requests_total,
        counts=dict(sorted(counts.items(), key=lambda item: replica_sort_key(item[0]))),
        errors=errors,
        connections=connections,
        elapsed_s=elapsed_s,
        access_logs=LogReading(
            source=reading["source"],
            engine=reading["engine"],
            since=since,
            until=until,
            files=reading["files"],
            bytes_read=reading["bytes_read"],
            outside_window=outside,
            no_target=no_target,
            skipped=skipped,
            targets=tuple(
                TargetWork(
                    replica, int(done[0]), int(done[1]), int(done[2]), float(done[3]), p95_of(histograms.get(replica))
                )
                for replica, done in sorted(work.items(), key=lambda item: replica_sort_key(item[0]))
            ),
            nodes=tuple(NodeCounts(node, *nodes[node]) for node in addresses),
            order_note=order_note,
            cost_usd=cost_usd,
        ),
    )


def p95_of(histogram: dict[int, int] | None) -> float | None:
    """The 95th percentile (nearest rank) of the work, in seconds, from a histogram of work buckets."""
    if not histogram:
        return None
    rank = math.ceil(0.95 * sum(histogram.values()))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return work_of_bucket(bucket)
    return None  # not reached: the last bucket holds the rank


def _seconds(moment: str) -> float:
    """request_creation_time as seconds since the epoch (0 for a value that is not a time: it sorts first)."""
    try:
        return datetime.fromisoformat(moment).timestamp()
    except (TypeError, ValueError):
        return 0.0


# --since and --until: a moment in ISO 8601 (UTC unless it says otherwise) or a time ago (90m, 2h, 1d).
_AGO_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW = timedelta(days=31)
_EARLIEST = datetime(2016, 8, 11, tzinfo=UTC)  # ALBs were launched in August 2016: no log is older
DEFAULT_WINDOW = timedelta(hours=1)


def parse_moment(text: str, now: datetime, flag: str) -> datetime:
    """A --since/--until value: ISO 8601 (naive means UTC) or a time ago such as 90m, 2h or 1d."""
    usage = f"{flag} {text!r}: use an ISO 8601 time (2026-12-04T19:00:00Z) or a time ago (90m, 2h, 1d)"
    value = text.strip()
    if value[:-1].isdigit() and value[-1:] in _AGO_UNITS and value[:-1].isascii():
        seconds = int(value[:-1]) * _AGO_UNITS[value[-1]]
        if seconds > (now - _EARLIEST).total_seconds():
            raise CouldNotMeasure(f"{flag} {text!r} reaches before 2016-08-11, when ALBs began")
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CouldNotMeasure(usage) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_window(since: str | None, until: str | None, now: datetime | None = None) -> Window:
    """The window of --since/--until: by default the last hour; at most MAX_WINDOW long, after 2016-08-11."""
    now = now if now is not None else datetime.now(UTC)
    end = parse_moment(until, now, "--until") if until is not None else now
    start = parse_moment(since, now, "--since") if since is not None else end - DEFAULT_WINDOW
    if start >= end:
        raise CouldNotMeasure(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    if end - start > MAX_WINDOW:
        raise CouldNotMeasure(
            f"the window from {start.isoformat()} to {end.isoformat()} is longer than {MAX_WINDOW.days} days"
        )
    if start < _EARLIEST:
        raise CouldNotMeasure(f"--since {start.isoformat()} is before 2016-08-11, when ALBs began")
    if end > now + timedelta(days=1):
        raise CouldNotMeasure(f"--until {end.isoformat()} is more than a day in the future")
    return Window(start, end)


def exit_leaving_readers(code: int) -> NoReturn:
    """End the process with `code`. Once DuckDB has read logs here, the process ends at once (stdout and
    stderr flushed first), without the interpreter's teardown: after an interrupted query, DuckDB's C++
    teardown (or a reading thread still in it, not waited for) threw at exit and aborted the process
    (SIGABRT, exit -6, "terminate called after throwing"), seen 1 run in 80 of a stop while reading."""
    if _DUCKDB_USED.is_set():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)
