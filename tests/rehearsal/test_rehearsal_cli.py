"""`python -m rehearsal` as a person runs it: in a subprocess, from the repository root."""

from __future__ import annotations

import gzip
import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rehearsal_helpers import FLOW_VERIFY, alive, command_line, descendants, processes_mentioning

import rehearsal.cli
from rehearsal import Plan
from rehearsal.processes import ensure_free
from settings import from_stack_file
from stack_config import PROJECT_DIR
from tests.small_filesystem import in_small_filesystem
from verify.sources.logs.query import ATHENA_REGEX, node_of
from verify.sources.phases import UNTIL_MARK_TAIL_S

pytestmark = pytest.mark.rehearsal

DEV_PLAN = Plan.from_settings(from_stack_file("dev"))
DEV_IPS = [r.ip for r in DEV_PLAN.replicas]
DEV_DEPLOY = DEV_PLAN.with_deploy_slots()
DEPLOY_SETS_DURATION = (
    "--deploy has verify measure until the deploy has ended; pass none of --duration, --requests, --phases,"
    " --until-mark"
)
INTERRUPT_SETS_DURATION = (
    "--interrupt has verify measure until the interrupt has ended; pass none of --duration, --requests, --phases,"
    " --until-mark"
)


def rehearsal_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "rehearsal", *args]


def quick_ports() -> list[str]:
    """Free ports for the balancer nodes and the dev stack's replicas, so runs never collide."""
    plan = DEV_PLAN.on_free_ports()
    return ["--port", str(plan.port), "--replica-port", str(plan.replicas[0].port)]


def run_rehearsal(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        rehearsal_argv(*args), cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def test_end_to_end_passes_prints_the_report_and_leaves_nothing(short_tmp: Path) -> None:
    ports = quick_ports()
    # Every file of the rehearsal, and so every command line of its programs, lies under short_tmp.
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    done = run_rehearsal(*ports, "--", "--requests", "300", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "rehearsal: python -m verify http://alb.rehearsal.test:" in done.stderr
    assert all(ip in done.stdout for ip in DEV_IPS)  # verify's report names every replica
    assert processes_mentioning(str(short_tmp)) == []
    assert list(short_tmp.iterdir()) == []  # the temp folder is gone too
    nodes = [(ip, int(ports[1]) + offset) for ip in DEV_PLAN.node_ips for offset in (0, 1)]
    ensure_free([*nodes, *((ip, int(ports[3])) for ip in DEV_IPS)])


def test_without_haproxy_on_path_it_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "nginx").symlink_to(subprocess.check_output(["which", "nginx"], text=True).strip())
    done = run_rehearsal(*quick_ports(), env={**os.environ, "PATH": str(tmp_path)})

    assert done.returncode == 2
    assert (
        done.stderr
        == "rehearsal: haproxy not found on PATH: install it with `apt-get install haproxy` or run `make deps`\n"
    )


def test_a_busy_port_is_one_line_and_exit_2() -> None:
    ports = quick_ports()
    port = int(ports[1])
    node_ip = DEV_PLAN.node_ips[0]
    with socket.socket() as squatter:
        squatter.bind((node_ip, port))
        squatter.listen()
        done = run_rehearsal(*ports)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"rehearsal: {node_ip}:{port} is not free (Address already in use)")
    assert "--port" in done.stderr


def test_a_missing_stack_is_one_line_and_exit_2() -> None:
    done = run_rehearsal("--stack", "nosuchstack")

    assert done.returncode == 2
    assert done.stderr.startswith("rehearsal: stack 'nosuchstack': no file Pulumi.nosuchstack.yaml; stacks here:")
    assert done.stderr.count("\n") == 1


