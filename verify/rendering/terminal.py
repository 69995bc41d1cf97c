"""Rendering: the terminal report, the JSON object and the progress line. Each takes a writer.

The terminal report is plain text that reads well in a CI log; colour only when asked for (the
CLI asks when stdout is a terminal). Nothing here decides anything: the verdict has the numbers.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from verify.core.addresses import family
from verify.core.progress import Measuring, Waiting
from verify.core.replica_ids import replica_sort_key
from verify.core.tally import BEST_EFFORT, LogReading, Phase, Second, Tally
from verify.judging.evidence import ReplicaChange, WeightGroup
from verify.judging.judge import ALTERNATIVE, Verdict

# HAProxy's states between up and down, as its stats print them (health counted against rise and fall).
_HAPROXY_IN_BETWEEN = re.compile(r"(?:UP|DOWN) [0-9]+/[0-9]+")
_HAPROXY_IN_BETWEEN_LEGEND = (
    "HAProxy's UP a/b: up, a more failed check(s) take it down (every server starts so, before its first"
    " check); DOWN a/b: down, a of the b passing checks it needs to come back"
)

BAR_WIDTH = 30
_GREEN, _RED, _RESET = "\033[32m", "\033[31m", "\033[0m"


# Every key of the --json object, in order: a report fills each; a run that stops without one
# (could not measure, interrupted) gives the same keys, null where unknown.
REPORT_KEYS = (
    "verdict", "reason", "url", "replicas", "requests", "answers", "errors", "error_rate", "p_value",
    "chi_square", "degrees_of_freedom", "power", "split_judged", "expected_replicas", "expected_replicas_max",
    "count_checked", "missing", "unexpected", "min", "max", "spread", "latency_ms", "zones", "replica_zones",
    "nodes", "balancer_nodes", "pattern", "pattern_detail", "cookies", "sentence", "notes", "elapsed_s",
    "timeline", "replica_changes", "target_health", "access_logs", "failures", "expected_shares", "phases",
)  # fmt: skip
# A --duration run's terminal timeline lists every second up to this many; beyond, only the seconds
# with errors or a change of the replica set (--json always has every second).
TIMELINE_LINES_MAX = 120


def render_report(verdict: Verdict, tally: Tally, out: TextIO, *, color: bool = False) -> None:
    """The human report: what was sent, a table with a bar chart per replica, the statistics, the verdict."""
    write = out.write
    evidence = verdict.evidence
    nodes = ", ".join(f"{address} {family(address)}" for address in tally.addresses)
    if tally.access_logs is not None:
        _render_log_header(tally, tally.access_logs, evidence.error_rate, write)
    else:
        write(f"verify {tally.url}\n")
        write(f"balancer nodes: {len(tally.addresses)} address(es) the name resolved to ({nodes})\n")
        write(f"{run_line(verdict, tally)}\n\n")

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
            f"  {ms(stats.p50_ms):>6}  {ms(stats.p95_ms):>6}  {bar}\n"
        )
    write(f"{'all':<{id_width}}{' ' * len(zone_head)}  {evidence.answers:>7}  {'':>6}  {'':>7}")
    write(f"  {ms(verdict.latency_p50_ms):>6}  {ms(verdict.latency_p95_ms):>6}\n")
    if verdict.replicas:
        write(f"{expected_share_line(verdict)}\n")

    if verdict.zones:
        write(f"\n{'zone':<{zone_width}}  replicas  answers   share\n")
        for zone in verdict.zones:
            write(f"{zone.zone:<{zone_width}}  {zone.replicas:>8}  {zone.count:>7}  {zone.share:>6.1%}\n")

    if tally.access_logs is not None:
        _render_log_work(tally.access_logs, id_width, write)
    write("\n")
    for line in statistics_lines(verdict, tally):
        write(f"{line}\n")
    if tally.duration_s is not None:
        _render_timeline(tally, evidence.replica_changes or (), evidence.weight_groups, write)
    for line in health_and_note_lines(verdict, tally):
        write(f"{line}\n")
    write(f"\n{verdict.sentence}\n")
    write(f"{verdict_line(verdict, color=color)}\n")


def run_line(verdict: Verdict, tally: Tally) -> str:
    """What was sent and what came back, in one line (for access logs: what they held)."""
    if tally.access_logs is not None:
        reading = tally.access_logs
        return (
            f"{tally.requests} requests in the access logs from {reading.since} to {reading.until}:"
            f" {tally.answers} answers, {tally.error_count} errors ({verdict.evidence.error_rate:.2%})"
        )
    rate = tally.requests / tally.elapsed_s if tally.elapsed_s > 0 else 0.0
    return (
        f"{tally.requests} requests over {len(tally.connections)} kept-alive connections in {tally.elapsed_s:.2f} s"
        f" ({rate:.0f} requests/s): {tally.answers} answers, {tally.error_count} errors"
        f" ({verdict.evidence.error_rate:.2%})"
    )


def statistics_lines(verdict: Verdict, tally: Tally) -> list[str]:
    """Errors, balancer nodes, cookies, the test and its power, the counts, what was expected, the pattern."""
    evidence = verdict.evidence
    errors = ", ".join(f"{kind}: {count}" for kind, count in sorted(tally.errors.items(), key=lambda kv: -kv[1]))
    lines = [f"errors: {errors or 'none'}"]
    for node in tally.node_counts():
        counts = f"{node.requests} requests, {node.answers} answers, {node.errors} errors"
        lines.append(f"node {node.address} ({node.family}): {counts}")
    if evidence.balancer_cookies:
        cookies = ", ".join(f"{name} (set by {tally.cookies[name]} answers)" for name in evidence.balancer_cookies)
        lines.append(f"WARNING: answers set the balancer's stickiness cookies: {cookies}. Clients that send them"
                     " back stay on one replica.")  # fmt: skip
    if evidence.p_value is not None:
        lines.append(
            f"chi-square {evidence.chi_square:.2f} with {evidence.degrees_of_freedom} degrees of freedom,"
            f" p-value {evidence.p_value:.3g}"
        )
    if evidence.power is not None and evidence.split_judged:
        lines.append(f"power: {evidence.power:.1%} chance that these answers catch {ALTERNATIVE}")
    for group in evidence.weight_groups:
        share = (evidence.shares or {}).get(group.replicas[0], 0.0) * len(group.replicas)
        got = (
            sum(tally.counts.get(replica, 0) for replica in group.replicas) / evidence.answers
            if evidence.answers
            else 0
        )
        lines.append(f"weight {group.weight:g} for {group.label}: expected {share:.1%} of the answers, got {got:.1%}")
    lines.append(
        f"counts: min {evidence.min_count}, max {evidence.max_count}, spread (max - min) {evidence.spread};"
        f" --strict allows {evidence.nodes} ({evidence.nodes} balancer node(s))"
    )
    expected = (
        f"{evidence.expected_replicas}"
        if evidence.expected_replicas == evidence.expected_replicas_max
        else f"{evidence.expected_replicas} to {evidence.expected_replicas_max}"
    )
    unchecked = "" if evidence.count_checked else " (not checked: those that answered)"
    lines.append(f"expected replicas: {expected}{unchecked}")
    lines.append(f"balancer behaviour: {evidence.pattern} ({evidence.pattern_detail})")
    return lines


def health_and_note_lines(verdict: Verdict, tally: Tally) -> list[str]:
    """Target health at the start and the end (with HAProxy's legend where needed), then the notes."""
    lines = []
    for at, targets in (tally.target_health or {}).items():
        states = ", ".join(f"{target.target} {target.state}" for target in targets) or "no targets registered"
        lines.append(f"target health at the {at}: {states}")
    if any(_HAPROXY_IN_BETWEEN.fullmatch(t.state) for targets in (tally.target_health or {}).values() for t in targets):
        lines.append(f"  {_HAPROXY_IN_BETWEEN_LEGEND}")
    lines += [f"note: {note}" for note in verdict.notes]
    return lines


def verdict_line(verdict: Verdict, *, color: bool = False) -> str:
    """`verdict: EVEN` or `verdict: UNEVEN: <every failure>`."""
    word = "EVEN" if verdict.even else "UNEVEN"
    if color:
        word = f"{_GREEN if verdict.even else _RED}{word}{_RESET}"
    if not verdict.even:
        detail = ": " + "; ".join(verdict.failures)
    elif not verdict.evidence.count_checked:
        detail = (
            f" (replica count not checked: {verdict.evidence.expected_replicas} answered; pass --expect-replicas K)"
        )
    else:
        detail = ""
    return f"verdict: {word}{detail}"


def expected_share_line(verdict: Verdict) -> str:
    """What each replica should get, and the band an expected balancer keeps every replica within."""
    stats = verdict.replicas[0]
    if len({replica.expected_share for replica in verdict.replicas}) > 1:
        return "expected shares: as --expect-weights sets them, each with its band in the table" + (
            "" if stats.band is not None else " (no split judged)"
        )
    line = f"expected share: {stats.expected_share:.1%} each of {len(verdict.evidence.counts)} replicas"
    if stats.band is None:
        return line + " (no split judged)"
    low, high = stats.band
    return line + f"; band {low:.1%} to {high:.1%} (a replica leaves it in at most --alpha of an even balancer's runs)"


def timeline_rows(
    tally: Tally, changes: tuple[ReplicaChange, ...], *, eventful: bool | None = None
) -> list[Second | Phase]:
    """A --duration run's timeline as the reports list it, each phase after the second it fell in: every
    second, or (`eventful`; by default beyond TIMELINE_LINES_MAX) only those where something happened:
    the first and the last, errors, a change of the replica set, a phase."""
    eventful = len(tally.timeline) > TIMELINE_LINES_MAX if eventful is None else eventful
    changed = {change.second for change in changes}
    marked = {int(phase.second) for phase in tally.phases or ()}
    ends = {tally.timeline[0].second, tally.timeline[-1].second} if tally.timeline else set()
    shown: list[Second | Phase] = [
        entry for entry in tally.timeline if not eventful or entry.errors or entry.second in changed | marked | ends
    ]
    shown += tally.phases or ()
    return sorted(shown, key=lambda row: (row.second, isinstance(row, Phase)))


def change_moves(change: ReplicaChange | None) -> list[str]:
    """+id for each replica that appeared, -id for each that left."""
    if change is None:
        return []
    return [f"+{replica}" for replica in change.appeared] + [f"-{replica}" for replica in change.disappeared]


def second_errors(entry: Second) -> str:
    return ", ".join(f"{kind}: {count}" for kind, count in sorted(entry.errors.items()))


def _render_log_header(tally: Tally, reading: LogReading, error_rate: float, write: Callable[[str], object]) -> None:
    """What was read, over which window, what was left out and why; and that AWS logs best effort."""
    write(f"verify access logs {reading.source} ({reading.engine})\n")
    write(f"window: {reading.since} to {reading.until} (the log's time field, UTC)\n")
    size = f"{reading.bytes_read / 1024**2:.1f} MiB"
    cost = f", about ${reading.cost_usd:.4f} at the list price" if reading.cost_usd is not None else ""
    write(f"read: {reading.files} file(s), {size} {'scanned' if reading.engine == 'athena' else 'compressed'}{cost}"
          f" in {tally.elapsed_s:.2f} s\n")  # fmt: skip
    write(f"balancer nodes: {len(tally.addresses)} (from the log files' names: {', '.join(tally.addresses)})\n")
    no_target = sum(reading.no_target.values())
    without_error = reading.no_target.get("not 5xx", 0)
    write(
        f"{tally.requests} requests in the window: {tally.answers} answered by a replica, {tally.error_count} errors"
        f" ({error_rate:.2%}); {no_target} reached no target ({without_error} of them by the listener's own"
        f" action: redirect, fixed response, WAF)\n"
    )
    skipped = ", ".join(f"{kind}: {count}" for kind, count in reading.skipped.items())
    write(f"outside the window: {reading.outside_window} lines; skipped: {skipped or 'none'}\n")
    write(f"note: {BEST_EFFORT}\n\n")


def _render_log_work(reading: LogReading, id_width: int, write: Callable[[str], object]) -> None:
    """Per replica from the logs: every request sent to it, its 5xx (the ELB's and its own), its work."""
    write(f"\n{'replica':<{id_width}}  requests  ELB 5xx  own 5xx    work s  p95 ms\n")
    for target in reading.targets:
        write(
            f"{target.replica:<{id_width}}  {target.requests:>8}  {target.elb_5xx:>7}  {target.target_5xx:>7}"
            f"  {target.work_s:>8.1f}  {ms(None if target.p95_s is None else target.p95_s * 1000):>6}\n"
        )
    write("(work: the sum of target_processing_time; p95 of it per request)\n")
    if reading.order_note:
        write(f"note: {reading.order_note}\n")


def _render_timeline(
    tally: Tally,
    changes: tuple[ReplicaChange, ...],
    groups: tuple[WeightGroup, ...],
    write: Callable[[str], object],
) -> None:
    """One line per elapsed second of a --duration run: requests, answers, replicas, changes, errors, and
    with --expect-weights each group's share of that second's answers; phases."""
    changed = {change.second: change for change in changes}
    rows = timeline_rows(tally, changes)
    by_group = "; each weight group's share" if groups else ""
    write(
        f"\ntimeline of {tally.duration_s:g} s (second: requests, answers, replicas answering; changes; errors"
        f"{by_group}):\n"
    )
    for row in rows:
        if isinstance(row, Phase):
            write(f"{row.second:>7.1f}  phase: {row.text}\n")
            continue
        moves = change_moves(changed.get(row.second))
        errors = second_errors(row)
        shares = "  ".join(f"{label} {share:.1%}" for label, share in group_shares(row, groups).items())
        write(
            f"{row.second:>5}  {row.requests:>7}  {row.answers:>7}  {len(row.replicas):>3} replicas"
            f"{'  ' + ' '.join(moves) if moves else ''}{'  errors: ' + errors if errors else ''}"
            f"{'  ' + shares if shares else ''}\n"
        )
    left_out = len(tally.timeline) - sum(isinstance(row, Second) for row in rows)
    if left_out:
        write(f"({left_out} seconds without errors, changes or phases left out; --json has them)\n")


def group_shares(entry: Second, groups: tuple[WeightGroup, ...]) -> dict[str, float]:
    """Each weight group's share of one second's answers, by the group's label (empty without weights)."""
    if not groups or not entry.answers:
        return {}
    return {
        group.label: sum(entry.replicas.get(replica, 0) for replica in group.replicas) / entry.answers
        for group in groups
    }


def report_json(verdict: Verdict, tally: Tally) -> dict[str, Any]:
    """The --json object: every number of the report, keyed for scripts."""
    evidence = verdict.evidence
    return _document(
        verdict=verdict.verdict,
        reason=verdict.reason,
        url=tally.url,
        replicas={stats.replica: stats.count for stats in verdict.replicas},
        requests=tally.requests,
        answers=evidence.answers,
        errors=dict(sorted(tally.errors.items())),
        error_rate=evidence.error_rate,
        p_value=evidence.p_value,
        chi_square=evidence.chi_square,
        degrees_of_freedom=evidence.degrees_of_freedom,
        power=evidence.power,
        split_judged=evidence.split_judged,
        expected_replicas=evidence.expected_replicas,
        expected_replicas_max=evidence.expected_replicas_max,
        count_checked=evidence.count_checked,
        missing=list(evidence.missing),
        unexpected=list(evidence.unexpected),
        min=evidence.min_count,
        max=evidence.max_count,
        spread=evidence.spread,
        latency_ms={
            "p50": verdict.latency_p50_ms,
            "p95": verdict.latency_p95_ms,
            "replicas": {stats.replica: {"p50": stats.p50_ms, "p95": stats.p95_ms} for stats in verdict.replicas},
        },
        zones={
            zone.zone: {"replicas": zone.replicas, "count": zone.count, "share": zone.share} for zone in verdict.zones
        },
        replica_zones={stats.replica: stats.zone for stats in verdict.replicas if stats.zone},
        nodes=[{**dataclasses.asdict(node), "family": node.family} for node in tally.node_counts()],
        balancer_nodes=evidence.nodes,
        pattern=evidence.pattern,
        pattern_detail=evidence.pattern_detail,
        cookies=dict(sorted(tally.cookies.items())),
        sentence=verdict.sentence,
        notes=list(verdict.notes),
        elapsed_s=tally.elapsed_s,
        timeline=None
        if tally.duration_s is None
        else [
            {
                "second": entry.second,
                "requests": entry.requests,
                "answers": entry.answers,
                "errors": dict(sorted(entry.errors.items())),
                "replicas": sorted(entry.replicas, key=replica_sort_key),
                "answers_by_replica": {
                    replica: entry.replicas[replica] for replica in sorted(entry.replicas, key=replica_sort_key)
                },
                **({"groups": group_shares(entry, evidence.weight_groups)} if evidence.weight_groups else {}),
            }
            for entry in tally.timeline
        ],
        replica_changes=None
        if evidence.replica_changes is None
        else [dataclasses.asdict(change) for change in evidence.replica_changes],
        target_health=None
        if tally.target_health is None
        else [
            {"target": target.target, "state": target.state, "at": at}
            for at, targets in tally.target_health.items()
            for target in targets
        ],
        access_logs=None if tally.access_logs is None else dataclasses.asdict(tally.access_logs),
        failures=list(verdict.failures),
        expected_shares={
            stats.replica: {
                "share": stats.expected_share,
                "low": stats.band[0] if stats.band else None,
                "high": stats.band[1] if stats.band else None,
            }
            for stats in verdict.replicas
        },
        phases=None if tally.phases is None else [dataclasses.asdict(phase) for phase in tally.phases],
    )


def error_json(outcome: str, reason: str, url: str | None) -> dict[str, Any]:
    """The --json object when the run stopped without a report ("error" or "interrupted"): null for the rest."""
    return _document(verdict=outcome, reason=reason, url=url)


def _document(**values: Any) -> dict[str, Any]:
    """The --json object: every key of REPORT_KEYS in its order, null where no value is given."""
    unknown = set(values) - set(REPORT_KEYS)
    if unknown:
        raise KeyError(f"not in REPORT_KEYS: {', '.join(sorted(unknown))}")
    return {key: values.get(key) for key in REPORT_KEYS}


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
            self.out.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {event.done}/{event.total}{event.unit}")
            self.out.flush()
            self._bar_drawn = True

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a line of its own."""
        if self._bar_drawn:
            self.out.write("\n")
            self._bar_drawn = False


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
