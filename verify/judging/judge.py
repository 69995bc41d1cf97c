"""Judging: from a tally (and what was expected) to a verdict. Nothing here does I/O.

The evidence (`verify.judging.evidence`: counts, chi-square, power, the balancer's pattern) is computed once;
then each check in CHECKS reads it and returns its failures and notes. The run is even when no check
fails.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from verify.core.addresses import split_host_port
from verify.core.replica_ids import replica_sort_key
from verify.core.tally import Tally
from verify.judging.evidence import (
    HOT_RATIO,
    TARGET_POWER,
    WEIGHTED_RANDOM,
    Evidence,
    Expectation,
    gather_evidence,
    replica_changes,
    requests_and_power,
    share_band,
    steady_tail,
)
from verify.judging.pattern import PATTERN_STICKY

# Target health states that pass: AWS's "healthy"; HAProxy's UP (also "UP 1/2", failing checks but not
# yet past its threshold, as an ALB target stays healthy until then) and "no check".
# States of a target on its way out, listed but not failing: AWS's "draining"; HAProxy's MAINT, DRAIN
# and NOLB (how the rehearsal takes a server out). Any other state fails the run.
# The whole state must match: one that merely starts like these ("UPSET") is not healthy.
_HEALTHY_OR_LEAVING = re.compile(
    r"healthy|UP(?: [0-9]+/[0-9]+)?|no check|draining|(?:MAINT|DRAIN)(?: \([^()]*\))?|NOLB(?: [0-9]+/[0-9]+)?"
)
# Beyond this many replicas the sentence gives a range instead of every count.
_LISTED_COUNTS = 6


@dataclass(frozen=True)
class ReplicaStats:
    replica: str
    count: int
    share: float  # of all answers
    deviation: float  # answers / expected answers - 1 (+0.5 = got 1.5x its even, or weighted, share)
    p50_ms: float | None
    p95_ms: float | None
    zone: str | None
    expected_share: float  # of all answers, had the balancer split them as expected
    # (low, high) share an expected balancer keeps every replica within at 1 - alpha (evidence.share_band);
    # None when no split is judged (one replica, least_outstanding_requests)
    band: tuple[float, float] | None


@dataclass(frozen=True)
class ZoneStats:
    zone: str
    replicas: int
    count: int
    share: float


@dataclass(frozen=True)
class Finding:
    """What one check found: failures make the run uneven; notes only inform."""

    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def failure(cls, message: str) -> Finding:
        return cls(failures=(message,))


Check = Callable[[Tally, Evidence, Expectation], Finding]


@dataclass(frozen=True)
class Verdict:
    even: bool
    reason: str  # one line: why the run passes or fails, with numbers
    sentence: str  # the split, for a person
    failures: tuple[str, ...]
    notes: tuple[str, ...]  # what the reader should know that does not change the verdict
    evidence: Evidence
    replicas: tuple[ReplicaStats, ...]
    zones: tuple[ZoneStats, ...]
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    @property
    def verdict(self) -> str:
        return "even" if self.even else "uneven"


def check_replica_count(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Every expected replica answered and no more; without a count to check, more than one."""
    failures: list[str] = []
    notes: list[str] = []
    missing = len(evidence.missing)
    if missing:
        # A replica that answered and then stopped is named with the second it left, not as never answering.
        left = dict(evidence.left)
        never = [replica for replica in evidence.missing if replica not in left]
        known = [replica for replica in never if replica is not None]
        named = f" ({', '.join(known)})" if known else ""
        of_expected = f"{missing} of {evidence.expected_replicas} expected replicas"
        gone = ", ".join(f"{replica} at second {second}" for replica, second in left.items())
        if not left:
            failures.append(f"{of_expected} never answered{named}")
        elif not never:
            failures.append(f"{of_expected} left during the run: {gone}")
        else:
            failures.append(f"{of_expected} missing: left during the run: {gone}; {len(never)} never answered{named}")
    if evidence.unexpected:
        known = [replica for replica in evidence.unexpected if replica is not None]
        named = f" ({', '.join(known)})" if known else ""
        fewest, most = evidence.expected_replicas, evidence.expected_replicas_max
        allowed = f"{fewest}" if fewest == most else f"{fewest} to {most}"
        failures.append(
            f"{len(evidence.seen)} replicas answered where {allowed} were expected{named}: a deploy may still be"
            " rolling, or the expected count is wrong"
        )
    if not evidence.count_checked:
        if len(evidence.seen) == 1:
            failures.append(
                f"only one replica ({evidence.seen[0]}) answered and the replica count was not checked: a"
                " source-hash or first-available balancer, or every other replica down, looks the same; pass"
                " --expect-replicas K (or measure the stack, which knows its count)"
            )
        notes.append(
            f"replica count not checked: the {evidence.expected_replicas} replica(s) that answered are taken as"
            " expected (pass --expect-replicas K, or measure the stack)"
        )
    return Finding(tuple(failures), tuple(notes))


