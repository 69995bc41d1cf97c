"""`Rehearsal`: start a plan's replicas and balancer, hand back what runs, stop all of it on exit."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rehearsal.configs import (
    FAIL_OPEN,
    GREEN_TARGETS,
    NODE_TARGETS,
    SHIFT_PERMILLE,
    TARGET_GROUP,
    haproxy_config,
    haproxy_server_name,
    routing_backends,
    shift_acl_files,
)
from rehearsal.plan import Plan, ReplicaPlan, Zone
from rehearsal.processes import (
    Process,
    RehearsalError,
    ensure_free,
    find_program,
    haproxy_command,
    haproxy_stats,
    http_status,
    start_process,
    wait_until,
)
from replica.nginx import STOP_DELAY_ENV_VAR, graceful_command, nginx_config, stopping_flag
from verify.core.scratch import new_owned_folder

# Bounds on start-up: nginx and HAProxy start in milliseconds; these only catch a hang.
REPLICA_START_TIMEOUT_S = 10.0
BALANCER_START_TIMEOUT_S = 5.0
# HAProxy refuses a longer stats socket path ("socket path ... too long (max 97)").
HAPROXY_SOCKET_PATH_MAX = 97
# HAProxy's statuses of a server it sends new requests to: UP ("UP 1/2": one check failed), and
# "no check" (its health checks turned off).
ROUTED = ("UP", "no check")
# What stops a rehearsal: Ctrl-C, and SIGTERM and SIGHUP, which the CLI turns into Ctrl-C.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Running:
    """What a rehearsal started. `replicas` holds the started ones, by IP (their replica id);
    `balancers` and `admin_sockets` one per zone, in the plan's order of zones."""

    plan: Plan
    replicas: dict[str, Process]
    balancers: list[Process]
    admin_sockets: list[Path]
    # Starts one more replica of the plan, stopped with the rehearsal (a new task of a deploy).
    starter: Callable[[ReplicaPlan], Process] = field(repr=False)
    # With the plan's access_logs: the file each node (in the plan's order of zones) logs requests to,
    # one ALB access-log line each, as HAProxy wrote them (`rehearsal.access_logs` files them as S3 does).
    access_logs: list[Path] = field(default_factory=list)
    # Seconds one replica took to start and answer, on average, at the rehearsal's start: on this
    # machine, under its load; a deploy of many replicas plans its measurement with it.
    replica_start_s: float = 0.0
    # Each replica's folder is scratch / its IP (its stopping flag there: `release_stopping`).
    scratch: Path = Path()
    # A traffic-shifting plan: the range of draws each node's production and test ACL holds now.
    _green_ranges: dict[tuple[int, bool], str] = field(default_factory=dict, repr=False)
    # Stopping replicas whose wait `release_stopping` has ended.
    _released: set[str] = field(default_factory=set, repr=False)

    @property
    def url(self) -> str:
        return self.plan.url

    def scratch_file(self, prefix: str) -> IO[str]:
        """A new file to write, named `prefix...`, in the scratch folder (removed with it, whatever ends the run)."""
        return tempfile.NamedTemporaryFile("w", dir=self.scratch, prefix=prefix, suffix=".txt", delete=False)

    def stop_replica(self, ip: str) -> bool:
        """Stop one replica as ECS stops a task: its stop signal, SIGKILL after the stop timeout. It
        fails its health checks while it still serves, then stops. True if it stopped in time."""
        return self.stop_replicas([ip])

    def stop_replicas(self, ips: list[str]) -> bool:
        """Stop replicas as ECS stops tasks, all at once: each its stop signal, then SIGKILL to those
        still running after the stop timeout. True if every one stopped in time."""
        return self.wait_stopped(ips, self.send_stop_signal(ips))

    def send_stop_signal(self, ips: list[str]) -> float:
        """ECS's stop signal (SIGTERM) to each replica's first process, as to a container's PID 1;
        returns when ECS would send SIGKILL (time.monotonic())."""
        deadline = time.monotonic() + self.plan.stop_timeout_s
        for ip in ips:
            self.replicas[ip].signal_stop()
        return deadline

    def wait_stopped(self, ips: list[str], deadline: float) -> bool:
        """Wait until the replicas have stopped, each released once every node has taken it out
        (`release_stopping`); SIGKILL at `deadline`. True if every one stopped in time."""
        while any(self.replicas[ip].running for ip in ips) and time.monotonic() < deadline:
            self.release_stopping()
            time.sleep(0.02)
        return all([self.replicas[ip].wait_stopped(deadline) for ip in ips])

    def release_stopping(self) -> None:
        """End the wait of each replica that has failed its health checks for the plan's stop delay and
        that no node routes to any more (ROUTED): a second stop signal ends a replica's wait.
        Its own wait is the stop timeout here, as a bound: the nodes' checks run on this machine, and on a
        busy one they ran late, so a replica that stopped at its delay alone was still sent requests
        (502s, at load 13); the ALB's nodes do not slow down with the machine a task runs on."""
        delay_s = self.plan.stop_delay_s
        stopping = []
        for ip, process in self.replicas.items():
            flag = Path(stopping_flag(str(self.scratch / ip)))
            with contextlib.suppress(FileNotFoundError):  # not stopping, or stopped
                if process.running and ip not in self._released and time.time() - flag.stat().st_mtime >= delay_s:
                    stopping.append(ip)
        if not stopping:
            return
        states = [self.server_states(node) for node in range(len(self.balancers))]
        for ip in stopping:
            if not any(node.get(ip, "").startswith(ROUTED) for node in states):
                self._released.add(ip)
                self.replicas[ip].signal_stop()

    def start_replica(self, ip: str) -> Process:
        """Start a replica of the plan that is not running yet (a new task of a deploy)."""
        replica = self._replica(ip)
        ensure_free([(replica.ip, replica.port)])
        process = self.starter(replica)
        self.replicas[ip] = process
        self._released.discard(ip)  # a slot that runs again (--keep)
        wait_until(
            lambda: http_status(replica.ip, replica.port, self.plan.health.path) is not None,
            what=f"replica {replica.address} did not answer",
            timeout_s=REPLICA_START_TIMEOUT_S,
            watch=[process],
        )
        return process

    def register(self, ip: str) -> None:
        """Register a replica with the target group on every node. Like a new ALB target, it gets
        requests only after `healthy_threshold` passed checks: HAProxy would count it UP at once.
        (Forced down while draining, as a forced state in maintenance does not stick; forced down
        after "ready", it got requests in between.)"""
        self.set_state(ip, "drain")
        self._command(ip, TARGET_GROUP, "health down")
        self.set_state(ip, "ready")

    def set_state(self, ip: str, state: str, node: int | None = None) -> None:
        """Set a replica's admin state on one node (default: every node): "ready" puts it in the
        target group, "drain" stops new requests to it, "maint" takes it out."""
        # NODE_TARGETS follows TARGET_GROUP. GREEN_TARGETS' servers start disabled and do not follow a
        # tracked server out of maintenance: they are set too (FAIL_OPEN holds no green replica).
        backends = [b for b in routing_backends(self.plan, self._replica(ip)) if b != NODE_TARGETS]
        for backend in (TARGET_GROUP, *backends):
            self._command(ip, backend, f"state {state}", node)

    def shift_to_green(self, percent: float, *, test: bool = False, node: int | None = None) -> None:
        """Rewrite ECS's production (or test) listener rule on one node (default: every node): `percent`
        of its requests to the green target group, the rest to blue. Takes effect with the next request."""
        permille = round(percent / 100 * SHIFT_PERMILLE)
        wanted = f"0:{permille - 1}" if permille > 0 else None
        for index in range(len(self.admin_sockets)) if node is None else [node]:
            acl = shift_acl_files(self.admin_sockets[index])[1 if test else 0]
            held = self._green_ranges.get((index, test))
            # The new range before the old goes: for an instant the larger of the two, never none.
            for command in ([f"add acl {acl} {wanted}"] if wanted and wanted != held else []) + (
                [f"del acl {acl} {held}"] if held and held != wanted else []
            ):
                answer = haproxy_command(self.admin_sockets[index], command)
                if answer is None or answer.strip():
                    raise RehearsalError(f"HAProxy refused '{command}' on {self.admin_sockets[index]}: {answer!r}")
            self._green_ranges[(index, test)] = wanted or ""

    def green_share(self, *, test: bool = False, node: int = 0) -> float:
        """The percent of its requests the production (or test) rule of a node sends to green now."""
        held = self._green_ranges.get((node, test))
        return (int(held.split(":")[1]) + 1) * 100 / SHIFT_PERMILLE if held else 0.0

    def _command(self, ip: str, backend: str, setting: str, node: int | None = None) -> None:
        name = haproxy_server_name(self.plan.replicas.index(self._replica(ip)))
        for admin_socket in self.admin_sockets if node is None else [self.admin_sockets[node]]:
            answer = haproxy_command(admin_socket, f"set server {backend}/{name} {setting}")
            if answer is None or answer.strip():
                raise RehearsalError(f"HAProxy refused '{setting}' for {ip} on {admin_socket}: {answer!r}")

    def server_stats(self, node: int = 0, backend: str = TARGET_GROUP) -> dict[str, dict[str, str]]:
        """Replica IP -> a node's stats row for it in `backend` (status "UP", "DOWN", "MAINT", ...;
        check_status; hrsp_2xx ...); replicas the backend does not hold are left out."""
        rows = {row["svname"]: row for row in haproxy_stats(self.admin_sockets[node]) or [] if row["pxname"] == backend}
        return {r.ip: rows[name] for i, r in enumerate(self.plan.replicas) if (name := haproxy_server_name(i)) in rows}

    def server_states(self, node: int = 0) -> dict[str, str]:
        """Replica IP -> a node's health status for it ("UP", "DOWN", "UP 1/2" before its first check, ...)."""
        return {ip: row.get("status", "unknown") for ip, row in self.server_stats(node).items()}

    def answered(self) -> int:
        """Answers the replicas have sent through every node so far (any status)."""
        return sum(
            int(row.get(f"hrsp_{kind}") or 0)
            for node in range(len(self.admin_sockets))
            for backend in (NODE_TARGETS, FAIL_OPEN, GREEN_TARGETS)
            for row in self.server_stats(node, backend).values()
            for kind in ("2xx", "5xx")
        )

    def _replica(self, ip: str) -> ReplicaPlan:
        return next(r for r in self.plan.replicas if r.ip == ip)


