"""Measuring: resolve the name, wait until the replicas answer, send the requests, return a tally.

Nothing here prints; progress goes to a callback. One thread per connection, each with its own
kept-alive `http.client` connection pinned to one resolved address (an ALB has one node per zone,
each with its own rotation, and a kept-alive connection stays on one node), connections spread
round robin over every address. No cookie is ever sent back: `http.client` keeps none.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import itertools
import json
import math
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from verify.errors import CouldNotMeasure
from verify.tally import ConnectionLog, Tally

Resolver = Callable[[str, int], list[str]]

# Wait-for-ready backoff: from the first to the longest pause between rounds that brought nothing new.
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
# An answer's raw body as the replica id (--identity body) is cut to this many characters.
BODY_ID_MAX = 64
# Bodies remembered per connection with the id parsed from them; the replica contract's bodies are
# the same on every answer of one replica, so JSON is parsed once per replica, not once per request.
_ID_CACHE_MAX = 256
_BALANCER_NOT_READY = (502, 503, 504)
_HEADERS = {"User-Agent": "alb-replicas-verify", "Accept": "application/json, */*"}


@dataclass(frozen=True)
class Target:
    """The URL to measure, split the way the connections need it."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line

    @classmethod
    def parse(cls, url: str) -> Target:
        hint = "give an http:// or https:// URL such as http://my-alb-123.us-east-1.elb.amazonaws.com/"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise CouldNotMeasure(f"bad URL {url!r} ({error}): {hint}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CouldNotMeasure(f"bad URL {url!r}: {hint}")
        default_port = 443 if parts.scheme == "https" else 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(url, parts.scheme, parts.hostname, port if port is not None else default_port, path)


@dataclass(frozen=True)
class Identity:
    """How to tell which replica answered: a JSON field, a header, or the body itself."""

    kind: str  # "json", "header" or "body"
    name: str = ""

    @classmethod
    def parse(cls, spec: str) -> Identity:
        kind, _, name = spec.partition(":")
        if (kind in ("json", "header") and name) or (spec == "body"):
            return cls(kind, name)
        raise CouldNotMeasure(f"bad --identity {spec!r}: use json:FIELD, header:NAME or body")

    def describe(self) -> str:
        return {"json": f"JSON field {self.name!r}", "header": f"header {self.name}"}.get(self.kind, "body")


@dataclass(frozen=True)
class Plan:
    """How much to send and how long anything may take."""

    requests: int = 0  # to send while measuring; not used while waiting for ready
    concurrency: int = 10
    timeout_s: float = 5.0  # per request
    wait_s: float = 300.0  # budget for wait-for-ready
    identity: Identity = Identity("json", "replica")
    expected_replicas: int | None = None  # replicas to wait for; None: until no new one shows up

    @property
    def deadline_s(self) -> float:
        """The measurement's own bound: every request taking the whole timeout, one after another per connection."""
        return self.timeout_s * (math.ceil(self.requests / self.concurrency) + 1)


@dataclass(frozen=True)
class Waiting:
    """Progress while waiting for ready: what is not ready yet."""

    reason: str
    elapsed_s: float
    budget_s: float


@dataclass(frozen=True)
class Measuring:
    """Progress while measuring."""

    done: int
    total: int


Progress = Callable[[Waiting | Measuring], None]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the name resolves to, in the resolver's order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def open_connection(
    target: Target, address: str, timeout_s: float, tls: ssl.SSLContext | None = None
) -> http.client.HTTPConnection:
    """A connection to `address` that still speaks to the host name: Host header, SNI and certificate check."""
    if target.scheme == "https":
        context = tls if tls is not None else ssl.create_default_context()
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout_s, context=context
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout_s)

    def connect_to_address(
        _host_port: tuple[str, int], timeout: float | None, source: tuple[str, int] | None
    ) -> socket.socket:
        sock = socket.create_connection((address, target.port), timeout, source)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    # http.client opens its socket through this attribute; HTTPS wraps the result with
    # server_hostname=target.host, so SNI and the certificate check stay on the name.
    connection._create_connection = connect_to_address  # type: ignore[attr-defined]
    return connection