def check_split(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Chi-square does not reject an even split (not judged for least_outstanding_requests)."""
    if not evidence.split_judged:
        return Finding(
            notes=(
                "least_outstanding_requests spreads work, not request counts: the even-count verdict does not apply",
            )
        )
    if evidence.p_value is not None and evidence.p_value < expectation.alpha:
        return Finding.failure(
            f"chi-square {evidence.chi_square:.1f} with {evidence.degrees_of_freedom} df gives"
            f" p = {evidence.p_value:.3g} < alpha {expectation.alpha:g}"
        )
    return Finding()


def check_starved(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """No replica under half its even (or weighted) share (a sample too small for chi-square still shows that)."""
    if not evidence.split_judged:
        return Finding()
    kind = "even" if evidence.shares is None else "weighted"
    return Finding(
        failures=tuple(
            f"{replica} got {tally.counts[replica]} of {evidence.answers} answers, under half its {kind} share"
            f" of {evidence.expected_count(replica):.0f}"
            for replica in evidence.seen
            if (evidence.shares is None or replica in evidence.shares)
            and tally.counts[replica] < evidence.expected_count(replica) / 2
        )
    )


def check_strict(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """--strict: max - min within the balancer nodes (an exact rotation per node); not for random balancers."""
    if not expectation.strict or not evidence.split_judged:
        return Finding()
    if expectation.algorithm == WEIGHTED_RANDOM:
        return Finding(notes=("weighted_random picks at random: --strict does not apply",))
    if evidence.spread > evidence.nodes:
        return Finding.failure(
            f"--strict: max - min = {evidence.max_count} - {evidence.min_count} = {evidence.spread} >"
            f" {evidence.nodes} balancer node(s)"
        )
    return Finding()


def check_error_rate(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Errors (any answer that names no replica) within --max-error-rate."""
    if evidence.error_rate <= expectation.max_error_rate:
        return Finding()
    return Finding.failure(
        f"error rate {evidence.error_rate:.1%} ({tally.error_count} of {tally.requests}) is above"
        f" --max-error-rate {expectation.max_error_rate:.1%}"
    )


def check_stickiness(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """No balancer stickiness cookie, no connection glued to one replica; an application's cookie is a note."""
    failures: list[str] = []
    notes: list[str] = []
    if evidence.balancer_cookies:
        failures.append(
            f"sticky: answers set the balancer cookie(s) {', '.join(evidence.balancer_cookies)}; real clients"
            " that send them back stay on one replica"
        )
    elif evidence.pattern == PATTERN_STICKY:
        failures.append(f"sticky: {evidence.pattern_detail}")
    if evidence.other_cookies:
        notes.append(
            f"answers set the cookie(s) {', '.join(evidence.other_cookies)}: the application's, not the balancer's"
            " stickiness, so they bind no client to a replica"
        )
    return Finding(tuple(failures), tuple(notes))


def check_replica_set_shrank(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """A --duration run whose replica set ended smaller than it began (a crash, not a deploy) fails,
    with or without an expected count: the tail after the change may look even, the service is not."""
    if not evidence.replica_changes or not tally.timeline:
        return Finding()
    first = tally.timeline[0]
    joined = {r for change in evidence.replica_changes if change.second == first.second for r in change.appeared}
    at_start = set(first.replicas) - joined  # a replica that joined in the first second was not there at the start
    if len(evidence.seen) >= len(at_start):
        return Finding()
    gone = sorted(at_start - set(evidence.seen), key=replica_sort_key)
    return Finding.failure(
        f"the replica set shrank from {len(at_start)} to {len(evidence.seen)} during the run and did not recover"
        f" ({', '.join(gone[:10])}{' ...' if len(gone) > 10 else ''} stopped answering)"
    )


def check_power(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Warn when the answers are too few for the test to catch a replica at 1.5 : 1 90 % of the time."""
    if not evidence.split_judged or evidence.power is None or evidence.power >= TARGET_POWER:
        return Finding()
    cells = len(evidence.counts)
    shares = tuple(evidence.shares.values()) if evidence.shares is not None else None
    needed, reached = requests_and_power(cells, expectation.alpha, shares)
    more = (
        f"--requests {needed} reaches {TARGET_POWER:.0%}"
        if reached is not None and reached >= TARGET_POWER
        else f"even --requests {needed:,} (the most) reaches only {reached or 0:.0%}"
    )
    return Finding(
        notes=(
            f"too few answers to judge well: {evidence.answers} answers over {cells} replicas catch {ALTERNATIVE}"
            f" only {evidence.power:.0%} of the time at alpha {expectation.alpha:g}; {more}",
        )
    )


# What the reported power is the power against, in the words of the report.
ALTERNATIVE = (
    f"one replica getting {HOT_RATIO:g}x what each other gets ({HOT_RATIO:g}:1, relative to the expected split)"
)


def check_replica_changes(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """A note when the replica set changed during a --duration run: what the split was judged over."""
    if not evidence.replica_changes:
        return Finding()
    return Finding(
        notes=(
            f"the replica set changed {len(evidence.replica_changes)} time(s) during the run, last in second"
            f" {evidence.judged_after_second}: the split and the replica count are judged over the"
            f" {evidence.answers} answers after it, from the {len(evidence.seen)} replica(s) answering then;"
            " errors count over the whole run",
        )
    )


def target_is_healthy(state: str) -> bool:
    """Healthy or on its way out (draining, in maintenance): not a failure. Anything else is unhealthy."""
    return _HEALTHY_OR_LEAVING.fullmatch(state) is not None


def check_target_health(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Every registered target healthy at the start and at the end of the run (when target health is read).

    A target whose replica answered anyway shows the balancer failing open, as an ALB does when every
    target fails its health check. Target ids are matched to replica ids by IP.
    """
    failures: list[str] = []
    for at, targets in (tally.target_health or {}).items():
        unhealthy = []
        for target in targets:
            if target_is_healthy(target.state):
                continue
            answered = tally.counts.get(split_host_port(target.target)[0], 0)
            routed = f" (answered {answered} requests: routed to anyway, as an ALB fails open)" if answered else ""
            unhealthy.append(f"{target.target} {target.state}{routed}")
        if unhealthy:
            failures.append(f"targets not healthy at the {at} of the run: {', '.join(unhealthy)}")
    return Finding(tuple(failures), tuple(tally.target_health_notes))


def check_deadline(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """A note when the measurement ran out of time before sending every request."""
    if tally.deadline_hit:
        return Finding(notes=(f"the measurement ran out of time after {tally.requests} requests",))
    return Finding()


# Every rule of the EVEN contract, in the order their failures are listed.
CHECKS: tuple[Check, ...] = (
    check_replica_count,
    check_split,
    check_starved,
    check_strict,
    check_error_rate,
    check_stickiness,
    check_target_health,
    check_replica_set_shrank,
    check_power,
    check_replica_changes,
    check_deadline,
)


def judge(tally: Tally, expectation: Expectation, checks: Sequence[Check] = CHECKS) -> Verdict:
    """The verdict on one measurement: every check of the EVEN contract, each failure with numbers.

    A --duration run whose replica set changed (a rolling deploy) is judged over its steady tail: the
    answers after the last change. Its errors count over the whole run.
    """
    changes = replica_changes(tally.timeline, tally.warmup_replicas) if tally.duration_s is not None else None
    if changes:
        tally = steady_tail(tally, changes)
    evidence = gather_evidence(tally, expectation, changes)
    findings = [check(tally, evidence, expectation) for check in checks]
    failures = tuple(failure for finding in findings for failure in finding.failures)
    notes = tuple(note for finding in findings for note in finding.notes)
    even = not failures

    zone_of = _zone_lookup(expectation.subnets)
    answers = evidence.answers
    missing_ids = {replica for replica in evidence.missing if replica is not None}
    cells = len(evidence.counts)

    def expected_share(replica: str) -> float:
        """Its --expect-weights share, or an even one."""
        if evidence.shares is not None:
            return evidence.shares.get(replica, 0.0)
        return 1 / cells if cells else 0.0

    def band(replica: str) -> tuple[float, float] | None:
        return share_band(expected_share(replica), answers, cells, expectation.alpha) if evidence.split_judged else None

    replicas = tuple(
        ReplicaStats(
            replica=replica,
            count=tally.counts.get(replica, 0),
            share=tally.counts.get(replica, 0) / answers if answers else 0.0,
            deviation=(
                tally.counts.get(replica, 0) / evidence.expected_count(replica) - 1
                if evidence.expected_count(replica)
                else 0.0
            ),
            p50_ms=percentile(tally.latencies_ms.get(replica, []), 50),
            p95_ms=percentile(tally.latencies_ms.get(replica, []), 95),
            zone=zone_of(replica),
            expected_share=expected_share(replica),
            band=band(replica),
        )
        for replica in sorted(set(evidence.seen) | missing_ids, key=replica_sort_key)
    )
    all_latencies = [latency for latencies in tally.latencies_ms.values() for latency in latencies]
    if even:
        reason = f"even: {len(evidence.seen)} replica(s), {answers} answers, " + (
            f"p = {evidence.p_value:.3g}" if evidence.p_value is not None else "nothing to compare"
        )
        if not evidence.count_checked:
            reason += "; replica count not checked"
    else:
        reason = "uneven: " + "; ".join(failures)
    return Verdict(
        even=even,
        reason=reason,
        sentence=split_sentence(
            evidence.counts, expectation.alpha, evidence.p_value, evidence.split_judged, even, bool(expectation.weights)
        ),
        failures=failures,
        notes=notes,
        evidence=evidence,
        replicas=replicas,
        zones=zone_breakdown(replicas),
        latency_p50_ms=percentile(all_latencies, 50),
        latency_p95_ms=percentile(all_latencies, 95),
    )


def split_sentence(
    counts: Sequence[int],
    alpha: float,
    p_value: float | None,
    split_judged: bool,
    run_even: bool = True,
    weighted: bool = False,
) -> str:
    """One sentence a person understands about how the answers were split (against the weights, if given).

    Never "Even: ..." above an uneven verdict: when the counts pass but another check fails, it says so.
    """
    total = sum(counts)
    if not counts or total == 0:
        return "No replica answered while measuring."
    got = f"{len(counts)} replica{'s' if len(counts) != 1 else ''} got {_list_counts(counts)} of {total} answers"
    if not split_judged:
        return f"Not judged: {got}; least_outstanding_requests spreads work, not request counts."
    if p_value is None:
        return f"Nothing to compare: {got}."
    chance = _how_often(p_value)
    balancer, off = (
        ("a balancer splitting exactly by the weights", "this far off them")
        if weighted
        else (
            "a perfectly even balancer",
            "this uneven",
        )
    )
    if p_value >= alpha:
        opening = "Even" if run_even else "The counts alone look even, but another check fails (see the verdict)"
        if weighted:
            opening = "As weighted" if run_even else "The counts alone fit the weights, but another check fails"
        return (
            f"{opening}: {got}; {balancer} gives a split at least {off} {chance},"
            f" so chance explains it (p = {p_value:.3g}, alpha {alpha:g})."
        )
    return (
        f"{'Off the weights' if weighted else 'Uneven'}: {got}; {balancer} gives a split {off} only {chance}"
        f" (p = {p_value:.3g} < alpha {alpha:g})."
    )


def _list_counts(counts: Sequence[int]) -> str:
    ordered = sorted(counts, reverse=True)
    if len(ordered) == 1:
        return str(ordered[0])
    if len(ordered) > _LISTED_COUNTS:
        return f"between {ordered[-1]} and {ordered[0]}"
    return ", ".join(str(count) for count in ordered[:-1]) + f" and {ordered[-1]}"


def _how_often(p_value: float) -> str:
    percent = p_value * 100
    if percent >= 10:
        return f"{percent:.0f}% of the time"
    if percent >= 1e-6:
        return f"{percent:.3g}% of the time"
    return "practically never"


def percentile(values: Sequence[float], rank: float) -> float | None:
    """The nearest-rank percentile (p50, p95) of values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[index]


def _zone_lookup(subnets: Sequence[tuple[str, str]]) -> Callable[[str], str | None]:
    # Most specific first, so a /24 inside a /16 names its own zone.
    networks = sorted(
        ((ipaddress.ip_network(cidr, strict=False), zone) for cidr, zone in subnets),
        key=lambda pair: -pair[0].prefixlen,
    )

    def zone_of(replica: str) -> str | None:
        if not networks:
            return None
        try:
            address = ipaddress.ip_address(replica)
        except ValueError:
            return None
        return next((zone for network, zone in networks if address in network), None)

    return zone_of


def zone_breakdown(replicas: Sequence[ReplicaStats]) -> tuple[ZoneStats, ...]:
    """Answers per availability zone, when any replica's zone is known."""
    if not any(stats.zone for stats in replicas):
        return ()
    total = sum(stats.count for stats in replicas)
    replicas_in: Counter[str] = Counter()
    answers_in: Counter[str] = Counter()
    for stats in replicas:
        zone = stats.zone or "(no known zone)"
        replicas_in[zone] += 1
        answers_in[zone] += stats.count
    return tuple(
        ZoneStats(
            zone=zone,
            replicas=replicas_in[zone],
            count=answers_in[zone],
            share=answers_in[zone] / total if total else 0.0,
        )
        for zone in sorted(replicas_in)
    )
