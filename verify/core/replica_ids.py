"""What names a replica, for every source alike: the id as counted, the cap on distinct ids, the order shown.

A live run's id is what the replica answers (a JSON field, a header, the body's start); an access log's
is the target's address (`verify.sources.logs.reader`), both through `replica_id`: so the same rules hold
for both. An id is counted whole, never cut (two ids that begin alike are two replicas); it is made
printable so that distinct values never print alike; it is never empty; and it is a name, not a
document: a value over REPLICA_ID_MAX characters ends the run in one line. Only a renderer cuts an id,
where a line would be too long to show.
"""

from __future__ import annotations

import ipaddress

from verify.core.numbers import MAX_REPLICAS

# Distinct replica ids a run accepts (the shared cap of verify.core.numbers).
MAX_REPLICA_IDS = MAX_REPLICAS
# The longest id verify takes: an address, a host name (253), a task id; longer is no name.
REPLICA_ID_MAX = 256


class ReplicaIdTooLong(ValueError):
    """A value too long to be a replica's name; `str()` says how long, cut."""


def replica_id(value: str) -> str | None:
    """An id as verify counts and prints it: stripped, whole, printable; None when empty (no identity).

    A value with no unprintable character and no backslash is its own id; any other is escaped (a
    backslash doubled, an unprintable character written as Python writes it: `\\n`, `\\x1b`), so a
    newline or terminal escape cannot forge a line of the report and no two values share an id.
    """
    value = value.strip()
    if not value:
        return None
    if len(value) > REPLICA_ID_MAX:
        raise ReplicaIdTooLong(
            f"a replica id of {len(value):,} characters ({_escaped(value[:40])}...): an id names a replica, in at most"
            f" {REPLICA_ID_MAX} characters"
        )
    return value if value.isprintable() and "\\" not in value else _escaped(value)


def _escaped(value: str) -> str:
    return "".join("\\\\" if char == "\\" else char if char.isprintable() else repr(char)[1:-1] for char in value)


def replica_sort_key(replica: str) -> tuple[int, int, str]:
    """IP ids in address order (10.0.1.9 before 10.0.1.10), any other id after them, by name."""
    try:
        address = ipaddress.ip_address(replica)
    except ValueError:
        return (1, 0, replica)
    return (0, int(address), str(address.version))