def error_kind(error: BaseException) -> str:
    """A short, countable name for what went wrong with one request."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, http.client.RemoteDisconnected):
        return "connection closed"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "TLS certificate rejected"
    if isinstance(error, ssl.SSLError):
        return "TLS error"
    if isinstance(error, http.client.HTTPException):
        return "bad HTTP answer"
    if isinstance(error, OSError) and error.errno is not None:
        return f"network error ({errno.errorcode.get(error.errno, error.errno)})"
    return type(error).__name__


class _Fetcher:
    """Sends one GET over a kept-alive connection and says which replica answered, or what failed."""

    def __init__(self, target: Target, address: str, plan: Plan, tls: ssl.SSLContext | None) -> None:
        self.connection = open_connection(target, address, plan.timeout_s, tls)
        self.path = target.path
        self.identity = plan.identity
        self._ids: dict[bytes, str | None] = {}

    def fetch(self) -> tuple[str | None, str | None, list[str]]:
        """(replica id, None, cookie names) for an answer; (None, error kind, cookie names) otherwise."""
        try:
            self.connection.request("GET", self.path, headers=_HEADERS)
            response = self.connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            return None, error_kind(error), []
        set_cookies = response.msg.get_all("Set-Cookie")
        cookies = [cookie.split("=", 1)[0].strip() for cookie in set_cookies] if set_cookies else []
        if not 200 <= response.status < 300:
            return None, f"HTTP {response.status}", cookies
        replica = self._replica_of(response, body)
        if replica is None:
            return None, f"answer without {self.identity.describe()}", cookies
        return replica, None, cookies

    def _replica_of(self, response: http.client.HTTPResponse, body: bytes) -> str | None:
        if self.identity.kind == "header":
            value = response.getheader(self.identity.name)
            return value.strip() if value else None
        if body in self._ids:
            return self._ids[body]
        if self.identity.kind == "body":
            replica = body.decode("utf-8", "replace").strip()[:BODY_ID_MAX] or None
        else:
            replica = _json_field(body, self.identity.name)
        if len(self._ids) < _ID_CACHE_MAX:
            self._ids[body] = replica
        return replica

    def close(self) -> None:
        self.connection.close()

    def interrupt(self) -> None:
        """Wake a thread blocked on this connection (at the deadline or on Ctrl-C)."""
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by its own thread
                sock.shutdown(socket.SHUT_RDWR)


def _json_field(body: bytes, field: str) -> str | None:
    try:
        value = json.loads(body)[field]
    except (ValueError, TypeError, KeyError):
        return None
    return str(value) if value is not None and not isinstance(value, dict | list) else None


def _not_ready_reason(error: str, address: str, target: Target, plan: Plan) -> str:
    """What an error during wait-for-ready means for someone waiting on a new deployment."""
    if error.startswith("HTTP ") and int(error[5:]) in _BALANCER_NOT_READY:
        return f"{error[5:]} from the balancer: targets not healthy yet"
    if error == "connection refused":
        return f"connection refused by {address}:{target.port}: the listener is not up (or the port is wrong)"
    if error == "timeout":
        return f"no answer from {address}:{target.port} within {plan.timeout_s:g} s"
    return f"{error} from {address}:{target.port}"


def wait_for_ready(
    target: Target,
    plan: Plan,
    resolver: Resolver = system_resolver,
    progress: Progress | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Retry with capped exponential backoff until every expected replica has answered once.

    Returns (the addresses the name resolved to, the replicas seen, first seen first). If some
    replicas answered but not all by the end of the budget, returns what it saw (the verdict then
    reports the others missing); if nothing answered, raises CouldNotMeasure with the last reason.
    """
    started = time.monotonic()
    deadline = started + plan.wait_s
    seen: dict[str, None] = {}
    since_new = 0  # answers since the last new replica: with no expected count, the set is settled when this is long
    fetchers: dict[str, _Fetcher] = {}
    addresses: list[str] = []
    pause = BACKOFF_FIRST_S
    reason = f"resolving {target.host}"

    def ready() -> bool:
        if plan.expected_replicas is not None:
            return len(seen) >= plan.expected_replicas
        return bool(seen) and since_new >= 5 * len(seen) + 10

    try:
        while True:
            found_new = False
            try:
                addresses = resolver(target.host, target.port)
            except OSError:
                reason = f"{target.host} does not resolve yet"
            else:
                # One batch per address, long enough for a random balancer to show most replicas.
                batch = 5 * max(plan.expected_replicas or 0, len(seen)) + 10
                for address in addresses:
                    if address not in fetchers:
                        fetchers[address] = _Fetcher(target, address, plan, tls)
                    fetcher = fetchers[address]
                    for _ in range(batch):
                        if ready():
                            break
                        replica, error, _cookies = fetcher.fetch()
                        if replica is None:
                            reason = _not_ready_reason(error or "", address, target, plan)
                            break
                        since_new += 1
                        if replica not in seen:
                            seen[replica] = None
                            since_new = 0
                            found_new = True
                        if time.monotonic() >= deadline:
                            break  # checked after a request, so even --wait 0 tries once
                if seen and not ready():
                    if plan.expected_replicas is not None:
                        reason = f"{len(seen)} of {plan.expected_replicas} replicas seen"
                    else:
                        reason = f"{len(seen)} replicas seen so far"
            if ready():
                break
            now = time.monotonic()
            if progress:
                progress(Waiting(reason, now - started, plan.wait_s))
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
                f" (waited {plan.wait_s:g} s)"
            )
        raise CouldNotMeasure(f"nothing answered within --wait {plan.wait_s:g} s: {reason}")
    return tuple(addresses), tuple(seen)


