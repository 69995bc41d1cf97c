"""An ALB access-log line as verify reads it: the one definition, held twice in step. No I/O.

A file is split into lines at every carriage return or line feed (empty lines are no lines; a UTF-8 byte
order mark at the file's start is dropped), as DuckDB's reader splits it. A line is read up to its
`READ_QUOTES`-th double quote: the 22 fields the ALB writes first hold 10 quotes (more when a quoted
field holds escaped ones); what comes after is not read, since AWS appends fields there (ELB user guide,
"Access log entries for your Application Load Balancer"). The reader refuses a line that is not UTF-8 up
to its 17th quote, and one of LINE_BYTES_MAX bytes or more: `not UTF-8`, `line too long`.

The fields are separated by single spaces. Fields 13, 14, 18, 19 and 20 (request, user agent, trace id,
domain, certificate) are quoted; inside them a backslash takes the next character as it is (`\\"` is a
quote in the field); the others are bare, a backslash in them an ordinary character. A line that does
not keep to this is malformed, counted by its first fault, as `parse_line` finds it:

- `unterminated quote`: a quoted field that never closes;
- `stray quote`: a quote inside a bare field, or a closing quote not followed by a space or the end;
- `quotes out of place`: a bare field where the ALB quotes one, or a quoted one where it does not;
- `too few fields`: the line ends before its 22nd field;
- `too many quotes`: field 22 does not end within the part of the line that is read;
- `malformed <field>`: a field the count reads does not have the ALB's form (FIELD_FORMS): the time and
  the processing time on every line, the target (its address an IPv4 one or IPv6 in brackets, port 1 to
  65535: `target_address`) and the status codes on the lines inside the window, the others being only
  counted as outside it.

`parse_line` is the exact reading, in Python. DuckDB reads every line by the pieces between its quotes
(`duckdb_lines`), and a line of the usual shape (no backslash in a quoted field, quotes where the ALB
puts them) is judged there in SQL, by the same forms; every other line is handed back whole and read by
`parse_line`. So both agree by construction, and the tests hold them to a reading of their own.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from verify.core.addresses import node_address, split_host_port

# The fields of a line, in the ALB's order, up to request_creation_time (the 22nd): the first 22
# space-separated (or quoted) fields. `client` and `target` are "ip:port" ("-" for no target).
LINE_FIELDS = (
    "type", "time", "elb", "client", "target", "request_processing_time", "target_processing_time",
    "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes",
    "request", "user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name",
    "chosen_cert_arn", "matched_rule_priority", "request_creation_time",
)  # fmt: skip

# A line is read up to its 16th quote (its UTF-8 checked up to the 17th): the SQL reads the pieces between
# quotes, 16 of them, and one more to know whether the line goes on. Fields 1 to 22 take 10 quotes, so up
# to 5 escaped quotes in them are read; each piece more costs every line its reading.
READ_QUOTES = 16
FIELDS_READ = 22
QUOTED_FIELDS = frozenset({13, 14, 18, 19, 20})
# A line this long or longer is refused by the reader (the ALB's request line is at most 16 KiB).
LINE_BYTES_MAX = 1024 * 1024

NOT_UTF8 = "not UTF-8"
TOO_LONG = "line too long"
UNTERMINATED = "unterminated quote"
STRAY_QUOTE = "stray quote"
QUOTES_OUT_OF_PLACE = "quotes out of place"
TOO_FEW_FIELDS = "too few fields"
TOO_MANY_QUOTES = "too many quotes"

# The forms of the fields the count reads, as regular expressions of the whole field, in the order a line's
# first fault is named. The first two differ from line to line and are checked on every line (in SQL by the
# same expressions: `_SQL_FORMS`); the others only on the lines inside the window (a line outside it is only
# counted), each value once, in Python (`value_fault`), a target's address too (`target_address`).
TIME_FORM = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"
FIELD_FORMS = {
    "time": TIME_FORM,
    "target_processing_time": r"-1|[0-9]+(\.[0-9]+)?",
    "target": r"-|[0-9.]+:[0-9]{1,5}|\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}",
    "elb_status_code": r"-|[0-9]{3}",
    "target_status_code": r"-|[0-9]{3}",
}
_FORMS = {name: re.compile(form) for name, form in FIELD_FORMS.items()}
_FIELD_NUMBERS = {
    name: LINE_FIELDS.index(name) + 1
    for name in ("time", "client", "target", "target_processing_time", "elb_status_code", "target_status_code",
                 "user_agent", "request_creation_time")
}  # fmt: skip


@dataclass(frozen=True)
class LineFields:
    """What the count and the order read of a well-formed line (quoted fields unescaped)."""

    time: str
    client: str
    target: str
    target_processing_time: float  # -1: not dispatched
    elb_status_code: str
    target_status_code: str
    user_agent: str
    request_creation_time: str


def malformed(field: str) -> str:
    return f"malformed {field}"


def parse_line(text: str, *, more: bool = False) -> LineFields | str:
    """The fields of one line (as far as it is read, without its line break), or the name of its first fault
    (but for the forms `value_fault` checks, once the line is known to be inside the window).

    `more`: the line goes on past what is read (`text` ends at its READ_QUOTES-th quote, which is there), so
    field 22 must end before that point to be known.
    """
    fields = _tokenize(text + '"' if more else text, whole=not more)
    if isinstance(fields, str):
        return fields
    return _with_forms(fields)


def _tokenize(text: str, whole: bool) -> list[str] | str:
    """Fields 1 to 22, quoted ones unescaped; or the first fault."""
    fields: list[str] = []
    at, end = 0, len(text)
    for number in range(1, FIELDS_READ + 1):
        if at > end:
            return TOO_FEW_FIELDS
        quoted = at < end and text[at] == '"'
        if quoted != (number in QUOTED_FIELDS):
            return TOO_FEW_FIELDS if at == end else QUOTES_OUT_OF_PLACE
        if quoted:
            value, at = _quoted(text, at + 1)
            if at < 0 or (at == end and not whole):
                return UNTERMINATED if whole else TOO_MANY_QUOTES  # not whole: what follows is not read
            if at < end and text[at] != " ":
                return STRAY_QUOTE
        else:
            stop = text.find(" ", at)
            stop = end if stop < 0 else stop
            value = text[at:stop]
            if '"' in value:
                return STRAY_QUOTE
            at = stop
        fields.append(value)
        at += 1  # past the space (or one past the end: no field follows)
    return fields


def _quoted(text: str, at: int) -> tuple[str, int]:
    """The content of a quoted field opened before `at` (escapes resolved) and the index after its closing
    quote; (partial, -1) when it never closes."""
    value: list[str] = []
    end = len(text)
    while at < end:
        char = text[at]
        if char == "\\":
            if at + 1 >= end:
                return "".join(value), -1
            value.append(text[at + 1])
            at += 2
        elif char == '"':
            return "".join(value), at + 1
        else:
            value.append(char)
            at += 1
    return "".join(value), -1


def _with_forms(fields: list[str]) -> LineFields | str:
    """The fields the count reads, each in its form; or `malformed <field>` for the first that is not."""
    read = {name: fields[number - 1] for name, number in _FIELD_NUMBERS.items()}
    for name in ("time", "target_processing_time"):
        if not _FORMS[name].fullmatch(read[name]):
            return malformed(name)
    return LineFields(
        time=read["time"],
        client=read["client"],
        target=read["target"],
        target_processing_time=float(read["target_processing_time"]),
        elb_status_code=read["elb_status_code"],
        target_status_code=read["target_status_code"],
        user_agent=read["user_agent"],
        request_creation_time=read["request_creation_time"],
    )


def value_fault(target: str, elb_status_code: str, target_status_code: str) -> str:
    """`malformed <field>` for the first of these not in its form (a target's address included), else ''."""
    for name, value in (("target", target), ("elb_status_code", elb_status_code),
                        ("target_status_code", target_status_code)):  # fmt: skip
        if not _FORMS[name].fullmatch(value or "") or (
            name == "target" and value != "-" and target_address(value) is None
        ):
            return malformed(name)
    return ""


def target_address(target: str) -> tuple[str, int] | None:
    """(address, port) of a target in the ALB's form (`10.0.1.5:8080`, `[2600:1f18::5]:8080`), the address
    canonical; None for anything else (a name, an address out of range, port 0, IPv6 without brackets)."""
    host, port = split_host_port(target)
    bracketed = target.startswith("[")
    try:
        address = node_address(host)
    except ValueError:
        return None
    if (":" in address) != bracketed or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    if not bracketed and str(ipaddress.ip_address(host)) != host:
        return None  # 10.0.1.05 and the like: not how the ALB writes an address
    return address, int(port)


# The SQL side: DuckDB reads a line as the pieces between its quotes (a quote is the delimiter, nothing is
# quoted), so a line is one row whatever its quotes; `p1` holds fields 1 to 12 and the spaces after them,
# `p2` field 13, `p3` the space between 13 and 14, `p4` field 14, `p5` fields 15 to 17 with a space around
# each, `p6`, `p8`, `p10` fields 18 to 20, `p7` and `p9` single spaces, `p11` fields 21 and 22 after a space.
_PIECES = [f"p{number}" for number in range(1, READ_QUOTES + 1)]
# The usual shape: every quote where the ALB puts one, no backslash in a quoted field (so no escape).
_USUAL_SHAPE = """p11 IS NOT NULL AND len(f) = 13 AND f[13] = '' AND p3 = ' ' AND p7 = ' ' AND p9 = ' '
        AND p5 LIKE ' % % % ' AND NOT p5 LIKE '% % % % % %'
        AND p11 LIKE ' % %' AND (p11 LIKE ' % % %' OR p12 IS NULL)
        AND NOT (contains(p2, '\\') OR contains(p4, '\\') OR contains(p6, '\\') OR contains(p8, '\\')
            OR contains(p10, '\\'))"""
# The per-line forms of FIELD_FORMS in SQL, the same regular expressions (RE2's full match: half the
# instructions DuckDB's GLOB took), over the columns named so in `duckdb_lines`.
_SQL_FORMS = {
    name: f"regexp_full_match({column}, '{FIELD_FORMS[name]}')"
    for name, column in (("time", "time"), ("target_processing_time", "work"))
}
EXACT = "exact"  # the kind of a line handed back whole, for `parse_line`


def duckdb_lines(files_parameter: str, *, tolerant: bool, rejects: str) -> str:
    """`logs` over gzip'd log files, as DuckDB reads them: one row per line, the fields of a line of the
    usual shape, `kind` '' (well-formed, but for the forms `value_fault` checks per value), `malformed
    <field>`, or EXACT with the line in `raw` (and `more` true when it goes on past what is read).
    `tolerant`: a line the reader refuses (not UTF-8, too long) goes to the rejects table named `rejects`
    instead of failing the query."""
    columns = "{" + ", ".join(f"'{piece}': 'VARCHAR'" for piece in _PIECES) + ", 'beyond': 'VARCHAR'}"
    errors = (
        f"ignore_errors = true, store_rejects = true, rejects_table = '{rejects}_errors',"
        f" rejects_scan = '{rejects}_scans', rejects_limit = {REJECTS_STORED_PER_FILE}"
        if tolerant
        else "ignore_errors = false"
    )
    kind = (
        "CASE WHEN NOT usual THEN '"
        + EXACT
        + "'"
        + "".join(f" WHEN NOT {check} THEN '{malformed(name)}'" for name, check in _SQL_FORMS.items())
        + " ELSE '' END"
    )
    return f"""
    SELECT path, client, target,
        CASE WHEN kind <> '' THEN NULL WHEN work = '-1' THEN -1 ELSE TRY_CAST(work AS DOUBLE) END
            AS target_processing_time,
        elb_status_code, target_status_code, user_agent, time, request_creation_time, kind, raw, more
    FROM (
        SELECT path, f[4] AS client, f[5] AS target, work, f[9] AS elb_status_code, f[10] AS target_status_code,
            p4 AS user_agent, time, split_part(p11, ' ', 3) AS request_creation_time, {kind} AS kind,
            CASE WHEN NOT usual THEN concat_ws('"', {", ".join(_PIECES)}) END AS raw,
            CASE WHEN NOT usual THEN beyond IS NOT NULL END AS more
        FROM (
            -- each field the checks read taken out of the list once
            SELECT *, f[2] AS time, f[7] AS work, coalesce({_USUAL_SHAPE}, false) AS usual
            FROM (
                SELECT filename AS path, string_split(p1, ' ') AS f, *
                -- nullstr: a piece never holds a line feed, so none is read as NULL (only the missing ones)
                FROM read_csv({files_parameter}, columns = {columns}, delim = '"', quote = '', escape = '',
                    nullstr = chr(10), header = false, auto_detect = false, filename = true, null_padding = true,
                    strict_mode = false, new_line = '\\n', max_line_size = {LINE_BYTES_MAX}, {errors},
                    compression = 'gzip')
            )
        )
    )"""


# Rejected lines DuckDB keeps per file, to count them by kind (each with its text): bounded memory.
REJECTS_STORED_PER_FILE = 100_000
