"""Reliability: Cronbach's alpha (Feldt CI, alpha-if-item-deleted), McDonald's omega, CR and AVE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from patron.stats._validation import StatsInputError, check_probability, numeric_columns

__all__ = [
    "AlphaResult",
    "OmegaResult",
    "average_variance_extracted",
    "composite_reliability",
    "cronbach_alpha",
    "mcdonald_omega",
]


def _alpha_from_cov(cov: np.ndarray) -> float:
    k = cov.shape[0]
    total = cov.sum()
    return float(k / (k - 1) * (1.0 - np.trace(cov) / total))


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha.

    Attributes
    ----------
    alpha : float
        Raw (covariance-based) alpha, as SPSS ``RELIABILITY`` and R ``psych::alpha`` (raw_alpha).
    ci_low, ci_high : float
        Feldt (1965) confidence interval at level ``ci``.
    std_alpha : float
        Standardised alpha from the correlation matrix.
    n, k : int
        Respondents and items.
    items : pandas.DataFrame
        Per item: ``mean``, ``sd``, ``item_total_r`` (corrected item-total correlation) and
        ``alpha_if_deleted`` (NaN when only two items are left, alpha needs at least two).
    """

    alpha: float
    ci_low: float
    ci_high: float
    std_alpha: float
    n: int
    k: int
    ci: float
    items: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "alpha": self.alpha,
                    "ci_low": self.ci_low,
                    "ci_high": self.ci_high,
                    "std_alpha": self.std_alpha,
                    "n": self.n,
                    "k": self.k,
                }
            ]
        )


def cronbach_alpha(
    data: pd.DataFrame, items: Sequence[str] | None = None, *, ci: float = 0.95
) -> AlphaResult:
    """Cronbach's alpha with a Feldt confidence interval and alpha-if-item-deleted.

    ``alpha = k / (k - 1) * (1 - sum(var_i) / var(total))``. The interval is Feldt's:
    ``1 - (1 - alpha) * F(1 - g/2; n - 1, (n - 1)(k - 1))`` to ``1 - (1 - alpha) * F(g/2; ...)``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent, complete numeric answers.
    items : sequence of str, optional
        Item columns (default: all); at least two, none constant.
    ci : float, default 0.95

    Returns
    -------
    AlphaResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 5], "c": [1, 3, 3, 4, 4]})
    >>> round(cronbach_alpha(df).alpha, 3)
    0.954
    """
    frame = numeric_columns(data, items, min_rows=3)
    k = frame.shape[1]
    if k < 2:
        raise StatsInputError("Cronbach's alpha needs at least two items")
    ci = check_probability(ci, "ci")
    n = frame.shape[0]
    x = frame.to_numpy()
    cov = np.cov(x, rowvar=False, ddof=1)
    alpha = _alpha_from_cov(cov)
    corr = np.corrcoef(x, rowvar=False)
    std_alpha = _alpha_from_cov(corr)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    gamma = 1.0 - ci
    ci_low = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - gamma / 2.0, df1, df2)
    ci_high = 1.0 - (1.0 - alpha) * stats.f.ppf(gamma / 2.0, df1, df2)
    total = x.sum(axis=1)
    rows = {}
    for j, column in enumerate(frame.columns):
        rest = np.delete(np.arange(k), j)
        rest_total = total - x[:, j]
        rows[column] = {
            "mean": float(x[:, j].mean()),
            "sd": float(x[:, j].std(ddof=1)),
            "item_total_r": float(np.corrcoef(x[:, j], rest_total)[0, 1]),
            "alpha_if_deleted": _alpha_from_cov(cov[np.ix_(rest, rest)]) if k > 2 else float("nan"),
        }
    return AlphaResult(
        alpha=alpha,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        std_alpha=std_alpha,
        n=n,
        k=k,
        ci=ci,
        items=pd.DataFrame.from_dict(rows, orient="index"),
    )


