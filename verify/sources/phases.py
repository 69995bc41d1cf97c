"""--phases FILE: moments another process marked while verify measured (the rehearsal's deploy phases).

One mark a line, `UNIX_TIME TEXT`: seconds since the epoch as `time.time()` gives them, a space, and
what happened. The other process appends while verify runs; verify reads the file once, when measuring
has ended, and places each mark on the run's timeline (marks outside the measurement are left out).
With --until-mark TEXT it also looks in the file while measuring, and ends UNTIL_MARK_TAIL_S after the
mark of that text: the measurement follows the other process's flow, --duration only bounds it.
Everything is bounded: the bytes read, the marks, the length of a text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from verify.core.errors import CouldNotMeasure
from verify.core.files import read_regular, regular_file
from verify.core.tally import Phase
from verify.core.text import printable

PHASES_READ_MAX = 64 * 1024
PHASES_MAX = 200
PHASE_TEXT_MAX = 200
# After the --until-mark mark, measuring goes on this long: the timeline counts whole seconds and the
# verdict takes those after the one of the last change, so two hold at least one whole second of the end state.
UNTIL_MARK_TAIL_S = 2.0
_USAGE = "one mark a line: UNIX_TIME TEXT, e.g. 1767225600.25 new replicas healthy"


def check_phases_file(path: str) -> None:
    """Before measuring: the file must be there to read, a regular file (the marking process creates it first)."""
    try:
        regular_file(path, "--phases")
    except CouldNotMeasure as error:
        raise CouldNotMeasure(f"{error} ({_USAGE})") from None


def _read(path: str) -> bytes:
    """Up to PHASES_READ_MAX + 1 bytes, from a regular file opened without waiting."""
    return read_regular(path, "--phases", PHASES_READ_MAX)


def _mark(line: str) -> tuple[float, str] | None:
    """A line's (UNIX_TIME, TEXT), or None when it is not a mark."""
    stamp, _, text = line.strip().partition(" ")
    try:
        at = float(stamp)
    except ValueError:
        return None
    return (at, text.strip()) if math.isfinite(at) and text.strip() else None


def _whole_marks(path: str) -> list[tuple[float, str]]:
    """The marks written whole so far, read while the other process may be writing: a line without its
    newline yet, or one that is not a mark, is passed over (read_phases judges the file at the end)."""
    lines = _read(path)[:PHASES_READ_MAX].decode("utf-8", "replace").splitlines(keepends=True)[:PHASES_MAX]
    return [mark for line in lines if line.endswith("\n") and (mark := _mark(line)) is not None]


def marked_at(path: str, text: str) -> float | None:
    """When (time.time()) the first mark whose text is `text` was made, or None while there is none."""
    return next((at for at, mark in _whole_marks(path) if mark == text), None)


def until_marked(path: str, text: str) -> Callable[[], bool]:
    """For the sending loop: a check that holds once UNTIL_MARK_TAIL_S have passed since the mark `text`."""

    def reached() -> bool:
        at = marked_at(path, text)
        return at is not None and time.time() >= at + UNTIL_MARK_TAIL_S

    return reached


def check_marked(path: str, text: str, started_at: float, duration_s: float) -> None:
    """After a run --until-mark ended: fail in one line when --duration ended it before the mark, naming
    the last mark (the step the other process was in) and when it came."""
    if marked_at(path, text) is not None:
        return
    marks = _whole_marks(path)
    last = (
        f"its last mark, {marks[-1][0] - started_at:.1f} s in: {printable(marks[-1][1], PHASE_TEXT_MAX)!r}"
        if marks
        else "it marked nothing"
    )
    raise CouldNotMeasure(
        f"--phases {printable(path, 512)!r} had no mark {printable(text, PHASE_TEXT_MAX)!r} within --duration"
        f" {duration_s:g} s ({last})"
    )


def read_phases(path: str, started_at: float, elapsed_s: float) -> tuple[Phase, ...]:
    """The marks inside the measurement, as seconds since it began, in time order."""
    shown = printable(path, 512)
    data = _read(path)
    if len(data) > PHASES_READ_MAX:
        raise CouldNotMeasure(f"--phases {shown!r} is over {PHASES_READ_MAX // 1024} KiB")
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) > PHASES_MAX:
        raise CouldNotMeasure(f"--phases {shown!r} has {len(lines)} marks; at most {PHASES_MAX}")
    phases = []
    for number, line in enumerate(lines, 1):
        mark = _mark(line)
        if mark is None:
            raise CouldNotMeasure(f"--phases {shown!r} line {number} {printable(line)!r}: {_USAGE}")
        second = mark[0] - started_at
        if 0 <= second <= elapsed_s:
            phases.append(Phase(round(second, 3), printable(mark[1], PHASE_TEXT_MAX)))
    return tuple(sorted(phases, key=lambda phase: phase.second))
