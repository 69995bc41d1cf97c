"""A network namespace of the rehearsal's own, for IPv6-only replicas (--ip-version 6).

The replicas' unique local addresses (plan.IPV6_PREFIX) must exist only where the rehearsal made room for
them, never on the machine's own interfaces. So such a run goes on in a child process in a fresh network
namespace (`unshare --net`): there the rehearsal brings its loopback up and gives it the nodes' and the
replicas' addresses. The namespace has no name and holds nothing but that child and what it starts: the
kernel removes it, addresses and all, when the last of them exits, whichever way it exits. The child
dies with its parent too (PR_SET_PDEATHSIG), so a parent killed outright leaves nothing running.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from rehearsal.plan import Plan
from rehearsal.processes import RehearsalError

# Set in the child: the network namespace its parent ran in, so the child can tell it has one of its own.
PARENT_NAMESPACE_ENV = "ALB_REHEARSAL_PARENT_NETNS"
# How long a child may take to stop after the parent forwards Ctrl-C (its own cleanup is bounded below it).
_CHILD_STOP_S = 60.0
_PR_SET_PDEATHSIG = 1


def current_namespace() -> str:
    """This process's network namespace, as the kernel names it (net:[4026531840])."""
    return os.readlink("/proc/self/ns/net")


def in_own_namespace() -> bool:
    """Whether this process is the child `run_in_new_namespace` started, in a namespace apart from its parent's."""
    parent = os.environ.get(PARENT_NAMESPACE_ENV)
    return parent is not None and parent != current_namespace()


def _unshare_argv() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RehearsalError("--ip-version 6 needs unshare (util-linux) to make its network namespace: not on PATH")
    # As root, a network namespace alone; otherwise inside a user namespace, where the kernel allows one.
    return [unshare, "--net", *([] if os.geteuid() == 0 else ["--map-root-user"])]


def _die_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the parent dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_in_new_namespace(argv: list[str], out: TextIO) -> int:
    """`python -m rehearsal argv` in a new network namespace; its exit code. Ctrl-C (or SIGTERM, SIGHUP, which
    the caller maps to it) is passed on to the child, which stops everything it started and says so."""
    prefix = _unshare_argv()
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        raise RehearsalError(
            f"--ip-version 6 runs in a network namespace of its own, and unshare could not make one ({why}); "
            "run it as root, or where user namespaces are allowed"
        )
    out.flush()
    child = subprocess.Popen(
        [*prefix, "--", sys.executable, "-m", "rehearsal", *argv],
        env={**os.environ, PARENT_NAMESPACE_ENV: current_namespace()},
        cwd=Path.cwd(),
        preexec_fn=_die_with_parent,
    )
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)  # the child prints its own line once it has stopped everything
        try:
            return child.wait(_CHILD_STOP_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise


def prepare(plan: Plan) -> None:
    """Inside the namespace: loopback up, and the nodes' and replicas' IPv6 addresses on it (no duplicate
    address detection, which would hold each back a second). Refuses to touch a namespace it did not make."""
    if not in_own_namespace():
        raise RehearsalError(
            "IPv6-only replicas run only in a network namespace the rehearsal made (python -m rehearsal "
            "--ip-version 6 makes it); their addresses never go on this machine's own interfaces"
        )
    addresses = [zone.node_ip6 for zone in plan.zones if zone.node_ip6] + [r.ip for r in plan.replicas]
    commands = [["ip", "link", "set", "lo", "up"]] + [
        ["ip", "-6", "addr", "add", f"{address}/64", "dev", "lo", "nodad"] for address in addresses
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            raise RehearsalError(f"{' '.join(command)} failed in the rehearsal's namespace: {why}")
