"""Hypothesis tests used in survey reports: normality, t-tests, Friedman ranking, correlation matrices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from patron.stats._validation import StatsInputError, as_frame, check_probability, numeric_columns

__all__ = [
    "CorrelationMatrix",
    "FriedmanResult",
    "TTestResult",
    "correlation_matrix",
    "friedman",
    "independent_t",
    "lilliefors_pvalue",
    "normality",
    "one_sample_t",
    "paired_t",
]


def lilliefors_pvalue(d: float, n: int) -> float:
    """Approximate p-value of Lilliefors' test for a KS distance ``d`` from ``n`` observations.

    Dallal & Wilkinson's (1986) analytic approximation for p <= 0.1 and Stephens' (1974) modified
    statistic above it -- the approximation R's ``nortest::lillie.test`` uses.

    Examples
    --------
    >>> round(lilliefors_pvalue(0.190, 20), 3)  # Lilliefors (1967) tabulates D = 0.190 as the 5 % point
    0.057
    """
    if n < 5:
        raise StatsInputError(f"Lilliefors' test needs at least 5 observations, got {n}")
    if n <= 100:
        kd, nd = d, n
    else:
        kd, nd = d * (n / 100.0) ** 0.49, 100
    p = np.exp(
        -7.01256 * kd**2 * (nd + 2.78019)
        + 2.99587 * kd * np.sqrt(nd + 2.78019)
        - 0.122119
        + 0.974598 / np.sqrt(nd)
        + 1.67997 / nd
    )
    if p > 0.1:
        kk = (np.sqrt(n) - 0.01 + 0.85 / np.sqrt(n)) * d
        if kk <= 0.302:
            p = 1.0
        elif kk <= 0.5:
            p = 2.76773 - 19.828315 * kk + 80.709644 * kk**2 - 138.55152 * kk**3 + 81.218052 * kk**4
        elif kk <= 0.9:
            p = -4.901232 + 40.662806 * kk - 97.490286 * kk**2 + 94.029866 * kk**3 - 32.355711 * kk**4
        elif kk <= 1.31:
            p = 6.198765 - 19.558097 * kk + 23.186922 * kk**2 - 12.234627 * kk**3 + 2.423045 * kk**4
        else:
            p = 0.0
    return float(min(max(p, 0.0), 1.0))


def normality(
    data: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    lilliefors: str = "approx",
    n_resamples: int = 9999,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Kolmogorov-Smirnov (with and without Lilliefors' correction) and Shapiro-Wilk tests per column.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str, optional
        Numeric, complete, non-constant columns (default: all); at least 5 rows.
    lilliefors : {"approx", "monte_carlo"}
        ``"approx"`` (default, instantaneous): Dallal & Wilkinson's approximation, see
        :func:`lilliefors_pvalue`. ``"monte_carlo"``: ``scipy.stats.goodness_of_fit``, which re-estimates
        mean and SD in each of ``n_resamples`` simulated samples (exact up to simulation error; slow for
        large n).
    n_resamples : int
        Monte Carlo samples for ``lilliefors="monte_carlo"``.
    seed : int or None
        Seed of the Monte Carlo draw, so reports are reproducible.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``n``, ``ks_stat`` (D against a normal with the sample mean and SD),
        ``ks_pvalue`` (the uncorrected p-value SPSS ``NPAR TESTS /K-S`` prints),
        ``lilliefors_pvalue``, ``shapiro_w``, ``shapiro_pvalue``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=200)})
    >>> bool(normality(df).loc["x", "shapiro_pvalue"] > 0.05)
    True
    """
    if lilliefors not in ("approx", "monte_carlo"):
        raise StatsInputError(f"lilliefors must be 'approx' or 'monte_carlo', got {lilliefors!r}")
    frame = numeric_columns(data, columns, min_rows=5)
    rng = np.random.default_rng(seed)
    rows = {}
    for column in frame.columns:
        x = frame[column].to_numpy()
        mean, sd = x.mean(), x.std(ddof=1)
        ks = stats.kstest(x, stats.norm(loc=mean, scale=sd).cdf)
        if lilliefors == "approx":
            lf_p = lilliefors_pvalue(float(ks.statistic), len(x))
        else:
            lf = stats.goodness_of_fit(stats.norm, x, statistic="ks", n_mc_samples=n_resamples, rng=rng)
            lf_p = float(lf.pvalue)
        sw = stats.shapiro(x)
        rows[column] = {
            "n": len(x),
            "ks_stat": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "lilliefors_pvalue": lf_p,
            "shapiro_w": float(sw.statistic),
            "shapiro_pvalue": float(sw.pvalue),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass(frozen=True)
class TTestResult:
    """A t-test.

    Attributes
    ----------
    t, df, pvalue : float
        Statistic, degrees of freedom (Welch-Satterthwaite when ``equal_var`` is False) and two-sided
        p-value.
    mean_diff : float
        Mean (one-sample: minus ``mu``; paired: of ``x - y``; independent: group 1 minus group 2).
    ci_low, ci_high : float
        Confidence interval of ``mean_diff`` at level ``ci``.
    cohen_d : float
        Standardised effect: ``mean_diff / sd`` (one-sample, paired) or over the pooled SD (independent).
    """

    test: str
    t: float
    df: float
    pvalue: float
    mean_diff: float
    ci_low: float
    ci_high: float
    cohen_d: float
    n: int
    ci: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def _t_result(test, t, df, mean_diff, se, cohen_d, n, ci) -> TTestResult:
    p = 2.0 * stats.t.sf(abs(t), df)
    q = stats.t.ppf(0.5 + ci / 2.0, df)
    return TTestResult(
        test=test,
        t=float(t),
        df=float(df),
        pvalue=float(p),
        mean_diff=float(mean_diff),
        ci_low=float(mean_diff - q * se),
        ci_high=float(mean_diff + q * se),
        cohen_d=float(cohen_d),
        n=int(n),
        ci=ci,
    )


def one_sample_t(
    data: pd.DataFrame, columns: Sequence[str] | None = None, *, mu: float = 3.0, ci: float = 0.95
) -> pd.DataFrame:
    """One-sample t-test of each column against ``mu`` (the scale midpoint, 3 on a 1-5 Likert scale).

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str, optional
        Items or construct scores (default: all).
    mu : float, default 3.0
    ci : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per column: ``n``, ``mean``, ``sd``, ``t``, ``df``, ``pvalue``, ``mean_diff``
        (mean - mu), ``ci_low``/``ci_high`` (of the difference, as SPSS prints) and ``cohen_d``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"loyalty": [4, 5, 4, 3, 4, 5, 4, 4]})
    >>> round(float(one_sample_t(df, mu=3).loc["loyalty", "t"]), 3)
    4.965
    """
    ci = check_probability(ci, "ci")
    frame = numeric_columns(data, columns, min_rows=2)
    rows = {}
    for column in frame.columns:
        x = frame[column].to_numpy()
        n = len(x)
        sd = x.std(ddof=1)
        diff = x.mean() - mu
        se = sd / np.sqrt(n)
        res = _t_result("one_sample", diff / se, n - 1, diff, se, diff / sd, n, ci)
        rows[column] = {"n": n, "mean": float(x.mean()), "sd": float(sd)} | {
            k: getattr(res, k) for k in ("t", "df", "pvalue", "mean_diff", "ci_low", "ci_high", "cohen_d")
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def paired_t(data: pd.DataFrame, x: str, y: str, *, ci: float = 0.95) -> TTestResult:
    """Paired-samples t-test of ``x - y`` (e.g. perception minus expectation of the same respondents).

    Parameters
    ----------
    data : pandas.DataFrame
    x, y : str
        Two numeric columns answered by the same respondents.
    ci : float, default 0.95

    Returns
    -------
    TTestResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"before": [3, 4, 2, 5, 3], "after": [4, 5, 3, 5, 4]})
    >>> round(paired_t(df, "after", "before").t, 3)
    4.0
    """
    ci = check_probability(ci, "ci")
    frame = numeric_columns(data, [x, y], min_rows=2, allow_constant=True)
    d = (frame[x] - frame[y]).to_numpy()
    n = len(d)
    sd = d.std(ddof=1)
    if sd == 0:
        raise StatsInputError(
            f"the differences {x!r} - {y!r} are constant; the t statistic is undefined", column=x
        )
    se = sd / np.sqrt(n)
    return _t_result("paired", d.mean() / se, n - 1, d.mean(), se, d.mean() / sd, n, ci)


def independent_t(
    data: pd.DataFrame, dv: str, group: str, *, equal_var: bool = False, ci: float = 0.95
) -> TTestResult:
    """Independent-samples t-test of ``dv`` between the two levels of ``group`` (Welch by default).

    Parameters
    ----------
    data : pandas.DataFrame
    dv : str
        Numeric outcome column.
    group : str
        Column with exactly two distinct values; the difference is first level minus second (sorted).
    equal_var : bool, default False
        Student's pooled-variance test instead of Welch's.
    ci : float, default 0.95

    Returns
    -------
    TTestResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"score": [1, 2, 3, 4, 5, 6], "wave": ["a", "a", "a", "b", "b", "b"]})
    >>> round(independent_t(df, "score", "wave").t, 3)
    -3.674
    """
    ci = check_probability(ci, "ci")
    data = as_frame(data)
    if group not in data.columns:
        raise StatsInputError(f"column {group!r} is not in the data", column=group)
    if data[group].isna().any():
        raise StatsInputError(f"column {group!r} has missing group labels", column=group)
    frame = numeric_columns(data, [dv], min_rows=4, allow_constant=True)
    levels = sorted(data[group].unique().tolist(), key=str)
    if len(levels) != 2:
        raise StatsInputError(
            f"column {group!r} must have exactly two groups, found {len(levels)}", column=group
        )
    a = frame.loc[data[group] == levels[0], dv].to_numpy()
    b = frame.loc[data[group] == levels[1], dv].to_numpy()
    if len(a) < 2 or len(b) < 2:
        raise StatsInputError(f"each group of {group!r} needs at least two rows", column=group)
    va, vb = a.var(ddof=1), b.var(ddof=1)
    if va == 0 and vb == 0:
        raise StatsInputError(f"column {dv!r} is constant within both groups", column=dv)
    na, nb = len(a), len(b)
    diff = a.mean() - b.mean()
    pooled_sd = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    if equal_var:
        se = pooled_sd * np.sqrt(1 / na + 1 / nb)
        df = na + nb - 2
        test = "student"
    else:
        se = np.sqrt(va / na + vb / nb)
        df = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
        test = "welch"
    return _t_result(test, diff / se, df, diff, se, diff / pooled_sd, na + nb, ci)


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test with the mean-rank table and Kendall's coefficient of concordance.

    Attributes
    ----------
    chi2, df, pvalue : float
        Friedman's statistic (tie-corrected, as R ``friedman.test`` and SPSS), k - 1 and its p-value.
    kendall_w : float
        Kendall's W = chi2 / (n (k - 1)).
    ranking : pandas.DataFrame
        Per column ``mean_rank`` (1 = lowest value within a respondent) and ``rank`` (1 = highest mean
        rank, the order a study's ranking table lists), sorted by ``rank``.
    """

    chi2: float
    df: int
    pvalue: float
    kendall_w: float
    n: int
    ranking: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.ranking


def friedman(data: pd.DataFrame, columns: Sequence[str] | None = None) -> FriedmanResult:
    """Friedman's rank test across related columns, with mean ranks and Kendall's W.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent (block), one column per rated component.
    columns : sequence of str, optional
        At least three columns (default: all).

    Returns
    -------
    FriedmanResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2, 1, 2], "b": [3, 3, 2, 3], "c": [5, 4, 4, 5]})
    >>> friedman(df).ranking.index.tolist()
    ['c', 'b', 'a']
    """
    frame = numeric_columns(data, columns, min_rows=2, allow_constant=True)
    n, k = frame.shape
    if k < 3:
        raise StatsInputError("Friedman's test needs at least three columns; use a paired test for two")
    ranks = stats.rankdata(frame.to_numpy(), axis=1)
    rank_sums = ranks.sum(axis=0)
    # Tie correction: sum over blocks of (t**3 - t) for every tie group.
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts**3 - counts))
    denominator = 1.0 - ties / (n * k * (k * k - 1))
    if denominator <= 0:
        raise StatsInputError("every respondent gave the same value to every column; nothing to rank")
    chi2 = (12.0 / (n * k * (k + 1)) * np.sum(rank_sums**2) - 3.0 * n * (k + 1)) / denominator
    df = k - 1
    table = pd.DataFrame({"mean_rank": rank_sums / n, "mean": frame.mean().to_numpy()}, index=frame.columns)
    table["rank"] = table["mean_rank"].rank(ascending=False, method="min").astype(int)
    table = table.sort_values("rank", kind="stable")
    return FriedmanResult(
        chi2=float(chi2),
        df=df,
        pvalue=float(stats.chi2.sf(chi2, df)),
        kendall_w=float(chi2 / (n * (k - 1))),
        n=n,
        ranking=table,
    )


@dataclass(frozen=True)
class CorrelationMatrix:
    """Correlation matrix with two-sided p-values.

    Attributes
    ----------
    r : pandas.DataFrame
        Correlations.
    pvalue : pandas.DataFrame
        Two-sided p-values (0 on the diagonal).
    n : int
    method : str
    """

    r: pd.DataFrame
    pvalue: pd.DataFrame
    n: int
    method: str

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per pair with ``x``, ``y``, ``r``, ``pvalue``."""
        rows = []
        cols = list(self.r.columns)
        for i, a in enumerate(cols):
            for b in cols[i + 1 :]:
                rows.append({"x": a, "y": b, "r": self.r.loc[a, b], "pvalue": self.pvalue.loc[a, b]})
        return pd.DataFrame(rows)


