"""Paths from outside, opened safely: only regular files are read or appended to, and no open ever blocks.

A FIFO nobody writes (or reads), a socket or a device in a file's place would make `open()` wait for
good; so a path's kind is read with stat() (which never blocks), every open is non-blocking, and what
was opened is checked again on its descriptor. The one exception left is a file swapped for a FIFO
between the check and DuckDB's own open of a log file (verify hands DuckDB paths, not descriptors).
"""

from __future__ import annotations

import os
import stat

from verify.core.errors import CouldNotMeasure
from verify.core.text import printable

REGULAR = "regular file"
# Opening never waits (O_NONBLOCK: on a FIFO without a writer, or without a reader for writing), never
# takes a terminal as controlling terminal, and never leaks into a child process.
_NEVER_WAIT = os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def kind_of(mode: int) -> str:
    """What a stat mode names, in words: "regular file", "FIFO", "folder", ..."""
    kinds = (
        (stat.S_ISREG, REGULAR), (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
    )  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "special file")


def shown(path: str) -> str:
    """A path as a message quotes it: escaped, and cut at 512 characters."""
    return repr(printable(path, 512))


def regular_file(path: str, what: str) -> os.stat_result:
    """The file's status, or CouldNotMeasure when it is missing, unreadable or not a regular file."""
    try:
        status = os.stat(path)
    except OSError as error:
        raise CouldNotMeasure(f"{what} {shown(path)}: {error.strerror or error}") from None
    if not stat.S_ISREG(status.st_mode):
        raise CouldNotMeasure(f"{what} {shown(path)} is a {kind_of(status.st_mode)}, not a regular file")
    return status


def read_regular(path: str, what: str, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of a regular file (the caller refuses a longer one), opened without waiting."""
    regular_file(path, what)
    descriptor = _open(path, os.O_RDONLY, what)
    try:
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(descriptor, min(left, 1024 * 1024))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as error:
        raise CouldNotMeasure(f"could not read {what} {shown(path)}: {error.strerror or error}") from None
    finally:
        os.close(descriptor)


def open_for_append(path: str, what: str) -> int:
    """A descriptor appending to `path` (created if missing), which must be a regular file; never waits."""
    return _open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, what, verb="append to")


def check_regular_if_there(path: str, what: str) -> None:
    """Before measuring: a path to write later is a regular file, or not there yet (renaming over a folder
    fails; over a device such as /dev/full it would replace it; appending to a FIFO waits for a reader)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise CouldNotMeasure(f"{what} {shown(path)}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise CouldNotMeasure(f"{what} {shown(path)} is a {kind_of(mode)}, not a regular file")


def _open(path: str, flags: int, what: str, *, verb: str = "read") -> int:
    try:
        descriptor = os.open(path, flags | _NEVER_WAIT, 0o666)
    except OSError as error:
        raise CouldNotMeasure(f"could not {verb} {what} {shown(path)}: {error.strerror or error}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):  # swapped since it was checked, or never checked
        os.close(descriptor)
        raise CouldNotMeasure(f"{what} {shown(path)} is a {kind_of(mode)}, not a regular file")
    os.set_blocking(descriptor, True)  # a regular file: reads and writes wait for the disk, never for a peer
    return descriptor
