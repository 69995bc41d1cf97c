"""The files verify writes beside stdout: the --report page (whole or not at all) and GitHub's step summary.

A file that cannot be written is a CouldNotMeasure with one line naming the path and the reason, and
leaves nothing half-written behind: the report goes to a temporary file beside it, renamed over the
path only once complete; an append that fails is cut back to where the file ended.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

from verify.core.errors import CouldNotMeasure
from verify.core.text import printable


def check_writable(path: str, option: str) -> None:
    """Before measuring: the folder exists and takes a new file, and the path is no folder or device."""
    shown = printable(path, 512)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CouldNotMeasure(f"{option} {shown!r}: the folder {printable(folder, 512)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CouldNotMeasure(f"{option} {shown!r}: the folder {printable(folder, 512)!r} is not writable")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise CouldNotMeasure(f"{option} {shown!r}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):  # renaming over a folder fails; over a device (/dev/full) it would replace it
        raise CouldNotMeasure(f"{option} {shown!r} exists and is not a regular file")


def write_atomically(path: str, text: str, option: str) -> None:
    """Write `text` to `path` whole: a temporary file in the same folder, flushed, then renamed over it."""
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 less the umask, as open() gives a new file (mkstemp's 0o600 would hide the report from others).
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(text.encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise _could_not("write", option, path, error) from None


def append_whole(path: str, text: str, what: str) -> None:
    """Append `text` to `path`; if that fails midway, cut the file back to where it ended."""
    data = text.encode("utf-8")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as error:
        raise _could_not("append to", what, path, error) from None
    try:
        end = os.lseek(descriptor, 0, os.SEEK_END)
        written = 0
        while written < len(data):  # unbuffered: a short write is retried, never left for a later flush
            written += os.write(descriptor, data[written:])
    except OSError as error:
        with contextlib.suppress(OSError):  # a device or a pipe: nothing to cut back
            os.ftruncate(descriptor, end)
        raise _could_not("append to", what, path, error) from None
    finally:
        os.close(descriptor)


def _could_not(doing: str, what: str, path: str, error: OSError) -> CouldNotMeasure:
    return CouldNotMeasure(f"could not {doing} {what} {printable(path, 512)!r}: {error.strerror or error}")
