"""Progress events of a measurement: what the measuring layer reports and the renderer prints.

Their own module, so rendering imports them without importing the HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    """Progress while waiting for ready: what is not ready yet."""

    reason: str
    elapsed_s: float
    budget_s: float


@dataclass(frozen=True)
class Measuring:
    """Progress while measuring."""

    done: int
    total: int
    unit: str = ""  # after the numbers: "" for requests, " s" for the seconds of a --duration run


Progress = Callable[[Waiting | Measuring], None]
