"""Chi-square tail probabilities, without scipy.

The survival function of the chi-square distribution with `df` degrees of freedom is the
regularized upper incomplete gamma function Q(df/2, x/2). Q is computed the way Numerical Recipes
(section 6.2) does: a power series for P = 1 - Q when x < a + 1 (where it converges fast), and a
continued fraction evaluated with the modified Lentz method otherwise (where the series would
need many terms and 1 - P would lose every digit of a small Q).
"""

from __future__ import annotations

import math

_MAX_ITERATIONS = 10_000
_EPSILON = 1e-15
_TINY = 1e-300  # stands in for a zero denominator in Lentz's method


def regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a), for a > 0 and x >= 0."""
    if a <= 0:
        raise ValueError(f"shape a={a} must be positive")
    if x < 0:
        raise ValueError(f"x={x} must not be negative")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    # log of x^a e^-x / Γ(a), the prefactor both expansions share.
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        return max(0.0, 1.0 - _lower_series(a, x, log_prefactor))
    return _upper_continued_fraction(a, x, log_prefactor)


def _lower_series(a: float, x: float, log_prefactor: float) -> float:
    """P(a, x) by its series: x^a e^-x / Γ(a+1) * Σ x^n / ((a+1)...(a+n))."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_ITERATIONS):
        denominator += 1
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPSILON:
            break
    return total * math.exp(log_prefactor)


def _upper_continued_fraction(a: float, x: float, log_prefactor: float) -> float:
    """Q(a, x) by its continued fraction 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    fraction = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        step = d * c
        fraction *= step
        if abs(step - 1) < _EPSILON:
            break
    return math.exp(log_prefactor) * fraction


def chi_square_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X chi-square distributed with df degrees of freedom (the p-value)."""
    if df < 1:
        raise ValueError(f"degrees of freedom {df} must be at least 1")
    return regularized_upper_gamma(df / 2, max(statistic, 0.0) / 2)


def chi_square_uniform(counts: list[int]) -> float:
    """Pearson's X2 of counts against an even split of their total over len(counts) cells."""
    total = sum(counts)
    if total == 0 or len(counts) < 2:
        return 0.0
    even_share = total / len(counts)
    return sum((count - even_share) ** 2 for count in counts) / even_share
