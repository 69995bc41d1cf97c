"""A plain reading of ALB access-log files, written apart from verify's reader: what the tests hold it to.

It follows the line format verify documents (verify/sources/logs/line.py, docs/verify.md) with its own
code: bytes split at line breaks, a line's quoted fields found with one regular expression, the faults
named in the documented order, the forms checked with Python's own parsers. Slow and simple on purpose.
"""

from __future__ import annotations

import gzip
import ipaddress
import re
import zlib
from dataclasses import dataclass, field

LINE_BYTES_MAX = 1024 * 1024
READ_QUOTES = 16  # a line is read up to its 16th double quote, checked for UTF-8 up to its 17th
QUOTED = (13, 14, 18, 19, 20)
QUOTED_FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"')
UNQUOTED_FIELD = re.compile(r'[^ "]*')
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)
NUMBER = re.compile(r"-1|\d+(\.\d+)?", re.ASCII)
STATUS = re.compile(r"-|\d{3}", re.ASCII)


@dataclass
class Reading:
    """What the files hold: per target (the ALB's `ip:port` text) the answers and 5xx, and everything else."""

    answers: dict[str, int] = field(default_factory=dict)  # target -> requests not answered 5xx by the ELB
    errors: dict[str, int] = field(default_factory=dict)  # "HTTP 502" or "HTTP 503, no target" -> requests
    no_target: dict[str, int] = field(default_factory=dict)  # ELB 5xx code or "not 5xx" -> requests without a target
    outside: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # in the window, well-formed
    targets: set[str] = field(default_factory=set)  # of those requests, whatever their status

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def read(files: list[bytes], since: str, until: str, user_agent: str | None = None) -> Reading:
    """The reading of gzip'd files over the window [since, until) (times as the ALB writes them)."""
    reading = Reading()
    for data in files:
        if not data:
            reading.skip("empty file")
            continue
        if data[:2] != b"\x1f\x8b":
            reading.skip("not a gzip file")
            continue
        try:
            text = gzip.decompress(data)
        except EOFError:  # the data ends inside a member
            reading.skip("truncated gzip file")
            continue
        except (OSError, zlib.error):
            reading.skip("corrupt gzip file")
            continue
        text = text.removeprefix(b"\xef\xbb\xbf")
        for line in (line for line in re.split(rb"[\r\n]", text) if line):
            _read_line(line, reading, since, until, user_agent)
    return reading


def _read_line(line: bytes, reading: Reading, since: str, until: str, user_agent: str | None) -> None:
    if len(line) >= LINE_BYTES_MAX:
        reading.skip("line too long")
        return
    quotes = [at for at, byte in enumerate(line) if byte == ord('"')]
    checked = line[: quotes[READ_QUOTES]] if len(quotes) > READ_QUOTES else line
    try:
        checked.decode("utf-8")
    except UnicodeDecodeError:
        reading.skip("not UTF-8")
        return
    cut = len(quotes) >= READ_QUOTES  # read up to that quote, which is there; what follows is not known
    known = (line[: quotes[READ_QUOTES - 1] + 1] if cut else line).decode("utf-8")
    fields = _fields(known, cut)
    if isinstance(fields, str):
        reading.skip(fields)
        return
    fault = _fault(fields, ("time", "target_processing_time"))
    if fault:
        reading.skip(fault)
        return
    time, target, elb, agent = fields[1], fields[4], fields[8], fields[13]
    if not (since <= time < until and (user_agent is None or agent == user_agent)):
        reading.outside += 1  # nothing more of it is read
        return
    fault = _fault(fields, ("target", "elb_status_code", "target_status_code"))
    if fault:
        reading.skip(fault)
        return
    reading.requests += 1
    if target != "-":
        reading.targets.add(target)
    five = elb.startswith("5")
    if target == "-":
        key = elb if five else "not 5xx"
        reading.no_target[key] = reading.no_target.get(key, 0) + 1
        if five:
            reading.errors[f"HTTP {elb}, no target"] = reading.errors.get(f"HTTP {elb}, no target", 0) + 1
    elif five:
        reading.errors[f"HTTP {elb}"] = reading.errors.get(f"HTTP {elb}", 0) + 1
    else:
        reading.answers[target] = reading.answers.get(target, 0) + 1


def _fields(text: str, cut: bool) -> list[str] | str:
    """The 22 fields, quoted ones unescaped, or the first fault (the documented names)."""
    fields: list[str] = []
    at = 0
    while len(fields) < 22:
        number = len(fields) + 1
        if at > len(text):
            return "too few fields"
        starts_quoted = text.startswith('"', at)
        if at == len(text) and number in QUOTED:
            return "too few fields"
        if starts_quoted != (number in QUOTED):
            return "quotes out of place" if at < len(text) else "too few fields"
        if starts_quoted:
            found = QUOTED_FIELD.match(text, at)
            if found is None or (cut and found.end() == len(text)):
                return "too many quotes" if cut else "unterminated quote"
            fields.append(re.sub(r"\\(.)", r"\1", found.group(1)))
            at = found.end()
            if at < len(text) and text[at] != " ":
                return "stray quote"
        else:
            found = UNQUOTED_FIELD.match(text, at)
            at = found.end()
            if at < len(text) and text[at] == '"':
                return "stray quote"
            fields.append(found.group(0))
        at += 1
    return fields


def _fault(fields: list[str], names: tuple[str, ...]) -> str:
    """The first of the fields `names` not in the ALB's form, in the documented order."""
    checks = (
        ("time", fields[1], lambda value: TIME.fullmatch(value)),
        ("target_processing_time", fields[6], lambda value: NUMBER.fullmatch(value)),
        ("target", fields[4], lambda value: value == "-" or address(value) is not None),
        ("elb_status_code", fields[8], lambda value: STATUS.fullmatch(value)),
        ("target_status_code", fields[9], lambda value: STATUS.fullmatch(value)),
    )
    return next((f"malformed {name}" for name, value, good in checks if name in names and not good(value)), "")


def address(target: str) -> str | None:
    """The canonical address of `1.2.3.4:80` or `[v6]:80` (port 1 to 65535), None for anything else."""
    found = re.fullmatch(r"(\d+\.\d+\.\d+\.\d+):(\d{1,5})|\[([0-9A-Fa-f:.]+)\]:(\d{1,5})", target, re.ASCII)
    if found is None:
        return None
    host, port = (found.group(1), found.group(2)) if found.group(1) else (found.group(3), found.group(4))
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not 1 <= int(port) <= 65535 or (found.group(1) and str(parsed) != host):
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and (found.group(1) or parsed.ipv4_mapped is not None):
        return None
    if isinstance(parsed, ipaddress.IPv4Address) and found.group(3):
        return None
    return str(parsed)
