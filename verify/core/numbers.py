"""The one reader of numbers verify is fed: options, stack outputs, stats pages. Type, finiteness, range.

Every source goes through `read_number` with the caps below, so `--expect-replicas 2000` and a stack
output `replicas: 2000` are refused alike, and `inf`, `1e400`, `nan`, `2.5` or `true` where a count
belongs are named with what is allowed instead of surfacing later as a traceback or a run without end.
"""

from __future__ import annotations

import math

# Caps shared by every source.
MAX_REQUESTS = 1_000_000
MAX_CONCURRENCY = 1000
MAX_TIMEOUT_S = 600.0
MAX_WAIT_S = 3600.0
MAX_DURATION_S = 3600.0
MAX_RATE = 100_000.0  # requests a second: beyond what one verify process sends
MAX_NODES = 256
MAX_WEIGHT = 1_000_000.0
# Distinct replica ids a run accepts: more means the identity changes per answer (a request id, a
# dynamic page), and counting them as replicas would only grow the request count without end.
MAX_REPLICAS = 1000


class BadNumber(ValueError):
    """A number of the wrong type, not finite, or out of range; `str()` names it and what is allowed."""


def read_number(
    value: object, low: float, high: float, *, whole: bool, above: bool = False, label: str = "{}"
) -> int | float:
    """`value` (text, or a number from JSON) as an int (`whole`) or float in [low, high] (or above low).

    Booleans are not numbers here (JSON's true is not 1); a whole number is 3 or "3" (or JSON's 3.0),
    not 2.5 nor "1e3"; other text is read as Python reads a float, so "1e400" is infinity, refused as such.
    `label` names the value in the message ("weight {} of a").
    """
    kind = "whole number" if whole else "number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadNumber(f"{label.format(_shown(value))} is not a {kind}")
    shown = label.format(value[:40] if isinstance(value, str) else _shown(value))
    try:
        # Text for a whole number is written as one (3, not 3.0 or 1e3); JSON's 3.0 is 3.
        number = int(value) if isinstance(value, int) or (whole and isinstance(value, str)) else float(value)
    except (ValueError, OverflowError):
        raise BadNumber(f"{label.format(_shown(value))} is not a {kind}") from None
    bound = f"above {low:g}" if above else f"at least {low:g}"
    allowed = f"a finite number {bound} and at most {high:g}" + (", a whole one" if whole else "")
    # nan fails every comparison, so it is refused by name rather than slipping through them.
    if isinstance(number, float) and not math.isfinite(number):
        raise BadNumber(f"{shown} must be {allowed}")
    if (number <= low if above else number < low) or number > high:
        raise BadNumber(f"{shown} must be {allowed}")
    if whole:
        if number != int(number):
            raise BadNumber(f"{shown} must be {allowed}")
        return int(number)
    return float(number)


def _shown(value: object) -> str:
    """A value as a message names it: JSON's spelling for JSON's types, cut short."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
