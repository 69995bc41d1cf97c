"""The edge of verify's process, held in one place: what leaves it and how a stop signal enters it.

- `Sink`: a writer that never raises (a closed, full or hung-up stdout or stderr is recorded, not a
  traceback), redacts, and bounds the width of the report's lines.
- `stop_signals`: SIGTERM, SIGHUP and SIGQUIT raise `Stopped` (a KeyboardInterrupt, so they unwind
  like Ctrl-C: connections closed, one last word) with the exit code a shell gives them.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
from collections.abc import Iterator
from typing import TextIO

from verify.core.text import redact

# A report line longer than this is cut, saying how much was left out (--json has everything).
REPORT_LINE_MAX = 240


class Stopped(KeyboardInterrupt):
    """A stop signal: unwinds like Ctrl-C; `code` is the exit code, `reason` the one line."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# Signal -> (exit code, reason). Ctrl-C stays Python's KeyboardInterrupt (exit 130).
STOP_SIGNALS: dict[int, tuple[int, str]] = {
    signal.SIGTERM: (143, "terminated (SIGTERM)"),
    signal.SIGHUP: (129, "hung up (SIGHUP)"),
    signal.SIGQUIT: (131, "quit (SIGQUIT)"),
}


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """While inside, each stop signal left at its default action raises `Stopped`; put back on leaving.

    Only from the main thread (Python's rule for signal handlers), and only over the default action:
    a caller that handles a signal itself (the rehearsal maps SIGTERM to Ctrl-C) keeps it, and an
    ignored SIGHUP (nohup) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed: list[int] = []

    def stop(number: int, _frame: object) -> None:
        raise Stopped(*STOP_SIGNALS[number])

    for number in STOP_SIGNALS:
        if signal.getsignal(number) is signal.SIG_DFL:
            signal.signal(number, stop)
            installed.append(number)
    try:
        yield
    finally:
        for number in installed:
            signal.signal(number, signal.SIG_DFL)


# How long a stop signal waits for the last word to be written: a stdout nobody reads blocks for good.
LAST_WORD_GRACE_S = 1.0


@contextlib.contextmanager
def signals_held(grace_s: float = LAST_WORD_GRACE_S) -> Iterator[None]:
    """While verify writes its last word, a stop signal (Ctrl-C too) waits up to `grace_s`: the one object
    is written whole. A signal that came meanwhile is dropped once the word is written (the run has ended
    and said so); if writing is still stuck at the end of the grace (a pipe nobody reads, a terminal on
    hold), the signal takes effect there, as it would have without the hold: `Stopped`, or KeyboardInterrupt
    for Ctrl-C and for a signal the caller maps to it. A signal ignored (nohup) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [number for number in (signal.SIGINT, *STOP_SIGNALS) if signal.getsignal(number) is not signal.SIG_IGN]
    came: list[tuple[int, object]] = []

    def hold(number: int, frame: object) -> None:
        if not came:
            came.append((number, frame))
            signal.setitimer(signal.ITIMER_REAL, grace_s)

    def grace_over(_number: int, _frame: object) -> None:
        number, frame = came[0]
        handler = previous[number]
        if callable(handler):
            handler(number, frame)  # the caller's own (Python's default_int_handler raises KeyboardInterrupt)
            return
        raise Stopped(*STOP_SIGNALS[number]) if number in STOP_SIGNALS else KeyboardInterrupt

    previous = {number: signal.signal(number, hold) for number in numbers}
    previous_alarm = signal.signal(signal.SIGALRM, grace_over)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        for number, handler in previous.items():
            signal.signal(number, handler)


class Sink:
    """Writes to `stream` and never raises: the first failure is kept in `error` and later writes are dropped.

    Every text is redacted; with `line_max`, each line longer than it is cut. After a failure the
    stream's file descriptor is pointed at /dev/null, so the interpreter's last flush stays silent.
    """

    def __init__(self, stream: TextIO | None, *, line_max: int | None = None) -> None:
        self.stream = stream
        self.line_max = line_max
        self.error: BaseException | None = None

    def write(self, text: str) -> None:
        if self.error is not None:
            return
        text = redact(text)
        if self.line_max is not None:
            text = "\n".join(_cut(line, self.line_max) for line in text.split("\n"))
        try:
            if self.stream is None:
                raise OSError("it is closed")
            _write_through(self.stream, text)
        except (OSError, ValueError, AttributeError) as error:  # ValueError: a closed file object
            self.error = error
            _silence(self.stream)

    def flush(self) -> None:
        """Writes flush as they go; here for code that expects a file."""

    def isatty(self) -> bool:
        return is_terminal(self.stream)

    def failure(self) -> str:
        """Why the stream could not be written, in a few words."""
        error = self.error
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
        return str(error) or type(error).__name__


def _write_through(stream: TextIO, text: str) -> None:
    """All of `text` on the stream's descriptor, past partial writes and signals: a buffered write that a
    signal handler interrupts returns early, leaving the rest for an exit flush (a cut object, exit 0).
    A stream without a descriptor (a test's) is written as it is."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # whatever it holds goes first
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while data:
        data = data[os.write(descriptor, data) :]


def is_terminal(stream: TextIO | None) -> bool:
    """Whether `stream` is a terminal; False for a closed or missing one, never an error."""
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError, AttributeError):
        return False


def _cut(line: str, limit: int) -> str:
    if len(line) <= limit:
        return line
    keep = max(limit - 60, 0)  # the note takes under 60 characters
    return f"{line[:keep]}... ({len(line) - keep} characters more; --json has them all)"


def _silence(stream: TextIO | None) -> None:
    with contextlib.suppress(Exception):
        if stream is None:
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
