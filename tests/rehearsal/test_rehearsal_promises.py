"""The rehearsal's promises (issue 17): Ctrl-C at any moment is 130 and one line, a full TMPDIR is exit 2 and
one line, a folder left by a run killed outright is cleaned by the next, a deploy is judged with no
request lost whatever follows --."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from rehearsal import stage
from rehearsal.cli import main
from verify.core.scratch import owner_mark

PROJECT = Path(__file__).resolve().parents[2]


def test_what_a_run_killed_outright_left_is_removed_by_the_next(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"{stage.SCRATCH_PREFIX}left"
    left.mkdir()
    (left / "owner").write_text(str(dead.pid))
    older = tmp_path / f"{stage.SCRATCH_PREFIX}older"  # a folder of a version before the owner file
    older.mkdir()
    (older / "pid").write_text(str(dead.pid))
    reused = tmp_path / f"{stage.SCRATCH_PREFIX}reused"  # its pid now another process's (ours): another start
    reused.mkdir()
    (reused / "owner").write_text(f"{os.getpid()} 1")
    alive = tmp_path / f"{stage.SCRATCH_PREFIX}alive"
    alive.mkdir()
    (alive / "owner").write_text(owner_mark())
    phases = tmp_path / "rehearsal-phases-abcd1234.txt"  # a killed --deploy's marks, before they moved
    phases.write_text("1 a mark\n")
    held = tmp_path / "rehearsal-phases-held0000.txt"  # one a running rehearsal of before still writes
    with held.open("w"):
        scratch = stage._new_scratch()
    assert not left.exists() and not older.exists() and not reused.exists() and not phases.exists()
    assert alive.exists() and held.exists()
    assert (scratch / "owner").read_text() == owner_mark()


@pytest.mark.rehearsal
def test_a_full_tmpdir_is_exit_2_and_one_line(monkeypatch) -> None:
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    out = io.StringIO()
    assert main(["--port", "18931", "--replica-port", "18933"], out) == 2
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "TMPDIR" in lines[0]


@pytest.mark.parametrize("flow", ["--deploy", "--interrupt=1"])
def test_a_flow_that_must_lose_no_request_refuses_another_max_error_rate(flow: str) -> None:
    out = io.StringIO()
    assert main([flow, "--", "--max-error-rate", "1"], out) == 2
    assert out.getvalue().count("\n") == 1 and "--max-error-rate 0" in out.getvalue()


def catches(pid: int, number: int) -> bool:
    """Whether the process has a handler of its own for signal `number` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (number - 1) & 1)


@pytest.mark.parametrize("after_s", [None, 0.0, 0.03, 0.08])
def test_ctrl_c_at_start_is_130_or_the_run_s_own_line_never_a_traceback(after_s: float | None) -> None:
    """Ctrl-C at once (None: in Python's own start, before a line of ours), or `after_s` after
    rehearsal/__main__.py took the stop signals (SIGTERM caught: /proc says so), while the rehearsal imports
    or later: timed from that event, the moments fall in the rehearsal's own start however busy the machine
    (a clock from the process's start put them in Python's start-up under load: exit 1, site's traceback)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "--stack", "no-such-stack"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        if after_s is not None:
            deadline = time.monotonic() + 30
            while not catches(process.pid, signal.SIGTERM) and process.poll() is None:
                assert time.monotonic() < deadline, "rehearsal/__main__.py never took the stop signals"
                time.sleep(0.001)
            time.sleep(after_s)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    text = err.decode()
    python_s_own = process.returncode == -signal.SIGINT or text.startswith("Fatal Python error: init_import_site")
    if after_s is None and python_s_own:  # before Python ran any line of ours
        assert "rehearsal/" not in text and "rehearsal:" not in text, text
        return
    if process.returncode == -signal.SIGINT:  # after main() returned and gave the signal back
        assert len([line for line in text.splitlines() if "rehearsal:" in line]) <= 1, text
        return
    assert process.returncode in (2, 130), text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1 and text.startswith(("rehearsal: ", "\nrehearsal: ")), text


def test_a_deploy_of_100_replicas_plans_the_time_to_start_them() -> None:
    """At 100 replicas starting the new ones takes seconds: a plan without them ended verify's measurement
    mid-deploy (exit 1, shown by hand: 4.2 s planned, 7.6 s taken); now they are in the plan, and so in
    the flow's bound."""
    from types import SimpleNamespace

    from rehearsal.deploy import START_FLOOR_S, start_seconds

    running = SimpleNamespace(replica_start_s=0.02)
    assert start_seconds(running, 100) == 100 * max(0.04, START_FLOOR_S) >= 10
