"""What names a replica, for every source alike: the id as counted, the cap on distinct ids, the order shown."""

from __future__ import annotations

import ipaddress

from verify.core.numbers import MAX_REPLICAS
from verify.core.text import printable

# Distinct replica ids a run accepts (the shared cap of verify.core.numbers).
MAX_REPLICA_IDS = MAX_REPLICAS


def replica_id(value: str) -> str | None:
    """An id as verify counts and prints it: stripped and `printable`; None when empty (no identity)."""
    value = value.strip()
    return printable(value) if value else None


def replica_sort_key(replica: str) -> tuple[int, int, str]:
    """IP ids in address order (10.0.1.9 before 10.0.1.10), any other id after them, by name."""
    try:
        address = ipaddress.ip_address(replica)
    except ValueError:
        return (1, 0, replica)
    return (0, int(address), str(address.version))
