"""Text from outside as verify writes it: cut and escaped (`printable`), and without credentials (`redact`).

Every layer may import it: a source cuts what a server or a file sent, a renderer what it prints.
"""

from __future__ import annotations

import re

# A replica id (or cookie name) is cut to this many characters (an id is a name, not a document).
ID_MAX = 64
_USER_INFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s'\"]*@")
_QUERY_VALUE = re.compile(r"(?P<key>[?&][^=&#\s'\"]*=)[^&#\s'\"]+")


def printable(text: str, limit: int = ID_MAX) -> str:
    """Text from a server as verify prints it: cut to `limit` characters, unprintable ones escaped.

    A newline or terminal escape in an id, a cookie name or a Location could otherwise forge a line
    of the report.
    """
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def redact(text: str) -> str:
    """`text` with a URL's user info and query values replaced by ***: they may carry a password or token."""
    return _QUERY_VALUE.sub(r"\g<key>***", _USER_INFO.sub(r"\g<scheme>***@", text))
