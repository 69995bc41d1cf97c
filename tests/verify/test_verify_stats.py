"""The chi-square survival function against published critical values and closed forms."""

from __future__ import annotations

import math

import pytest

from verify.judging.stats import chi_square_sf, chi_square_uniform, regularized_upper_gamma


@pytest.mark.parametrize(
    ("statistic", "df", "p_value"),
    [
        # Critical values from the chi-square table (e.g. NIST/SEMATECH e-Handbook, 1.3.6.7.4).
        (9.21, 2, 0.01),
        (3.841, 1, 0.05),
        (6.635, 1, 0.01),
        (11.345, 3, 0.01),
        (23.209, 10, 0.01),
        (18.307, 10, 0.05),
        (135.807, 100, 0.01),
        (124.342, 100, 0.05),
    ],
)
def test_critical_values(statistic: float, df: int, p_value: float) -> None:
    assert chi_square_sf(statistic, df) == pytest.approx(p_value, rel=2e-3)


@pytest.mark.parametrize("statistic", [0.01, 0.5, 1.0, 4.0, 30.0, 200.0])
def test_two_degrees_of_freedom_is_an_exponential(statistic: float) -> None:
    assert chi_square_sf(statistic, 2) == pytest.approx(math.exp(-statistic / 2), rel=1e-12)


@pytest.mark.parametrize("statistic", [0.001, 0.3, 1.0, 2.5, 10.0, 60.0])
def test_one_degree_of_freedom_is_erfc(statistic: float) -> None:
    # Both branches (series below a + 1, continued fraction above) meet the closed form.
    assert chi_square_sf(statistic, 1) == pytest.approx(math.erfc(math.sqrt(statistic / 2)), rel=1e-10)


def test_edges() -> None:
    assert chi_square_sf(0.0, 5) == 1.0
    assert chi_square_sf(-3.0, 5) == 1.0
    assert chi_square_sf(1e9, 2) == 0.0
    assert chi_square_sf(math.inf, 4) == 0.0
    assert 0.0 < chi_square_sf(4000.0, 3000) < 1e-20  # huge df, far tail: small but not lost
    assert regularized_upper_gamma(3.0, 1e-9) == pytest.approx(1.0)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="degrees of freedom 0"):
        chi_square_sf(1.0, 0)
    with pytest.raises(ValueError, match="x=-1"):
        regularized_upper_gamma(1.0, -1.0)


def test_chi_square_uniform() -> None:
    assert chi_square_uniform([100, 100, 100]) == 0.0
    assert chi_square_uniform([150, 75, 75]) == pytest.approx(37.5)
    assert chi_square_uniform([0, 0, 0]) == 0.0
    assert chi_square_uniform([42]) == 0.0
