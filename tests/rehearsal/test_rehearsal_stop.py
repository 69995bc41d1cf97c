"""A replica stopped outside a deploy, in Fargate Spot's order: its stop signal (SIGTERM) arrives while
it is still registered, and it leaves the target group only once it has exited."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rehearsal_helpers import FLOW_VERIFY, VERIFY_QUICK, VerifyRun, quick_plan, run_verify

from rehearsal import Plan, Rehearsal
from rehearsal.configs import TARGET_GROUP, haproxy_server_name
from rehearsal.interrupt import InterruptResult, interrupt_while_verifying
from rehearsal.processes import haproxy_command, http_status
from settings import from_stack_file
from stack_config import PROJECT_DIR

pytestmark = pytest.mark.rehearsal


def interrupted(plan: Plan) -> tuple[int, InterruptResult, dict[str, Any]]:
    """One Spot interruption of one replica while verify measures: its code, the result, its report."""
    with Rehearsal(plan.with_deploy_slots()) as running, tempfile.TemporaryFile("w+") as report_file:
        code, result = interrupt_while_verifying(
            running, 1, verify_extra=FLOW_VERIFY, out=io.StringIO(), verify_stdout=report_file
        )
        report_file.seek(0)
        return code, result, json.load(report_file)


def test_sigterm_to_a_registered_replica_under_load_loses_no_request() -> None:
    plan = quick_plan(3)
    code, result, report = interrupted(plan)

    assert code == 0 and report["errors"] == {}, report["errors"]
    assert result.replaced and result.stopped_in_time
    # It failed its checks for the stop delay, then stopped gracefully: on its own, before the stop timeout.
    assert plan.stop_delay_s <= result.stop_seconds
    victim, replacement = plan.replicas[0].ip, plan.with_deploy_slots().replicas[3].ip
    assert [change["disappeared"] for change in report["replica_changes"] if change["disappeared"]] == [[victim]]
    assert sorted(report["replicas"]) == sorted([replacement, plan.replicas[1].ip, plan.replicas[2].ip])


def test_the_same_sigterm_with_an_immediate_stop_loses_requests() -> None:
    """The stop as it was (nginx's graceful stop at once): nodes keep sending to a registered replica
    that no longer listens until their checks find it down or they learn of its deregistration."""
    code, result, report = interrupted(quick_plan(3, immediate_stop=True))

    assert code == 1
    assert result.replaced
    errors = report["errors"]
    assert sum(errors.values()) > 0
    assert all(kind.startswith(("HTTP 502", "connection closed")) for kind in errors), errors


def test_a_stopping_replica_fails_its_health_check_while_it_still_serves() -> None:
    """Between the stop signal and its graceful stop the replica answers 503 on its health path and 200
    everywhere else, and every balancer node takes it down while it still runs."""
    plan = quick_plan(2)
    with Rehearsal(plan) as running:
        replica = plan.replicas[0]
        stopping = threading.Thread(target=running.stop_replica, args=(replica.ip,))
        stopping.start()
        seen: set[tuple[int | None, int | None]] = set()
        down_while_running = False
        deadline = time.monotonic() + 10
        while running.replicas[replica.ip].running and time.monotonic() < deadline:
            health, other = (http_status(replica.ip, replica.port, path) for path in (plan.health.path, "/any"))
            seen.add((health, other))
            states = [running.server_states(node).get(replica.ip) for node in range(len(plan.zones))]
            down_while_running |= all(state == "DOWN" for state in states) and running.replicas[replica.ip].running
            time.sleep(0.01)
        stopping.join(10)

    assert (503, 200) in seen, seen
    assert down_while_running


def test_a_stopping_replica_waits_beyond_its_delay_until_no_node_routes_to_it() -> None:
    """A node whose checks run late (here: not at all, until the test turns them on) still routes to the
    replica after its stop delay: the replica keeps serving until that node too has taken it out. On a
    busy machine the nodes' checks ran late, and a replica that stopped at its delay lost requests."""
    plan = replace(quick_plan(2), time_scale=0.1)
    with Rehearsal(plan) as running:
        victim = plan.replicas[0]
        late = f"{TARGET_GROUP}/{haproxy_server_name(0)}"
        assert haproxy_command(running.admin_sockets[1], f"disable health {late}") == "\n"
        stopped: list[bool] = []
        stopping = threading.Thread(target=lambda: stopped.append(running.stop_replica(victim.ip)))
        stopping.start()
        deadline = time.monotonic() + 30
        while running.server_states(0).get(victim.ip) != "DOWN":  # the first node took it out
            assert time.monotonic() < deadline, running.server_states(0)
            time.sleep(0.01)
        time.sleep(plan.stop_delay_s)  # and its delay has passed since
        assert running.server_states(1)[victim.ip] == "no check" and running.replicas[victim.ip].running
        assert http_status(victim.ip, victim.port, "/") == 200, "it still serves the node that routes to it"
        assert haproxy_command(running.admin_sockets[1], f"enable health {late}") == "\n"
        stopping.join(30)
    assert stopped == [True], "it stopped once the second node had taken it out, before its stop timeout"


DEV_PLAN = Plan.from_settings(from_stack_file("dev"))


def rehearsal_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    return lines


def next_line(lines: queue.Queue[str], text: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while text not in (line := lines.get(timeout=max(0.1, deadline - time.monotonic()))):
        pass
    return line


def test_interrupt_loses_no_request_and_the_immediate_stop_does() -> None:
    """python -m rehearsal --interrupt 1, with and without --no-drain, side by side on their own ports."""
    runs = []
    for extra in ([], ["--no-drain"]):
        plan = DEV_PLAN.on_free_ports()
        ports = ["--port", str(plan.port), "--replica-port", str(plan.replicas[0].port)]
        argv = ["-m", "rehearsal", "--interrupt", "1", *extra, *ports, "--time-scale", "0.04", "--", *FLOW_VERIFY]
        runs.append(
            subprocess.Popen(
                [sys.executable, *argv], cwd=PROJECT_DIR, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    (clean_out, clean_err), (cut_out, cut_err) = (run.communicate(timeout=60) for run in runs)

    assert runs[0].returncode == 0, clean_out + clean_err
    assert "still registered, as a Fargate Spot interruption sends it" in clean_err
    assert "every replica replaced" in clean_err
    assert json.loads(clean_out)["errors"] == {}
    assert runs[1].returncode == 1, cut_out + cut_err
    assert "each stops at once (immediate stop)" in cut_err
    assert sum(json.loads(cut_out)["errors"].values()) > 0


def test_sigterm_by_hand_during_keep_is_a_spot_interruption_too(short_tmp: Path, monkeypatch) -> None:
    """The pid the rehearsal prints is the replica's PID 1: SIGTERM to it fails the health checks while
    the replica serves, it stops, and the rehearsal replaces it as ECS does; verify sees no failure. Each
    step waits for the one before: SIGTERM once verify measures, verify's end once the replacement is
    healthy (--until-mark), not clocks a busy machine misses (verify's fixed 2.5 s ended before it, exit 2)."""
    import verify.cli

    measuring = threading.Event()
    send_requests = verify.cli.send_requests

    def measure(*args: Any, **kwargs: Any) -> Any:
        measuring.set()
        return send_requests(*args, **kwargs)

    monkeypatch.setattr(verify.cli, "send_requests", measure)
    plan = DEV_PLAN.on_free_ports()
    scale = 0.04
    ports = ["--port", str(plan.port), "--replica-port", str(plan.replicas[0].port), "--time-scale", str(scale)]
    keeper = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", *ports, "--keep", "--", "--requests", "300"],
        cwd=PROJECT_DIR,
        env={**os.environ, "TMPDIR": str(short_tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    marks = short_tmp / "marks.txt"
    marks.write_text("")
    try:
        lines = rehearsal_lines(keeper)
        first = next_line(lines, "  replica ")
        victim, pid = re.search(r"replica ([0-9.]+):[0-9]+ .*, pid ([0-9]+)", first).groups()
        next_line(lines, "press Ctrl-C")

        following = ["--duration", "120", "--phases", str(marks), "--until-mark", "replaced"]
        argv = [*plan.verify_args(), *VERIFY_QUICK, *following, "--max-error-rate", "0"]
        result: list[VerifyRun] = []
        verifying = threading.Thread(target=lambda: result.append(run_verify(argv)))
        verifying.start()
        assert measuring.wait(60), "verify never began to measure"
        os.kill(int(pid), signal.SIGTERM)
        noticed = next_line(lines, "ECS deregisters and replaces it", timeout_s=60)
        replaced = next_line(lines, "replacements ", timeout_s=60)
        with marks.open("a") as file:
            file.write(f"{time.time():.3f} replaced\n")
        verifying.join(60)
        keeper.send_signal(signal.SIGINT)
        code = keeper.wait(timeout=30)
    finally:
        if keeper.poll() is None:  # only when an assertion failed: do not leave it behind
            keeper.kill()
            keeper.wait()

    assert noticed.startswith(f"rehearsal: {victim} stopped; ECS deregisters and replaces it")
    assert "healthy on every node" in replaced
    run = result[0]
    assert run.code == 0, run.stdout + run.stderr
    # No request failed: the victim served until every node had stopped sending to it, then stopped.
    assert run.report["errors"] == {}
    assert victim not in run.report["replicas"] and len(run.report["replicas"]) == len(plan.replicas)
    assert code == 0