def _standardized_loadings(loadings: Sequence[float] | pd.Series) -> np.ndarray:
    lam = np.asarray(loadings, dtype=float).ravel()
    if lam.size == 0:
        raise StatsInputError("no loadings given")
    if not np.all(np.isfinite(lam)):
        raise StatsInputError("loadings must be finite numbers")
    if np.any(np.abs(lam) > 1.0):
        raise StatsInputError("standardised loadings must lie in [-1, 1] (a Heywood case otherwise)")
    return lam


def composite_reliability(loadings: Sequence[float] | pd.Series) -> float:
    """Composite reliability (CR, Jöreskog's rho / Fornell & Larcker 1981) from standardised loadings.

    ``CR = (sum l)**2 / ((sum l)**2 + sum(1 - l**2))``.

    Parameters
    ----------
    loadings : sequence of float
        Standardised loadings of one construct's indicators (``std_all`` of a CFA, or PLS outer loadings).

    Returns
    -------
    float

    Examples
    --------
    >>> round(composite_reliability([0.7, 0.8, 0.9]), 3)
    0.845
    """
    lam = _standardized_loadings(loadings)
    num = lam.sum() ** 2
    return float(num / (num + np.sum(1.0 - lam**2)))


def average_variance_extracted(loadings: Sequence[float] | pd.Series) -> float:
    """Average variance extracted (AVE, Fornell & Larcker 1981): the mean squared standardised loading.

    Parameters
    ----------
    loadings : sequence of float
        Standardised loadings of one construct's indicators.

    Returns
    -------
    float

    Examples
    --------
    >>> round(average_variance_extracted([0.7, 0.8, 0.9]), 3)
    0.647
    """
    lam = _standardized_loadings(loadings)
    return float(np.mean(lam**2))


@dataclass(frozen=True)
class OmegaResult:
    """McDonald's omega (total) from a one-factor ML model.

    Attributes
    ----------
    omega : float
        ``(sum l)**2 psi / ((sum l)**2 psi + sum theta)`` with the model-implied total variance.
    omega_observed : float
        The same numerator over the observed variance of the item sum (``semTools::compRelSEM``'s
        default ``obs.var = TRUE``).
    loadings : pandas.Series
        Standardised loadings of the one-factor model.
    """

    omega: float
    omega_observed: float
    loadings: pd.Series
    n: int
    k: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"omega": self.omega, "omega_observed": self.omega_observed, "n": self.n, "k": self.k}]
        )


def mcdonald_omega(data: pd.DataFrame, items: Sequence[str] | None = None) -> OmegaResult:
    """McDonald's omega total from a one-factor CFA fitted by maximum likelihood.

    Parameters
    ----------
    data : pandas.DataFrame
    items : sequence of str, optional
        At least three items (a one-factor model with two is not identified).

    Returns
    -------
    OmegaResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=500)
    >>> df = pd.DataFrame({f"q{i}": 0.8 * f + 0.6 * rng.normal(size=500) for i in range(4)})
    >>> 0.85 < mcdonald_omega(df).omega < 0.9
    True
    """
    from patron.stats.cbsem import cfa

    frame = numeric_columns(data, items, min_rows=4)
    if frame.shape[1] < 3:
        raise StatsInputError(
            "omega needs at least three items (a one-factor model on two is not identified)"
        )
    names = [f"v{i}" for i in range(frame.shape[1])]
    renamed = frame.set_axis(names, axis=1)
    fit = cfa("f =~ " + " + ".join(names), data=renamed)
    est = fit.estimates
    load = est[(est["op"] == "=~")]
    lam = load["est"].to_numpy()
    psi = float(est[(est["op"] == "~~") & (est["lhs"] == "f") & (est["rhs"] == "f")]["est"].iloc[0])
    theta = est[(est["op"] == "~~") & (est["lhs"].isin(names)) & (est["lhs"] == est["rhs"])]["est"].to_numpy()
    true_var = lam.sum() ** 2 * psi
    observed_var = float(np.cov(frame.to_numpy(), rowvar=False, ddof=0).sum())
    std = pd.Series(load["std_all"].to_numpy(), index=list(frame.columns))
    return OmegaResult(
        omega=float(true_var / (true_var + theta.sum())),
        omega_observed=float(true_var / observed_var),
        loadings=std,
        n=frame.shape[0],
        k=frame.shape[1],
    )
