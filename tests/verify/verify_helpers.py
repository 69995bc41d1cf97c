"""Helpers of the verify tests: tallies built by hand and small HTTP servers on loopback."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import itertools
import json
import os
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from verify.cli import main
from verify.core.tally import ConnectionLog, Second, Tally


def build_tally(
    counts: Mapping[str, int],
    *,
    warmup: Sequence[str] | None = None,
    errors: Mapping[str, int] | None = None,
    cookies: Mapping[str, int] | None = None,
    connections: Sequence[ConnectionLog] | None = None,
    addresses: Sequence[str] = ("127.0.0.1",),
) -> Tally:
    """A tally with these counts; unless given, answers arrive in rotation over one connection."""
    rotation = []
    if connections is None:
        rotation = [
            replica
            for round_ in range(max(counts.values(), default=0))
            for replica in counts
            if counts[replica] > round_
        ]
    errors = dict(errors or {})
    if connections is None:
        connections = [
            ConnectionLog(
                addresses[0], rotation, [float(i) for i in range(len(rotation))], len(rotation), sum(errors.values())
            )
        ]
    return Tally(
        url="http://balancer.test/",
        addresses=tuple(addresses),
        warmup_replicas=tuple(warmup if warmup is not None else counts),
        requests=sum(counts.values()) + sum(errors.values()),
        counts=dict(counts),
        latencies_ms={replica: [1.0] * min(count, 100) for replica, count in counts.items()},
        errors=errors,
        cookies=dict(cookies or {}),
        connections=list(connections),
        elapsed_s=1.0,
    )


OLD, NEW = ("10.0.1.5", "10.0.2.7", "10.0.1.10"), ("10.0.1.20", "10.0.2.21", "10.0.1.22")


def rolling_deploy(errors_in_second: dict[int, dict[str, int]] | None = None) -> Tally:
    """A --duration run over a deploy: 3 old replicas (seconds 0-2), old and new (3-4), 3 new (5-7)."""
    plan = [OLD] * 3 + [OLD + NEW] * 2 + [NEW] * 3
    errors_in_second = errors_in_second or {}
    timeline = [
        Second(number, 60 * len(replicas) + sum(errors_in_second.get(number, {}).values()),
               dict(errors_in_second.get(number, {})), dict.fromkeys(replicas, 60))
        for number, replicas in enumerate(plan)
    ]  # fmt: skip
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for entry in timeline:
        counts.update(entry.replicas)
        errors.update(entry.errors)
    tally = build_tally(counts, warmup=OLD, errors=errors)
    return dataclasses.replace(tally, duration_s=8.0, timeline=timeline)


Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


def replica_answer(replica: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Answer:
    """An answer in the replica contract's shape (see replica/__init__.py)."""
    body = json.dumps({"replica": replica, "hostname": "test", "ip": replica, "port": "0"}).encode() + b"\n"
    return status, {"Content-Type": "application/json", "X-Replica": replica, **(headers or {})}, body


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-answer (Ctrl-C, deadline tests) is expected here


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6  # ::1: the IPv6 loopback


@dataclass
class LoopbackServer:
    """One HTTP/1.1 server (kept-alive connections) on a loopback address; `answer` decides each reply."""

    address: str
    answer: Callable[[int], Answer]  # request number (0, 1, ...) -> answer
    tls: ssl.SSLContext | None = None
    port: int = 0  # 0: any free port
    requests: list[dict[str, str]] = field(default_factory=list)  # headers of every request received
    server_names: list[str | None] = field(default_factory=list)  # SNI of every TLS handshake
    _numbers: itertools.count = field(default_factory=itertools.count)

    def start(self) -> LoopbackServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def do_GET(self) -> None:
                owner.requests.append(dict(self.headers))
                status, headers, body = owner.answer(next(owner._numbers))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # keep the test output clean

        server_class = _QuietServer6 if ":" in self.address else _QuietServer
        self.httpd = server_class((self.address, self.port), Handler)
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def rotation(*replicas: str, **answer_options: object) -> Callable[[int], Answer]:
    """A one-address stand-in for a balancer: answers come from the replicas in turn (or by a pattern)."""
    return lambda number: replica_answer(replicas[number % len(replicas)], **answer_options)  # type: ignore[arg-type]


def signal_at_first_request(signal_number: int) -> Callable[[int], Answer]:
    """Answers of replica 'a', 0.05 s each, for a run of many; `signal_number` to this process when the first
    request comes: verify runs then, its stop signals taken (a timer from the start could come before)."""

    def answer(number: int) -> Answer:
        if number == 0:
            os.kill(os.getpid(), signal_number)
        time.sleep(0.05)
        return replica_answer("a")

    return answer


@dataclass
class RawServer:
    """A TCP server on loopback whose `handle(connection, number, stop)` writes whatever bytes it likes.

    For servers no HTTP library would write: trickling, streaming without end, nesting without end.
    Every connection runs in its own thread; `stop()` ends them all (handlers watch `stop`).
    """

    address: str
    handle: Callable[[socket.socket, int, threading.Event], None]
    port: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _connections: list[socket.socket] = field(default_factory=list)

    def start(self) -> RawServer:
        self.listener = socket.create_server((self.address, self.port))
        self.listener.settimeout(0.01)
        self.port = self.listener.getsockname()[1]
        accepting = threading.Thread(target=self._accept, daemon=True)
        accepting.start()
        self._threads.append(accepting)
        return self

    def _accept(self) -> None:
        for number in itertools.count():
            while not self._stop.is_set():
                try:
                    connection, _ = self.listener.accept()
                    break
                except TimeoutError:
                    continue
                except OSError:
                    return
            else:
                return
            self._connections.append(connection)
            worker = threading.Thread(target=self._serve, args=(connection, number), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, connection: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError), connection:
            self.handle(connection, number, self._stop)

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)


def read_request(connection: socket.socket) -> bool:
    """Read one request's head (GET has no body); False when the client closed the connection."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            return False
        head += chunk
    return True


# "At once" on a busy machine: a run that takes a fraction of a second alone takes a few at load 10 beside
# another test. A test of "at once, not after --wait" passes --wait WAIT_NOT_WAITED and asserts AT_ONCE_S:
# waiting --wait out (the wrong behaviour) takes 6 times the bound.
AT_ONCE_S = 10
WAIT_NOT_WAITED = "60"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str, float]:
    """verify's main() on argv: its exit code, stdout, stderr and how long it took."""
    started = time.monotonic()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err, time.monotonic() - started


def one_line_error(err: str) -> str:
    """stderr of a failed run: exactly one `verify: ...` line and no traceback; that line."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("verify: ")
    return lines[0]
