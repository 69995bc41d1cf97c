"""Fixtures of the rehearsal tests: a resolver that never leaves the machine, a shared even rehearsal, a
shifting one with green healthy (canary_split)."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rehearsal_helpers import quick_plan

from rehearsal import Rehearsal, Running


def _loopback_only(host: Any) -> None:
    """Let numeric loopback addresses through; every name and every other address fails as unknown."""
    if host in (None, ""):
        return
    try:
        address = ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
    except ValueError:
        raise socket.gaierror(
            socket.EAI_NONAME, f"test resolver: {host!r} is not resolved (tests query no DNS)"
        ) from None
    if not address.is_loopback:
        raise socket.gaierror(socket.EAI_NONAME, f"test resolver: {host} is not loopback (tests stay on 127.0.0.0/8)")


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run inside GitHub Actions, verify would append every test's summary to the job's page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(autouse=True)
def loopback_only_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test in this folder can make a DNS query or reach past loopback through the resolver."""
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _loopback_only(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        _loopback_only(host)
        return real_gethostbyname(host)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", gethostbyname)


@pytest.fixture(scope="session")
def even_rehearsal() -> Iterator[Running]:
    """Three replicas over two zones behind HAProxy's round robin; shared, so no test may change it."""
    with Rehearsal(quick_plan(3)) as running:
        yield running


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A TMPDIR for a rehearsal run in a subprocess, removed after, whatever the run left behind (one killed
    outright cleans up nothing). Short: HAProxy refuses a stats socket path over 97 characters, which
    pytest's tmp_path under a long TMPDIR exceeds."""
    folder = Path(tempfile.mkdtemp(prefix="rt-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def canary_split() -> Iterator[Running]:
    """Three blue and three green replicas, green healthy, the production rule not moved yet."""
    plan = quick_plan(3).with_green_slots()
    with Rehearsal(plan) as running:
        green = [r for r in plan.replicas if not r.registered]
        for replica in green:
            running.start_replica(replica.ip)
            running.register(replica.ip)
        deadline = time.monotonic() + 10
        while not all(running.server_states(node).get(r.ip) == "UP" for r in green for node in (0, 1)):
            assert time.monotonic() < deadline, "green did not get healthy"
            time.sleep(0.05)
        yield running
