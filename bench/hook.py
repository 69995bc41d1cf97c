"""The deploy hook: its package's size, its handler's cold import, and each stage's decision on the rehearsal.

- The package, as the program builds it (components.lambda_package): its files, their bytes, and the zip
  Lambda gets (deflated, as Pulumi's archive is), against the 1 MB the issue allows.
- The cold import of `verify.hook` in a fresh interpreter, the median of --imports runs, against 0.5 s; and
  boto3's, which the handler imports at its first call only (Lambda's runtime has it).
- `python -m rehearsal --deploy --strategy canary:10` at the dev stack's own timings (--time-scale 1: its 5 s
  health checks, 1 min step bake, 5 min bake, so about 7 minutes), each hook call's decision time from the
  moment its stage began (the rule moved), against 30 s.

    python bench/hook.py [--imports 7] [--strategy canary:10] [--time-scale 1] [--no-rehearsal]
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

# Run as a script (`python bench/hook.py`): the project's packages are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.deploy_hook import HANDLER
from components.lambda_package import handler_files
from rehearsal import Plan
from settings import from_stack_file
from stack_config import PROJECT_DIR

PACKAGE_MAX_BYTES = 1_000_000
IMPORT_MAX_S = 0.5
DECISION_MAX_S = 30.0
# A canary:10 rehearsal at dev's timings takes about 7 minutes; this only catches a hang.
RUN_TIMEOUT_S = 1200
_IMPORT = "import time; began = time.perf_counter(); import {module}; print(time.perf_counter() - began)"
_DECISION = re.compile(r"hook at (\w+)(?: \((.*?)\))?: (\w+) after ([\d.]+) s")


def package_line() -> str:
    files = handler_files(HANDLER, PROJECT_DIR)
    raw = sum((PROJECT_DIR / path).stat().st_size for path in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(PROJECT_DIR / path, path)
    zipped = len(buffer.getvalue())
    verdict = "within" if zipped < PACKAGE_MAX_BYTES else "OVER"
    return f"package: {len(files)} files, {raw:,} bytes, {zipped:,} bytes zipped ({verdict} {PACKAGE_MAX_BYTES:,})"


def import_seconds(module: str, runs: int) -> list[float]:
    """`import module` in `runs` fresh interpreters (no bytecode written: as a first cold start, after the first)."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT.format(module=module)],
            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        times.append(float(done.stdout))
    return times


def decisions(strategy: str, time_scale: float) -> list[str]:
    """One rehearsal of `strategy`: a line per hook call, its decision time from its stage's start."""
    plan = Plan.from_settings(from_stack_file("dev")).on_free_ports()
    argv = [sys.executable, "-m", "rehearsal", "--deploy", "--strategy", strategy, "--time-scale", f"{time_scale:g}"]
    argv += ["--port", str(plan.port), "--replica-port", str(plan.replicas[0].port), "--", "--json"]
    done = subprocess.run(argv, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    lines = []
    for stage, step, status, seconds in _DECISION.findall(done.stderr):
        verdict = "within" if float(seconds) <= DECISION_MAX_S else "OVER"
        lines.append(f"  {stage} ({step or 'rollback'}): {status} {seconds} s after the stage began ({verdict} 30 s)")
    took = re.search(r"deploy took ([\d.]+) s", done.stderr)
    lines.append(f"  exit {done.returncode}; the deploy took {took.group(1) if took else '?'} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The deploy hook: package size, cold import, decision times")
    parser.add_argument("--imports", type=int, default=7, help="fresh interpreters timed (default 7)")
    parser.add_argument("--strategy", default="canary:10", help="the rehearsal's --strategy (default canary:10)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="the stack's timings x this (default 1)")
    parser.add_argument("--no-rehearsal", action="store_true", help="the package and the import only")
    args = parser.parse_args(argv)

    print(package_line(), flush=True)
    for module, bound in (("verify.hook", IMPORT_MAX_S), ("boto3", None)):
        times = import_seconds(module, args.imports)
        median = statistics.median(times)
        against = f" ({'within' if median < bound else 'OVER'} {bound:g} s)" if bound else " (at the first call only)"
        print(f"import {module}: median {median:.3f} s of {len(times)}, {min(times):.3f} to {max(times):.3f}{against}")
    if not args.no_rehearsal:
        print(
            f"rehearsal --deploy --strategy {args.strategy} --time-scale {args.time_scale:g}, 3 replicas:", flush=True
        )
        for line in decisions(args.strategy, args.time_scale):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
