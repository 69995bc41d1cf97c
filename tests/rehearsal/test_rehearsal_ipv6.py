"""`python -m rehearsal --ip-version 6`: IPv6-only replicas on unique local /64s inside a network namespace the
rehearsal makes, behind nodes on IPv4 and IPv6, and verify over both; nothing of it outlives the run, and no
address but loopback's ever goes on this machine's own interfaces."""

from __future__ import annotations

import gzip
import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from rehearsal_helpers import alive, descendants, processes_mentioning
from test_rehearsal_cli import quick_ports, rehearsal_argv, run_rehearsal

from rehearsal import Plan
from rehearsal.configs import haproxy_config
from rehearsal.netns import PARENT_NAMESPACE_ENV, prepare
from rehearsal.plan import IPV6_PREFIX
from rehearsal.processes import RehearsalError
from settings import from_stack_file
from stack_config import PROJECT_DIR

pytestmark = pytest.mark.rehearsal

IPV6_PLAN = Plan.from_settings(from_stack_file("dev"), ip_version=6)


def host_ipv6_addresses() -> str:
    """The IPv6 addresses on this machine's own interfaces (the test's namespace), as `ip` lists them."""
    return subprocess.run(["ip", "-6", "addr", "show"], capture_output=True, text=True, check=True).stdout


def test_each_zone_gets_a_unique_local_64_and_each_node_an_address_of_each_family() -> None:
    assert [z.subnet for z in IPV6_PLAN.zones] == [f"{IPV6_PREFIX}:1::/64", f"{IPV6_PREFIX}:2::/64"]
    assert [r.ip for r in IPV6_PLAN.replicas] == [
        f"{IPV6_PREFIX}:1::10",
        f"{IPV6_PREFIX}:2::10",
        f"{IPV6_PREFIX}:1::11",
    ]
    assert IPV6_PLAN.node_addresses == ["127.0.1.1", "127.0.2.1", f"{IPV6_PREFIX}:1::1", f"{IPV6_PREFIX}:2::1"]
    assert IPV6_PLAN.replicas[0].address == f"[{IPV6_PREFIX}:1::10]:8080"
    config = haproxy_config(IPV6_PLAN, IPV6_PLAN.zones[0], Path("/tmp/admin.sock"), None)
    assert f"    bind 127.0.1.1:{IPV6_PLAN.port}\n    bind [{IPV6_PREFIX}:1::1]:{IPV6_PLAN.port}\n" in config
    assert f"[{IPV6_PREFIX}:2::10]:8080" in config


def test_outside_a_namespace_of_its_own_no_address_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    before = host_ipv6_addresses()
    monkeypatch.delenv(PARENT_NAMESPACE_ENV, raising=False)
    with pytest.raises(RehearsalError, match="only in a network namespace the rehearsal made"):
        prepare(IPV6_PLAN)
    # A child told a namespace that is in fact its parent's (the same one) refuses too.
    monkeypatch.setenv(PARENT_NAMESPACE_ENV, os.readlink("/proc/self/ns/net"))
    with pytest.raises(RehearsalError):
        prepare(IPV6_PLAN)
    assert host_ipv6_addresses() == before


def test_an_ipv6_rehearsal_is_even_over_both_families_and_leaves_nothing(short_tmp: Path) -> None:
    env = {**os.environ, "TMPDIR": str(short_tmp)}
    done = run_rehearsal(
        *quick_ports(), "--ip-version", "6", "--time-scale", "0.05", "--", "--requests", "400", "--json", env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["replica_zones"]) == sorted(r.ip for r in IPV6_PLAN.replicas), "replicas named by IPv6 address"
    assert report["verdict"] == "even"
    families = {node["address"]: node["family"] for node in report["nodes"]}
    assert set(families.values()) == {"IPv4", "IPv6"} and len(families) == 4
    assert report["zones"]["zone-a"]["replicas"] == 2, "zones from the IPv6 /64s"
    assert IPV6_PREFIX not in host_ipv6_addresses(), "the ULAs lived only in the rehearsal's namespace"
    assert processes_mentioning(str(short_tmp)) == []
    assert list(short_tmp.iterdir()) == []


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_stopped_or_killed_outright_an_ipv6_rehearsal_leaves_no_process_and_no_namespace(
    stop: str, short_tmp: Path
) -> None:
    """SIGTERM: the child stops everything and says so. SIGKILL runs no cleanup: the child dies with its parent
    (PR_SET_PDEATHSIG), its processes with it, and the namespace with the last of them."""
    keeper = subprocess.Popen(
        rehearsal_argv(*quick_ports(), "--ip-version", "6", "--time-scale", "0.05", "--keep", "--", "--requests", "90"),
        cwd=PROJECT_DIR,
        env={**os.environ, "TMPDIR": str(short_tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in keeper.stderr], daemon=True).start()
    started: set[tuple[int, str]] = set()
    namespaces: set[str] = set()
    try:
        deadline = time.monotonic() + 45
        while "press Ctrl-C" not in lines.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
        started = descendants(keeper.pid)
        namespaces = {os.readlink(f"/proc/{pid}/ns/net") for pid, _ in alive(started)}
        assert os.readlink("/proc/self/ns/net") not in namespaces, "every process of the run is in its namespace"
        keeper.send_signal(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
        code = keeper.wait(timeout=20)
        gone_by = time.monotonic() + 30  # a bound for a busy machine; they go at once when all is well
        while alive(started) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert alive(started) == set()
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait()
        for pid, _ in alive(started):  # only when an assertion failed: do not leave them behind
            os.kill(pid, signal.SIGKILL)
    assert code == (0 if stop == "sigterm" else -signal.SIGKILL)
    # The namespace had no name and no process left in it: nothing of it can be found.
    assert not any(os.readlink(f"/proc/{entry.name}/ns/net") in namespaces for entry in _processes())


def _processes() -> list[Path]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                os.readlink(f"/proc/{entry.name}/ns/net")
            except OSError:
                continue
            found.append(entry)
    return found


def test_the_nodes_log_ipv6_targets_in_brackets_as_the_alb_does_and_agree_with_verify(tmp_path: Path) -> None:
    """HAProxy's %si writes an IPv6 server bare (fd00:...::10:8080, which no reader can split); the ALB writes
    [fd00:...::10]:8080. Bare, the logs named other replicas than verify counted, and the run exited 4."""
    folder = tmp_path / "logs"
    done = run_rehearsal(*quick_ports(), "--ip-version", "6", "--time-scale", "0.05", "--access-logs", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the access logs agree with verify, request for request" in done.stderr
    first = gzip.decompress(next(folder.rglob("*.log.gz")).read_bytes()).decode().splitlines()[0]
    assert first.split(" ")[4].startswith(f"[{IPV6_PREFIX}:"), first
