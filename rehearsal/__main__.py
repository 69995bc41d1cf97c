import signal

# Ctrl-C (or SIGTERM, SIGHUP) while Python imports the rehearsal is kept for main(): exit 130, one line.
_early: list[int] = []
_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_previous = {number: signal.signal(number, lambda number, _frame: _early.append(number)) for number in _STOPS}

from rehearsal.cli import main  # noqa: E402
from verify.sources.logs.reader import exit_leaving_readers  # noqa: E402

for _number, _handler in _previous.items():
    signal.signal(_number, _handler)
exit_leaving_readers(main(stopped_by=_early[0] if _early else None))