def test_a_bad_stack_file_is_every_problem_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  alb-replicas:replicas: 0\n  alb-replicas:azCount: 9\n")
    monkeypatch.setattr(rehearsal.cli, "from_stack_file", lambda stack: from_stack_file(stack, project_dir=tmp_path))
    out = io.StringIO()

    code = rehearsal.cli.main(["--stack", "bad"], out=out)

    assert code == 2
    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith("rehearsal: invalid stack settings: ")
    assert "replicas: 0 is out of range" in out.getvalue()
    assert "azCount: 9 is out of range" in out.getvalue()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_keep_stays_up_until_a_signal_then_leaves_no_process(stop_signal: signal.Signals, short_tmp: Path) -> None:
    ports = quick_ports()
    keeper = subprocess.Popen(
        rehearsal_argv(*ports, "--keep", "--", "--requests", "300"),
        cwd=PROJECT_DIR,
        env={**os.environ, "TMPDIR": str(short_tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a test run started in the background of a script inherits
        # SIGINT ignored, and Python then never raises KeyboardInterrupt (the keeper waited forever).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in keeper.stderr], daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while "press Ctrl-C" not in (line := lines.get(timeout=max(0.1, deadline - time.monotonic()))):
            pass
        assert "rehearsal: up at http://alb.rehearsal.test:" in line
        started = descendants(keeper.pid)
        # Per replica a shell, nginx's master and its worker; an HAProxy per zone.
        assert len(started) >= len(DEV_IPS) * 3 + len(DEV_PLAN.zones)
        time.sleep(0.5)
        assert keeper.poll() is None  # still up: it waits for the signal

        keeper.send_signal(stop_signal)
        code = keeper.wait(timeout=30)  # a bound for a busy machine, not a wait
    finally:
        if keeper.poll() is None:  # only when an assertion failed: do not leave it behind
            keeper.kill()
            keeper.wait()

    assert code == 0  # verify's verdict on the even rehearsal; the signal is how --keep is meant to end
    assert alive(started) == set()
    assert list(short_tmp.iterdir()) == []  # its temp folder is gone too


def test_a_drained_deploy_loses_no_request_and_an_undrained_one_does(tmp_path: Path) -> None:
    """Run side by side on their own ports: the clean deploy is not luck, killing the old replicas
    at once (crashed tasks) costs requests and exits 1. The clean one writes its HTML report, with the
    deploy's steps marked on the timeline."""
    page = tmp_path / "deploy.html"
    drained, undrained = (
        subprocess.Popen(
            [*rehearsal_argv("--deploy", "--time-scale", "0.04", *extra, *quick_ports()), "--", *FLOW_VERIFY],
            cwd=PROJECT_DIR,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for extra in (["--report", str(page)], ["--no-drain"])
    )
    (clean_out, clean_err), (crash_out, crash_err) = (p.communicate(timeout=60) for p in (drained, undrained))

    assert drained.returncode == 0, clean_out + clean_err
    assert "rehearsal: timings shortened to 0.04 of the stack's" in clean_err
    assert "every replica replaced" in clean_err
    report = json.loads(clean_out)
    assert report["errors"] == {} and report["verdict"] == "even"
    new_ips = sorted(r.ip for r in DEV_DEPLOY.replicas if not r.registered)
    # Each new replica joins once its checks pass (not necessarily in the same second as the others).
    assert sorted(ip for change in report["replica_changes"] for ip in change["appeared"]) == new_ips
    assert sorted(report["replicas"]) == new_ips  # judged over the answers after the last change
    steps = [phase["text"] for phase in report["phases"]]
    assert steps[0].startswith("started and registered 3 new replicas") and len(steps) == 5, steps
    # verify measured until the deploy's end and its judged tail after it.
    assert steps[-1] == "ended" and report["phases"][-1]["second"] + UNTIL_MARK_TAIL_S <= report["elapsed_s"]
    assert all(0 < phase["second"] < report["elapsed_s"] for phase in report["phases"])
    html = page.read_text()
    assert "<section id='timeline'>" in html and all(f"P{n} phase: " in html for n in range(1, 6))

    assert undrained.returncode == 1, crash_out + crash_err
    errors = json.loads(crash_out)["errors"]
    assert sum(errors.values()) > 0
    assert all(kind.startswith(("HTTP 502", "connection closed")) for kind in errors), errors


def test_verify_arguments_cannot_point_the_rehearsals_name_elsewhere() -> None:
    """The rehearsal's own --resolve stays: a second one for its name is refused, not the last one winning
    (verify then waited 300 s on an address where no node listens)."""
    started = time.monotonic()
    done = run_rehearsal(*quick_ports(), "--", "--resolve", "alb.rehearsal.test:127.0.0.2")

    assert done.returncode == 2, done.stderr
    assert "verify: --resolve gives alb.rehearsal.test twice" in done.stderr
    assert time.monotonic() - started < 60  # verify waited its --wait of 300 s


def test_a_report_into_a_missing_folder_is_one_line_and_exit_2_before_anything_starts(tmp_path: Path) -> None:
    out = io.StringIO()

    code = rehearsal.cli.main(["--deploy", "--report", str(tmp_path / "none" / "r.html")], out=out)

    assert code == 2
    assert out.getvalue() == (
        f"rehearsal: --report '{tmp_path}/none/r.html': the folder '{tmp_path}/none' does not exist\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--time-scale", "0"], "argument --time-scale: '0' is not a time scale from 0.01 to 1"),
        (["--time-scale", "nan"], "argument --time-scale: 'nan' is not a time scale from 0.01 to 1"),
        (["--port", "80"], "argument --port: '80' is not a port from 1024 to 65534 (no privilege needed)"),
        (["--port", "²"], "argument --port: '²' is not a port from 1024 to 65534 (no privilege needed)"),
        (["--por", "18080"], "unrecognized arguments: --por 18080"),
        (["--no-drain"], "--no-drain goes with --deploy or --interrupt"),
        (["--interrupt", "0"], "argument --interrupt: '0' is not a count of replicas from 1 to 100"),
        (["--interrupt", "x"], "argument --interrupt: 'x' is not a count of replicas from 1 to 100"),
        (["--interrupt", "4"], "--interrupt 4 is more than the stack's 3 replicas"),
        (
            ["--deploy", "--interrupt", "1"],
            "--deploy and --interrupt go together only for a blue-green, linear or canary --strategy",
        ),
        (["--interrupt", "1", "--", "--duration", "1"], INTERRUPT_SETS_DURATION),
        (["--deply"], "unrecognized arguments: --deply"),
        (["--deploy", "--", "--duration", "1"], DEPLOY_SETS_DURATION),
        (["--deploy", "--", "--requests=300"], DEPLOY_SETS_DURATION),
        (["--deploy", "--", "--until-mark", "x"], DEPLOY_SETS_DURATION),
        (
            ["--deploy", "--access-logs", "logs"],
            "--access-logs goes without --deploy (verify runs apart from the rehearsal there)",
        ),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2_before_anything_starts(argv: list[str], message: str) -> None:
    out = io.StringIO()

    code = rehearsal.cli.main(argv, out=out)

    assert code == 2
    assert out.getvalue() == f"rehearsal: {message} (see python -m rehearsal --help)\n"


def test_a_deploy_rehearsal_killed_outright_leaves_no_process_not_even_verify(short_tmp: Path) -> None:
    """SIGKILL runs no cleanup: the kernel must stop every child at once, verify's measuring process too
    (not when its --duration ends, minutes later at dev's timings). Its temp folder stays: short_tmp's.
    Each step waits for an event: verify among the children, then every child gone, within 30 s (3 s
    was a clock a busy machine missed: a child still stopping 3 s after, at load 12)."""
    rehearsal = subprocess.Popen(
        rehearsal_argv(*quick_ports(), "--deploy"),
        cwd=PROJECT_DIR,
        env={**os.environ, "TMPDIR": str(short_tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started: set[tuple[int, str]] = set()
    try:
        deadline = time.monotonic() + 30
        while "python -m verify" not in rehearsal.stderr.readline() and time.monotonic() < deadline:
            pass
        # This rehearsal's own verify, among its children (another rehearsal on the machine has one too).
        while True:
            started = descendants(rehearsal.pid)
            if [pid for pid, _ in started if " -m verify " in command_line(pid)]:
                break
            assert time.monotonic() < deadline, "verify is not running"
            time.sleep(0.02)
        rehearsal.kill()
        rehearsal.wait(timeout=10)
        gone_by = time.monotonic() + 30
        while alive(started) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert alive(started) == set()
    finally:
        if rehearsal.poll() is None:
            rehearsal.kill()
            rehearsal.wait()
        for pid, _ in alive(started):  # only when an assertion failed: do not leave them behind
            os.kill(pid, signal.SIGKILL)


def test_a_temp_folder_too_long_for_haproxys_socket_path_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """HAProxy takes a stats socket path of at most 97 characters; the rehearsal's lie in TMPDIR."""
    long_folder = tmp_path / ("x" * 100)
    long_folder.mkdir()
    done = run_rehearsal(*quick_ports(), env={**os.environ, "TMPDIR": str(long_folder)})

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "too long for HAProxy's admin socket path" in done.stderr
    assert "TMPDIR" in done.stderr
    assert list(long_folder.iterdir()) == []


def test_access_logs_are_filed_as_s3_files_them_and_agree_with_verify_request_for_request(tmp_path: Path) -> None:
    """HAProxy logs each request as the ALB does; the counts of verify's measured requests in the logs
    equal verify's live counts, and verify over the folder gives the same verdict."""
    logs = tmp_path / "logs"
    done = run_rehearsal(*quick_ports(), "--access-logs", str(logs), "--", "--requests", "300")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "rehearsal: the access logs agree with verify, request for request: 300 measured requests" in done.stderr
    files = sorted(logs.rglob("*.log.gz"))
    assert {node_of(file.name) for file in files} == set(DEV_PLAN.node_ips)
    assert all(
        str(file.relative_to(logs)).startswith("AWSLogs/000000000000/elasticloadbalancing/rehearsal/") for file in files
    )
    lines = [line for file in files for line in gzip.decompress(file.read_bytes()).decode().splitlines()]
    measured = [line for line in lines if '"alb-replicas-verify"' in line]
    assert len(measured) == 300
    assert any('"alb-replicas-verify (warm-up)"' in line for line in lines)
    assert all(line.startswith("http 20") and len(line.split(" ")) >= 30 for line in lines)
    assert all(re.fullmatch(ATHENA_REGEX, line) for line in lines)  # as the stack's Athena table reads them
    # stdout stays the live run's report; the one over the logs follows on stderr.
    assert done.stdout.count("verdict: EVEN") == 1 and "skipped:" not in done.stdout
    assert "skipped: none" in done.stderr and done.stderr.count("verdict: EVEN") == 1


def test_access_logs_into_a_folder_of_an_earlier_run_judge_this_runs_files_only(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    first = run_rehearsal(*quick_ports(), "--access-logs", str(logs), "--", "--requests", "300")
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_rehearsal(*quick_ports(), "--access-logs", str(logs), "--", "--requests", "300")
    assert again.returncode == 0, again.stdout + again.stderr  # was 4: 886 logged against 443 live
    assert "the access logs agree with verify, request for request: 300 measured requests" in again.stderr


@pytest.mark.parametrize("option", ["--access-logs", "--report"])
@pytest.mark.parametrize(("kind", "why"), [("read-only", "Read-only file system"), ("full", "No space left")])
def test_a_destination_that_takes_no_file_is_refused_before_anything_starts(tmp_path, option, kind, why) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    where = str(folder / "logs") if option == "--access-logs" else str(folder / "report.html")
    if option == "--access-logs" and kind == "read-only":
        where = str(folder)  # a read-only file system takes no new folder either: the folder itself
    done = in_small_filesystem(
        [*rehearsal_argv(*quick_ports(), option, where)], folder, full=kind == "full", read_only=kind == "read-only"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith(f"rehearsal: {option} "), said  # naming the option, not only
    assert why in said[0]  # "No space left on device" after the whole run, as before
    assert "stack dev" not in done.stderr  # nothing started


def test_with_access_logs_and_json_stdout_is_still_one_json_object(tmp_path: Path) -> None:
    done = run_rehearsal(*quick_ports(), "--access-logs", str(tmp_path / "logs"), "--", "--requests", "300", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)  # one object, nothing after it
    assert report["verdict"] == "even" and report["requests"] == 300
