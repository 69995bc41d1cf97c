"""Fixtures of the verify tests: hand-built tallies, servers on loopback, no DNS."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from verify_helpers import Answer, LoopbackServer, RawServer, build_tally

from verify.core.tally import Tally
from verify.sources.live import health


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system resolver only takes loopback literals here: names go through injected resolvers."""
    system_getaddrinfo = socket.getaddrinfo

    def loopback_literals_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise socket.gaierror(socket.EAI_NONAME, f"verify tests resolve no names and reach only loopback: {host!r}")
        return system_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_literals_only)


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never real AWS: boto3 hidden from verify (a test hands in its own), no instance-metadata lookups."""
    monkeypatch.setattr(health, "_boto3_elbv2", lambda region: None)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run inside GitHub Actions, verify would append every test's summary to the job's page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def make_tally() -> Callable[..., Tally]:
    return build_tally


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    """Start servers for one test: serve(address, answer) -> a running LoopbackServer; all stopped after."""
    started: list[LoopbackServer] = []

    def start(
        address: str, answer: Callable[[int], Answer], tls: ssl.SSLContext | None = None, port: int = 0
    ) -> LoopbackServer:
        server = LoopbackServer(address, answer, tls, port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    """Start raw servers for one test: raw_server(handle) -> a running RawServer on 127.0.0.2; all stopped after."""
    started: list[RawServer] = []

    def start(handle, address: str = "127.0.0.2") -> RawServer:
        server = RawServer(address, handle).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (for 'connection refused')."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for replica.test and 127.0.0.2 (openssl's CLI, no Python package needed)."""
    if shutil.which("openssl") is None:  # scripts/install-deps installs it: fail, never skip
        pytest.fail("openssl is not on PATH: run make deps")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=replica.test",
         "-addext", "subjectAltName=DNS:replica.test,IP:127.0.0.2", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
