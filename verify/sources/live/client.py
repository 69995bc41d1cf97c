"""The HTTP client: the URL, how a replica is told apart, and one kept-alive connection pinned to one address.

`http.client`, one connection per thread, each pinned to one resolved address (an ALB has one node per
zone, each with its own rotation, and a kept-alive connection stays on one node). No cookie is ever
sent back: `http.client` keeps none.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import ipaddress
import json
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from verify.core.addresses import FAMILIES, node_address
from verify.core.errors import CouldNotMeasure
from verify.core.files import read_regular
from verify.core.replica_ids import MAX_REPLICA_IDS, ReplicaIdTooLong, replica_id
from verify.core.text import printable, redact, shown_value

Resolver = Callable[[str, int], list[str]]
T = TypeVar("T")

# A redirect's Location is cut to this many characters in the error that names it.
LOCATION_MAX = 512
# Distinct cookie names counted per connection: a server inventing a name per answer stays bounded.
COOKIE_NAMES_MAX = 64
# Bytes of a body read for identification; a longer answer is cut and its connection closed, so
# memory stays bounded whatever the server sends.
BODY_READ_MAX = 64 * 1024
# Bodies remembered per connection with the id parsed from them; the replica contract's bodies are
# the same on every answer of one replica, so JSON is parsed once per replica, not once per request.
# Only short bodies are remembered: a cache of large, ever-different bodies is what ate memory.
_ID_CACHE_MAX = 256
_ID_CACHE_BODY_MAX = 1024
# How often the watchdog looks for a request past its deadline.
_WATCHDOG_TICK_S = 0.05
# The ALB's access logs keep each request's User-Agent: the warm-up's own lets them be told apart.
USER_AGENT = "alb-replicas-verify"
WARM_UP_USER_AGENT = "alb-replicas-verify (warm-up)"
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json, */*"}
# Informational answers (103 Early Hints, ...) skipped before one answer; more is a protocol error.
INFORMATIONAL_MAX = 16
SHORT_BODY = "answer shorter than its Content-Length"
# The error kind of an answer whose id is too long to be a name (verify.core.replica_ids): the run ends.
ID_TOO_LONG = "replica id too long"
# --identity body: the id is the body's first characters.
BODY_ID_CHARS = 64
# The longest request line an ALB takes (ELB user guide, "Quotas for your Application Load Balancers",
# HTTP headers: request line 16K); a longer one it answers 414.
REQUEST_LINE_MAX = 16 * 1024
# How much of a bad URL a refusal echoes.
URL_SHOWN_MAX = 200
# A CA bundle verify reads for --cacert: the system's whole bundle is about 200 KiB.
CACERT_READ_MAX = 4 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    """The URL to measure, split the way the connections need it."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    # Headers sent with every request beyond verify's own: the deploy hook's test header, which a test
    # listener rule routes on.
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> Target:
        hint = "give an http:// or https:// URL such as http://my-alb-123.us-east-1.elb.amazonaws.com/"
        shown = shown_value(url, URL_SHOWN_MAX)
        # urlsplit silently drops tabs and newlines, and http.client would send a space: refuse them here.
        if any(char.isspace() or not char.isprintable() for char in url):
            raise CouldNotMeasure(f"bad URL {shown}: it contains a space or control character; {hint}")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise CouldNotMeasure(f"bad URL {shown} ({error}): {hint}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CouldNotMeasure(f"bad URL {shown}: {hint}")
        host_and_port = parts.netloc.rpartition("@")[2]
        after_bracket = host_and_port.partition("]")[2] if host_and_port.startswith("[") else ""
        if after_bracket and not after_bracket.startswith(":"):  # urlsplit lets "[::1]x" through
            raise CouldNotMeasure(f"bad URL {shown}: after an IPv6 address in brackets comes :PORT or nothing; {hint}")
        if ":" in parts.hostname:  # an IPv6 literal: one a balancer node can have (no zone id, not IPv4-mapped)
            try:
                node_address(parts.hostname)
            except ValueError as error:
                raise CouldNotMeasure(f"bad URL {shown}: {error}; {hint}") from None
        if port == 0:
            raise CouldNotMeasure(f"bad URL {shown}: port 0 is not a port to connect to; allowed: 1 to 65535")
        default_port = 443 if parts.scheme == "https" else 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(f"GET {path} HTTP/1.1".encode()) > REQUEST_LINE_MAX:
            raise CouldNotMeasure(
                f"bad URL {shown}: its path and query make a request line of"
                f" {len(f'GET {path} HTTP/1.1'.encode()):,} bytes; an ALB takes at most {REQUEST_LINE_MAX:,}"
                " (it answers 414)"
            )
        # `url` is what verify shows: user info and query values redacted (the query is still sent).
        return cls(redact(url), parts.scheme, parts.hostname, port if port is not None else default_port, path)


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
class Workload:
    """How much to send, how long anything may take, and how a replica is told apart."""

    requests: int = 0  # to send while measuring; not used while waiting for ready (nor with duration_s)
    duration_s: float | None = None  # send for this long instead of a request count
    concurrency: int = 10
    rate: float | None = None  # at most this many requests a second while measuring, evenly spaced; None: no cap
    timeout_s: float = 5.0  # bound on one whole answer, from connecting to its last byte (a Watchdog cuts it)
    wait_s: float = 300.0  # budget for wait-for-ready
    identity: Identity = Identity("json", "replica")
    expected_replicas: int | None = None  # replicas to wait for; None: until no new one shows up
    # The caller's bound on the measurement (the deploy hook's Lambda invocation): it stops there as at its
    # own deadline, with what it has. None: the measurement's own bound only.
    budget_s: float | None = None

    @property
    def deadline_s(self) -> float:
        """The measurement's own bound (the duration, or every request taking the whole timeout, one after
        another per connection, plus the time the rate spaces them over), or the caller's budget when that is
        shorter."""
        if self.duration_s is not None:
            own = self.duration_s
        else:
            own = self.timeout_s * (math.ceil(self.requests / self.concurrency) + 1)
            own += self.requests / self.rate if self.rate else 0.0
        return own if self.budget_s is None else min(own, self.budget_s)


class _Response(http.client.HTTPResponse):
    """An answer that skips the informational ones before it (http.client skips only 100 Continue)."""

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(INFORMATIONAL_MAX):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 < status < 200 or status == 101:
                return version, status, reason
            http.client._read_headers(self.fp)  # type: ignore[attr-defined]  # its headers, as begin() skips 100's
        raise http.client.HTTPException(f"more than {INFORMATIONAL_MAX} informational answers before one answer")


def within(seconds: float, call: Callable[[], T], what: str) -> T:
    """`call()`'s result, or TimeoutError naming `what` after `seconds`: for calls with no deadline of their own
    (getaddrinfo, urllib's reads, which restart their timeout on every byte).

    The call runs in a daemon thread; one that never returns is left behind, not waited for.
    """
    answer: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            answer.append((True, call()))
        except BaseException as error:  # handed to the caller's thread as it is
            answer.append((False, error))

    worker = threading.Thread(target=run, name="verify-within", daemon=True)
    worker.start()
    worker.join(seconds)
    if not answer:
        raise TimeoutError(f"{what} took longer than {seconds:g} s")
    ok, value = answer[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the name resolves to, in the resolver's order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --ip-version: the address families measured. An ALB in dual-stack mode answers A and AAAA, one address of
# each family per node: "both" measures over every one.
IP_VERSIONS: dict[str, tuple[int, ...]] = {"4": (4,), "6": (6,), "both": (4, 6)}


def family_resolver(resolver: Resolver, versions: tuple[int, ...]) -> Resolver:
    """`resolver`'s addresses of `versions`, canonical and each once; an address no balancer node can have (a
    zone id, an IPv4-mapped IPv6 address) is left out. A name with addresses but none of `versions` is a
    CouldNotMeasure at once: waiting would not change what the name is."""

    def resolve(host: str, port: int) -> list[str]:
        found = resolver(host, port)
        kept: list[str] = []
        for text in found:
            try:
                address = node_address(text)
            except ValueError:
                continue
            if ipaddress.ip_address(address).version in versions and address not in kept:
                kept.append(address)
        if found and not kept:
            wanted = " or ".join(FAMILIES[version] for version in versions)
            shown = ", ".join(printable(text[:60]) for text in found[:4])
            raise CouldNotMeasure(
                f"{printable(host)} resolves to no {wanted} address (it gives {shown}); "
                "choose the family it has with --ip-version"
            )
        return kept

    return resolve


def pinned_resolver(pins: Mapping[str, tuple[str, ...]], fallback: Resolver = system_resolver) -> Resolver:
    """Like curl's --resolve: a host in `pins` resolves to its addresses, any other through `fallback`."""

    def resolve(host: str, port: int) -> list[str]:
        pinned = pins.get(host.lower())
        return list(pinned) if pinned is not None else fallback(host, port)

    return resolve


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

    connection.response_class = _Response
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
    if isinstance(error, http.client.IncompleteRead) and not _caused_by(error, ValueError):
        return "answer cut short"  # closed mid-body; a chunk size that is no number is a protocol error below
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


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is in the chain of exceptions `error` was raised while handling."""
    seen: BaseException | None = error.__context__
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__context__
    return False


def tls_context(cacert: str | None) -> ssl.SSLContext:
    """The system's trusted CAs, or those in `cacert` (a PEM file) for a certificate from a private CA.

    The file is read here, a regular file only and without waiting (ssl would open a FIFO and wait for good).
    """
    if cacert is None:
        return ssl.create_default_context()
    usage = "give a PEM file of CA certificates"
    try:
        pem = read_regular(cacert, "--cacert", CACERT_READ_MAX)
    except CouldNotMeasure as error:
        raise CouldNotMeasure(f"bad {error}; {usage}") from None
    if len(pem) > CACERT_READ_MAX:
        raise CouldNotMeasure(f"bad --cacert {cacert!r}: over {CACERT_READ_MAX // 1024**2} MiB; {usage}")
    try:
        return ssl.create_default_context(cadata=pem.decode("ascii"))
    except (UnicodeDecodeError, ssl.SSLError, ValueError) as error:
        raise CouldNotMeasure(f"bad --cacert {cacert!r}: {error}; {usage}") from None


def id_too_long(target: Target, error: BaseException | None) -> CouldNotMeasure:
    """The error for an id too long to name a replica (verify.core.replica_ids): waiting does not shorten it."""
    return CouldNotMeasure(f"{target.url} answered with {error}; use --identity with a field that names the replica")


def too_many_ids(identity: Identity) -> CouldNotMeasure:
    """The error for ids that never repeat: counting each as a replica would only grow the run."""
    return CouldNotMeasure(
        f"more than {MAX_REPLICA_IDS} distinct replica ids from {identity.describe()}: it changes with"
        " every answer (a request id, a dynamic page), so it does not name a replica; use --identity with"
        " a field or header that does"
    )


class Fetcher:
    """Sends one GET over a kept-alive connection and says which replica answered, or what failed.

    A `Watchdog` cuts a request still running at its deadline: the socket timeout alone restarts on
    every byte, so a server trickling its answer would never time out.
    """

    def __init__(
        self, target: Target, address: str, workload: Workload, tls: ssl.SSLContext | None, *, warm_up: bool = False
    ) -> None:
        self.connection = open_connection(target, address, workload.timeout_s, tls)
        own = {**_HEADERS, "User-Agent": WARM_UP_USER_AGENT} if warm_up else _HEADERS
        self.headers = {**own, **dict(target.headers)}
        self.address = address
        self.path = target.path
        self.identity = workload.identity
        self.timeout_s = workload.timeout_s
        self.hard_deadline = math.inf  # monotonic time no request may outlast (the warm-up's or the run's)
        # (deadline, request number) of the request in flight, None when idle: one attribute, so the
        # watchdog reads both at once.
        self.busy: tuple[float, int] | None = None
        self.cut_request = -1  # the request number the watchdog cut
        self.requests = 0
        self.location: str | None = None  # Location of the last 3xx answer
        self.last_error: BaseException | None = None  # what failed the last request, for a hint
        self._ids: dict[bytes, str | None] = {}

    def fetch(self) -> tuple[str | None, str | None, list[str]]:
        """(replica id, None, cookie names) for an answer; (None, error kind, cookie names) otherwise."""
        self.requests += 1
        self.last_error = None
        number = self.requests
        self.busy = (min(time.monotonic() + self.timeout_s, self.hard_deadline), number)
        try:
            self.connection.request("GET", self.path, headers=self.headers)
            response = self.connection.getresponse()
            body = response.read(BODY_READ_MAX + 1)
        except (OSError, ValueError, http.client.HTTPException) as error:
            self.connection.close()
            self.last_error = error
            return None, "timeout" if self.cut_request == number else error_kind(error), []
        finally:
            self.busy = None
        if self.cut_request == number:  # a close-delimited body cut short reads as complete
            self.connection.close()
            return None, "timeout", []
        if len(body) <= BODY_READ_MAX and response.length:  # closed before the length it promised
            self.connection.close()
            return None, SHORT_BODY, []
        if not response.isclosed():  # longer than BODY_READ_MAX: the rest is never read, so the connection goes
            self.connection.close()
        set_cookies = response.msg.get_all("Set-Cookie")
        cookies = [printable(cookie.split("=", 1)[0].strip()) for cookie in set_cookies] if set_cookies else []
        if not 200 <= response.status < 300:
            location = response.getheader("Location")
            self.location = printable(location, LOCATION_MAX) if location else None
            return None, f"HTTP {response.status}", cookies
        try:
            replica = self._replica_of(response, body)
        except ReplicaIdTooLong as error:
            self.last_error = error
            return None, ID_TOO_LONG, cookies
        if replica is None and len(body) > BODY_READ_MAX and self.identity.kind == "json":
            return None, f"answer over {BODY_READ_MAX // 1024} KiB", cookies
        if replica is None:
            return None, f"answer without {self.identity.describe()}", cookies
        return replica, None, cookies

    def _replica_of(self, response: http.client.HTTPResponse, body: bytes) -> str | None:
        if self.identity.kind == "header":
            value = response.getheader(self.identity.name)
            return replica_id(value) if value else None
        if body in self._ids:
            return self._ids[body]
        if self.identity.kind == "body":  # its start is the id, however long the body
            replica = replica_id(body[:BODY_READ_MAX].decode("utf-8", "replace")[:BODY_ID_CHARS])
        elif len(body) > BODY_READ_MAX:
            replica = None  # cut: not the whole JSON
        else:
            replica = _json_field(body, self.identity.name)
        if len(body) <= _ID_CACHE_BODY_MAX and len(self._ids) < _ID_CACHE_MAX:
            self._ids[body] = replica  # (an id too long raised before: never remembered)
        return replica

    def cut(self, number: int) -> None:
        """The watchdog's: end request `number` if it is still the one in flight."""
        busy = self.busy
        if busy is not None and busy[1] == number:
            self.cut_request = number
            self.interrupt()

    def close(self) -> None:
        self.connection.close()

    def interrupt(self) -> None:
        """Wake a thread blocked on this connection (at a deadline or on Ctrl-C)."""
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by its own thread
                sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread that cuts every request running past its deadline, for the fetchers in `fetchers`."""

    def __init__(self) -> None:
        self.fetchers: list[Fetcher] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="verify-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(_WATCHDOG_TICK_S):
            now = time.monotonic()
            for fetcher in list(self.fetchers):
                busy = fetcher.busy
                if busy is not None and now >= busy[0]:
                    fetcher.cut(busy[1])


def _json_field(body: bytes, field: str) -> str | None:
    """The field as it came: a number in its own spelling (1.50, not 1.5), true as true, not Python's True."""
    try:
        value = json.loads(body, parse_int=str, parse_float=str, parse_constant=str)[field]
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):  # not JSON, not an object, nested too deep
        return None
    if value is None or isinstance(value, dict | list):
        return None
    return replica_id(json.dumps(value) if isinstance(value, bool) else value)
