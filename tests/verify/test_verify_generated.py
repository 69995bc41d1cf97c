"""verify's promises over generated cases (Hypothesis): random option vectors, random stack outputs, and a
scriptable hostile server and stats page on loopback driven by generated scripts.

Every case asserts the same promises: an exit code in {0, 1, 2, 129, 130, 131, 143}; no traceback;
without a report, exactly one line `verify: <reason>` on stderr (besides the waiting lines); with --json,
exactly one JSON object with every key on stdout; report lines within REPORT_LINE_MAX; the run within
the bound --help states; no credential of the URL anywhere. The `ci` profile (tests/conftest.py) runs a
fixed, bounded set; HYPOTHESIS_PROFILE=thorough runs ten times as many, at random.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from verify_helpers import RawServer, read_request

from verify import cli
from verify.boundary import REPORT_LINE_MAX
from verify.cli import main
from verify.rendering.terminal import REPORT_KEYS
from verify.sources.stack import read_stack_outputs

PROJECT = Path(__file__).resolve().parents[2]
EXIT_CODES = {0, 1, 2, 129, 130, 131, 143}
SECRETS = ("s3cretPW", "t0kenV4lue")
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def examples(count: int) -> int:
    return count * 10 if THOROUGH else count


# The hostile server: each answer of a script says how to answer one request.


@dataclass(frozen=True)
class Answer:
    delay_s: float
    informational: int  # 103 Early Hints before it
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    framing: str  # length, short, long, chunked, bad-chunk, close, http2, garbage, early-close, trickle
    keep_alive: bool


REPLICA_VALUES = st.sampled_from(["a", "b", "c", "10.0.1.5", "", "a\nverdict: EVEN", True, 1.5, 7, None, [1]])
BODIES = st.one_of(
    REPLICA_VALUES.map(lambda value: json.dumps({"replica": value}).encode()),
    st.binary(max_size=40),
    st.just(b"x" * (65 * 1024)),
    st.just(b"[" * 5000),
)
HEADERS = st.lists(
    st.one_of(
        st.tuples(st.just("Set-Cookie"), st.sampled_from(["AWSALB=1", "session=2", "c\x1b[2J=3", "=", "x" * 300])),
        st.tuples(st.just("Location"), st.sampled_from(["/next", "http://u:s3cretPW@other.test/", ""])),
        st.tuples(st.just("X-Replica"), st.sampled_from(["a", "b", ""])),
        st.tuples(st.just("X-Long"), st.just("y" * 70000)),
    ),
    max_size=3,
)
ANSWERS = st.builds(
    Answer,
    delay_s=st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.05, 0.4]),
    informational=st.sampled_from([0, 0, 0, 1, 2, 20]),
    status=st.sampled_from([200, 200, 200, 200, 201, 204, 301, 400, 403, 404, 429, 500, 503, 599]),
    headers=HEADERS.map(tuple),
    body=BODIES,
    framing=st.sampled_from(
        ["length"] * 6
        + ["short", "long", "chunked", "bad-chunk", "close", "http2", "garbage", "early-close", "trickle"]
    ),
    keep_alive=st.booleans(),
)
# A well-behaved balancer's answers: three replicas, at most an Early Hint or a cookie in the way.
GOOD_ANSWERS = st.builds(
    Answer,
    delay_s=st.sampled_from([0.0, 0.0, 0.01]),
    informational=st.sampled_from([0, 0, 1]),
    status=st.just(200),
    headers=st.sampled_from([(), (("Set-Cookie", "session=1"),)]),
    body=st.sampled_from(["a", "b", "c"]).map(lambda replica: json.dumps({"replica": replica}).encode()),
    framing=st.sampled_from(["length", "length", "chunked", "close"]),
    keep_alive=st.just(True),
)
SCRIPTS = st.one_of(
    st.lists(GOOD_ANSWERS, min_size=3, max_size=6),
    st.lists(st.one_of(GOOD_ANSWERS, ANSWERS), min_size=3, max_size=6),
    st.lists(ANSWERS, min_size=1, max_size=4),
)


def _answer(connection: socket.socket, answer: Answer, stop: threading.Event) -> bool:
    """Write one answer; False when the connection should close."""
    if answer.delay_s and stop.wait(answer.delay_s):
        return False
    if answer.framing == "early-close":
        return False
    if answer.framing == "http2":
        connection.sendall(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00" + b"\x00" * 18)
        return False
    if answer.framing == "garbage":
        connection.sendall(b"SPDY/3 banana\r\n\r\n")
        return False
    for _ in range(answer.informational):
        connection.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
    head = b"HTTP/1.1 %d Hostile\r\n" % answer.status
    for name, value in answer.headers:
        head += f"{name}: {value}\r\n".encode()
    body = answer.body
    if answer.framing in ("length", "short", "long", "trickle"):
        promised = {"short": len(body) + 50, "long": max(len(body) - 3, 0)}.get(answer.framing, len(body))
        head += b"Content-Length: %d\r\n" % promised
    elif answer.framing in ("chunked", "bad-chunk"):
        head += b"Transfer-Encoding: chunked\r\n"
        body = (b"zz\r\n" if answer.framing == "bad-chunk" else b"%x\r\n" % len(body)) + body + b"\r\n0\r\n\r\n"
    if not answer.keep_alive or answer.framing == "close":
        head += b"Connection: close\r\n"
    connection.sendall(head + b"\r\n")
    if answer.framing == "trickle":
        for index in range(min(len(body), 40)):
            if stop.wait(0.01):
                return False
            connection.sendall(body[index : index + 1])
        connection.sendall(body[40:])
    else:
        connection.sendall(body)
    return answer.keep_alive and answer.framing not in ("close", "short")


@dataclass
class HostileServer:
    """One RawServer whose answers follow `script`, request after request (over every connection)."""

    address: str
    script: list[Answer] = field(default_factory=list)
    requests: int = 0

    def start(self) -> HostileServer:
        self.raw = RawServer(self.address, self._handle).start()
        return self

    def _handle(self, connection: socket.socket, _number: int, stop: threading.Event) -> None:
        while not stop.is_set() and read_request(connection):
            number, self.requests = self.requests, self.requests + 1
            if not self.script or not _answer(connection, self.script[number % len(self.script)], stop):
                return

    @property
    def port(self) -> int:
        return self.raw.port


@dataclass
class StatsPage:
    """A stand-in for HAProxy's stats page, as hostile as its generated `page` (None: refuse to answer)."""

    address: str
    page: bytes | None = None
    trickle: bool = False

    def start(self) -> StatsPage:
        self.raw = RawServer(self.address, self._handle).start()
        return self

    def _handle(self, connection: socket.socket, _number: int, stop: threading.Event) -> None:
        page, trickle = self.page, self.trickle  # this case's: the next case may set others meanwhile
        if page is None or not read_request(connection):
            return
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(page))
        if not trickle:
            connection.sendall(page)
            return
        for index in range(len(page)):
            if stop.wait(0.02):
                return
            connection.sendall(page[index : index + 1])

    @property
    def port(self) -> int:
        return self.raw.port


