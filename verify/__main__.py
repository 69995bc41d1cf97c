import signal

# A stop signal while Python imports verify (a tenth of a second) is kept for main(), which says so
# as it says any other: its exit code, one line, one JSON object.
_early: list[int] = []
_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_previous = {number: signal.signal(number, lambda number, _frame: _early.append(number)) for number in _STOPS}

from verify.cli import main  # noqa: E402
from verify.sources.logs.reader import exit_leaving_readers  # noqa: E402

for _number, _handler in _previous.items():
    signal.signal(_number, _handler)
exit_leaving_readers(main(stopped_by=_early[0] if _early else None))