def correlation_matrix(
    data: pd.DataFrame, columns: Sequence[str] | None = None, *, method: str = "pearson"
) -> CorrelationMatrix:
    """Pearson or Spearman correlation matrix with p-values.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str, optional
        At least two numeric, complete, non-constant columns.
    method : {"pearson", "spearman"}

    Returns
    -------
    CorrelationMatrix

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 1, 4, 3, 5]})
    >>> round(float(correlation_matrix(df).r.loc["a", "b"]), 3)
    0.8
    """
    if method not in ("pearson", "spearman"):
        raise StatsInputError(f"method must be 'pearson' or 'spearman', got {method!r}")
    frame = numeric_columns(data, columns, min_rows=3)
    if frame.shape[1] < 2:
        raise StatsInputError("a correlation matrix needs at least two columns")
    x = frame.to_numpy()
    if method == "spearman":
        x = stats.rankdata(x, axis=0)
    r = np.corrcoef(x, rowvar=False)
    np.fill_diagonal(r, 1.0)
    n = x.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt((n - 2) / np.clip(1.0 - r**2, 1e-300, None))
    p = 2.0 * stats.t.sf(np.abs(t), n - 2)
    np.fill_diagonal(p, 0.0)
    cols = list(frame.columns)
    return CorrelationMatrix(
        r=pd.DataFrame(r, index=cols, columns=cols),
        pvalue=pd.DataFrame(p, index=cols, columns=cols),
        n=n,
        method=method,
    )