@pytest.fixture(scope="module")
def hostile() -> HostileServer:
    server = HostileServer("127.0.0.2").start()
    yield server
    server.raw.stop()


@pytest.fixture(scope="module")
def stats() -> StatsPage:
    page = StatsPage("127.0.0.3").start()
    yield page
    page.raw.stop()


# The promises, asserted on every case.


def run_in_process(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue(), time.monotonic() - started


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def stated_bound_s(argv: list[str], *, stack: bool = False) -> float:
    """The bound --help states, computed here from the options as a user would (defaults where absent or bad)."""

    def number(name: str, default: float) -> float:
        try:
            value = float(_option(argv, name) or default)
        except ValueError:
            return default
        return value if math.isfinite(value) and value >= 0 else default

    wait, timeout = number("--wait", 300), number("--timeout", 5)
    concurrency = max(number("--concurrency", 10), 1)
    if _option(argv, "--duration") is not None:
        measuring = number("--duration", 0)
    else:
        measuring = timeout * (math.ceil(number("--requests", 300) / concurrency) + 1)
    reads = 2 * timeout * sum(1 for arg in argv if arg.startswith("haproxy:"))
    return wait + 3 * timeout + measuring + reads + 5 + (120 if stack else 0)


def assert_promises(argv: list[str], code: int, out: str, err: str, elapsed: float, bound: float) -> None:
    assert code in EXIT_CODES, (code, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    for secret in SECRETS:
        assert secret not in out and secret not in err, "a credential of the URL was printed"
    assert elapsed <= bound, f"{elapsed:.1f} s over the stated bound {bound:.1f} s"
    helped = code == 0 and ("--help" in argv or "-h" in argv) and not out.startswith("verify ")
    said = [line for line in err.splitlines() if line.strip() and not line.startswith("verify: waiting (")]
    if not helped:
        if code in (0, 1):
            assert said == [], err
        else:
            assert len(said) == 1 and said[0].startswith("verify: "), err
    if "--json" in argv:
        document = json.loads(out)  # exactly one object: a second one, or anything after it, fails here
        assert list(document) == list(REPORT_KEYS)
        assert document["verdict"] in ("even", "uneven", "error", "interrupted", "help")
    elif code in (0, 1) and not helped:
        lines = out.splitlines()
        assert lines and lines[-1].startswith("verdict: "), out
        assert max(len(line) for line in lines) <= REPORT_LINE_MAX


# Option vectors: mostly sane and small, sometimes hostile.


def _flag(name: str, good: st.SearchStrategy[str], bad: tuple[str, ...], hostile: bool) -> st.SearchStrategy[list[str]]:
    given = good.map(lambda value: [name, value])
    if not hostile:
        return st.one_of(st.just([]), given)
    return st.one_of(st.just([]), given, st.sampled_from(bad).map(lambda value: [name, value]))


def _decimal(low: float, high: float) -> st.SearchStrategy[str]:
    return st.floats(low, high).map(lambda value: f"{value:.3f}")


NUMBER_JUNK = ("0", "-1", "nan", "inf", "-inf", "1e400", "1e3", "abc", "", "2.5", "9" * 30)


def options(hostile: bool) -> st.SearchStrategy[tuple[list[str], ...]]:
    """An option vector: every value sane and small, or (`hostile`) any value may be one a careful user
    would never type."""
    amount = [
        st.integers(1, 12).map(lambda n: ["--requests", str(n)]),
        _decimal(0.001, 0.4).map(lambda s: ["--duration", s]),
    ]
    if hostile:
        amount += [
            st.sampled_from(NUMBER_JUNK).map(lambda value, flag=flag: [flag, value])
            for flag in ("--requests", "--duration")
        ]
    words = ["--json", "--strict"] + (["--bogus", "--js", "--help", "-h"] if hostile else [])
    return st.tuples(
        st.one_of(amount),
        _flag("--concurrency", st.integers(1, 3).map(str), NUMBER_JUNK, hostile),
        _decimal(0.05, 0.3).map(lambda s: ["--timeout", s])
        if not hostile
        else _flag("--timeout", _decimal(0.05, 0.3), NUMBER_JUNK, hostile),
        _decimal(0.0, 0.4).map(lambda s: ["--wait", s])
        if not hostile
        else _flag("--wait", _decimal(0.0, 0.4), NUMBER_JUNK, hostile),
        _flag("--expect-replicas", st.integers(1, 4).map(str), ("1000", "0", "1001", "x"), hostile),
        _flag("--alpha", _decimal(0.001, 0.5), ("0", "0.51", "nan"), hostile),
        _flag("--max-error-rate", _decimal(0.0, 1.0), ("1.5", "-0.1", "nan"), hostile),
        _flag(
            "--identity", st.sampled_from(["json:replica", "header:X-Replica", "body"]), ("json:", "xml:a", ""), hostile
        ),
        _flag(
            "--algorithm",
            st.sampled_from(["round_robin", "weighted_random", "least_outstanding_requests"]),
            ("x",),
            hostile,
        ),
        _flag("--nodes", st.integers(1, 3).map(str), ("0", "257"), hostile),
        _flag("--subnet", st.just("10.0.1.0/24=zone-a"), ("10.0.1.0/33=a", "10.0.1.0/24=", "x"), hostile),
        _flag(
            "--resolve", st.just("alb.test:127.0.0.2"), ("other.test:127.0.0.2", "alb.test:", "alb.test:1.2.3"), hostile
        ),
        st.lists(st.sampled_from(words), max_size=2),
    )


OPTIONS = st.one_of(options(hostile=False), options(hostile=False), options(hostile=True))


@given(options=OPTIONS, script=SCRIPTS, named=st.booleans())
@settings(max_examples=examples(60))
def test_any_options_against_any_server_keep_the_promises(hostile, options, script, named) -> None:
    hostile.script = script
    # With the URL's name pinned by --resolve, or an address; always with credentials that must not show.
    host = "alb.test" if named else "127.0.0.2"
    url = f"http://user:{SECRETS[0]}@{host}:{hostile.port}/path?token={SECRETS[1]}"
    argv = [url, *(arg for option in options for arg in option)]
    if named:
        argv += ["--resolve", "alb.test:127.0.0.2"]
    code, out, err, elapsed = run_in_process(argv)
    event(f"exit {code}: {' '.join(err.strip().splitlines()[-1].split()[1:4]) if code == 2 and err.strip() else ''}")
    assert_promises(argv, code, out, err, elapsed, stated_bound_s(argv))


# Stack outputs: anything `pulumi stack output --json` could print.

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 3000),
    st.sampled_from([1_000_000_000, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@given(
    outputs=st.fixed_dictionaries(
        {},
        optional={
            "url": st.one_of(st.just("served"), JSON_VALUES),
            "replicas": JSON_VALUES,
            "max_replicas": JSON_VALUES,
            "algorithm": st.one_of(st.sampled_from(["round_robin", "weighted_random"]), JSON_VALUES),
            "replica_subnets": st.one_of(
                st.dictionaries(st.sampled_from(["10.0.1.0/24", "10.0.1.0/33", "x", "::1/128"]), JSON_VALUES),
                JSON_VALUES,
            ),
            "target_group_arn": st.one_of(st.just("arn:aws:elasticloadbalancing:us-east-1:1:x"), JSON_VALUES),
        },
    ),
    raw=st.sampled_from([None, '{"url": "served", "replicas": 1e400}', "[", "{}", "not json", "[" * 3000]),
    wants_json=st.booleans(),
)
@settings(max_examples=examples(40))
def test_any_stack_outputs_keep_the_promises(hostile, outputs, raw, wants_json) -> None:
    hostile.script = [Answer(0.0, 0, 200, (), json.dumps({"replica": r}).encode(), "length", True) for r in "ab"]
    served = f"http://user:{SECRETS[0]}@127.0.0.2:{hostile.port}/"
    text = raw if raw is not None else json.dumps(outputs)
    text = text.replace('"served"', json.dumps(served))

    def pulumi(command, **_kwargs):
        return subprocess.CompletedProcess(command, 0, stdout=text, stderr="")

    argv = ["--requests", "6", "--wait", "0.3", "--timeout", "0.3", *(["--json"] if wants_json else [])]
    with mock.patch.object(cli, "read_stack_outputs", lambda stack: read_stack_outputs(stack, run=pulumi)):
        code, out, err, elapsed = run_in_process(argv)
    assert_promises(argv, code, out, err, elapsed, stated_bound_s(argv, stack=True))


# A stats page: fields, rows, sizes and timing as a hostile page gives them.

STATS_FIELDS = st.sampled_from(["UP", "UP 1/2", "UPSET", "DOWN", "MAINT", "no check", "", "a\nb", "x" * 200, '"'])


@given(
    header=st.sampled_from(
        [b"# pxname,svname,status,addr,type\n", b"# pxname,svname,addr,type\n", b"pxname,svname\n", b"# \n", b""]
    ),
    rows=st.lists(
        st.tuples(STATS_FIELDS, st.sampled_from(["127.0.0.2:1", "", "x"]), st.sampled_from(["2", "0", ""])),
        max_size=4,
    ),
    extra=st.sampled_from([b"", b"\x00", b"be,s9\n", b"be,s9," + b"U" * 200_000 + b",a,2\n"]),
    trickle=st.booleans(),
    absent=st.booleans(),
    wants_json=st.booleans(),
)
@settings(max_examples=examples(15))
def test_any_stats_page_keeps_the_promises(hostile, stats, header, rows, extra, trickle, absent, wants_json) -> None:
    hostile.script = [Answer(0.0, 0, 200, (), json.dumps({"replica": r}).encode(), "length", True) for r in "ab"]
    body = b"".join(f"be,s{i},{status},{addr},{kind}\n".encode() for i, (status, addr, kind) in enumerate(rows))
    stats.page, stats.trickle = (None if absent else header + body + extra), trickle
    argv = [
        f"http://127.0.0.2:{hostile.port}/", "--requests", "6", "--wait", "0.3", "--timeout", "0.2",
        "--target-health", f"haproxy:http://127.0.0.3:{stats.port}/stats;csv", *(["--json"] if wants_json else []),
    ]  # fmt: skip
    code, out, err, elapsed = run_in_process(argv)
    assert_promises(argv, code, out, err, elapsed, stated_bound_s(argv))


# Signals and the state of stdout, in a process of its own.

STOPS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGQUIT: 131}


def swallowed(err_text: str) -> bool:
    """Whether Python itself swallowed a Ctrl-C before verify's first line: its default handler raised
    KeyboardInterrupt inside a callback of the import system, which Python reports as "Exception ignored"
    and goes on (seen once at load 20). From verify's first line on, a stop signal is verify's (__main__)."""
    return "Exception ignored in" in err_text and "importlib._bootstrap" in err_text and "KeyboardInterrupt" in err_text


@given(
    stop=st.sampled_from([None, *STOPS]),
    after_s=st.sampled_from([0.0, 0.05, 0.3, 0.6]),
    stdout=st.sampled_from(["pipe", "pipe", "closed-pipe", "full", "closed"]),
    wants_json=st.booleans(),
)
@settings(max_examples=examples(12))
def test_signals_and_an_unwritable_stdout_keep_the_promises(hostile, stop, after_s, stdout, wants_json) -> None:
    hostile.script = [Answer(0.01, 0, 200, (), json.dumps({"replica": r}).encode(), "length", True) for r in "ab"]
    argv = [f"http://u:{SECRETS[0]}@127.0.0.2:{hostile.port}/", "--requests", "40", "--wait", "1", "--timeout", "0.5"]
    argv += ["--concurrency", "1", *(["--json"] if wants_json else [])]
    launcher = "import os, runpy, sys; sys.argv[0] = 'verify'; runpy.run_module('verify', run_name='__main__')"
    with contextlib.ExitStack() as cleanup:
        if stdout == "full":
            target = cleanup.enter_context(open("/dev/full", "w"))
        elif stdout == "closed-pipe":
            reader, target = os.pipe()
            os.close(reader)
            cleanup.callback(os.close, target)
        elif stdout == "closed":
            target = None
            launcher = "import os; os.close(1); " + launcher
        else:
            target = subprocess.PIPE
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-c", launcher, *argv], cwd=PROJECT, stdout=target, stderr=subprocess.PIPE
        )
        cleanup.callback(process.kill)
        if stop is not None:
            time.sleep(after_s)
            process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    elapsed = time.monotonic() - started
    code, out_text, err_text = process.returncode, (out or b"").decode(), err.decode()
    if stop is not None and (code == -stop or (code == 1 and "KeyboardInterrupt" in err_text) or swallowed(err_text)):
        return  # the signal came while Python itself was starting, before verify's first line ran
    if stop is not None and code not in (0, 1):
        assert code in (STOPS[stop], 2), (code, err_text)
    if stdout != "pipe":
        assert code in EXIT_CODES and "Traceback" not in err_text, err_text
        said = [line for line in err_text.splitlines() if line.strip()]
        assert len(said) == 1 and said[0].startswith("verify: "), err_text
        return
    assert_promises(argv, code, out_text, err_text, elapsed, stated_bound_s(argv) + 2)  # + Python's start


# Paths: log folders and output files arranged at random (issue 24). Each case runs verify in a process of
# its own, bounded: a FIFO opened by mistake would hang it, and the hang fails the case.

LOG_NODES = ("10.0.1.5", "10.0.2.6", "10.0.3.7")
EXTRAS = st.lists(
    st.sampled_from(["fifo", "empty", "not-gzip", "symlink-file", "hardlink", "symlink-folder", "broken-symlink"]),
    max_size=5,
)


def _log_folder(root: Path, requests_per_node: list[int]) -> list[Path]:
    """One log file per node under root/day/, each with its count of requests; the files."""
    from alb_log_helpers import rotation, write

    files = []
    for node, count in zip(LOG_NODES, requests_per_node, strict=False):
        if count:
            write(root / node, rotation(count, nodes=(node,)))
            files += sorted((root / node).rglob("*.log.gz"))
    return files


@given(
    requests_per_node=st.lists(st.integers(0, 40), min_size=1, max_size=3),
    extras=EXTRAS,
    naming=st.lists(
        st.sampled_from(["root", "root-again", "node-folder", "file", "file-again"]), min_size=1, max_size=4
    ),
)
@settings(max_examples=examples(12))
def test_any_log_folder_is_read_once_per_real_file_and_nothing_blocks(
    tmp_path_factory, requests_per_node, extras, naming
):
    root = tmp_path_factory.mktemp("logs")
    files = _log_folder(root, requests_per_node)
    fifos = 0
    for number, extra in enumerate(extras):
        where = root / f"extra{number}"
        name = f"123456789012_elasticloadbalancing_us-east-1_app.x.y_20261204T1805Z_10.0.9.{number}_e{number}.log.gz"
        where.mkdir()
        if extra == "fifo":
            os.mkfifo(where / name)
            fifos += 1
        elif extra == "empty":
            (where / name).write_bytes(b"")
        elif extra == "not-gzip":
            (where / name).write_text("not gzip\n")
        elif extra == "symlink-file" and files:
            (where / name).symlink_to(files[0])
        elif extra == "hardlink" and files:
            os.link(files[0], where / name)
        elif extra == "symlink-folder":
            (where / "linked").symlink_to(root, target_is_directory=True)
        elif extra == "broken-symlink":
            (where / name).symlink_to(where / "gone")
    locations = {
        "root": [str(root)], "root-again": [str(root) + "/."], "node-folder": [str(root / LOG_NODES[0])],
        "file": [str(path) for path in files[:1]], "file-again": [str(path) for path in files[:1]],
    }  # fmt: skip
    sources = [location for name in naming for location in locations[name]] or [str(root)]
    if not any(name.startswith("root") for name in naming):
        sources.append(str(root))  # every real file reachable at least once
    argv = ["--access-logs", *sources, "--since", "2026-12-04T18:00:00Z", "--until", "2026-12-04T19:00:00Z", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "verify", *argv], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    report = json.loads(done.stdout)
    assert "Traceback" not in done.stderr
    expected = sum(requests_per_node)
    if expected == 0:
        assert done.returncode == 2 and report["verdict"] == "error"
        return
    assert report["requests"] == expected, report["access_logs"]  # every real file read, once
    assert report["access_logs"]["files"] == len(files)
    assert report["access_logs"]["skipped"].get("FIFO (not a regular file)", 0) == fifos


OUTPUT_PLACES = st.sampled_from(
    ["fresh", "fresh", "same-as-stdout", "same-as-report", "fifo", "full", "symlink-to-stdout", "no-folder", "folder"]
)


@given(report=OUTPUT_PLACES, summary=st.one_of(st.none(), OUTPUT_PLACES), wants_json=st.booleans())
@settings(max_examples=examples(15))
def test_output_paths_that_collide_block_or_fill_are_refused_or_all_survive(
    tmp_path_factory, report, summary, wants_json
):
    from alb_log_helpers import rotation, write

    folder = tmp_path_factory.mktemp("outputs")
    write(folder / "logs", rotation(300))
    out = folder / "out.txt"

    def place(kind: str, name: str) -> str:
        path = folder / name
        if kind == "same-as-stdout":
            return str(out)
        if kind == "same-as-report":
            return str(folder / "report.html")
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "full":
            return "/dev/full"
        elif kind == "symlink-to-stdout":
            path.symlink_to(out)
        elif kind == "no-folder":
            return str(folder / "missing" / name)
        elif kind == "folder":
            path.mkdir()
        return str(path)

    argv = [
        "--access-logs", str(folder / "logs"), "--since", "2026-12-04T18:00:00Z", "--until", "2026-12-04T19:00:00Z",
        "--report", place(report, "report.html"), *(["--json"] if wants_json else []),
    ]  # fmt: skip
    env = {**os.environ, **({"GITHUB_STEP_SUMMARY": place(summary, "summary.md")} if summary else {})}
    with out.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "verify", *argv], cwd=PROJECT, stdout=stdout, stderr=subprocess.PIPE, text=True,
            timeout=60, env=env,
        )  # fmt: skip
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    text = out.read_text()
    if wants_json:
        assert json.loads(text)["verdict"] in ("even", "error")  # one object, whole: nothing wrote over it
    if done.returncode == 0:
        assert done.stderr == ""
        assert Path(argv[argv.index("--report") + 1]).read_text().startswith("<!DOCTYPE html>")
        if not wants_json:
            assert text.rstrip().splitlines()[-1].startswith("verdict: EVEN")
        if summary is not None:
            assert "### verify: EVEN" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    else:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(said) == 1 and said[0].startswith("verify: "), done.stderr


