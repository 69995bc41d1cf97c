"""The evidence a verdict rests on: pure functions from a tally and an expectation to numbers. No I/O.

How many requests a run needs (`default_requests`): the fewest (at least REQUESTS_FLOOR) for which
Pearson's chi-square test of the expected split at alpha 0.01 catches, 90 % of the time, one replica
that gets HOT_RATIO (1.5) times what each other replica gets, relative to the expected split (at an
even split over 3 replicas: 1.5 : 1 : 1, i.e. 43 % against 29 % and 29 %), from the power of the test
as a scaled noncentral chi-square with k - 1 degrees of freedom (`verify.judging.stats.power_against`): 367
requests for 2 replicas, 443 for 3, 552 for 4, 675 for 5, 1,399 for 10, 26,896 for 100. The reported
power is against the same alternative. The floor of 300 gives the order of the answers enough to judge;
the count is at most MAX_REQUESTS (1,000,000), as a count a user types: a split with a replica expected
to get a millionth of the requests reaches less than 90 % there, and the report says how much.

The expected split is even unless weights are given (`WeightGroup`: replicas that share a weight, as
a canary's green replicas share 10 % and its blue ones 90 %).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from verify.core.numbers import MAX_REQUESTS
from verify.core.replica_ids import replica_sort_key
from verify.core.tally import Second, Tally
from verify.judging.pattern import balancer_pattern, is_balancer_cookie
from verify.judging.stats import chi_square_against, chi_square_sf, power_against_one_cell_at_ratio

REQUESTS_FLOOR = 300
TARGET_POWER = 0.9
# The unevenness the default request count must catch: one replica getting 1.5x what each other gets
# (relative to the expected split), the ratio a person means by "1.5x".
HOT_RATIO = 1.5
DEFAULT_ALPHA = 0.01

ROUND_ROBIN = "round_robin"
LEAST_OUTSTANDING = "least_outstanding_requests"
WEIGHTED_RANDOM = "weighted_random"
ALGORITHMS = (ROUND_ROBIN, LEAST_OUTSTANDING, WEIGHTED_RANDOM)


@functools.lru_cache(maxsize=64)
def default_requests(
    expected_replicas: int, alpha: float = DEFAULT_ALPHA, shares: tuple[float, ...] | None = None
) -> int:
    """The fewest requests (at least REQUESTS_FLOOR) that catch one replica at HOT_RATIO : 1 against the
    others 90 % of the time; `shares` is the expected split (default: even over expected_replicas). Bounded
    like a count a user types: at most MAX_REQUESTS, whatever the split (`requests_and_power` says what
    power that reaches)."""
    return requests_and_power(expected_replicas, alpha, shares)[0]


def requests_and_power(
    expected_replicas: int, alpha: float = DEFAULT_ALPHA, shares: tuple[float, ...] | None = None
) -> tuple[int, float | None]:
    """`default_requests` and the power it reaches: TARGET_POWER or more, or less when MAX_REQUESTS falls
    short (a replica expected to get a millionth of the requests is caught only with more than a million);
    None for fewer than 2 replicas (no split to test)."""
    if expected_replicas < 2:
        return REQUESTS_FLOOR, None
    expected = shares if shares is not None else (1 / expected_replicas,) * expected_replicas

    def power(requests: int) -> float:
        return power_against_one_cell_at_ratio(requests, expected, alpha, HOT_RATIO)

    low, high = 1, REQUESTS_FLOOR
    while power(high) < TARGET_POWER:
        if high >= MAX_REQUESTS:
            return MAX_REQUESTS, power(MAX_REQUESTS)
        low, high = high, min(high * 2, MAX_REQUESTS)
    while high - low > 1:  # power grows with the request count: bisect to the fewest that reach the target
        middle = (low + high) // 2
        if power(middle) >= TARGET_POWER:
            high = middle
        else:
            low = middle
    requests = max(REQUESTS_FLOOR, high)
    return requests, power(requests)


@dataclass(frozen=True)
class WeightGroup:
    """Replicas expected to share `weight` evenly (a group of one: a replica's own weight)."""

    replicas: tuple[str, ...]
    weight: float

    @property
    def label(self) -> str:
        """The group as a person reads it in the timeline: its ids joined with +, or the first and a count."""
        if len(self.replicas) <= 3:
            return "+".join(self.replicas)
        return f"{self.replicas[0]}+{len(self.replicas) - 1} more"


def expected_shares(groups: Sequence[WeightGroup]) -> dict[str, float]:
    """Each replica's expected share of the answers: its group's weight over all weights, split evenly."""
    total = sum(group.weight for group in groups)
    return {replica: group.weight / total / len(group.replicas) for group in groups for replica in group.replicas}


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
    # The expected split by weight; empty: even. With weights, exactly the replicas named must answer.
    weights: tuple[WeightGroup, ...] = ()


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
    power: float | None  # how often this many answers catch one replica at 1.5 : 1 against the others at alpha
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
    # --expect-weights: each named replica's expected share (None: an even split), and the groups.
    shares: dict[str, float] | None = None
    weight_groups: tuple[WeightGroup, ...] = ()
    # The missing replicas that answered and then stopped during a --duration run, each with the second
    # it left in (the first without its answers); the other missing ones never answered.
    left: tuple[tuple[str, int], ...] = ()

    @property
    def even_share(self) -> float:
        return self.answers / len(self.counts) if self.counts else 0.0

    def expected_count(self, replica: str) -> float:
        """The answers `replica` should have got: its weighted share, or an even share."""
        if self.shares is None:
            return self.even_share
        return self.answers * self.shares.get(replica, 0.0)


# A replica is taken for gone after its last answer only when the answers after it would have brought it
# at least this many at its share until then: one still there misses 10 expected answers by chance with
# probability e^-10 (5e-5) under random routing, never under round robin.
GONE_AFTER_EXPECTED = 10


def replica_changes(timeline: Sequence[Second], warmup: Sequence[str] = ()) -> tuple[ReplicaChange, ...]:
    """The seconds in which the set of answering replicas changed, from a --duration run's timeline.

    A replica appears in the second of its first answer (unless it answered while warming up and again
    in the run's first second) and disappears in the second after its last answer, once the answers
    after it would have brought it GONE_AFTER_EXPECTED at its share of the seconds it answered in: a
    replica that a slow run happens to miss for a second is not taken for gone and back, nor one that a
    short last second missed (at 100 replicas, 70 answers in a last second of 0.13 s left 49 out).
    """
    if not timeline:
        return ()
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    answers: Counter[str] = Counter()
    for entry in timeline:
        answers.update(entry.replicas)
        for replica in entry.replicas:
            first.setdefault(replica, entry.second)
            last[replica] = entry.second
    # The answers up to each second of the timeline, to read any replica's share in O(1).
    upto = list(itertools.accumulate(entry.answers for entry in timeline))
    index = {entry.second: i for i, entry in enumerate(timeline)}

    def gone(replica: str) -> bool:
        since, until = index[first[replica]], index[last[replica]]
        lifetime = upto[until] - (upto[since - 1] if since else 0)
        return answers[replica] / lifetime * (upto[-1] - upto[until]) >= GONE_AFTER_EXPECTED

    appeared: dict[int, list[str]] = {}
    disappeared: dict[int, list[str]] = {}
    for replica, second in first.items():
        if second > timeline[0].second or replica not in warmup:
            appeared.setdefault(second, []).append(replica)
    for replica, second in last.items():
        if second < timeline[-1].second and gone(replica):
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
    # The second each replica last left in, over the run; those that joined latest first (after a deploy,
    # a new replica that left is the one missing, not the old ones it replaced).
    joined_at = {replica: change.second for change in changes or () for replica in change.appeared}
    left_at = {replica: change.second for change in changes or () for replica in change.disappeared}
    left_at = dict(sorted(left_at.items(), key=lambda item: -joined_at.get(item[0], -1)))
    shares = expected_shares(expectation.weights) if expectation.weights else None
    if shares is not None:
        # The replicas named are expected, in the order named; any other that answers is unexpected.
        fewest = most = len(shares)
        missing_ids = [replica for replica in shares if replica not in seen]
        unexpected_ids = [replica for replica in seen if replica not in shares]
        missing, unexpected = len(missing_ids), len(unexpected_ids)
    elif expectation.replica_range is None:
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
        # Known by name: missing ones that answered and left during the run or while warming up, surplus
        # ones that did not answer then.
        known_missing = [replica for replica in left_at if replica not in seen]
        known_missing += [r for r in tally.warmup_replicas if r not in tally.counts and r not in known_missing]
        missing_ids = known_missing[:missing]
        unexpected_ids = [replica for replica in seen if replica not in tally.warmup_replicas][:unexpected]

    # Missing replicas count as cells with zero answers: the split is judged over every replica that
    # should have answered (with weights: over the replicas named, each against its share).
    if shares is not None:
        counts = tuple(tally.counts.get(replica, 0) for replica in shares)
        cell_shares = tuple(shares.values())
    else:
        counts = tuple(tally.counts[replica] for replica in seen) + (0,) * missing
        cell_shares = (1 / len(counts),) * len(counts) if counts else ()
    answers = sum(counts)
    cells = len(counts)
    chi_square: float | None = None
    p_value: float | None = None
    power: float | None = None
    if cells >= 2 and answers > 0:
        chi_square = chi_square_against(counts, cell_shares)
        p_value = chi_square_sf(chi_square, cells - 1)
        power = power_against_one_cell_at_ratio(answers, cell_shares, expectation.alpha, HOT_RATIO)
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
        shares=shares,
        weight_groups=expectation.weights,
        left=tuple((replica, left_at[replica]) for replica in missing_ids if replica in left_at),
    )


def share_band(expected_share: float, answers: int, cells: int, alpha: float) -> tuple[float, float] | None:
    """Where a replica's share of `answers` falls under the expected split: the normal approximation of
    its binomial count at alpha / cells each side (Bonferroni), so an even balancer keeps every one of
    the `cells` replicas inside at once at least 1 - alpha of the time. A picture of the chi-square
    test, not the test: the verdict is the test's. None with fewer than two replicas or no answers.
    """
    if cells < 2 or answers <= 0:
        return None
    z = NormalDist().inv_cdf(1 - alpha / (2 * cells))
    half = z * math.sqrt(expected_share * (1 - expected_share) / answers)
    return max(0.0, expected_share - half), min(1.0, expected_share + half)