class Rehearsal:
    """`with Rehearsal(plan) as running:` starts the replicas, waits until each answers its health
    path, starts one balancer node per zone, waits until they route, and on leaving (normally, on an
    exception, on Ctrl-C) stops every process it started and removes its temp folder.

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
        self._nginx = find_program("nginx")
        haproxy = find_program("haproxy")
        started = [r for r in plan.replicas if r.start]
        nodes = [(ip, port) for ip in plan.node_addresses for port in (plan.port, plan.stats_port)]
        ensure_free([*nodes, *((r.ip, r.port) for r in started)])

        try:
            self._scratch = _new_scratch()
        except OSError as error:  # a full disk or TMPDIR, a TMPDIR not writable
            raise RehearsalError(
                f"could not make the rehearsal's temporary folder in {tempfile.gettempdir()}:"
                f" {error.strerror or error}; free some space or set TMPDIR to another folder"
            ) from None
        self._cleanup.callback(shutil.rmtree, self._scratch, ignore_errors=True)
        admin_sockets = [self._scratch / f"{zone.name}.sock" for zone in plan.zones]
        if plan.traffic_shifting:  # empty: every request to blue until a deploy shifts some
            for acl in (acl for admin_socket in admin_sockets for acl in shift_acl_files(admin_socket)):
                acl.write_text("")
        longest = max(len(str(path)) for path in admin_sockets)
        if longest > HAPROXY_SOCKET_PATH_MAX:
            raise RehearsalError(
                f"the temporary folder {self._scratch.parent} is too long for HAProxy's admin socket path "
                f"({longest} characters, at most {HAPROXY_SOCKET_PATH_MAX}): set TMPDIR to a shorter folder, "
                "e.g. TMPDIR=/tmp"
            )

        began = time.monotonic()
        replicas = {r.ip: self._start_replica(r) for r in started}
        waiting = set(started)

        def all_answer() -> bool:
            # Any answer: with --fail-health-checks the health path answers 503.
            waiting.difference_update({r for r in waiting if http_status(r.ip, r.port, plan.health.path) is not None})
            return not waiting

        wait_until(
            all_answer,
            what="replicas did not answer their health path",
            timeout_s=REPLICA_START_TIMEOUT_S,
            watch=list(replicas.values()),
        )

        # Only now the balancers: HAProxy counts a server up before its first check.
        balancers = [
            self._start_haproxy(haproxy, zone, admin_socket)
            for zone, admin_socket in zip(plan.zones, admin_sockets, strict=True)
        ]
        running = Running(
            plan=plan,
            replicas=replicas,
            balancers=balancers,
            admin_sockets=admin_sockets,
            starter=self._start_replica,
            access_logs=[self._access_log(zone) for zone in plan.zones] if plan.access_logs else [],
            replica_start_s=(time.monotonic() - began) / max(len(started), 1),
            scratch=self._scratch,
        )

        def routing() -> bool:
            # Some answer from every node, not necessarily 200: with no replica started, a 503.
            if any(http_status(ip, plan.port, plan.health.path) is None for ip in plan.node_addresses):
                return False
            # HAProxy counts the started replicas UP from the start ("UP 1/2": one failed check takes
            # it down). The others wait for their first check: DOWN, unless the caller serves them.
            # Failing health checks: wait until every node has taken every replica down.
            # The admin socket answers once HAProxy runs, its listeners bound: until then no stats.
            every_node = [running.server_stats(node) for node in range(len(balancers))]
            return all(
                replica.ip in stats and _settled(replica, stats[replica.ip], plan.fail_health_checks)
                for stats in every_node
                for replica in plan.replicas
                if replica.registered
            )

        # A server that is not running goes DOWN at its first check, which HAProxy spreads over an
        # interval; a failing one after `unhealthy_threshold` checks.
        health = plan.health
        checks = (health.unhealthy_threshold if plan.fail_health_checks else 1) + 1
        wait_until(
            routing,
            what="the balancer nodes did not route to the replicas",
            timeout_s=BALANCER_START_TIMEOUT_S + plan.seconds(checks * health.interval_seconds),
            watch=balancers,
        )
        return running

    def _start_replica(self, replica: ReplicaPlan) -> Process:
        folder = self._scratch / replica.ip
        folder.mkdir(exist_ok=True)  # a slot runs again after its replica stopped (--keep)
        config = folder / "nginx.conf"
        config.write_text(
            nginx_config(
                listen=replica.address,
                health_path=self.plan.health.path,
                scratch_dir=str(folder),
                healthy=not self.plan.fail_health_checks and replica.fails != "health-checks",
                failing_answers=replica.fails == "5xx",
                answer_as=replica.answers_as,
                # Run as root, nginx's workers would be nobody, who cannot see into this temp folder.
                worker_user="root" if os.geteuid() == 0 else None,
            )
        )
        argv = graceful_command(
            [self._nginx, "-e", "stderr", "-p", str(folder), "-c", str(config)], scratch_dir=str(folder)
        )
        # The container definition's delay, as a bound (the stop timeout): `Running.release_stopping` ends
        # it once every node has taken the replica out, at the delay at the earliest. The rehearsal's own
        # stop (SIGINT) skips it; an immediate stop (--no-drain) has none.
        delay_s = self.plan.stop_timeout_s if self.plan.stop_delay_s else 0.0
        env = {**os.environ, STOP_DELAY_ENV_VAR: f"{delay_s:g}"}
        return self._started(
            f"replica {replica.address}",
            replica.address,
            argv,
            folder / "nginx.log",
            env=env,
            stop_signal=signal.SIGINT,
        )

    def _access_log(self, zone: Zone) -> Path:
        return self._scratch / f"{zone.name}.access.log"

    def _start_haproxy(self, haproxy: str, zone: Zone, admin_socket: Path) -> Process:
        config = self._scratch / f"{zone.name}.cfg"
        pass_fds: list[int] = []
        if self.plan.access_logs:
            # HAProxy writes each line to this descriptor (`log fd@N`): a plain file, so no write blocks.
            opened = self._access_log(zone).open("ab")
            self._cleanup.callback(opened.close)
            pass_fds.append(opened.fileno())
        config.write_text(haproxy_config(self.plan, zone, admin_socket, pass_fds[0] if pass_fds else None))
        listen = f"{zone.node_ip}:{self.plan.port}"
        argv = [haproxy, "-f", str(config), "-db"]
        log_path = self._scratch / f"{zone.name}.log"
        return self._started(f"HAProxy node of {zone.name}", listen, argv, log_path, pass_fds=pass_fds)

    def _started(
        self,
        name: str,
        listen: str,
        argv: list[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        pass_fds: Sequence[int] = (),
    ) -> Process:
        process = start_process(name, listen, argv, log_path, env=env, stop_signal=stop_signal, pass_fds=pass_fds)
        self._cleanup.callback(process.stop)
        return process


SCRATCH_PREFIX = "rehearsal-"
# What the rehearsal's deploys marked verify's timeline with, before the marks lived in the scratch folder.
_OLD_PHASES = "rehearsal-phases-*.txt"


def _new_scratch() -> Path:
    """A temporary folder for this run, named SCRATCH_PREFIX..., marked with this process as its owner.

    What earlier runs killed outright left (no cleanup ran) is removed first: their folders, and the
    marks files the rehearsal kept beside them before, which no process holds open any more.
    """
    _remove_old_phases()
    return new_owned_folder(SCRATCH_PREFIX)


def _remove_old_phases() -> None:
    left = list(Path(tempfile.gettempdir()).glob(_OLD_PHASES))
    if not left:
        return
    held = set()
    for descriptor in Path("/proc").glob("[0-9]*/fd/*"):  # what every process holds open
        with contextlib.suppress(OSError):
            held.add(os.readlink(descriptor))
    for path in left:
        if str(path) not in held:
            with contextlib.suppress(OSError):
                path.unlink()


def _settled(replica: ReplicaPlan, server: dict[str, str], failing: bool) -> bool:
    """A registered replica's status is what the run should start with: a started one UP (DOWN when
    every health check fails), another one checked at least once."""
    if not replica.start:
        return _checked(server)
    up = server.get("status", "").startswith("UP")
    return _checked(server) and not up if failing else up


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
