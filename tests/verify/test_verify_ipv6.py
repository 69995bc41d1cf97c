"""verify over both families: a dual-stack balancer's IPv4 and IPv6 nodes (127.0.0.2 and ::1 here), replicas
named by IPv6 addresses and zoned by IPv6 /64s, `--ip-version`, IPv6 targets in brackets, hostile input."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from verify_helpers import AT_ONCE_S, WAIT_NOT_WAITED, one_line_error, rotation, run

from verify.cli import ExitCode
from verify.core.addresses import host_port, node_address, split_host_port
from verify.sources.live.health import _aws_targets, _bracketed

FAST = ["--wait", "5", "--timeout", "3", "--concurrency", "4"]
# Replicas in IPv6-only subnets, one /64 per zone, as the stack exports them (replica_subnets).
REPLICAS = ("2600:1f18:4c2:a610::5", "2600:1f18:4c2:a611::6", "2600:1f18:4c2:a610::7")
ZONES = ["--subnet", "2600:1f18:4c2:a610::/64=zone-a", "--subnet", "2600:1f18:4c2:a611::/64=zone-b"]


@pytest.fixture
def dual_stack(serve):
    """One balancer with an IPv4 and an IPv6 node on one port, each rotating over the IPv6 replicas."""
    ipv4 = serve("127.0.0.2", rotation(*REPLICAS))
    serve("::1", rotation(*REPLICAS), port=ipv4.port)
    return ipv4.port


def test_both_families_are_measured_and_each_node_says_which_it_is(dual_stack, capsys) -> None:
    code, out, err, _ = run(
        capsys, f"http://alb.test:{dual_stack}/", "--resolve", "alb.test:127.0.0.2,[::1]",
        "--expect-replicas", "3", "--requests", "300", *ZONES, *FAST,
    )  # fmt: skip
    assert code == ExitCode.EVEN, out + err
    assert "balancer nodes: 2 address(es) the name resolved to (127.0.0.2 IPv4, ::1 IPv6)" in out
    per_node = dict(re.findall(r"node (\S+) \(IPv[46]\): (\d+) requests", out))
    assert set(per_node) == {"127.0.0.2", "::1"} and sum(map(int, per_node.values())) == 300, out
    assert "2600:1f18:4c2:a610::5  zone-a" in out and "zone-b" in out


@pytest.mark.parametrize(("version", "node"), [("4", "127.0.0.2"), ("6", "::1")])
def test_ip_version_keeps_one_family(dual_stack, capsys, version, node) -> None:
    code, out, err, _ = run(
        capsys, f"http://alb.test:{dual_stack}/", "--resolve", "alb.test:127.0.0.2,::1", "--ip-version", version,
        "--expect-replicas", "3", "--requests", "90", "--json", *FAST,
    )  # fmt: skip
    assert code == ExitCode.EVEN, out + err
    report = json.loads(out)
    assert [(n["address"], n["family"], n["requests"]) for n in report["nodes"]] == [(node, f"IPv{version}", 90)]


def test_a_name_without_the_family_asked_for_is_one_line_at_once(serve, capsys) -> None:
    server = serve("127.0.0.2", rotation(*REPLICAS))
    code, _, err, took = run(
        capsys, f"http://alb.test:{server.port}/", "--resolve", "alb.test:127.0.0.2", "--ip-version", "6", *FAST,
        "--wait", WAIT_NOT_WAITED,
    )  # fmt: skip
    assert code == ExitCode.COULD_NOT_MEASURE
    assert one_line_error(err) == (
        "verify: alb.test resolves to no IPv6 address (it gives 127.0.0.2); choose the family it has with --ip-version"
    )
    assert took < AT_ONCE_S, "no wait for what waiting cannot change"


def test_a_url_with_an_ipv6_literal_is_measured(serve, capsys) -> None:
    server = serve("::1", rotation(*REPLICAS))
    code, out, err, _ = run(capsys, f"http://[::1]:{server.port}/", "--expect-replicas", "3", "--requests", "90", *FAST)
    assert code == ExitCode.EVEN, out + err
    assert "node ::1 (IPv6): 90 requests" in out


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--resolve", "alb.test:fe80::1%eth0"], "'fe80::1%eth0' names a zone (%...): a link-local address"),
        (["--resolve", "alb.test:::ffff:127.0.0.2"], "is an IPv4-mapped IPv6 address; write 127.0.0.2 itself"),
        (["--resolve", "alb.test:[::1"], "'[::1' opens or closes a bracket it does not close or open"),
        (["--resolve", "alb.test:::1]"], "'::1]' opens or closes a bracket it does not close or open"),
        (["--resolve", "alb.test:[::1]]"], "is not an IPv4 or IPv6 address"),
        (["--ip-version", "5"], "argument --ip-version: invalid choice: '5'"),
    ],
)
def test_hostile_ipv6_input_is_one_line_and_exit_2(capsys, argv, line) -> None:
    code, _, err, _ = run(capsys, "http://alb.test:8080/", *argv, *FAST)
    assert code == ExitCode.COULD_NOT_MEASURE
    assert line in one_line_error(err)


@pytest.mark.parametrize("url", ["http://[::1/", "http://[::1]x/", "http://[fe80::1%25eth0]:80/", "http://::1:80/"])
def test_a_malformed_ipv6_url_is_one_line_and_exit_2(capsys, url) -> None:
    code, _, err, _ = run(capsys, url, *FAST)
    assert code == ExitCode.COULD_NOT_MEASURE
    one_line_error(err)


@given(
    address=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str),
    port=st.integers(1, 65535),
)
def test_host_port_and_split_host_port_undo_each_other(address, port) -> None:
    assert split_host_port(host_port(address, port)) == (address, str(port))


@given(st.text(max_size=60))
def test_node_address_takes_an_address_or_says_why_not_in_one_line(text) -> None:
    try:
        address = node_address(text)
    except ValueError as error:
        assert "\n" not in str(error) and len(str(error)) < 200
    else:
        assert "%" not in address and not address.startswith("::ffff:")


def test_target_health_writes_ipv6_targets_in_brackets_from_either_source() -> None:
    answer = {
        "TargetHealthDescriptions": [
            {"Target": {"Id": "2600:1f18:4c2:a610::5", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
            {"Target": {"Id": "10.0.1.5", "Port": 8080}, "TargetHealth": {"State": "draining"}},
        ]
    }
    assert [t.target for t in _aws_targets(answer)] == ["[2600:1f18:4c2:a610::5]:8080", "10.0.1.5:8080"]
    assert _bracketed("fd00:0:0:1::10:8080") == "[fd00:0:0:1::10]:8080"  # HAProxy's addr, if unbracketed
    assert _bracketed("[fd00:0:0:1::10]:8080") == "[fd00:0:0:1::10]:8080"
    assert _bracketed("127.0.1.10:8080") == "127.0.1.10:8080"
