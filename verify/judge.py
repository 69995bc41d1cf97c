"""Judging: pure functions from a tally (and what was expected) to a verdict. Nothing here does I/O.

The evidence (counts, chi-square, power, the balancer's pattern) is computed once; then each check
in CHECKS reads it and returns its failures and notes. The run is even when no check fails.

The split is tested with Pearson's chi-square goodness of fit against an even split. How many
requests that needs (`default_requests`): the fewest (at least REQUESTS_FLOOR) for which the test at
alpha 0.01 catches one replica of k getting 1.5x its even share (the others sharing the rest evenly)
90 % of the time, from the power of the test as a noncentral chi-square with k - 1 degrees of
freedom (`verify.stats.power_against_one_hot_cell`): 365 requests for 5 replicas, 1,041 for 10,
26,121 for 100. The floor of 300 keeps smaller deployments above 90 % and gives the order of the
answers enough to judge.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from verify.stats import chi_square_sf, chi_square_uniform, power_against_one_hot_cell
from verify.tally import Second, Tally

REQUESTS_FLOOR = 300
TARGET_POWER = 0.9
HOT_SHARE = 1.5  # the unevenness the default request count must catch: one replica at 1.5x its share
DEFAULT_ALPHA = 0.01

ROUND_ROBIN = "round_robin"
LEAST_OUTSTANDING = "least_outstanding_requests"
WEIGHTED_RANDOM = "weighted_random"
ALGORITHMS = (ROUND_ROBIN, LEAST_OUTSTANDING, WEIGHTED_RANDOM)

PATTERN_ROUND_ROBIN = "round-robin-like"
PATTERN_RANDOM = "random"
PATTERN_STICKY = "sticky"
PATTERN_SINGLE = "single replica"
PATTERN_UNKNOWN = "unknown"

# Cookies a balancer sets to bind a client to a target: the ALB's duration-based (AWSALB, AWSALBCORS),
# application-based (AWSALBAPP-0, ...) and target group (AWSALBTG, AWSALBTGCORS) stickiness, and the
# rehearsal's HAProxy cookie (REPLICA). Any other cookie is the application's: it binds nothing.
BALANCER_COOKIES = ("AWSALB", "AWSALBCORS", "AWSALBTG", "AWSALBTGCORS", "REPLICA")
_BALANCER_COOKIE_PREFIXES = ("AWSALBAPP",)

# A connection needs this many answers before "it only ever saw one replica" means anything.
_STICKY_MIN_ANSWERS = 5
_STICKY_CONNECTION_SHARE = 0.9
# The order of answers through one node is judged in runs (blocks) of this many answers per replica:
# long enough that the few answers the client's own timing reorders across a block's edge barely
# matter, short enough for several blocks. Counts within blocks steadier than a random balancer
# gives them with this small a probability read as a rotation.
_ROTATION_BLOCK_PER_REPLICA = 10
_MIN_BLOCKS = 3
_ROTATION_ALPHA = 0.001
# Target health states that pass: AWS's "healthy"; HAProxy's UP (also "UP 1/2", failing checks but not
# yet past its threshold, as an ALB target stays healthy until then) and "no check".
# States of a target on its way out, listed but not failing: AWS's "draining"; HAProxy's MAINT, DRAIN
# and NOLB (how the rehearsal takes a server out). Any other state fails the run.
_HEALTHY_TARGET_STATES = ("healthy", "UP", "no check")
_LEAVING_TARGET_STATES = ("draining", "MAINT", "DRAIN", "NOLB")
# Beyond this many replicas the sentence gives a range instead of every count.
_LISTED_COUNTS = 6


@functools.lru_cache(maxsize=64)
def default_requests(expected_replicas: int, alpha: float = DEFAULT_ALPHA) -> int:
    """The fewest requests (at least REQUESTS_FLOOR) that catch one replica at 1.5x its share 90 % of the time."""
    if expected_replicas < 2:
        return REQUESTS_FLOOR
    low, high = 1, REQUESTS_FLOOR
    while power_against_one_hot_cell(high, expected_replicas, alpha, HOT_SHARE) < TARGET_POWER:
        low, high = high, high * 2
    while high - low > 1:  # power grows with the request count: bisect to the fewest that reach the target
        middle = (low + high) // 2
        if power_against_one_hot_cell(middle, expected_replicas, alpha, HOT_SHARE) >= TARGET_POWER:
            high = middle
        else:
            low = middle
    return max(REQUESTS_FLOOR, high)


def is_balancer_cookie(name: str) -> bool:
    return name in BALANCER_COOKIES or name.startswith(_BALANCER_COOKIE_PREFIXES)


@dataclass(frozen=True)
class Expectation:
    """What a healthy deployment looks like, and how strictly to judge it."""

    # (fewest, most) replicas that may answer; None: the replicas seen while warming up or measuring
    # are taken as expected and their number is not checked.
    replica_range: tuple[int, int] | None = None
    algorithm: str = ROUND_ROBIN
    alpha: float = DEFAULT_ALPHA
    max_error_rate: float = 0.01
    strict: bool = False
    nodes: int | None = None  # balancer nodes; None: as many as the name resolved to
    subnets: tuple[tuple[str, str], ...] = ()  # (CIDR, zone name) pairs for the per-zone breakdown


@dataclass(frozen=True)
class ReplicaStats:
    replica: str
    count: int
    share: float  # of all answers
    deviation: float  # share / even share - 1 (+0.5 = got 1.5x an even share)
    p50_ms: float | None
    p95_ms: float | None
    zone: str | None


@dataclass(frozen=True)
class ZoneStats:
    zone: str
    replicas: int
    count: int
    share: float


@dataclass(frozen=True)
class ReplicaChange:
    """A second of a --duration run in which the set of answering replicas changed."""

    second: int
    appeared: tuple[str, ...]
    disappeared: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    """The numbers every check reads, computed once from the tally and the expectation."""

    requests: int
    answers: int
    error_rate: float
    seen: tuple[str, ...]  # replicas that answered while measuring
    counts: tuple[int, ...]  # answers of each replica that should have answered (0 for a missing one)
    expected_replicas: int  # fewest expected (the seen set's size when the count was not checked)
    expected_replicas_max: int
    count_checked: bool
    # One entry per missing (or unexpected) replica: its id where known, None where not (a replica that
    # never answered at all has no id verify could know).
    missing: tuple[str | None, ...]
    unexpected: tuple[str | None, ...]
    chi_square: float | None
    degrees_of_freedom: int
    p_value: float | None  # None when there is nothing to compare (one replica, no answers)
    power: float | None  # how often this many answers catch one replica at 1.5x its share at alpha
    split_judged: bool  # False for least_outstanding_requests
    min_count: int
    max_count: int
    spread: int
    nodes: int
    pattern: str
    pattern_detail: str
    balancer_cookies: tuple[str, ...]  # stickiness cookies answers set (BALANCER_COOKIES)
    other_cookies: tuple[str, ...]  # the application's cookies: they bind no client to a replica
    # --duration: when the set of answering replicas changed (None without --duration), and the second
    # after which the answers are judged (None: all of them).
    replica_changes: tuple[ReplicaChange, ...] | None = None
    judged_after_second: int | None = None

    @property
    def even_share(self) -> float:
        return self.answers / len(self.counts) if self.counts else 0.0


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


def replica_changes(timeline: Sequence[Second], warmup: Sequence[str] = ()) -> tuple[ReplicaChange, ...]:
    """The seconds in which the set of answering replicas changed, from a --duration run's timeline.

    A replica appears in the second of its first answer (unless it answered while warming up and again
    in the run's first second) and disappears in the second after its last answer (before the run's
    last second): a replica that a slow run happens to miss for a second is not taken for gone and back.
    """
    if not timeline:
        return ()
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for entry in timeline:
        for replica in entry.replicas:
            first.setdefault(replica, entry.second)
            last[replica] = entry.second
    appeared: dict[int, list[str]] = {}
    disappeared: dict[int, list[str]] = {}
    for replica, second in first.items():
        if second > timeline[0].second or replica not in warmup:
            appeared.setdefault(second, []).append(replica)
    for replica, second in last.items():
        if second < timeline[-1].second:
            disappeared.setdefault(second + 1, []).append(replica)
    return tuple(
        ReplicaChange(
            second,
            tuple(sorted(appeared.get(second, ()), key=replica_sort_key)),
            tuple(sorted(disappeared.get(second, ()), key=replica_sort_key)),
        )
        for second in sorted(appeared.keys() | disappeared.keys())
    )


def steady_tail(tally: Tally, changes: Sequence[ReplicaChange]) -> Tally:
    """The tally of the answers sent after the last change of the replica set (a deploy's end state).

    The second of the change itself is left out: a replica that joined in it got only part of it. When
    the change came in the run's last second, that second is all there is. Requests and errors stay
    the whole run's: a failed request counts whenever it failed.
    """
    since = changes[-1].second
    tail = [entry for entry in tally.timeline if entry.second > since] or [
        entry for entry in tally.timeline if entry.second == since
    ]
    counts: Counter[str] = Counter()
    for entry in tail:
        counts.update(entry.replicas)
    present = tuple(replica for replica in tally.counts if counts[replica] > 0)
    return dataclasses.replace(tally, counts={replica: counts[replica] for replica in present}, warmup_replicas=present)


def gather_evidence(
    tally: Tally, expectation: Expectation, changes: tuple[ReplicaChange, ...] | None = None
) -> Evidence:
    """The numbers the checks read; `changes` are a --duration run's (the tally then its steady tail)."""
    seen = tuple(replica for replica, count in tally.counts.items() if count > 0)
    if expectation.replica_range is None:
        # Replicas first seen while measuring count too: a random balancer can hide one through a short
        # warm-up, and with no count to check there is nothing for a newcomer to exceed.
        expected_ids = list(dict.fromkeys((*tally.warmup_replicas, *seen)))
        fewest = most = len(expected_ids)
        missing_ids: list[str] = [replica for replica in expected_ids if replica not in tally.counts]
        unexpected_ids: list[str] = []
        missing, unexpected = len(missing_ids), 0
    else:
        fewest, most = expectation.replica_range
        missing = max(0, fewest - len(seen))
        unexpected = max(0, len(seen) - most)
        # Known by name: missing ones that answered while warming up, surplus ones that did not.
        missing_ids = [replica for replica in tally.warmup_replicas if replica not in tally.counts][:missing]
        unexpected_ids = [replica for replica in seen if replica not in tally.warmup_replicas][:unexpected]

    # Missing replicas count as cells with zero answers: the split is judged over every replica that
    # should have answered.
    counts = tuple(tally.counts[replica] for replica in seen) + (0,) * missing
    answers = tally.answers
    cells = len(counts)
    chi_square: float | None = None
    p_value: float | None = None
    power: float | None = None
    if cells >= 2 and answers > 0:
        chi_square = chi_square_uniform(list(counts))
        p_value = chi_square_sf(chi_square, cells - 1)
        power = power_against_one_hot_cell(answers, cells, expectation.alpha, HOT_SHARE)
    low, high = (min(counts), max(counts)) if counts else (0, 0)
    pattern, pattern_detail = balancer_pattern(tally, expected=max(fewest, 1))
    return Evidence(
        requests=tally.requests,
        answers=answers,
        error_rate=tally.error_count / tally.requests if tally.requests else 0.0,
        seen=seen,
        counts=counts,
        expected_replicas=fewest,
        expected_replicas_max=most,
        count_checked=expectation.replica_range is not None,
        missing=(*missing_ids, *[None] * (missing - len(missing_ids))),
        unexpected=(*unexpected_ids, *[None] * (unexpected - len(unexpected_ids))),
        chi_square=chi_square,
        degrees_of_freedom=max(cells - 1, 0),
        p_value=p_value,
        power=power,
        split_judged=expectation.algorithm != LEAST_OUTSTANDING,
        min_count=low,
        max_count=high,
        spread=high - low,
        nodes=expectation.nodes if expectation.nodes is not None else max(1, len(tally.addresses)),
        pattern=pattern,
        pattern_detail=pattern_detail,
        balancer_cookies=tuple(sorted(name for name in tally.cookies if is_balancer_cookie(name))),
        other_cookies=tuple(sorted(name for name in tally.cookies if not is_balancer_cookie(name))),
        replica_changes=changes,
        judged_after_second=changes[-1].second if changes else None,
    )


def check_replica_count(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Every expected replica answered and no more; without a count to check, more than one."""
    failures: list[str] = []
    notes: list[str] = []
    missing = len(evidence.missing)
    if missing:
        known = [replica for replica in evidence.missing if replica is not None]
        named = f" ({', '.join(known)})" if known else ""
        failures.append(f"{missing} of {evidence.expected_replicas} expected replicas never answered{named}")
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
    """No replica under half its even share (a sample too small for chi-square still shows that)."""
    if not evidence.split_judged:
        return Finding()
    even_share = evidence.even_share
    return Finding(
        failures=tuple(
            f"{replica} got {tally.counts[replica]} of {evidence.answers} answers, under half its even share"
            f" of {even_share:.0f}"
            for replica in evidence.seen
            if tally.counts[replica] < even_share / 2
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


def check_power(tally: Tally, evidence: Evidence, expectation: Expectation) -> Finding:
    """Warn when the answers are too few for the test to catch a replica at 1.5x its share 90 % of the time."""
    if not evidence.split_judged or evidence.power is None or evidence.power >= TARGET_POWER:
        return Finding()
    cells = len(evidence.counts)
    return Finding(
        notes=(
            f"too few answers to judge well: {evidence.answers} answers over {cells} replicas catch one replica at"
            f" {HOT_SHARE:g}x its share only {evidence.power:.0%} of the time at alpha {expectation.alpha:g};"
            f" --requests {default_requests(cells, expectation.alpha)} reaches {TARGET_POWER:.0%}",
        )
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
    return state.startswith(_HEALTHY_TARGET_STATES + _LEAVING_TARGET_STATES)


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
            answered = tally.counts.get(target.target.rsplit(":", 1)[0].strip("[]"), 0)
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
    replicas = tuple(
        ReplicaStats(
            replica=replica,
            count=tally.counts.get(replica, 0),
            share=tally.counts.get(replica, 0) / answers if answers else 0.0,
            deviation=tally.counts.get(replica, 0) / evidence.even_share - 1 if evidence.even_share else 0.0,
            p50_ms=percentile(tally.latencies_ms.get(replica, []), 50),
            p95_ms=percentile(tally.latencies_ms.get(replica, []), 95),
            zone=zone_of(replica),
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
        sentence=split_sentence(evidence.counts, expectation.alpha, evidence.p_value, evidence.split_judged, even),
        failures=failures,
        notes=notes,
        evidence=evidence,
        replicas=replicas,
        zones=zone_breakdown(replicas),
        latency_p50_ms=percentile(all_latencies, 50),
        latency_p95_ms=percentile(all_latencies, 95),
    )


def balancer_pattern(tally: Tally, expected: int) -> tuple[str, str]:
    """How the balancer behaved, from the order of the answers: (pattern, one-line evidence)."""
    balancer_cookies = sorted(name for name in tally.cookies if is_balancer_cookie(name))
    if balancer_cookies:
        return PATTERN_STICKY, f"answers set the balancer cookie(s) {', '.join(balancer_cookies)}"
    seen = [replica for replica, count in tally.counts.items() if count > 0]
    if len(seen) == 1:
        if expected > 1:
            return PATTERN_STICKY, f"one replica ({seen[0]}) took every answer"
        return PATTERN_SINGLE, "one replica: no order to judge"
    if not seen:
        return PATTERN_UNKNOWN, "no answers"

    long_connections = [log for log in tally.connections if len(log.replicas) >= _STICKY_MIN_ANSWERS]
    single_replica_connections = sum(1 for log in long_connections if len(set(log.replicas)) == 1)
    if long_connections and single_replica_connections >= _STICKY_CONNECTION_SHARE * len(long_connections):
        return PATTERN_STICKY, (
            f"{single_replica_connections} of {len(long_connections)} connections kept getting the same replica"
        )

    # Each balancer node keeps its own rotation, so the order is judged node by node, in send order.
    by_node: dict[str, list[tuple[float, str]]] = {}
    for log in tally.connections:
        by_node.setdefault(log.address, []).extend(zip(log.sent_at, log.replicas, strict=True))
    block = max(2 * len(seen), min(_ROTATION_BLOCK_PER_REPLICA * len(seen), tally.answers // _MIN_BLOCKS))
    total = tally.answers
    shares = {replica: tally.counts[replica] / total for replica in seen}
    statistic = 0.0
    blocks = 0
    for answers in by_node.values():
        answers.sort()
        for start in range(0, len(answers) - block + 1, block):
            in_block = Counter(replica for _, replica in answers[start : start + block])
            statistic += sum(
                (in_block[replica] - block * share) ** 2 / (block * share) for replica, share in shares.items()
            )
            blocks += 1
    if blocks < _MIN_BLOCKS:
        return PATTERN_UNKNOWN, f"too few answers ({total}) to tell the order"
    # Against a random balancer each block's statistic is chi-square with k - 1 df: the ratio is about 1.
    # A rotation keeps every run of `block` answers almost exactly in proportion: near 0.
    df = blocks * (len(seen) - 1)
    evidence = (
        f"in runs of {block} answers in a row through one node, the counts varied {statistic / df:.2f}x"
        " as much as a random balancer's do"
    )
    if 1 - chi_square_sf(statistic, df) < _ROTATION_ALPHA:
        return PATTERN_ROUND_ROBIN, evidence + ", steadier than chance"
    return PATTERN_RANDOM, evidence


def split_sentence(
    counts: Sequence[int], alpha: float, p_value: float | None, split_judged: bool, run_even: bool = True
) -> str:
    """One sentence a person understands about how the answers were split.

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
    if p_value >= alpha:
        opening = "Even" if run_even else "The counts alone look even, but another check fails (see the verdict)"
        return (
            f"{opening}: {got}; a perfectly even balancer gives a split at least this uneven {chance},"
            f" so chance explains it (p = {p_value:.3g}, alpha {alpha:g})."
        )
    return (
        f"Uneven: {got}; a perfectly even balancer gives a split this uneven only {chance}"
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


def replica_sort_key(replica: str) -> tuple[int, int, str]:
    """IP ids in address order (10.0.1.9 before 10.0.1.10), any other id after them, by name."""
    try:
        address = ipaddress.ip_address(replica)
    except ValueError:
        return (1, 0, replica)
    return (0, int(address), str(address.version))


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
