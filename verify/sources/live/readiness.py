"""Readiness: wait until the name resolves and the replicas answer, backing off between rounds."""

from __future__ import annotations

import ssl
import time
from urllib.parse import urljoin

from verify.core.errors import CouldNotMeasure
from verify.core.progress import Progress, Waiting
from verify.sources.live.client import (
    BODY_READ_MAX,
    ID_TOO_LONG,
    MAX_REPLICA_IDS,
    Fetcher,
    Resolver,
    Target,
    Watchdog,
    Workload,
    id_too_long,
    system_resolver,
    too_many_ids,
    within,
)

# Wait-for-ready backoff: from the first to the longest pause between rounds that brought nothing new.
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
# With no expected count, the set of replicas is settled after this many answers per replica seen
# (plus SETTLE_EXTRA) brought no new one: a replica of k + 1 behind a random balancer stays hidden that
# long with probability (1 - 1/(k+1))^(15k+10), under 1e-6 for any k.
SETTLE_PER_REPLICA = 15
SETTLE_EXTRA = 10
# Answers in a row without the identity, with none carrying it, that prove it absent.
IDENTITY_PROOF = 10
_BALANCER_NOT_READY = (502, 503, 504)
# The 3xx answers that redirect (RFC 9110, 15.4: 301, 302, 303, 307, 308; 300 offers choices, 304 is
# "not modified", 305 and 306 are no longer used).
_REDIRECTS = (301, 302, 303, 307, 308)


def _not_ready_reason(error: str, address: str, target: Target, workload: Workload) -> str:
    """What an error during wait-for-ready means for someone waiting on a new deployment."""
    if error.startswith("HTTP ") and int(error[5:]) in _BALANCER_NOT_READY:
        return f"{error[5:]} from the balancer: targets not healthy yet"
    if error == "connection refused":
        return f"connection refused by {address}:{target.port}: the listener is not up (or the port is wrong)"
    if error == "timeout":
        return f"no answer from {address}:{target.port} within {workload.timeout_s:g} s"
    return f"{error} from {address}:{target.port}"


def resolve_within(resolver: Resolver, target: Target, seconds: float) -> list[str]:
    """The resolver's answer, or TimeoutError after `seconds`: getaddrinfo has no timeout of its own."""
    return within(seconds, lambda: resolver(target.host, target.port), f"resolving {target.host}")


def fail_fast(error: str, fetcher: Fetcher, target: Target) -> None:
    """Raise CouldNotMeasure for an answer that waiting cannot change: a redirect, another 3xx, a client error
    (4xx but 429), a protocol or TLS error, a body over the cap, an id too long to be a name."""
    if error.startswith("HTTP 3") and int(error[5:]) not in _REDIRECTS:
        raise CouldNotMeasure(
            f"{target.url} answered {error[5:]}, which is no redirect and names no replica (verify sends no"
            " conditional request, so a 304 comes from something in front of the balancer answering for it);"
            " waiting does not change it"
        )
    if error.startswith("HTTP 3"):
        location = fetcher.location or "(no Location header)"
        final = urljoin(target.url, fetcher.location) if fetcher.location else None
        suggest = f"; measure where it points: python -m verify {final}" if final else ""
        raise CouldNotMeasure(
            f"{target.url} answered {error[5:]} with Location {location}: verify does not follow redirects"
            f" (prod's port 80 redirects to HTTPS){suggest}"
        )
    if error == ID_TOO_LONG:
        raise id_too_long(target, fetcher.last_error)
    if error == "TLS certificate rejected":
        raise CouldNotMeasure(
            f"the TLS certificate of {target.host} was rejected ({fetcher.last_error}): for a private CA pass"
            " --cacert FILE; for a name mismatch use the name the certificate is for"
        )
    if error.startswith("HTTP 4") and error != "HTTP 429":
        raise CouldNotMeasure(
            f"{target.url} answered {error[5:]}, a client error that waiting does not change: check the URL's"
            " path (the replicas answer GET on any path) and what stands in front of the balancer"
        )
    if error in ("bad HTTP answer", "TLS error") or error.startswith(f"answer over {BODY_READ_MAX // 1024} KiB"):
        detail = f" ({' '.join(str(fetcher.last_error).split())[:200]})" if fetcher.last_error else ""
        raise CouldNotMeasure(
            f"{target.url} gave a {error}{detail}, which waiting does not change: verify speaks HTTP/1.1 (an"
            " ALB does to clients) and reads at most 64 KiB of an answer"
        )


