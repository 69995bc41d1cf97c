"""A stage's measurement spread over several calls of the hook, kept in hookDetails between them.

A Lambda call ends within its timeout, and a small canary needs many requests (the power rule: 298,080
for `canary:0.1` at 3 replicas). When a call runs out of time, the hook answers IN_PROGRESS with what it
has counted under hookDetails[PROGRESS_KEY]; ECS merges that into the next call's payload (ECS developer
guide, "Lambda hooks": runtime hookDetails persist between calls of the same hook in one deploy), and
the next call adds to it. Progress belongs to one stage, revision and share (`key`): a later step's first
call starts afresh. Bounded: the counts of at most MAX_REPLICAS replicas and ERROR_KINDS_MAX kinds of
error, and the stage's first call's time, which bounds the whole stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from verify.core.numbers import MAX_REPLICAS, MAX_REQUESTS, BadNumber, read_number
from verify.core.tally import Tally
from verify.sources.hook.payload import PROGRESS_KEY, MalformedPayload

ERROR_KINDS_MAX = 64
_KEY_MAX = 512
# Seconds since the epoch, bounded: a time from before 2020 or after 2200 is no call of this hook's.
_EPOCH_RANGE = (1.5e9, 7.3e9)


@dataclass
class Progress:
    """What the calls of one stage have measured so far."""

    key: str
    started_at: float  # the wall-clock time of the stage's first call
    calls: int = 0
    requests: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """The progress as the hook returns it in hookDetails."""
        return {
            PROGRESS_KEY: {
                "key": self.key,
                "startedAt": self.started_at,
                "calls": self.calls,
                "requests": self.requests,
                "counts": dict(self.counts),
                "errors": dict(list(self.errors.items())[:ERROR_KINDS_MAX]),
            }
        }

    def into(self, tally: Tally) -> None:
        """Put the earlier calls' counts into this call's tally, which is then the whole stage's."""
        tally.requests += self.requests
        for replica, count in self.counts.items():
            tally.counts[replica] = tally.counts.get(replica, 0) + count
        for kind, count in self.errors.items():
            tally.errors[kind] = tally.errors.get(kind, 0) + count

    def record(self, whole: Tally) -> None:
        """This call done: the stage's counts so far are `whole`'s (its tally with the earlier calls' in)."""
        self.calls += 1
        self.requests = whole.requests
        self.counts = dict(whole.counts)
        self.errors = dict(list(whole.errors.items())[:ERROR_KINDS_MAX])


def read_progress(raw: Mapping[str, Any] | None) -> Progress | None:
    """What an earlier call carried, or None when nothing was. Carried progress that is not what this hook
    writes is a MalformedPayload, whichever stage it is of: read before anything else is."""
    if raw is None:
        return None
    try:
        key = raw.get("key")
        if not isinstance(key, str) or not key or len(key) > _KEY_MAX:
            raise BadNumber(f"key {str(key)[:60]!r} is not what the hook writes")
        started = float(read_number(raw.get("startedAt"), *_EPOCH_RANGE, whole=False, label="startedAt {}"))
        calls = int(read_number(raw.get("calls"), 0, 10_000, whole=True, label="calls {}"))
        requests = int(read_number(raw.get("requests"), 0, MAX_REQUESTS * 10, whole=True, label="requests {}"))
        counts = _counts(raw.get("counts"), MAX_REPLICAS)
        errors = _counts(raw.get("errors"), ERROR_KINDS_MAX)
    except BadNumber as error:
        raise MalformedPayload(f"hookDetails.{PROGRESS_KEY}: {error}") from None
    if sum(counts.values()) + sum(errors.values()) > requests:
        raise MalformedPayload(f"hookDetails.{PROGRESS_KEY}: more answers and errors than requests")
    return Progress(key=key, started_at=started, calls=calls, requests=requests, counts=counts, errors=errors)


def continued(carried: Progress | None, key: str, now: float) -> Progress:
    """The carried progress when it is of this stage, revision and share (`key`); else a fresh one from `now`."""
    if carried is not None and carried.key == key:
        return carried
    return Progress(key=key[:_KEY_MAX], started_at=now)


def _counts(value: object, most: int) -> dict[str, int]:
    if not isinstance(value, Mapping) or len(value) > most:
        raise BadNumber(f"a map of at most {most} counts is expected, not {str(value)[:60]}")
    return {
        str(name)[:200]: int(
            read_number(count, 0, MAX_REQUESTS * 10, whole=True, label=f"count of {str(name)[:40]} {{}}")
        )
        for name, count in value.items()
    }
