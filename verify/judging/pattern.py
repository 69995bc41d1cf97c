"""How the balancer behaved, from the order of the answers and the cookies they set. No I/O.

Each balancer node keeps its own rotation, so the order is judged node by node: in runs (blocks) of
answers in send order, a rotation keeps every block almost exactly in proportion, a random balancer
varies as chi-square says, and a sticky one glues each connection to one replica.
"""

from __future__ import annotations

from collections import Counter

from verify.core.tally import Tally
from verify.judging.stats import chi_square_sf

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


def is_balancer_cookie(name: str) -> bool:
    return name in BALANCER_COOKIES or name.startswith(_BALANCER_COOKIE_PREFIXES)


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
