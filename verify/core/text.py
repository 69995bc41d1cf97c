"""Text from outside as verify writes it: cut and escaped (`printable`), and without credentials (`redact`).

Every layer may import it: a source cuts what a server or a file sent, a renderer what it prints.
"""

from __future__ import annotations

import re

# A name from a server (a cookie's, a target state) is cut to this many characters where it is shown.
ID_MAX = 64
# Both linear in the text's length: a scheme is tried only where a run of its letters starts, and a query
# key ends at the next `?` (each position tried once would otherwise scan to the end: a 100 KB URL of
# letters took 40 s).
_USER_INFO = re.compile(r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s'\"]*@")
_QUERY_VALUE = re.compile(r"(?P<key>[?&][^=&#?\s'\"]*=)[^&#\s'\"]+")


def printable(text: str, limit: int = ID_MAX) -> str:
    """Text from a server as verify prints it: cut to `limit` characters, unprintable ones escaped.

    A newline or terminal escape in an id, a cookie name or a Location could otherwise forge a line
    of the report.
    """
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def shown_value(value: str, limit: int = 40) -> str:
    """A value a refusal echoes: quoted and escaped (as Python writes it), cut to `limit` characters, saying
    how long it was."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def redact(text: str) -> str:
    """`text` with a URL's user info and query values replaced by ***: they may carry a password or token."""
    return _QUERY_VALUE.sub(r"\g<key>***", _USER_INFO.sub(r"\g<scheme>***@", text))
