"""Judging: pure functions from a tally (and what was expected) to a verdict. Nothing here does I/O.

The split is tested with Pearson's chi-square goodness of fit against an even split. How many
requests that needs (`default_requests`): if one replica of k gets 1.5x its even share (and the
others share the rest evenly), the test's noncentrality is λ = N (Σ (p_i - 1/k)² / (1/k)) =
N / (4 (k - 1)). With N = 130 k that is λ = 32.5 k / (k - 1) >= 32.5, which at alpha 0.01 catches
the hot replica at least 90 % of the time for up to about 15 replicas (simulated: 100 % at k = 3
with N = 390, 97 % at k = 10, 91 % at k = 15, 88 % at k = 20, 59 % at k = 50; the chi-square test
spreads its power over k - 1 degrees of freedom, so beyond ~15 replicas pass a larger --requests).
The floor of 300 keeps small deployments (k <= 2) well above 90 %.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from verify.stats import chi_square_sf, chi_square_uniform
from verify.tally import Tally

REQUESTS_FLOOR = 300
REQUESTS_PER_REPLICA = 130

ROUND_ROBIN = "round_robin"
LEAST_OUTSTANDING = "least_outstanding_requests"
WEIGHTED_RANDOM = "weighted_random"
ALGORITHMS = (ROUND_ROBIN, LEAST_OUTSTANDING, WEIGHTED_RANDOM)

PATTERN_ROUND_ROBIN = "round-robin-like"
PATTERN_RANDOM = "random"
PATTERN_STICKY = "sticky"
PATTERN_SINGLE = "single replica"
PATTERN_UNKNOWN = "unknown"

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
# Beyond this many replicas the sentence gives a range instead of every count.
_LISTED_COUNTS = 6


def default_requests(expected_replicas: int) -> int:
    """Requests enough to catch one replica at 1.5x its share 90 % of the time (module docstring)."""
    return max(REQUESTS_FLOOR, REQUESTS_PER_REPLICA * expected_replicas)


@dataclass(frozen=True)
class Expectation:
    """What a healthy deployment looks like, and how strictly to judge it."""

    # (fewest, most) replicas that may answer; None: the replicas seen while waiting for ready are
    # taken as expected and their number is not checked.
    replica_range: tuple[int, int] | None = None
    algorithm: str = ROUND_ROBIN
    alpha: float = 0.01
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
class Verdict:
    even: bool
    reason: str  # one line: why the run passes or fails, with numbers
    sentence: str  # the split, for a person
    notes: tuple[str, ...]  # what the reader should know that does not change the verdict
    requests: int
    answers: int
    error_rate: float
    replicas: tuple[ReplicaStats, ...]
    zones: tuple[ZoneStats, ...]
    expected_replicas: int  # fewest expected (the warm-up set's size when the count was not checked)
    expected_replicas_max: int
    count_checked: bool
    # One entry per missing (or unexpected) replica: its id where known, None where not (a replica that
    # never answered at all has no id verify could know).
    missing: tuple[str | None, ...]
    unexpected: tuple[str | None, ...]
    chi_square: float | None
    degrees_of_freedom: int
    p_value: float | None  # None when there is nothing to compare (one replica, no answers)
    split_judged: bool  # False for least_outstanding_requests
    min_count: int
    max_count: int
    spread: int
    nodes: int
    pattern: str
    pattern_detail: str
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    failures: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        return "even" if self.even else "uneven"


def judge(tally: Tally, expectation: Expectation) -> Verdict:
    """The verdict on one measurement: every check of the EVEN contract, each failure with numbers."""
    seen = [replica for replica, count in tally.counts.items() if count > 0]
    notes: list[str] = []
    failures: list[str] = []

    if expectation.replica_range is None:
        expected_ids = list(tally.warmup_replicas)
        fewest = most = len(expected_ids)
        missing_ids = [replica for replica in expected_ids if replica not in tally.counts]
        unexpected_ids = [replica for replica in seen if replica not in expected_ids]
        missing, unexpected = len(missing_ids), len(unexpected_ids)
        notes.append(f"replica count not checked: the {fewest} replica(s) seen while warming up are taken as expected")
    else:
        fewest, most = expectation.replica_range
        missing = max(0, fewest - len(seen))
        unexpected = max(0, len(seen) - most)
        # Known by name: missing ones that answered while warming up, surplus ones that did not.
        missing_ids = [replica for replica in tally.warmup_replicas if replica not in tally.counts][:missing]
        unexpected_ids = [replica for replica in seen if replica not in tally.warmup_replicas][:unexpected]

    # Missing replicas count as cells with zero answers: the split is judged over every replica that
    # should have answered.
    counts = [tally.counts[replica] for replica in seen] + [0] * missing
    answers = tally.answers
    cells = len(counts)
    even_share = answers / cells if cells else 0.0

    chi_square: float | None = None
    p_value: float | None = None
    if cells >= 2 and answers > 0:
        chi_square = chi_square_uniform(counts)
        p_value = chi_square_sf(chi_square, cells - 1)

    split_judged = expectation.algorithm != LEAST_OUTSTANDING
    nodes = expectation.nodes if expectation.nodes is not None else max(1, len(tally.addresses))
    low, high = (min(counts), max(counts)) if counts else (0, 0)

    if missing:
        named = f" ({', '.join(missing_ids)})" if missing_ids else ""
        failures.append(f"{missing} of {fewest} expected replicas never answered{named}")
    if unexpected:
        named = f" ({', '.join(unexpected_ids)})" if unexpected_ids else ""
        allowed = f"{fewest}" if fewest == most else f"{fewest} to {most}"
        failures.append(
            f"{len(seen)} replicas answered where {allowed} were expected{named}: a deploy may still be rolling"
        )

    if not split_judged:
        notes.append(
            "least_outstanding_requests spreads work, not request counts: the even-count verdict does not apply"
        )
    else:
        if p_value is not None and p_value < expectation.alpha:
            failures.append(
                f"chi-square {chi_square:.1f} with {cells - 1} df gives p = {p_value:.3g} < alpha {expectation.alpha:g}"
            )
        starved = [(replica, tally.counts[replica]) for replica in seen if tally.counts[replica] < even_share / 2]
        failures.extend(
            f"{replica} got {count} of {answers} answers, under half its even share of {even_share:.0f}"
            for replica, count in starved
        )
        if expectation.strict and expectation.algorithm == WEIGHTED_RANDOM:
            notes.append("weighted_random picks at random: --strict does not apply")
        elif expectation.strict and high - low > nodes:
            failures.append(f"--strict: max - min = {high} - {low} = {high - low} > {nodes} balancer node(s)")

    error_rate = tally.error_count / tally.requests if tally.requests else 0.0
    if error_rate > expectation.max_error_rate:
        failures.append(
            f"error rate {error_rate:.1%} ({tally.error_count} of {tally.requests}) is above"
            f" --max-error-rate {expectation.max_error_rate:.1%}"
        )

    pattern, pattern_detail = balancer_pattern(tally, expected=max(fewest, 1))
    if tally.cookies:
        failures.append(
            f"sticky: answers set the cookie(s) {', '.join(sorted(tally.cookies))}; real clients that send"
            " them back stay on one replica"
        )
    elif pattern == PATTERN_STICKY:
        failures.append(f"sticky: {pattern_detail}")

    if tally.deadline_hit:
        notes.append(f"the measurement ran out of time after {tally.requests} requests")

    zone_of = _zone_lookup(expectation.subnets)
    replicas = tuple(
        ReplicaStats(
            replica=replica,
            count=tally.counts.get(replica, 0),
            share=tally.counts.get(replica, 0) / answers if answers else 0.0,
            deviation=tally.counts.get(replica, 0) / even_share - 1 if even_share else 0.0,
            p50_ms=percentile(tally.latencies_ms.get(replica, []), 50),
            p95_ms=percentile(tally.latencies_ms.get(replica, []), 95),
            zone=zone_of(replica),
        )
        for replica in sorted(set(seen) | set(missing_ids), key=replica_sort_key)
    )
    all_latencies = [latency for latencies in tally.latencies_ms.values() for latency in latencies]
    even = not failures
    sentence = split_sentence(counts, expectation.alpha, p_value, split_judged)
    if even:
        reason = f"even: {len(seen)} replica(s), {answers} answers, " + (
            f"p = {p_value:.3g}" if p_value is not None else "nothing to compare"
        )
    else:
        reason = "uneven: " + "; ".join(failures)
    return Verdict(
        even=even,
        reason=reason,
        sentence=sentence,
        notes=tuple(notes),
        requests=tally.requests,
        answers=answers,
        error_rate=error_rate,
        replicas=replicas,
        zones=zone_breakdown(replicas),
        expected_replicas=fewest,
        expected_replicas_max=most,
        count_checked=expectation.replica_range is not None,
        missing=(*missing_ids, *[None] * (missing - len(missing_ids))),
        unexpected=(*unexpected_ids, *[None] * (unexpected - len(unexpected_ids))),
        chi_square=chi_square,
        degrees_of_freedom=max(cells - 1, 0),
        p_value=p_value,
        split_judged=split_judged,
        min_count=low,
        max_count=high,
        spread=high - low,
        nodes=nodes,
        pattern=pattern,
        pattern_detail=pattern_detail,
        latency_p50_ms=percentile(all_latencies, 50),
        latency_p95_ms=percentile(all_latencies, 95),
        failures=tuple(failures),
    )


def balancer_pattern(tally: Tally, expected: int) -> tuple[str, str]:
    """How the balancer behaved, from the order of the answers: (pattern, one-line evidence)."""
    if tally.cookies:
        return PATTERN_STICKY, f"answers set the cookie(s) {', '.join(sorted(tally.cookies))}"
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


def split_sentence(counts: Sequence[int], alpha: float, p_value: float | None, split_judged: bool) -> str:
    """One sentence a person understands about how the answers were split."""
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
        return (
            f"Even: {got}; a perfectly even balancer gives a split at least this uneven {chance},"
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
