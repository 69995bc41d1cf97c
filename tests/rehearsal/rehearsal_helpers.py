"""Helpers of the rehearsal tests: free ports, quick plans, verify runs, a slow replica, process checks."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rehearsal import Plan
from settings import StackSettings, parse_settings

# The stack's timings at 1/25: health checks every 0.2 s (a replica that is not running is DOWN within
# a fraction of a second), a deregistration delay of 0.2 s, a stop delay of 0.52 s and a stop timeout of 1.72 s.
QUICK_TIME_SCALE = 0.04
# verify's options every scenario passes: a JSON report, and bounds on its waits.
VERIFY_QUICK = ["--json", "--wait", "5", "--timeout", "2"]
# verify's options in the flows (deploys, shifts, stops), which measure for as long as the flow runs: a JSON
# report at a paced 500 requests a second. Unpaced, verify sends 6,000 a second here and takes a core with
# HAProxy and nginx, starving the health checks the flow waits for (60 ms timeouts at time scale 0.02) on a busy
# machine; at 500 a second every check window of the flows still sees tens of requests, lost ones included.
FLOW_VERIFY = ["--json", "--rate", "500"]


def stack_settings(replicas: int = 3, algorithm: str = "round_robin") -> StackSettings:
    """A stack of its own, so the tests do not change with Pulumi.dev.yaml."""
    return parse_settings({"replicas": replicas, "algorithm": algorithm}, project="alb-replicas", stack="test")


def quick_plan(
    replicas: int = 3,
    *,
    algorithm: str = "round_robin",
    weights: Sequence[int] | None = None,
    start: Sequence[bool] | None = None,
    **changes: Any,
) -> Plan:
    """A plan on free ports with quick health checks; `weights` and `start` go replica by replica."""
    plan = Plan.from_settings(stack_settings(replicas, algorithm)).on_free_ports()
    weights = weights if weights is not None else [1] * replicas
    start = start if start is not None else [True] * replicas
    varied = tuple(replace(r, weight=w, start=s) for r, w, s in zip(plan.replicas, weights, start, strict=True))
    return replace(plan, replicas=varied, time_scale=QUICK_TIME_SCALE, **changes)


@dataclass
class VerifyRun:
    code: int
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_verify(argv: list[str]) -> VerifyRun:
    """`verify.cli.main(argv)` in this process, its output captured, its time taken."""
    from verify.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(argv)
    return VerifyRun(int(code), stdout.getvalue(), stderr.getvalue(), time.monotonic() - started)


@contextmanager
def slow_replica(ip: str, port: int, *, health_path: str, delay_s: float) -> Iterator[None]:
    """A replica that answers its health path at once and everything else after `delay_s`."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept-alive, as nginx serves

        def setup(self) -> None:
            super().setup()
            # Without this, Nagle's algorithm holds the reply behind HAProxy's delayed ACKs.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            if self.path == health_path:
                body = b'{"status":"ok"}\n'
            else:
                stop.wait(delay_s)
                body = json.dumps({"replica": ip, "hostname": "slow", "ip": ip, "port": str(port)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Replica", ip)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up on the slow answer resets the connection: expected here

    server = Server((ip, port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _proc_stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> set[tuple[int, str]]:
    """Every living process under `root`, as (pid, start time) so a reused pid is not mistaken for it."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: set[tuple[int, str]] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child[0])
    return found


def alive(processes: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of `processes` still running (zombies count as gone: they only wait to be reaped)."""
    return {
        (pid, started)
        for pid, started in processes
        if (stat := _proc_stat(pid)) is not None and stat[2] == started and stat[1] != "Z"
    }


def command_line(pid: int | str) -> str:
    """The command line of a process, its arguments joined by spaces; "" if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and text in (cmdline := command_line(entry.name)):
            found.append(cmdline)
    return found
