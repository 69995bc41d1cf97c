"""`Rehearsal`: start a plan's replicas and balancer, hand back what runs, stop all of it on exit."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rehearsal.configs import haproxy_config, haproxy_server_name, nginx_balancer_config
from rehearsal.plan import LISTEN_HOST, Plan, ReplicaPlan
from rehearsal.processes import (
    Process,
    ensure_free,
    find_program,
    haproxy_stats,
    http_status,
    start_process,
    wait_until,
)
from replica.nginx import nginx_config

# Bounds on start-up: nginx and HAProxy start in milliseconds; these only catch a hang.
REPLICA_START_TIMEOUT_S = 10.0
BALANCER_START_TIMEOUT_S = 5.0
# What stops a rehearsal: Ctrl-C, and SIGTERM and SIGHUP, which the CLI turns into Ctrl-C.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Running:
    """What a rehearsal started. `replicas` holds the started ones, by IP (their replica id)."""

    plan: Plan
    replicas: dict[str, Process]
    balancer: Process
    stats_socket: Path | None  # HAProxy's; None for the nginx balancer

    @property
    def url(self) -> str:
        return self.plan.url

    def stop_replica(self, ip: str) -> None:
        """Stop one replica, as ECS stops a task (SIGTERM); the balancer finds out by its health checks."""
        self.replicas[ip].stop()

    def server_stats(self) -> dict[str, dict[str, str]]:
        """Replica IP -> HAProxy's stats row for it (status "UP", "DOWN", ...; check_status; hrsp_2xx ...)."""
        if self.stats_socket is None:
            raise ValueError("server stats come from HAProxy's stats socket; this rehearsal runs nginx")
        rows = {row["svname"]: row for row in haproxy_stats(self.stats_socket) or [] if row["pxname"] == "replicas"}
        return {r.ip: rows.get(haproxy_server_name(i), {}) for i, r in enumerate(self.plan.replicas)}

    def server_states(self) -> dict[str, str]:
        """Replica IP -> HAProxy's status for it ("UP", "DOWN", "UP 1/2" before its first check, ...)."""
        return {ip: row.get("status", "unknown") for ip, row in self.server_stats().items()}


class Rehearsal:
    """`with Rehearsal(plan) as running:` starts the replicas, waits until each answers its health
    path, starts the balancer, waits until it routes, and on leaving (normally, on an exception,
    on Ctrl-C) stops every process it started and removes its temp folder.

    Start it from a thread that lives as long as it does: its processes die with that thread.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._cleanup = ExitStack()

    def __enter__(self) -> Running:
        try:
            return self._start()
        except BaseException:
            self._stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def _stop(self) -> None:
        with _signals_deferred():
            self._cleanup.close()

    def _start(self) -> Running:
        plan = self.plan
        nginx = find_program("nginx")
        haproxy = find_program("haproxy") if plan.balancer == "haproxy" else None
        started = [r for r in plan.replicas if r.start]
        ensure_free([(LISTEN_HOST, plan.port), *((r.ip, r.port) for r in started)])

        scratch = Path(tempfile.mkdtemp(prefix="rehearsal-"))
        self._cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)

        replicas = {r.ip: self._start_replica(nginx, r, scratch / r.ip) for r in started}
        waiting = set(started)

        def all_healthy() -> bool:
            waiting.difference_update({r for r in waiting if http_status(r.ip, r.port, plan.health.path) == 200})
            return not waiting

        wait_until(
            all_healthy,
            what="replicas did not answer their health path",
            timeout_s=REPLICA_START_TIMEOUT_S,
            watch=list(replicas.values()),
        )

        # Only now the balancer: HAProxy counts a server up before its first check.
        if haproxy is not None:
            stats_socket = scratch / "haproxy.sock"
            balancer = self._start_haproxy(haproxy, scratch, stats_socket)
        else:
            stats_socket = None
            balancer = self._start_nginx_balancer(nginx, scratch / "balancer")
        running = Running(plan=plan, replicas=replicas, balancer=balancer, stats_socket=stats_socket)

        def routing() -> bool:
            # Some answer, not necessarily 200: with no replica started, a 503 is the balancer's answer.
            if http_status(LISTEN_HOST, plan.port, plan.health.path) is None:
                return False
            if stats_socket is None:
                return True
            # HAProxy counts the started replicas UP from the start ("UP 1/2": one failed check takes
            # it down). The others wait for their first check: DOWN, unless the caller serves them.
            stats = running.server_stats()
            return all(
                stats[r.ip].get("status", "").startswith("UP") if r.start else _checked(stats[r.ip])
                for r in plan.replicas
            )

        # A server that is not running goes DOWN at its first check, which HAProxy spreads over an interval.
        health = plan.health
        wait_until(
            routing,
            what=f"{plan.balancer} did not route to the replicas",
            timeout_s=BALANCER_START_TIMEOUT_S + health.interval_s + health.timeout_s,
            watch=[balancer],
        )
        return running

    def _start_replica(self, nginx: str, replica: ReplicaPlan, folder: Path) -> Process:
        folder.mkdir()
        config = folder / "nginx.conf"
        config.write_text(
            nginx_config(listen=replica.address, health_path=self.plan.health.path, scratch_dir=str(folder))
        )
        return self._started(
            f"replica {replica.address}",
            replica.address,
            [nginx, "-e", "stderr", "-p", str(folder), "-c", str(config)],
            folder / "nginx.log",
        )

    def _start_haproxy(self, haproxy: str, scratch: Path, stats_socket: Path) -> Process:
        config = scratch / "haproxy.cfg"
        config.write_text(haproxy_config(self.plan, stats_socket))
        return self._started("haproxy", self.plan.url, [haproxy, "-f", str(config), "-db"], scratch / "haproxy.log")

    def _start_nginx_balancer(self, nginx: str, folder: Path) -> Process:
        folder.mkdir()
        config = folder / "nginx.conf"
        config.write_text(nginx_balancer_config(self.plan, folder))
        argv = [nginx, "-e", "stderr", "-p", str(folder), "-c", str(config)]
        return self._started("nginx balancer", self.plan.url, argv, folder / "nginx.log")

    def _started(self, name: str, listen: str, argv: list[str], log_path: Path) -> Process:
        process = start_process(name, listen, argv, log_path)
        self._cleanup.callback(process.stop)
        return process


def _checked(server: dict[str, str]) -> bool:
    """HAProxy has run at least one health check on the server ("INI" until then; "* " while one runs)."""
    return server.get("check_status", "").removeprefix("* ") not in ("", "INI")


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """A stop signal while stopping waits until every process is stopped, then takes effect."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {number: signal.signal(number, lambda n, _frame: pending.append(n)) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in pending:
            signal.raise_signal(number)
