"""Every path verify is given is opened safely, and no output overwrites another (issue 24, items 1 and 7).

Only regular files are read (a FIFO, socket or device is counted as skipped by kind, never waited on);
a file named twice (a folder and its file, the same folder twice, a symlink) is read once; the step
summary, --phases and --cacert are opened without blocking; --report, stdout, stderr and the step
summary are never the same file; a stop signal ends verify at every moment, its last word included.
Hangs are run in a process of their own, bounded: on the code before these fixes each one hung.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alb_log_helpers import START, WINDOW, rotation, write
from verify_helpers import one_line_error, run

from bench.alb_logs import key
from verify.cli import ExitCode

PROJECT = Path(__file__).resolve().parents[2]
# A run that hangs is stopped here; every case below ends in well under a second of its own.
HANG_S = 20


def verify_process(argv: list[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """python -m verify in a process of its own, killed (failing the test) if it outlives HANG_S."""
    return subprocess.run(
        [sys.executable, "-m", "verify", *argv], cwd=PROJECT, capture_output=True, text=True, timeout=HANG_S,
        env={**os.environ, **(env or {})}, **kwargs,
    )  # fmt: skip


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A folder of 300 requests over 3 replicas, in the S3 key layout."""
    folder = tmp_path / "logs"
    write(folder, rotation(300))
    return folder


def day_folder(logs: Path) -> Path:
    return logs / key(START, "10.0.9.9").rsplit("/", 1)[0]


def test_a_fifo_named_like_a_log_is_skipped_by_kind_not_waited_on(logs: Path) -> None:
    os.mkfifo(day_folder(logs) / Path(key(START, "10.0.9.9", "fifo0000")).name)
    done = verify_process(["--access-logs", str(logs), *WINDOW, "--json"])
    report = json.loads(done.stdout)
    assert done.returncode == ExitCode.EVEN, done.stderr
    assert report["answers"] == 300
    assert report["access_logs"]["skipped"] == {"FIFO (not a regular file)": 1}


