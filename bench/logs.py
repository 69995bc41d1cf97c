"""verify --access-logs' reader against the simplest plain Python loop over the same ALB log files.

Generates `--lines` access-log lines (default 8 million, about 3.5 GB uncompressed) in `--files` gzip'd
files, one per balancer node, in a temporary folder; then, each in a process of its own, times the reader
(`verify.sources.logs.reader.read_local_logs`, what `verify --access-logs` runs: every line judged as
`verify.sources.logs.line` defines one) and the simplest plain loop (`gzip.open(path, "rt")`, then
`line.split(" ", 9)` per line, counting field 5). Prints the machine's load average before and after,
seconds, CPU-seconds (the process's, all threads: what moves little with the machine's load) and lines
per second of each, the ratio and each one's peak memory (the process's max RSS), and checks both
counted the same requests per target.

    python bench/logs.py [--lines 8000000] [--files 4]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script (`python bench/logs.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.alb_logs import Request, line, write_log
from verify.sources.logs.query import period_end

START = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
REPLICAS = tuple(f"10.0.{1 + i % 3}.{10 + i // 3}" for i in range(9))
BLOCK = 10_000  # distinct lines, repeated to make up a file (generating is not what is measured)
RUN_TIMEOUT_S = 900


def _block(node_index: int) -> bytes:
    lines = []
    for i in range(BLOCK):
        target = "-" if i % 500 == 0 else f"{REPLICAS[i % len(REPLICAS)]}:80"
        agent = 'Mozilla/5.0 (X11; Linux x86_64) "quoted"' if i % 97 == 0 else "curl/8.5.0"
        request = Request(
            START + timedelta(milliseconds=i + node_index),
            target=target,
            client=f"203.0.113.{node_index}:{40000 + i % 20000}",
            elb_status="503" if target == "-" else "200",
            work_s=-1 if target == "-" else (i % 200) / 1000,
            user_agent=agent,
        )
        lines.append(line(request))
    return ("\n".join(lines) + "\n").encode()


def _write_file(job: tuple[str, int, int]) -> str:
    root, node_index, lines = job
    block = _block(node_index)
    repeats, rest = divmod(lines, BLOCK)
    chunks = [block.rstrip(b"\n")] * repeats + ([b"\n".join(block.split(b"\n")[:rest])] if rest else [])
    return str(write_log(Path(root), f"10.0.{node_index}.5", period_end(START), chunks))


def generate(root: Path, lines: int, files: int) -> list[Path]:
    """`lines` lines over `files` gzip'd files, one per node, written in parallel."""
    jobs = [(str(root), index + 1, lines // files + (1 if index < lines % files else 0)) for index in range(files)]
    with multiprocessing.Pool(min(files, multiprocessing.cpu_count())) as pool:
        return [Path(path) for path in pool.map(_write_file, jobs)]


def measure(engine: str, root: Path) -> dict:
    """One engine over the folder, in this process: lines counted, seconds, peak memory."""
    started = time.perf_counter()
    if engine == "reader":
        from verify.sources.logs.query import Window
        from verify.sources.logs.reader import read_local_logs

        tally = read_local_logs([str(root)], Window(START - timedelta(hours=1), START + timedelta(hours=1)))
        counted = tally.requests
        per_target = {replica: count for replica, count in tally.counts.items()}
    else:
        counts: dict[str, int] = {}
        for path in sorted(root.rglob("*.log.gz")):
            with gzip.open(path, "rt") as text:
                for line in text:
                    target = line.split(" ", 9)[4]
                    counts[target] = counts.get(target, 0) + 1
        counted = sum(counts.values())
        per_target = {target.rsplit(":", 1)[0]: count for target, count in counts.items() if target != "-"}
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"engine": engine, "lines": counted, "seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_mib": usage.ru_maxrss / 1024, "per_target": per_target}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=8_000_000, help="lines to generate (default 8,000,000)")
    parser.add_argument("--files", type=int, default=4, help="gzip files, one per node (default 4)")
    parser.add_argument("--measure", choices=("reader", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.root))))
        return 0
    if not 1 <= args.files <= 64 or not args.files <= args.lines <= 100_000_000:
        parser.error("--files 1 to 64, --lines from --files to 100,000,000")
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        paths = generate(root, args.lines, args.files)
        size = sum(path.stat().st_size for path in paths)
        print(f"generated {args.lines:,} lines in {len(paths)} gzip files ({size / 1024**2:.0f} MiB) in"
              f" {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        print("load average before: {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()), flush=True)
        results = {}
        for engine in ("reader", "plain"):
            finished = subprocess.run(
                [sys.executable, __file__, "--measure", engine, "--root", str(root)],
                capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True,
            )  # fmt: skip
            result = results[engine] = json.loads(finished.stdout)
            print(f"{engine:>6}: {result['lines']:,} lines in {result['seconds']:.2f} s ({result['cpu_s']:.2f} CPU-s),"
                  f" {result['lines'] / result['seconds']:,.0f} lines/s, peak memory {result['peak_mib']:.0f} MiB",
                  flush=True)  # fmt: skip
        print("load average after: {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg()), flush=True)
        reader, plain = results["reader"], results["plain"]
        print(f"ratio: verify's reader reads {plain['seconds'] / reader['seconds']:.2f}x as fast as the plain loop")
        if reader["per_target"] != plain["per_target"] or reader["lines"] != plain["lines"]:
            print("MISMATCH: the two engines counted differently", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
