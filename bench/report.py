"""The HTML report (verify --report): how long matplotlib takes to load and each page to render, and
how large the page is, for tallies shaped like real runs and for the largest run verify allows.

No network and no processes: the tallies are built here. Prints one line per page.

    python bench/report.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import sys
import time
from pathlib import Path

# Run as a script (`python bench/report.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verify.core.tally import ConnectionLog, Phase, Second, Tally
from verify.judging.evidence import Expectation
from verify.judging.judge import judge

ZONES = (("10.0.1.0/24", "zone-a"), ("10.0.2.0/24", "zone-b"))


def tally_of(timeline: list[Second], duration_s: float | None, phases: tuple[Phase, ...] | None = None) -> Tally:
    """A tally whose counts, errors and connection log add up from its timeline."""
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for entry in timeline:
        for replica, count in entry.replicas.items():
            counts[replica] = counts.get(replica, 0) + count
        for kind, count in entry.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    answers, failed = sum(counts.values()), sum(errors.values())
    order = [replica for entry in timeline[:10] for replica in entry.replicas]
    return Tally(
        url="http://balancer.test/",
        addresses=("127.0.0.1",),
        warmup_replicas=tuple(timeline[0].replicas),
        requests=answers + failed,
        counts=counts,
        latencies_ms={replica: [1.0] * 100 for replica in counts},
        errors=errors,
        connections=[ConnectionLog("127.0.0.1", order, [float(i) for i in range(len(order))], answers, failed)],
        elapsed_s=float(len(timeline)),
        duration_s=duration_s,
        timeline=timeline if duration_s is not None else [],
        phases=phases,
    )


def pages() -> dict[str, tuple[Tally, Expectation]]:
    old = [f"10.0.{1 + i % 2}.{10 + i}" for i in range(3)]
    new = [f"10.0.{1 + i % 2}.{20 + i}" for i in range(3)]
    answering = [old] * 10 + [old + new] * 5 + [new] * 10
    deploy = [
        Second(s, 0, {"HTTP 502": 2} if s == 12 else {}, dict.fromkeys(replicas, 600))
        for s, replicas in enumerate(answering)
    ]
    deploy = [dataclasses.replace(entry, requests=entry.answers + sum(entry.errors.values())) for entry in deploy]
    phases = (Phase(9.5, "started and registered 3 new replicas"), Phase(14.2, "new replicas healthy"))
    largest_ids = [f"10.0.{i // 250}.{i % 250}" for i in range(1000)]
    largest = [Second(s, 1000, {}, dict.fromkeys(largest_ids, 1)) for s in range(3600)]
    hour = [Second(s, 3000, {}, dict.fromkeys(old, 1000)) for s in range(3600)]
    return {
        "3 replicas, 300 requests": (
            tally_of([Second(0, 300, {}, dict.fromkeys(old, 100))], None),
            Expectation((3, 3)),
        ),
        "rolling deploy, 25 s": (tally_of(deploy, 25.0, phases), Expectation((3, 3), subnets=ZONES)),
        "3 replicas, 3,600 s": (tally_of(hour, 3600.0), Expectation((3, 3))),
        "1,000 replicas, 3,600 s": (tally_of(largest, 3600.0), Expectation((1000, 1000))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/report.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="renders of each page; the median is printed")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    from verify.rendering.html import render_html  # loads matplotlib

    print(f"loading matplotlib and the renderer: {time.perf_counter() - began:.2f} s")
    for name, (tally, expectation) in pages().items():
        verdict = judge(tally, expectation)
        times, size = [], 0
        for _ in range(args.rounds):
            page = io.StringIO()
            started = time.perf_counter()
            render_html(verdict, tally, page)
            times.append(time.perf_counter() - started)
            size = len(page.getvalue().encode())
        print(f"{name}: render {statistics.median(times):.2f} s (median of {args.rounds}), {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
