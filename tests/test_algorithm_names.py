"""The target group's algorithm names live in three places on purpose: the components (what the
program declares), verify (which imports nothing of the project) and the rehearsal (its balancer
line for each). One set of names for all three."""

from components.aws_tables import ALGORITHMS
from rehearsal.plan import HAPROXY_BALANCE
from verify.judging.evidence import ALGORITHMS as VERIFY_ALGORITHMS


def test_the_components_verify_and_the_rehearsal_know_the_same_algorithms():
    assert set(ALGORITHMS) == set(VERIFY_ALGORITHMS) == set(HAPROXY_BALANCE)
    assert len(ALGORITHMS) == len(VERIFY_ALGORITHMS) == 3, "no name twice"
