"""--phases FILE: moments another process marked while verify measured (the rehearsal's deploy phases).

One mark a line, `UNIX_TIME TEXT`: seconds since the epoch as `time.time()` gives them, a space, and
what happened. The other process appends while verify runs; verify reads the file once, when measuring
has ended, and places each mark on the run's timeline (marks outside the measurement are left out).
Everything is bounded: the bytes read, the marks, the length of a text.
"""

from __future__ import annotations

import math
import os

from verify.core.errors import CouldNotMeasure
from verify.core.tally import Phase
from verify.core.text import printable

PHASES_READ_MAX = 64 * 1024
PHASES_MAX = 200
PHASE_TEXT_MAX = 200
_USAGE = "one mark a line: UNIX_TIME TEXT, e.g. 1767225600.25 new replicas healthy"


def check_phases_file(path: str) -> None:
    """Before measuring: the file must be there to read (the marking process creates it first)."""
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise CouldNotMeasure(f"--phases {printable(path, 512)!r} is not a readable file ({_USAGE})")


def read_phases(path: str, started_at: float, elapsed_s: float) -> tuple[Phase, ...]:
    """The marks inside the measurement, as seconds since it began, in time order."""
    shown = printable(path, 512)
    try:
        with open(path, "rb") as file:
            data = file.read(PHASES_READ_MAX + 1)
    except OSError as error:
        raise CouldNotMeasure(f"could not read --phases {shown!r}: {error.strerror or error}") from None
    if len(data) > PHASES_READ_MAX:
        raise CouldNotMeasure(f"--phases {shown!r} is over {PHASES_READ_MAX // 1024} KiB")
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) > PHASES_MAX:
        raise CouldNotMeasure(f"--phases {shown!r} has {len(lines)} marks; at most {PHASES_MAX}")
    phases = []
    for number, line in enumerate(lines, 1):
        stamp, _, text = line.strip().partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            at = math.nan
        if not math.isfinite(at) or not text.strip():
            raise CouldNotMeasure(f"--phases {shown!r} line {number} {printable(line)!r}: {_USAGE}")
        second = at - started_at
        if 0 <= second <= elapsed_s:
            phases.append(Phase(round(second, 3), printable(text.strip(), PHASE_TEXT_MAX)))
    return tuple(sorted(phases, key=lambda phase: phase.second))
