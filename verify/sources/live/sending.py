"""Sending: the measured requests over `concurrency` kept-alive connections, one thread each; a tally back."""

from __future__ import annotations

import itertools
import math
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from verify.core.progress import Measuring, Progress
from verify.core.replica_ids import MAX_REPLICA_IDS
from verify.core.tally import ConnectionLog, Second, Tally
from verify.sources.live.client import (
    COOKIE_NAMES_MAX,
    ID_TOO_LONG,
    Fetcher,
    Target,
    Watchdog,
    Workload,
    id_too_long,
    too_many_ids,
)

# Answers whose order and latency are kept, over all connections: a --duration run sends as many
# requests as the balancer answers in that time, and memory must stay bounded whatever that is. The
# counts and the timeline take every answer; the order (balancer behaviour) and latencies the first ones.
ORDER_LOG_MAX = 1_000_000
# How often the measuring thread looks at progress and at `until`.
UNTIL_CHECK_S = 0.1


@dataclass
class _WorkerResult:
    log: ConnectionLog
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    cookies: Counter[str] = field(default_factory=Counter)
    seconds: dict[int, Second] = field(default_factory=dict)
    done: int = 0


def send_requests(
    target: Target,
    workload: Workload,
    addresses: tuple[str, ...],
    warmup: tuple[str, ...],
    progress: Progress | None = None,
    tls: ssl.SSLContext | None = None,
    until: Callable[[], bool] | None = None,
) -> Tally:
    """Send `workload.requests` GETs (or for `workload.duration_s`) over `workload.concurrency` connections,
    pinned round robin to the addresses.

    `warmup` (the replicas seen while waiting for ready) is passed through to the tally. Bounded by
    `workload.deadline_s`, each request by `workload.timeout_s` (a watchdog cuts it); a Ctrl-C stops
    every connection at once. More than MAX_REPLICA_IDS distinct ids stop the run with CouldNotMeasure.
    With several addresses, an error is counted with the address it came from. `until`, checked about
    every UNTIL_CHECK_S while a --duration run measures, ends it once it holds (the duration is then the
    bound, and the tally's `duration_s` what was measured). `workload.rate` spaces the requests evenly: the
    n-th is sent no sooner than n / rate seconds after the start, whichever connection sends it, and one due
    after the deadline is not sent.
    """
    stop = threading.Event()
    timed = workload.duration_s is not None
    limit = math.inf if timed else workload.requests
    connections = max(1, min(workload.concurrency, limit))
    order_log_max = ORDER_LOG_MAX // connections
    tickets = itertools.count()  # next() on it is atomic under the GIL: each ticket is one request
    started = time.perf_counter()
    started_at = time.time()  # the same moment on the wall clock, which another process's marks share
    deadline = started + workload.deadline_s
    # Connections round robin over every address: each balancer node gets its share of them.
    pinned = [addresses[i % len(addresses)] for i in range(connections)]
    fetchers = [Fetcher(target, address, workload, tls) for address in pinned]
    results = [_WorkerResult(ConnectionLog(address)) for address in pinned]
    deadline_hit = threading.Event()
    ended_by_until = False
    ids: dict[str, None] = {}  # every replica id any connection saw: shared, to cap them
    too_many_ids_seen = threading.Event()
    too_long_id: list[BaseException | None] = []
    error_suffix = " from {}" if len(addresses) > 1 else ""

    def work(fetcher: Fetcher, result: _WorkerResult) -> None:
        clock = time.perf_counter
        replicas, sent_at = result.log.replicas, result.log.sent_at
        counts, latencies, errors, cookie_counts = result.counts, result.latencies_ms, result.errors, result.cookies
        from_address = error_suffix.format(fetcher.address)
        seconds = result.seconds
        second = Second(-1)
        try:
            while not stop.is_set() and (ticket := next(tickets)) < limit:
                # --rate: ticket n is sent no sooner than n / rate after the start; the wait ends at the deadline
                # (a ticket due after it is never sent) or at a stop
                if workload.rate and stop.wait(max(0.0, min(started + ticket / workload.rate, deadline) - clock())):
                    return
                sent = clock()
                if sent >= deadline:
                    if not timed:  # a timed run ends at its deadline by design
                        deadline_hit.set()
                    return
                if int(sent - started) != second.second:
                    second = seconds.setdefault(int(sent - started), Second(int(sent - started)))
                replica, error, cookies = fetcher.fetch()
                if stop.is_set():
                    return  # interrupted: this request's outcome is an artefact of stopping
                for cookie in cookies:
                    if cookie in cookie_counts or len(cookie_counts) < COOKIE_NAMES_MAX:
                        cookie_counts[cookie] += 1
                second.requests += 1
                if error == ID_TOO_LONG:  # not a name: the run ends, as for ids that never repeat
                    too_long_id.append(fetcher.last_error)
                    stop.set()
                    return
                if replica is None:
                    kind = f"{error}{from_address}"
                    errors[kind] += 1
                    second.errors[kind] = second.errors.get(kind, 0) + 1
                else:
                    if replica not in counts:
                        ids[replica] = None
                        if len(ids) > MAX_REPLICA_IDS:
                            too_many_ids_seen.set()
                            stop.set()
                            return
                    counts[replica] += 1
                    second.replicas[replica] = second.replicas.get(replica, 0) + 1
                    if len(replicas) < order_log_max:
                        latencies.setdefault(replica, []).append((clock() - sent) * 1000)
                        replicas.append(replica)
                        sent_at.append(sent)
                result.done += 1
        finally:
            fetcher.close()

    threads = [
        threading.Thread(target=work, args=(fetcher, result), name=f"verify-{i}", daemon=True)
        for i, (fetcher, result) in enumerate(zip(fetchers, results, strict=True))
    ]
    with Watchdog() as watchdog:
        watchdog.fetchers.extend(fetchers)
        for thread in threads:
            thread.start()
        try:
            # Joined with a short timeout so Ctrl-C reaches this thread and progress is reported.
            # The threads alive, read once a round: one that ends between two reads is no error (a `next()`
            # over a second read raised StopIteration when the last one ended in between, at load 13).
            while alive := [thread for thread in threads if thread.is_alive()]:
                if time.perf_counter() >= deadline + workload.timeout_s:
                    deadline_hit.set()
                    break
                if timed and until is not None and until():
                    ended_by_until = True
                    break
                alive[0].join(UNTIL_CHECK_S)
                if progress and timed:
                    total_s = math.ceil(workload.deadline_s)
                    progress(Measuring(min(int(time.perf_counter() - started), total_s), total_s, " s"))
                elif progress:
                    progress(Measuring(sum(result.done for result in results), workload.requests))
        finally:
            stop.set()
            for fetcher in fetchers:
                fetcher.interrupt()
    joined_by = time.perf_counter() + workload.timeout_s  # one timeout for them all, not one each
    for thread in threads:
        thread.join(max(0.0, joined_by - time.perf_counter()))

    if too_many_ids_seen.is_set():
        raise too_many_ids(workload.identity)
    if too_long_id:
        raise id_too_long(target, too_long_id[0])
    tally = Tally(url=target.url, addresses=addresses, warmup_replicas=warmup, duration_s=workload.duration_s)
    timeline: dict[int, Second] = {}
    for result in results:
        result.log.answers = sum(result.counts.values())
        result.log.errors = sum(result.errors.values())
        tally.requests += result.done
        _add(tally.counts, result.counts)
        _add(tally.errors, result.errors)
        _add(tally.cookies, result.cookies)
        for replica, latencies in result.latencies_ms.items():
            tally.latencies_ms.setdefault(replica, []).extend(latencies)
        tally.connections.append(result.log)
        for number, part in result.seconds.items():
            whole = timeline.setdefault(number, Second(number))
            whole.requests += part.requests
            _add(whole.errors, Counter(part.errors))
            _add(whole.replicas, Counter(part.replicas))
    tally.timeline = [timeline[number] for number in sorted(timeline)]
    tally.elapsed_s = time.perf_counter() - started
    if ended_by_until:
        tally.duration_s = round(tally.elapsed_s, 1)
    tally.started_at = started_at
    tally.deadline_hit = deadline_hit.is_set()
    return tally


def _add(into: dict[str, int], counts: Counter[str]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count
