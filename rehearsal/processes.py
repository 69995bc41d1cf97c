"""The rehearsal's processes: found, checked, started each in its own process group, stopped for sure."""

from __future__ import annotations

import contextlib
import csv
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

# The Debian package that brings each program.
PACKAGES = {"haproxy": "haproxy", "nginx": "nginx-light"}

# What nginx and HAProxy print when their listen address is taken.
_BIND_FAILURE = re.compile(r"Address already in use|cannot bind socket")

BUSY_HINT = "stop what listens there or choose another port (--port for the balancer, --replica-port for the replicas)"


class RehearsalError(Exception):
    """The rehearsal cannot go on. The message is one line that says what to do; `log` is what the
    failing process printed, if that helps."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


def find_program(name: str) -> str:
    """The path of `haproxy` or `nginx` on PATH, or an error that says how to install it."""
    found = shutil.which(name)
    if found is None:
        # "on PATH": Debian puts both in /usr/sbin, which not every user's PATH has.
        raise RehearsalError(
            f"{name} not found on PATH: install it with `apt-get install {PACKAGES[name]}` or run `make deps`"
        )
    return found


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ensure_free(addresses: Iterable[tuple[str, int]]) -> None:
    """Fail before starting anything if another process listens on one of the addresses."""
    for host, port in addresses:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            # As nginx and HAProxy bind: connections of an earlier run in TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                raise RehearsalError(f"{host}:{port} is not free ({error.strerror}): {BUSY_HINT}") from None


def free_port(hosts: Iterable[str], *, span: int = 1) -> int:
    """A port nothing listens on at any of `hosts`, nor on the `span - 1` ports above it: the
    kernel's pick, then checked on each host."""
    hosts = list(hosts)
    for _ in range(50):
        with socket.socket(_family(hosts[0]), socket.SOCK_STREAM) as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            ensure_free((host, port + offset) for host in hosts for offset in range(span))
        except (RehearsalError, OverflowError):
            continue
        return port
    raise RehearsalError(f"no port is free on all of {', '.join(hosts)} (50 tries)")


@dataclass
class Process:
    """One program the rehearsal started, the leader of its own process group."""

    name: str  # "replica 127.0.1.10:8080", "haproxy"
    listen: str  # the address it binds, for error messages
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log_file: BinaryIO = field(repr=False)
    # What `stop` sends the whole group: SIGTERM, but SIGINT (a fast stop) for a replica, whose shell
    # takes SIGTERM as ECS's stop signal and first fails its health checks for a while.
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check(self) -> None:
        """Raise if the process could not bind its address or has exited."""
        log = self.log()
        if _BIND_FAILURE.search(log):
            raise RehearsalError(f"{self.name} could not listen on {self.listen}: address in use; {BUSY_HINT}")
        if not self.running:
            raise RehearsalError(f"{self.name} exited with code {self.popen.returncode}", log=log)

    def kill(self) -> None:
        """SIGKILL to the whole group at once, as a crashed task goes: nothing finishes."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):  # exited between the check and the signal
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def signal_stop(self) -> None:
        """The stop signal (SIGTERM) to the program alone, as ECS sends it to the container's first process."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> bool:
        """Wait for the program to exit until `deadline` (time.monotonic()), then SIGKILL to the whole
        group, as ECS after the stop timeout. True if it stopped in time."""
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        return True

    def stop(self, grace_s: float = 3.0) -> None:
        """`stop_signal` to the whole group (nginx's workers too), SIGKILL after `grace_s`. Safe to call twice."""
        if self.running:
            try:
                os.killpg(self.popen.pid, self.stop_signal)
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:  # exited between the check and the signal
                self.popen.wait()
        self._log_file.close()


def dies_with_this_thread(argv: Sequence[str], stop_signal: signal.Signals = signal.SIGTERM) -> list[str]:
    """`argv` under setpriv --pdeathsig: should this Python process be killed outright, the kernel
    sends the child `stop_signal`, so nothing outlives the rehearsal even when no cleanup code runs. The
    signal comes when the thread that started the child ends, so start children from the main thread."""
    if not shutil.which("setpriv"):
        return list(argv)
    return ["setpriv", "--pdeathsig", stop_signal.name.removeprefix("SIG"), "--", *argv]


def start_process(
    name: str,
    listen: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    pass_fds: Sequence[int] = (),
) -> Process:
    """Start `argv` in a new session (its own process group), its output in `log_path`; `stop_signal`
    is what stops it, from the rehearsal's cleanup or, should this process die, from the kernel;
    `pass_fds` stay open in it."""
    log_file = log_path.open("wb")
    try:
        popen = subprocess.Popen(
            dies_with_this_thread(argv, stop_signal),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except OSError:
        log_file.close()
        raise
    return Process(
        name=name, listen=listen, popen=popen, log_path=log_path, _log_file=log_file, stop_signal=stop_signal
    )


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    watch: Sequence[Process],
    late: RehearsalError | None = None,
) -> None:
    """Poll `ready` until it holds; fail as soon as a watched process fails, or after `timeout_s`: with
    `late` if given (one line), else "`what` within `timeout_s`" and the watched processes' logs."""
    deadline = time.monotonic() + timeout_s
    while True:
        for process in watch:
            process.check()
        if ready():
            return
        if time.monotonic() > deadline:
            if late is not None:
                raise late
            logs = "\n".join(f"--- {p.name}\n{p.log()}" for p in watch if p.log())
            raise RehearsalError(f"{what} within {timeout_s:g} s", log=logs)
        time.sleep(0.02)


def http_status(host: str, port: int, path: str, timeout_s: float = 0.5) -> int | None:
    """The status of one GET, or None if nothing answered."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def haproxy_command(admin_socket: Path, command: str) -> str | None:
    """One command over HAProxy's admin socket, and its answer; None if the socket does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(1.0)
            connection.connect(str(admin_socket))
            connection.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    return b"".join(chunks).decode()


def haproxy_stats(admin_socket: Path) -> list[dict[str, str]] | None:
    """HAProxy's `show stat`, one dict per frontend, backend and server (pxname, svname, status,
    check_status, hrsp_2xx, ...); None if the socket does not answer yet."""
    answer = haproxy_command(admin_socket, "show stat")
    return None if answer is None else list(csv.DictReader(answer.removeprefix("# ").splitlines()))