def wait_for_ready(
    target: Target,
    workload: Workload,
    resolver: Resolver = system_resolver,
    progress: Progress | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Retry with capped exponential backoff until every expected replica has answered once.

    Returns (the addresses the name resolved to, the replicas seen, first seen first). If some
    replicas answered but not all by the end of the budget, returns what it saw (the verdict then
    reports the others missing); if nothing answered, raises CouldNotMeasure with the last reason.
    What waiting cannot fix (a redirect, a rejected certificate, answers without the identity, ids
    that never repeat) raises at once. No request outlasts the budget, except that even --wait 0
    tries once for up to --timeout.
    """
    started = time.monotonic()
    deadline = started + workload.wait_s
    seen: dict[str, None] = {}
    since_new = 0  # answers since the last new replica: with no expected count, the set is settled when this is long
    without_identity = 0  # answers in a row that carried no identity
    fetchers: dict[str, Fetcher] = {}
    addresses: list[str] = []
    pause = BACKOFF_FIRST_S
    reason = f"resolving {target.host}"

    def ready() -> bool:
        if workload.expected_replicas is not None:
            return len(seen) >= workload.expected_replicas
        return bool(seen) and since_new >= SETTLE_PER_REPLICA * len(seen) + SETTLE_EXTRA

    with Watchdog() as watchdog:
        try:
            while True:
                found_new = False
                try:
                    addresses = resolve_within(resolver, target, max(deadline - time.monotonic(), workload.timeout_s))
                except OSError:  # TimeoutError included: a resolver that hangs is one that does not resolve yet
                    reason = f"{target.host} does not resolve yet"
                else:
                    # One batch per address, long enough for a random balancer to show every replica.
                    batch = SETTLE_PER_REPLICA * max(workload.expected_replicas or 0, len(seen)) + SETTLE_EXTRA
                    for address in addresses:
                        if time.monotonic() >= max(deadline, started + workload.timeout_s) and (seen or fetchers):
                            break  # out of time: no more tries, however many addresses are left
                        if address not in fetchers:
                            fetchers[address] = Fetcher(target, address, workload, tls, warm_up=True)
                            fetchers[address].hard_deadline = max(deadline, started + workload.timeout_s)
                            watchdog.fetchers.append(fetchers[address])
                        fetcher = fetchers[address]
                        fetcher.close()  # a fresh connection each round: a balancer of connections shows more
                        for _ in range(batch):
                            if ready():
                                break
                            replica, error, _cookies = fetcher.fetch()
                            if replica is None:
                                fail_fast(error or "", fetcher, target)
                                if error and error.startswith("answer without") and not seen:
                                    without_identity += 1
                                    if without_identity >= IDENTITY_PROOF:
                                        raise CouldNotMeasure(
                                            f"{without_identity} answers in a row carried no"
                                            f" {workload.identity.describe()}: the replica contract puts the id"
                                            " in the JSON field 'replica'; for another image use --identity"
                                            " header:NAME, json:FIELD or body"
                                        )
                                    continue  # an answer all the same: gather the proof without backing off
                                reason = _not_ready_reason(error or "", address, target, workload)
                                break
                            without_identity = 0
                            since_new += 1
                            if replica not in seen:
                                seen[replica] = None
                                since_new = 0
                                found_new = True
                                if len(seen) > MAX_REPLICA_IDS:
                                    raise too_many_ids(workload.identity)
                            if time.monotonic() >= deadline:
                                break  # checked after a request, so even --wait 0 tries once
                    if seen and not ready():
                        if workload.expected_replicas is not None:
                            reason = f"{len(seen)} of {workload.expected_replicas} replicas seen"
                        else:
                            reason = f"{len(seen)} replicas seen so far"
                if ready():
                    break
                now = time.monotonic()
                if progress:
                    progress(Waiting(reason, now - started, workload.wait_s))
                if now >= deadline:
                    break
                if found_new:
                    pause = BACKOFF_FIRST_S
                else:
                    time.sleep(min(pause, deadline - now))
                    pause = min(pause * 2, BACKOFF_MAX_S)
        finally:
            for fetcher in fetchers.values():
                fetcher.close()

    if not seen:
        if not addresses:
            raise CouldNotMeasure(
                f"could not resolve {target.host}: a new load balancer's DNS name can take a few minutes to"
                f" appear (and a resolver may cache the early 'no such name'); try again or raise --wait"
                f" (waited {workload.wait_s:g} s)"
            )
        raise CouldNotMeasure(f"nothing answered within --wait {workload.wait_s:g} s: {reason}")
    return tuple(addresses), tuple(seen)