# The access-log reader against a plain reading (tests/verify/plain_logs.py): lines well-formed and not,
# files as AWS writes them and not, windows and a user agent, drawn at random. Every count must agree.

LOG_TIMES = st.sampled_from(
    ["2026-12-04T18:00:00.000000Z", "2026-12-04T18:59:59.999999Z", "2026-12-04T19:00:00.000000Z",
     "2026-12-04T17:59:59.999999Z", "2026-12-04T18:30:0a.000000Z", "2026-12-04T18:30:00Z", ""]
)  # fmt: skip
LOG_TARGETS = st.sampled_from(
    ["10.0.1.10:80", "10.0.1.10:80", "10.0.1.10:81", "10.0.2.7:8080", "[fd00::10]:8080", "[FD00::0010]:8080",
     "-", "10.0.1.10", "999.1.1.1:80", "10.0.1.010:80", "[fd00::1]:0", "host:80", "fd00::1:80", "[::ffff:1.2.3.4]:80"]
)  # fmt: skip
LOG_AGENTS = st.sampled_from(["curl/8", "alb-replicas-verify", 'say "hi" \\ there', "a b  c", "", "\\", "é\x00"])


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def log_lines(draw) -> bytes:
    """One line: the ALB's 34 fields, each drawn from well-formed and malformed values, then maybe mangled."""
    target = draw(LOG_TARGETS)
    fields = [
        "http", draw(LOG_TIMES), "app/x/y", "203.0.113.7:40000", target, "0.001",
        draw(st.sampled_from(["0.002", "-1", "12", "1e3", ".5", "0.", "x"])), "0.000",
        draw(st.sampled_from(["200", "200", "502", "503", "-", "5x", "2000"])),
        draw(st.sampled_from(["200", "500", "-", "abc"])), "120", "420",
        _quoted("GET http://a/ HTTP/1.1"), _quoted(draw(LOG_AGENTS)), "-", "-", "arn:tg", _quoted("Root=1-2"),
        _quoted("-"), _quoted("-"), "0", "2026-12-04T18:00:00.000000Z",
        *draw(st.sampled_from([[], ['"forward"', '"-"', "TID_1"], ['"a b"'] * 14, ['"open']])),
    ]  # fmt: skip
    data = " ".join(fields).encode()
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data)))
        piece = draw(st.sampled_from([b'"', b"\\", b" ", b"\xff", b"\xc3", b"\r", b"", b'\\"', b"\x00"]))
        data = data[:at] + piece + data[at:] if draw(st.booleans()) else data[:at]
    return data


