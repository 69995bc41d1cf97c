"""The HTTP client: the URL, how a replica is told apart, and one kept-alive connection pinned to one address.

`http.client`, one connection per thread, each pinned to one resolved address (an ALB has one node per
zone, each with its own rotation, and a kept-alive connection stays on one node). No cookie is ever
sent back: `http.client` keeps none.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import math
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from verify.errors import CouldNotMeasure

Resolver = Callable[[str, int], list[str]]

# An answer's raw body as the replica id (--identity body) is cut to this many characters.
BODY_ID_MAX = 64
# Bodies remembered per connection with the id parsed from them; the replica contract's bodies are
# the same on every answer of one replica, so JSON is parsed once per replica, not once per request.
_ID_CACHE_MAX = 256
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
class Workload:
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


class Fetcher:
    """Sends one GET over a kept-alive connection and says which replica answered, or what failed."""

    def __init__(self, target: Target, address: str, workload: Workload, tls: ssl.SSLContext | None) -> None:
        self.connection = open_connection(target, address, workload.timeout_s, tls)
        self.path = target.path
        self.identity = workload.identity
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
