"""Sample size: Cochran's formula (with optional finite-population correction) and Krejcie & Morgan (1970)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd
from scipy import stats

from patron.stats._validation import StatsInputError, check_probability

__all__ = ["SampleSize", "cochran_sample_size", "krejcie_morgan_sample_size"]


@dataclass(frozen=True)
class SampleSize:
    """Required sample size.

    Attributes
    ----------
    n : int
        Required sample size, rounded up.
    n_exact : float
        The unrounded value of the formula.
    n0 : float
        Cochran's infinite-population size ``z**2 * p * (1 - p) / e**2`` (before any correction).
    population : int or None
        Population size used for the finite-population correction, if any.
    """

    n: int
    n_exact: float
    n0: float
    population: int | None
    method: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])


def cochran_sample_size(
    *, margin: float = 0.05, p: float = 0.5, confidence: float = 0.95, population: int | None = None
) -> SampleSize:
    """Cochran's sample size for estimating a proportion, ``n0 = z**2 p (1 - p) / e**2``.

    With ``population`` the finite-population correction ``n = n0 / (1 + (n0 - 1) / N)`` is applied.

    Parameters
    ----------
    margin : float
        Margin of error ``e`` (e.g. 0.05 for +/- 5 points).
    p : float
        Expected proportion (0.5 is the most conservative).
    confidence : float
        Two-sided confidence level; ``z`` is the normal quantile (1.959964 at 95 %).
    population : int, optional
        Population size ``N``.

    Returns
    -------
    SampleSize

    Notes
    -----
    Study §1 of the mission reports ``(1.96 * 0.5)**2 / 0.074**2 ≅ 174``; the formula gives 175.4,
    i.e. 176 respondents once rounded up (the study's 174 understates it slightly).

    Examples
    --------
    >>> cochran_sample_size(margin=0.05).n
    385
    >>> round(cochran_sample_size(margin=0.074).n_exact, 1)
    175.4
    """
    margin = check_probability(margin, "margin")
    p = check_probability(p, "p", open_interval=False)
    confidence = check_probability(confidence, "confidence")
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    n0 = z**2 * p * (1.0 - p) / margin**2
    if n0 == 0:
        raise StatsInputError("p must lie strictly between 0 and 1 for a non-zero sample size")
    n_exact = n0
    if population is not None:
        if int(population) != population or population < 1:
            raise StatsInputError(f"population must be a positive integer, got {population!r}")
        n_exact = n0 / (1.0 + (n0 - 1.0) / population)
    # Round up, but not past the population and ignoring float noise (e.g. 384.00000000001).
    n = math.ceil(round(n_exact, 9))
    if population is not None:
        n = min(n, int(population))
    return SampleSize(n=n, n_exact=float(n_exact), n0=float(n0), population=population, method="cochran")


def krejcie_morgan_sample_size(
    population: int, *, margin: float = 0.05, p: float = 0.5, confidence: float = 0.95
) -> SampleSize:
    """Krejcie & Morgan (1970) sample size for a finite population.

    ``s = X² N P (1 - P) / (d² (N - 1) + X² P (1 - P))`` with ``X²`` the chi-square value for one degree
    of freedom at the confidence level (3.841 at 95 %), rounded to the nearest whole respondent as in the
    published table (N = 50 -> 44, 100 -> 80, 1,000 -> 278, 10,000 -> 370, 1,000,000 -> 384).

    Parameters
    ----------
    population : int
        Population size ``N``.
    margin, p, confidence : float
        ``d``, ``P`` and the confidence level of the table (0.05, 0.5, 0.95).

    Returns
    -------
    SampleSize

    Examples
    --------
    >>> krejcie_morgan_sample_size(1000).n
    278
    """
    if int(population) != population or population < 1:
        raise StatsInputError(f"population must be a positive integer, got {population!r}")
    margin = check_probability(margin, "margin")
    p = check_probability(p, "p")
    confidence = check_probability(confidence, "confidence")
    chi2 = stats.chi2.ppf(confidence, 1)
    s = chi2 * population * p * (1 - p) / (margin**2 * (population - 1) + chi2 * p * (1 - p))
    n0 = chi2 * p * (1 - p) / margin**2
    # Krejcie & Morgan's table rounds to the nearest whole respondent (50 -> 44.3 -> 44).
    return SampleSize(
        n=min(int(math.floor(s + 0.5)), int(population)),
        n_exact=float(s),
        n0=float(n0),
        population=int(population),
        method="krejcie_morgan",
    )