@dataclass
class _WorkerResult:
    log: ConnectionLog
    counts: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    cookies: Counter[str] = field(default_factory=Counter)
    done: int = 0


def send_requests(
    target: Target,
    plan: Plan,
    addresses: tuple[str, ...],
    warmup: tuple[str, ...],
    progress: Progress | None = None,
    tls: ssl.SSLContext | None = None,
) -> Tally:
    """Send `plan.requests` GETs over `plan.concurrency` connections, pinned round robin to the addresses.

    `warmup` (the replicas seen while waiting for ready) is passed through to the tally. Bounded by
    `plan.deadline_s`; a Ctrl-C stops every connection at once.
    """
    stop = threading.Event()
    connections = max(1, min(plan.concurrency, plan.requests))
    tickets = itertools.count()  # next() on it is atomic under the GIL: each ticket is one request
    started = time.perf_counter()
    deadline = started + plan.deadline_s
    # Connections round robin over every address: each balancer node gets its share of them.
    pinned = [addresses[i % len(addresses)] for i in range(connections)]
    fetchers = [_Fetcher(target, address, plan, tls) for address in pinned]
    results = [_WorkerResult(ConnectionLog(address)) for address in pinned]
    deadline_hit = threading.Event()

    def work(fetcher: _Fetcher, result: _WorkerResult) -> None:
        clock = time.perf_counter
        replicas, sent_at = result.log.replicas, result.log.sent_at
        counts, latencies, errors, cookie_counts = result.counts, result.latencies_ms, result.errors, result.cookies
        try:
            while not stop.is_set() and next(tickets) < plan.requests:
                sent = clock()
                if sent >= deadline:
                    deadline_hit.set()
                    return
                replica, error, cookies = fetcher.fetch()
                if stop.is_set():
                    return  # interrupted: this request's outcome is an artefact of stopping
                cookie_counts.update(cookies)
                if replica is None:
                    errors[error or ""] += 1
                else:
                    counts[replica] += 1
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
    for thread in threads:
        thread.start()
    try:
        # Joined with a short timeout so Ctrl-C reaches this thread, progress is reported and the
        # deadline holds even against a server that trickles its answer.
        while any(thread.is_alive() for thread in threads):
            if time.perf_counter() >= deadline + plan.timeout_s:
                deadline_hit.set()
                break
            next(thread for thread in threads if thread.is_alive()).join(0.1)
            if progress:
                progress(Measuring(sum(result.done for result in results), plan.requests))
    finally:
        stop.set()
        for fetcher in fetchers:
            fetcher.interrupt()
    for thread in threads:
        thread.join(plan.timeout_s)

    tally = Tally(url=target.url, addresses=addresses, warmup_replicas=warmup)
    for result in results:
        tally.requests += result.done
        _add(tally.counts, result.counts)
        _add(tally.errors, result.errors)
        _add(tally.cookies, result.cookies)
        for replica, latencies in result.latencies_ms.items():
            tally.latencies_ms.setdefault(replica, []).extend(latencies)
        tally.connections.append(result.log)
    tally.elapsed_s = time.perf_counter() - started
    tally.deadline_hit = deadline_hit.is_set()
    return tally


def _add(into: dict[str, int], counts: Counter[str]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count
