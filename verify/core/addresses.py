"""Addresses of both families, for every source alike: a node's or a target's address as verify takes it,
its family, and `host:port` text split and written with IPv6 in brackets (RFC 3986: `[2600:1f18::5]:8080`,
as the ALB's access logs and HAProxy's stats write a target)."""

from __future__ import annotations

import ipaddress

FAMILIES = {4: "IPv4", 6: "IPv6"}


def node_address(text: str) -> str:
    """An address to connect to, canonical (`[2600:1F18::5]` -> `2600:1f18::5`), or ValueError in one line.

    Refused: a zone id (`fe80::1%eth0`: link-local, the machine's own link, never a balancer node) and an
    IPv4-mapped IPv6 address (`::ffff:10.0.0.5`: the IPv4 address in disguise, counted twice otherwise).
    """
    bare = text.strip()
    if bare.startswith("[") != bare.endswith("]"):
        raise ValueError(f"{text[:80]!r} opens or closes a bracket it does not close or open")
    bare = bare.removeprefix("[").removesuffix("]")
    if "%" in bare:
        raise ValueError(f"{text[:80]!r} names a zone (%...): a link-local address, never a load balancer's")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        raise ValueError(f"{text[:80]!r} is not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f"{text[:80]!r} is an IPv4-mapped IPv6 address; write {address.ipv4_mapped} itself")
    return str(address)


def family(address: str) -> str:
    """ "IPv4" or "IPv6" for an address verify took (`node_address`), "?" for anything else."""
    try:
        return FAMILIES[ipaddress.ip_address(address).version]
    except ValueError:
        return "?"


def split_host_port(text: str) -> tuple[str, str]:
    """`[2600:1f18::5]:8080` -> ("2600:1f18::5", "8080"); `10.0.1.5:8080` -> ("10.0.1.5", "8080"); text
    without a port (`-`, a bare IPv6 address) -> (text, "")."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if bracket and (not rest or rest.startswith(":")):
            return host, rest[1:]
        return text, ""
    host, colon, port = text.rpartition(":")
    if not colon or ":" in host:  # no port, or an IPv6 address without brackets: all of it is the host
        return text, ""
    return host, port


def host_port(address: str, port: int | str) -> str:
    """`address:port`, an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
