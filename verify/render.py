"""Rendering: the terminal report, the JSON object and the progress line. Each takes a writer.

The terminal report is plain text that reads well in a CI log; colour only when asked for (the
CLI asks when stdout is a terminal). Nothing here decides anything: the verdict has the numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TextIO

from verify.judge import Verdict
from verify.progress import Measuring, Waiting
from verify.tally import Tally

BAR_WIDTH = 30
_GREEN, _RED, _RESET = "\033[32m", "\033[31m", "\033[0m"


def render_report(verdict: Verdict, tally: Tally, out: TextIO, *, color: bool = False) -> None:
    """The human report: what was sent, a table with a bar chart per replica, the statistics, the verdict."""
    write = out.write
    rate = tally.requests / tally.elapsed_s if tally.elapsed_s > 0 else 0.0
    nodes = ", ".join(tally.addresses)
    write(f"verify {tally.url}\n")
    write(f"balancer nodes: {len(tally.addresses)} address(es) the name resolved to ({nodes})\n")
    write(
        f"{tally.requests} requests over {len(tally.connections)} kept-alive connections in {tally.elapsed_s:.2f} s"
        f" ({rate:.0f} requests/s): {verdict.answers} answers, {tally.error_count} errors"
        f" ({verdict.error_rate:.2%})\n\n"
    )

    zoned = any(stats.zone for stats in verdict.replicas)
    id_width = max([len("replica"), *(len(stats.replica) for stats in verdict.replicas)])
    zone_width = max([len("zone"), *(len(stats.zone or "-") for stats in verdict.replicas)]) if zoned else 0
    zone_head = f"  {'zone':<{zone_width}}" if zoned else ""
    write(f"{'replica':<{id_width}}{zone_head}  answers   share  vs even  p50 ms  p95 ms\n")
    most = max((stats.count for stats in verdict.replicas), default=0)
    for stats in verdict.replicas:
        zone = f"  {stats.zone or '-':<{zone_width}}" if zoned else ""
        bar = "#" * round(BAR_WIDTH * stats.count / most) if most else ""
        write(
            f"{stats.replica:<{id_width}}{zone}  {stats.count:>7}  {stats.share:>6.1%}  {stats.deviation:>+7.1%}"
            f"  {_ms(stats.p50_ms):>6}  {_ms(stats.p95_ms):>6}  {bar}\n"
        )
    write(f"{'all':<{id_width}}{' ' * len(zone_head)}  {verdict.answers:>7}  {'':>6}  {'':>7}")
    write(f"  {_ms(verdict.latency_p50_ms):>6}  {_ms(verdict.latency_p95_ms):>6}\n")

    if verdict.zones:
        write(f"\n{'zone':<{zone_width}}  replicas  answers   share\n")
        for zone in verdict.zones:
            write(f"{zone.zone:<{zone_width}}  {zone.replicas:>8}  {zone.count:>7}  {zone.share:>6.1%}\n")

    write("\n")
    errors = ", ".join(f"{kind}: {count}" for kind, count in sorted(tally.errors.items(), key=lambda kv: -kv[1]))
    write(f"errors: {errors or 'none'}\n")
    if tally.cookies:
        cookies = ", ".join(f"{name} (set by {count} answers)" for name, count in sorted(tally.cookies.items()))
        write(f"WARNING: answers set cookies: {cookies}. Clients that send them back stay on one replica.\n")
    if verdict.p_value is not None:
        write(
            f"chi-square {verdict.chi_square:.2f} with {verdict.degrees_of_freedom} degrees of freedom,"
            f" p-value {verdict.p_value:.3g}\n"
        )
    write(
        f"counts: min {verdict.min_count}, max {verdict.max_count}, spread (max - min) {verdict.spread};"
        f" --strict allows {verdict.nodes} ({verdict.nodes} balancer node(s))\n"
    )
    expected = (
        f"{verdict.expected_replicas}"
        if verdict.expected_replicas == verdict.expected_replicas_max
        else f"{verdict.expected_replicas} to {verdict.expected_replicas_max}"
    )
    write(f"expected replicas: {expected}{'' if verdict.count_checked else ' (seen while warming up)'}\n")
    write(f"balancer behaviour: {verdict.pattern} ({verdict.pattern_detail})\n")
    for note in verdict.notes:
        write(f"note: {note}\n")
    write(f"\n{verdict.sentence}\n")
    word = "EVEN" if verdict.even else "UNEVEN"
    if color:
        word = f"{_GREEN if verdict.even else _RED}{word}{_RESET}"
    detail = "" if verdict.even else ": " + "; ".join(verdict.failures)
    write(f"verdict: {word}{detail}\n")


def report_json(verdict: Verdict, tally: Tally) -> dict[str, Any]:
    """The --json object: every number of the report, keyed for scripts."""
    return {
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "url": tally.url,
        "replicas": {stats.replica: stats.count for stats in verdict.replicas},
        "requests": tally.requests,
        "answers": verdict.answers,
        "errors": dict(sorted(tally.errors.items())),
        "error_rate": verdict.error_rate,
        "p_value": verdict.p_value,
        "chi_square": verdict.chi_square,
        "degrees_of_freedom": verdict.degrees_of_freedom,
        "split_judged": verdict.split_judged,
        "expected_replicas": verdict.expected_replicas,
        "expected_replicas_max": verdict.expected_replicas_max,
        "count_checked": verdict.count_checked,
        "missing": list(verdict.missing),
        "unexpected": list(verdict.unexpected),
        "min": verdict.min_count,
        "max": verdict.max_count,
        "spread": verdict.spread,
        "latency_ms": {
            "p50": verdict.latency_p50_ms,
            "p95": verdict.latency_p95_ms,
            "replicas": {stats.replica: {"p50": stats.p50_ms, "p95": stats.p95_ms} for stats in verdict.replicas},
        },
        "zones": {
            zone.zone: {"replicas": zone.replicas, "count": zone.count, "share": zone.share} for zone in verdict.zones
        },
        "replica_zones": {stats.replica: stats.zone for stats in verdict.replicas if stats.zone},
        "nodes": list(tally.addresses),
        "balancer_nodes": verdict.nodes,
        "pattern": verdict.pattern,
        "pattern_detail": verdict.pattern_detail,
        "cookies": dict(sorted(tally.cookies.items())),
        "sentence": verdict.sentence,
        "notes": list(verdict.notes),
        "elapsed_s": tally.elapsed_s,
        "failures": list(verdict.failures),
    }


def error_json(reason: str, url: str | None) -> dict[str, Any]:
    """The --json object when nothing could be measured: the same keys, verdict "error", no numbers."""
    return {
        "verdict": "error",
        "reason": reason,
        "url": url,
        "replicas": {},
        "requests": 0,
        "answers": 0,
        "errors": {},
        "error_rate": None,
        "p_value": None,
        "chi_square": None,
        "expected_replicas": None,
        "missing": None,
        "unexpected": None,
        "latency_ms": {},
        "zones": {},
        "nodes": [],
        "pattern": None,
    }


def write_json(document: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(document, indent=2) + "\n")


@dataclass
class ProgressPrinter:
    """The progress callback: each new reason for waiting as a line; a bar while measuring (tty only).

    Waiting is shown once it has lasted `quiet_s`: a deployment that is ready (or a typo that fails
    at once) gets no waiting lines, so a quick exit 2 leaves exactly one line, `verify: <reason>`.
    """

    out: TextIO
    bar: bool  # draw the measuring bar (only when `out` is a terminal: a CI log gets no \r noise)
    quiet_s: float = 2.0
    _last_reason: str = ""
    _bar_drawn: bool = False

    def __call__(self, event: Waiting | Measuring) -> None:
        if isinstance(event, Waiting):
            if event.elapsed_s >= self.quiet_s and event.reason != self._last_reason:
                self._last_reason = event.reason
                self.out.write(f"verify: waiting ({event.elapsed_s:.0f} of {event.budget_s:g} s): {event.reason}\n")
                self.out.flush()
        elif self.bar and event.total:
            filled = BAR_WIDTH * event.done // event.total
            self.out.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {event.done}/{event.total}")
            self.out.flush()
            self._bar_drawn = True

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a line of its own."""
        if self._bar_drawn:
            self.out.write("\n")
            self._bar_drawn = False


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