@st.composite
def log_files(draw) -> list[bytes]:
    """1 to 3 gzip'd files of such lines, with CRLF or LF, a BOM, blank lines, a last line without a break;
    some cut short."""
    files = []
    for _ in range(draw(st.integers(1, 3))):
        lines = draw(st.lists(log_lines(), max_size=12))
        text = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"])).join(lines)
        text = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text + draw(st.sampled_from([b"\n", b""]))
        cut = draw(st.integers(0, len(text)))
        members = [text[:cut], text[cut:]] if draw(st.booleans()) else [text]
        data = b"".join(gzip.compress(member) for member in members)
        if draw(st.integers(0, 3)) == 0:  # cut short: truncated (cut at a member's end: whole; in the magic: not gzip)
            data = data[: draw(st.integers(0, len(data) - 1))]
        files.append(data)
    return files


@given(files=log_files(), agent=st.sampled_from([None, None, "alb-replicas-verify", 'say "hi" \\ there']))
@settings(max_examples=examples(40))
def test_the_log_reader_counts_what_a_plain_reading_counts(tmp_path_factory, files, agent) -> None:
    from plain_logs import address, read

    from verify.sources.logs.query import Window
    from verify.sources.logs.reader import read_local_logs

    root = tmp_path_factory.mktemp("logs")
    for number, data in enumerate(files):
        (root / f"file{number}.log.gz").write_bytes(data)
    window = Window(datetime(2026, 12, 4, 18, tzinfo=UTC), datetime(2026, 12, 4, 19, tzinfo=UTC))
    tally = read_local_logs([str(root)], window, user_agent=agent)
    plain = read(files, *window.bounds(), user_agent=agent)
    ports: dict[str, set[str]] = {}
    for target in plain.targets:
        ports.setdefault(address(target), set()).add(target.rsplit(":", 1)[1])

    def replica(target: str) -> str:
        host = address(target)
        port = target.rsplit(":", 1)[1]
        return host if len(ports[host]) == 1 else (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")

    answers: dict[str, int] = {}
    for target, count in plain.answers.items():
        answers[replica(target)] = answers.get(replica(target), 0) + count
    reading = tally.access_logs
    assert reading.skipped == plain.skipped
    assert tally.counts == answers
    assert tally.errors == plain.errors
    assert reading.no_target == plain.no_target
    assert reading.outside_window == plain.outside
    assert tally.requests == plain.requests


# Options across sources: each option applies to the source the run reads, or the run is refused before
# anything is read, in one line naming it (verify.cli._APPLIES_TO).

OPTION_SAMPLES = {
    "--requests": "8", "--duration": "0.2", "--concurrency": "2", "--timeout": "0.3", "--wait": "0.3",
    "--resolve": "alb.test:127.0.0.2", "--ip-version": "4", "--identity": "json:replica", "--cacert": "ca.pem",
    "--target-health": "haproxy:http://127.0.0.3:1/stats;csv", "--since": "2026-12-04T18:00:00Z",
    "--until": "2026-12-04T19:00:00Z", "--engine": "duckdb", "--balancer": "alb-replicas", "--region": "us-east-1",
    "--athena-table": "db.table", "--athena-workgroup": "wg", "--alpha": "0.01", "--max-error-rate": "0.5",
    "--expect-replicas": "3", "--algorithm": "round_robin", "--nodes": "2", "--subnet": "10.0.1.0/24=zone-a",
}  # fmt: skip


@given(
    source=st.sampled_from(["live", "logs", "athena"]),
    # --requests and --duration exclude each other: argparse refuses the pair first, as it should.
    chosen=st.lists(st.sampled_from(sorted(OPTION_SAMPLES)), max_size=4, unique=True).filter(
        lambda chosen: not {"--requests", "--duration"} <= set(chosen)
    ),
)
@settings(max_examples=examples(30))
def test_any_option_applies_to_the_source_or_the_run_is_refused_naming_it(hostile, tmp_path_factory, source, chosen):
    from alb_log_helpers import rotation, write

    from verify.cli import _APPLIES_TO, FROM_ATHENA, FROM_LIVE, FROM_LOGS

    hostile.script = [Answer(0.0, 0, 200, (), json.dumps({"replica": r}).encode(), "length", True) for r in "abc"]
    argv = [arg for option in chosen for arg in (option, OPTION_SAMPLES[option])]
    if source == "live":
        argv.insert(0, f"http://127.0.0.2:{hostile.port}/")
    else:
        folder = tmp_path_factory.mktemp("logs")
        write(folder, rotation(30))
        argv = ["--access-logs", str(folder), *argv] if source == "logs" else ["--access-logs", *argv]
        if source == "athena":
            argv = [arg for arg in argv if arg not in ("--engine", "duckdb")] + ["--engine", "athena"]
    reads = {"live": FROM_LIVE, "logs": FROM_LOGS, "athena": FROM_ATHENA}[source]
    given = [option for option in chosen if not (source == "athena" and option == "--engine")]  # athena's own
    misplaced = [option for option in given if reads not in _APPLIES_TO.get(option, (reads,))]
    code, _, err, elapsed = run_in_process(argv)
    assert code in EXIT_CODES and "Traceback" not in err
    said = [line for line in err.splitlines() if line.strip() and not line.startswith("verify: waiting (")]
    if misplaced:
        assert code == 2 and len(said) == 1, err
        assert any(said[0].startswith(f"verify: {option} applies to ") for option in misplaced), said
    else:
        assert not any("applies to" in line for line in said), said
    assert elapsed < 30


@given(weights=st.lists(st.floats(1e-12, 1e12), min_size=2, max_size=6))
@settings(max_examples=examples(60))
def test_any_weights_give_a_default_request_count_within_bounds_or_a_refusal(weights) -> None:
    from verify.cli import build_parser
    from verify.core.errors import CouldNotMeasure
    from verify.core.numbers import MAX_REQUESTS
    from verify.judging.evidence import default_requests, expected_shares

    text = ",".join(f"r{number}={weight!r}" for number, weight in enumerate(weights))
    try:
        groups = build_parser().parse_args(["--expect-weights", text]).expect_weights
    except CouldNotMeasure as refused:
        assert "must be a finite number above 0 and at most 1e+06" in str(refused) and len(str(refused)) < 400
        assert max(weights) > 1e6
        return
    shares = tuple(expected_shares(groups).values())
    assert 1 <= default_requests(len(shares), shares=shares) <= MAX_REQUESTS


@given(
    stop=st.sampled_from([signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]),
    after_s=st.sampled_from([0.0, 0.05, 0.2, 0.5]),
    wants_json=st.booleans(),
)
@settings(max_examples=examples(8))
def test_a_stop_signal_at_any_moment_of_reading_logs_keeps_the_promises(tmp_path_factory, stop, after_s, wants_json):
    # 200 MiB of empty lines: DuckDB reads for a while, in C; the signal comes at any moment of the run.
    folder = tmp_path_factory.mktemp("bomb")
    (folder / "bomb.log.gz").write_bytes(gzip.compress(b"\n" * 1024 * 1024, compresslevel=9) * 200)
    argv = ["--access-logs", str(folder), "--since", "2026-12-04T18:00:00Z", "--until", "2026-12-04T19:00:00Z"]
    argv += ["--json"] if wants_json else []
    process = subprocess.Popen(
        [sys.executable, "-m", "verify", *argv], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        time.sleep(after_s)
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)  # stopped within a moment, never left hanging
    finally:
        process.kill()
        process.wait()
    code, err_text = process.returncode, err.decode()
    if code == -stop or (code == 1 and "KeyboardInterrupt" in err_text):
        return  # the signal came while Python itself was starting, before verify's first line ran
    assert code in (STOPS[stop], 2), (code, err_text)  # 2: it ended first (no request in the logs)
    said = [line for line in err_text.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("verify: ") and "Traceback" not in err_text, err_text
    if wants_json:
        assert json.loads(out)["verdict"] in ("interrupted", "error")