def test_a_fifo_given_by_name_is_skipped_by_kind(logs: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "named.log.gz"
    os.mkfifo(fifo)
    done = verify_process(["--access-logs", str(logs), str(fifo), *WINDOW, "--json"])
    assert done.returncode == ExitCode.EVEN, done.stderr
    assert json.loads(done.stdout)["access_logs"]["skipped"] == {"FIFO (not a regular file)": 1}


@pytest.mark.parametrize("naming", ["folder-and-file", "folder-twice", "symlink-to-file", "symlink-to-folder"])
def test_a_file_named_twice_is_read_once(logs: Path, tmp_path: Path, capsys, naming: str) -> None:
    one_file = next(day_folder(logs).iterdir())
    if naming == "folder-and-file":
        sources = [str(logs), str(one_file)]
    elif naming == "folder-twice":
        sources = [str(logs), str(logs) + "/"]
    elif naming == "symlink-to-file":
        (day_folder(logs) / "again.log.gz").symlink_to(one_file)
        sources = [str(logs)]
    else:
        (tmp_path / "linked").symlink_to(logs, target_is_directory=True)
        sources = [str(logs), str(tmp_path / "linked")]
    code, out, err, _ = run(capsys, "--access-logs", *sources, *WINDOW, "--json")
    report = json.loads(out)
    assert code == ExitCode.EVEN, err
    assert report["answers"] == 300
    assert report["access_logs"]["files"] == 2
    named_again = 1 if naming in ("folder-and-file", "symlink-to-file") else 2  # a folder again: both its files
    assert report["access_logs"]["skipped"] == {"named again (read once)": named_again}


def test_a_symlink_loop_under_the_folder_ends(logs: Path, capsys) -> None:
    (day_folder(logs) / "loop").symlink_to(logs, target_is_directory=True)
    code, out, err, _ = run(capsys, "--access-logs", str(logs), *WINDOW, "--json")
    assert code == ExitCode.EVEN, err
    assert json.loads(out)["answers"] == 300


def test_a_fifo_as_the_step_summary_is_refused_before_reading(logs: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    os.mkfifo(summary)
    done = verify_process(["--access-logs", str(logs), *WINDOW], env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    assert "$GITHUB_STEP_SUMMARY" in one_line_error(done.stderr) and "FIFO" in done.stderr


def test_a_fifo_as_the_step_summary_on_the_error_path_does_not_hang(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    os.mkfifo(summary)
    done = verify_process(
        ["--access-logs", str(tmp_path / "nowhere"), *WINDOW], env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    one_line_error(done.stderr)


@pytest.mark.parametrize("option", ["--phases", "--cacert"])
def test_a_fifo_given_as_an_input_file_is_refused_at_once(tmp_path: Path, option: str) -> None:
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    url = "https://127.0.0.2:1/" if option == "--cacert" else "http://127.0.0.2:1/"
    done = verify_process([url, option, str(fifo), "--wait", "0", "--timeout", "0.2"])
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    assert option in one_line_error(done.stderr) and "FIFO" in done.stderr


def test_the_report_onto_the_file_stdout_writes_is_refused_and_stdout_keeps_its_object(logs: Path, tmp_path) -> None:
    out = tmp_path / "out.json"
    with out.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "verify", "--access-logs", str(logs), *WINDOW, "--json", "--report", str(out)],
            cwd=PROJECT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=HANG_S,
        )  # fmt: skip
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    assert "the file stdout writes to" in one_line_error(done.stderr)
    assert json.loads(out.read_text())["verdict"] == "error"


def test_the_report_through_a_symlink_onto_stderrs_file_is_refused(logs: Path, tmp_path) -> None:
    err, link = tmp_path / "err.txt", tmp_path / "report.html"
    link.symlink_to(err)
    with err.open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-m", "verify", "--access-logs", str(logs), *WINDOW, "--report", str(link)],
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=HANG_S,
        )  # fmt: skip
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    assert "the file stderr writes to" in one_line_error(err.read_text())


def test_the_step_summary_onto_the_report_or_stdouts_file_is_refused(logs: Path, tmp_path) -> None:
    page = tmp_path / "report.html"
    done = verify_process(
        ["--access-logs", str(logs), *WINDOW, "--report", str(page)], env={"GITHUB_STEP_SUMMARY": str(page)}
    )
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    assert "$GITHUB_STEP_SUMMARY" in one_line_error(done.stderr)
    out = tmp_path / "out.json"
    with out.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "verify", "--access-logs", str(logs), *WINDOW, "--json"],
            cwd=PROJECT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=HANG_S,
            env={**os.environ, "GITHUB_STEP_SUMMARY": str(out)},
        )  # fmt: skip
    assert done.returncode == ExitCode.COULD_NOT_MEASURE
    assert json.loads(out.read_text())["verdict"] == "error"  # one object, nothing appended after it


def test_apart_outputs_both_survive(logs: Path, tmp_path) -> None:
    out, page = tmp_path / "out.json", tmp_path / "report.html"
    with out.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "verify", "--access-logs", str(logs), *WINDOW, "--json", "--report", str(page)],
            cwd=PROJECT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=HANG_S,
        )  # fmt: skip
    assert done.returncode == ExitCode.EVEN, done.stderr
    assert json.loads(out.read_text())["verdict"] == "even"
    assert page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_verify_while_stdout_blocks_its_last_word(tmp_path: Path, stop: int) -> None:
    # Enough targets that the JSON outgrows a pipe's buffer: nobody reads stdout, so the write blocks.
    many = [f"10.9.{i // 250}.{i % 250}" for i in range(900)]
    write(tmp_path, rotation(1800, replicas=many))
    reader, writer = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "verify", "--access-logs", str(tmp_path), *WINDOW, "--json"],
            cwd=PROJECT, stdout=writer, stderr=subprocess.PIPE,
        )  # fmt: skip
        os.close(writer)
        writer = -1
        try:
            # The pipe fills once verify writes its last word: then it blocks there.
            deadline = time.monotonic() + HANG_S
            while _pipe_bytes(reader) < 60_000 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert process.poll() is None, "verify ended before its last word filled the pipe"
            process.send_signal(stop)
            process.wait(timeout=HANG_S)
        finally:
            process.kill()
            process.wait()
    finally:
        os.close(reader)
        if writer >= 0:
            os.close(writer)
    assert process.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[stop]
    assert b"Traceback" not in process.stderr.read()


