"""verify's request rate over IPv6 next to IPv4, on loopback: one nginx replica listening on 127.0.0.1 and ::1.

Each round runs verify once over each family (back to back, so a machine's load falls on both alike) with the
same request count and concurrency, and reads the rate from verify's own report. Prints each rate, the
medians, their ratio and the median of each round's IPv6/IPv4 (the steadier figure on a loaded machine); the
claim in docs/verify.md is that IPv6 stays within 10 % of IPv4. nginx is started in a process
group of its own and stopped at the end, also on Ctrl-C or an error; every wait is bounded.

    python bench/verify_ipv6.py [--requests 20000] [--concurrency 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script (`python bench/verify_ipv6.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.verify_vs_hey import machine, verify_rate
from rehearsal.processes import find_program
from replica.nginx import nginx_config

FAMILIES = {"IPv4": "127.0.0.1", "IPv6": "::1"}
START_TIMEOUT_S = 10


def free_port() -> int:
    """A port free on both loopback addresses (the kernel's pick on ::1, checked on 127.0.0.1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET6) as probe6:
            probe6.bind(("::1", 0))
            port = probe6.getsockname()[1]
            with socket.socket(socket.AF_INET) as probe4:
                try:
                    probe4.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no port free on both 127.0.0.1 and ::1 (50 tries)")


def start_replica(folder: Path, port: int) -> subprocess.Popen[bytes]:
    config = folder / "nginx.conf"
    listen = (f"127.0.0.1:{port}", f"[::1]:{port}")
    worker_user = "root" if os.geteuid() == 0 else None
    config.write_text(
        nginx_config(listen=listen, health_path="/health", scratch_dir=str(folder), worker_user=worker_user)
    )
    replica = subprocess.Popen(
        [find_program("nginx"), "-e", "stderr", "-p", str(folder), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped whole below
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    for address in FAMILIES.values():
        while True:
            try:
                socket.create_connection((address, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or replica.poll() is not None:
                    stop(replica)
                    raise RuntimeError(
                        f"nginx did not listen on {address} port {port} within {START_TIMEOUT_S} s"
                    ) from None
                time.sleep(0.05)
    return replica


def stop(replica: subprocess.Popen[bytes]) -> None:
    if replica.poll() is None:
        os.killpg(replica.pid, signal.SIGINT)  # nginx's fast stop
        try:
            replica.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(replica.pid, signal.SIGKILL)
            replica.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="verify's request rate over IPv6 next to IPv4, on loopback")
    parser.add_argument("--requests", type=int, default=20000, help="requests per run (default 20000)")
    parser.add_argument("--concurrency", type=int, default=10, help="connections (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="runs over each family; medians compared (default 5)")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    port = free_port()
    rates: dict[str, list[float]] = {family: [] for family in FAMILIES}
    with tempfile.TemporaryDirectory(prefix="bench-ipv6-") as folder:
        replica = start_replica(Path(folder), port)
        try:
            print(f"one nginx replica on 127.0.0.1 and [::1] port {port}; each run {args.requests} requests over "
                  f"{args.concurrency} connections")  # fmt: skip
            for round_ in range(1, args.rounds + 1):
                for family, address in FAMILIES.items():
                    url = f"http://{address}:{port}/" if family == "IPv4" else f"http://[{address}]:{port}/"
                    rates[family].append(verify_rate([url, "--expect-replicas", "1"], args.requests, args.concurrency))
                print(f"round {round_}: " + ", ".join(f"{f} {rates[f][-1]:,.0f} req/s" for f in FAMILIES))
        finally:
            stop(replica)
    ipv4, ipv6 = (statistics.median(rates[family]) for family in FAMILIES)
    # Each round's two runs are back to back: their ratio cancels what load other processes put on the
    # machine meanwhile, which moves whole rounds (on a shared 2-core machine, by 2x).
    paired = statistics.median(v6 / v4 for v4, v6 in zip(rates["IPv4"], rates["IPv6"], strict=True))
    print(f"median: IPv4 {ipv4:,.0f} req/s, IPv6 {ipv6:,.0f} req/s, IPv6/IPv4 {ipv6 / ipv4:.3f}")
    print(f"median of the rounds' IPv6/IPv4: {paired:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
