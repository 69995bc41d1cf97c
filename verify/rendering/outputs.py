"""The files verify writes beside stdout: the --report page (whole or not at all) and GitHub's step summary.

A file that cannot be written is a CouldNotMeasure with one line naming the path and the reason, and
leaves nothing half-written behind: the report goes to a temporary file beside it, renamed over the
path only once complete; an append that fails is cut back to where the file ended. No two outputs are
one file (`check_apart`): the report renamed over the file stdout writes would replace the JSON.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from verify.core.errors import CouldNotMeasure
from verify.core.files import check_regular_if_there, open_for_append, shown
from verify.core.scratch import owned_file_prefix, remove_left


def check_writable(path: str, option: str) -> None:
    """Before measuring: the folder exists and takes a new file, and the path is no folder or device (through a
    symlink: the folder of the file it names, which `write_atomically` replaces)."""
    folder = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(folder):
        raise CouldNotMeasure(f"{option} {shown(path)}: the folder {shown(folder)} does not exist")
    check_regular_if_there(path, option)
    check_folder_takes_files(folder, f"{option} {shown(path)}: the folder {shown(folder)}")


# What a folder must take before a run starts that will write into it: a read-only file system or a full
# disk refuses it then, not after the run (os.access says yes to root on a read-only file system).
PROBE_BYTES = 64 * 1024


def check_folder_takes_files(folder: str, named: str) -> None:
    """A file of PROBE_BYTES written, synced and removed in `folder`, or CouldNotMeasure `named ...: why`."""
    probe = os.path.join(folder, f"{owned_file_prefix('.verify-probe.')}{secrets.token_hex(4)}.tmp")
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            written = 0
            while written < PROBE_BYTES:
                written += os.write(descriptor, bytes(PROBE_BYTES - written))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
            with contextlib.suppress(OSError):
                os.unlink(probe)
    except OSError as error:
        raise CouldNotMeasure(f"{named} takes no file: {error.strerror or error}") from None


def check_apart(files: Mapping[str, str | None], streams: Mapping[str, int | None]) -> None:
    """Before measuring: no two of the output `files` (name -> path) are one file, and none is a file a
    stream (name -> descriptor) writes to. A symlink or hard link to the same file counts as the same."""
    seen: list[tuple[str, object]] = []
    for name, descriptor in streams.items():
        identity = _identity(lambda descriptor=descriptor: os.fstat(descriptor)) if descriptor is not None else None
        if identity is not None:
            seen.append((f"the file {name} writes to", identity))
    for name, path in files.items():
        if path is None:
            continue
        # A file not there yet is named by its real path: two names of one new file still meet.
        identity = _identity(lambda path=path: os.stat(path)) or os.path.realpath(path)
        other = next((other for other, known in seen if known == identity), None)
        if other is not None:
            raise CouldNotMeasure(
                f"{name} {shown(path)} is {other}: one would overwrite the other; give {name} a path of its own"
            )
        seen.append((f"{name}'s file", identity))


def _identity(status) -> tuple[int, int] | None:
    """(device, inode) of a regular file; None for anything else (a terminal, /dev/null, a pipe: never clobbered)."""
    try:
        found = status()
    except (OSError, ValueError):
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISREG(found.st_mode) else None


def write_atomically(path: str, text: str, option: str) -> None:
    """Write `text` to `path` whole: a temporary file in the same folder, flushed, then renamed over it."""
    folder, name = os.path.split(os.path.realpath(path))  # through a symlink: the file it names is replaced
    remove_left(f".{name}.", Path(folder))  # what a run killed mid-write left
    temporary = os.path.join(folder, f"{owned_file_prefix(f'.{name}.')}{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 less the umask, as open() gives a new file (mkstemp's 0o600 would hide the report from others).
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(text.encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, os.path.join(folder, name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise _could_not("write", option, path, error) from None


def append_whole(path: str, text: str, what: str) -> None:
    """Append `text` to `path` (a regular file, opened without waiting); if that fails midway, cut the file
    back to where it ended."""
    data = text.encode("utf-8")
    descriptor = open_for_append(path, what)
    try:
        end = os.lseek(descriptor, 0, os.SEEK_END)
        written = 0
        while written < len(data):  # unbuffered: a short write is retried, never left for a later flush
            written += os.write(descriptor, data[written:])
    except OSError as error:
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, end)
        raise _could_not("append to", what, path, error) from None
    finally:
        os.close(descriptor)


def _could_not(doing: str, what: str, path: str, error: OSError) -> CouldNotMeasure:
    return CouldNotMeasure(f"could not {doing} {what} {shown(path)}: {error.strerror or error}")