def _pipe_bytes(reader: int) -> int:
    """Bytes waiting in the pipe (FIONREAD)."""
    import array
    import fcntl
    import termios

    waiting = array.array("i", [0])
    fcntl.ioctl(reader, termios.FIONREAD, waiting)
    return waiting[0]


def test_a_stop_signal_while_a_slow_reader_drains_stdout_leaves_the_object_whole(tmp_path: Path) -> None:
    # A buffered write that a signal interrupts returned early: the object was cut, and verify exited 0.
    many = [f"10.9.{i // 250}.{i % 250}" for i in range(900)]
    write(tmp_path, rotation(1800, replicas=many))
    process = subprocess.Popen(
        [sys.executable, "-m", "verify", "--access-logs", str(tmp_path), *WINDOW, "--json"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_S
        while _pipe_bytes(process.stdout.fileno()) < 60_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=HANG_S)  # the reader drains at once: the word ends in its grace
    finally:
        process.kill()
        process.wait()
    assert process.returncode == ExitCode.EVEN, err
    assert len(json.loads(out)["replicas"]) == 900


def test_a_stop_signal_while_duckdb_reads_is_its_exit_code_and_one_line(tmp_path: Path) -> None:
    # 500 MiB of empty lines in 1 MiB gzip members: DuckDB reads for seconds, in C.
    member = gzip.compress(b"\n" * 1024 * 1024, compresslevel=9)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "bomb.log.gz").write_bytes(member * 500)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "verify", "--access-logs", str(tmp_path / "logs"), *WINDOW, "--json"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_S
        while not list(scratch.glob("verify-duckdb-*")) and time.monotonic() < deadline:
            time.sleep(0.02)  # DuckDB's spill folder: it has begun
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=HANG_S)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 143, err
    assert json.loads(out)["verdict"] == "interrupted"
    assert one_line_error(err.decode()) == "verify: terminated (SIGTERM)"


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_what_a_killed_run_left_in_the_temporary_folder_is_removed_by_the_next(logs, tmp_path, monkeypatch) -> None:
    import tempfile

    from verify.core.scratch import owned_folder, owner_mark
    from verify.sources.logs.query import Window
    from verify.sources.logs.reader import read_local_logs

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    dead = _dead_pid()
    for prefix in ("verify-duckdb-", "verify-s3-logs-"):
        left = scratch / f"{prefix}left"  # DuckDB's spill, S3 objects fetched: up to 5 GiB of them
        left.mkdir()
        (left / "owner").write_text(f"{dead} 1")
    (scratch / "verify-duckdb-running").mkdir()
    (scratch / "verify-duckdb-running" / "owner").write_text(owner_mark())
    read_local_logs([str(logs)], Window(START, START + timedelta(hours=1)))
    assert sorted(path.name for path in scratch.iterdir()) == ["verify-duckdb-running", "verify-s3-logs-left"]
    with owned_folder("verify-s3-logs-"):  # as the next read of S3 makes its folder
        pass
    assert sorted(path.name for path in scratch.iterdir()) == ["verify-duckdb-running"]


def test_the_temporary_report_a_killed_write_left_is_removed_by_the_next(tmp_path) -> None:
    from verify.core.scratch import owned_file_prefix
    from verify.rendering.outputs import write_atomically

    left = tmp_path / f".report.html.{_dead_pid()}-1.abcd1234.tmp"
    left.write_text("half a page")
    mine = tmp_path / f"{owned_file_prefix('.report.html.')}0000aaaa.tmp"  # a writer that still runs
    mine.write_text("being written")
    write_atomically(str(tmp_path / "report.html"), "<html></html>", "--report")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([mine.name, "report.html"])
