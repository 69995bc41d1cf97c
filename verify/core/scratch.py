"""What a run leaves in temporary places, and the next run removing what a killed one left.

A folder or file a run owns is named with a prefix and marks its owner: the process id and the process's
start time (so a process id used again by another process is not taken for the owner). A run killed
outright (SIGKILL: no cleanup runs) leaves them; the next run that makes one with the same prefix first
removes those whose owner is gone. Used for DuckDB's spill folder and the S3 objects fetched
(`verify-duckdb-`, `verify-s3-logs-`), the report's temporary file, and the rehearsal's scratch folder
(which holds everything a rehearsal writes: configs, logs, marks, sockets).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

OWNER_FILE = "owner"
# The rehearsal's folders before OWNER_FILE marked them with a file of this name, holding the pid alone.
_OLD_OWNER_FILE = "pid"


def owner_mark() -> str:
    """This process as a folder's owner: `PID START` (START: its start time, from /proc where there is one)."""
    return f"{os.getpid()} {_start_time(os.getpid()) or ''}".strip()


def owner_is_gone(mark: str) -> bool:
    """Whether the process a mark names no longer runs (or another process has its id now). A mark that
    is not one is never taken for gone: what it belongs to is not known."""
    pid_text, _, start = mark.strip().partition(" ")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it runs
        return False
    now = _start_time(pid)
    return bool(start and now and now != start)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat's 22nd field); None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name before ')' may hold spaces
    return fields[19] if len(fields) > 19 else None


def remove_left(prefix: str, folder: Path | None = None) -> None:
    """Remove the folders (and files) named `prefix...` in `folder` (default: the temporary folder) whose
    owner is gone. A folder marks its owner in OWNER_FILE; a file in its name, after the prefix: `PID-START.`."""
    for left in Path(folder or tempfile.gettempdir()).glob(f"{prefix}*"):
        if left.is_dir() and not left.is_symlink():
            marks = [left / name for name in (OWNER_FILE, _OLD_OWNER_FILE) if (left / name).is_file()]
            try:
                mark = marks[0].read_text() if marks else ""
            except OSError:
                continue
            if owner_is_gone(mark):
                shutil.rmtree(left, ignore_errors=True)
        elif owner_is_gone(left.name[len(prefix) :].split(".", 1)[0].replace("-", " ", 1)):
            with contextlib.suppress(OSError):
                left.unlink()


def new_owned_folder(prefix: str) -> Path:
    """A new temporary folder `prefix...` marked with this process as its owner, made after removing the
    folders of the same prefix whose owner is gone. The caller removes it when done."""
    remove_left(prefix)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (folder / OWNER_FILE).write_text(owner_mark())
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


@contextlib.contextmanager
def owned_folder(prefix: str) -> Iterator[Path]:
    """`new_owned_folder`, removed on leaving (a killed run's is removed by the next)."""
    folder = new_owned_folder(prefix)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def owned_file_prefix(prefix: str) -> str:
    """The start of the name of a file this process owns: `prefix` + `PID-START.` (see `remove_left`)."""
    return f"{prefix}{owner_mark().replace(' ', '-', 1)}."
