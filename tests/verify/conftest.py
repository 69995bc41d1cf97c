"""Fixtures for the verify tests: tallies built by hand, and real servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest

from verify.tally import ConnectionLog, Tally


def build_tally(
    counts: Mapping[str, int],
    *,
    warmup: Sequence[str] | None = None,
    errors: Mapping[str, int] | None = None,
    cookies: Mapping[str, int] | None = None,
    connections: Sequence[ConnectionLog] | None = None,
    addresses: Sequence[str] = ("127.0.0.1",),
) -> Tally:
    """A tally with these counts; unless given, answers arrive in rotation over one connection."""
    if connections is None:
        rotation = [
            replica
            for round_ in range(max(counts.values(), default=0))
            for replica in counts
            if counts[replica] > round_
        ]
        connections = [ConnectionLog(addresses[0], rotation, [float(i) for i in range(len(rotation))])]
    errors = dict(errors or {})
    return Tally(
        url="http://balancer.test/",
        addresses=tuple(addresses),
        warmup_replicas=tuple(warmup if warmup is not None else counts),
        requests=sum(counts.values()) + sum(errors.values()),
        counts=dict(counts),
        latencies_ms={replica: [1.0] * min(count, 100) for replica, count in counts.items()},
        errors=errors,
        cookies=dict(cookies or {}),
        connections=list(connections),
        elapsed_s=1.0,
    )


@pytest.fixture
def make_tally() -> Callable[..., Tally]:
    return build_tally
