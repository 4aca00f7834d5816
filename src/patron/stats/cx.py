"""Customer-experience scores: Net Promoter Score, CSAT and SERVQUAL gap analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from patron.stats._validation import StatsInputError, as_frame, check_probability, numeric_columns

__all__ = ["CsatResult", "NpsResult", "ServqualResult", "csat", "nps", "servqual", "servqual_change"]


@dataclass(frozen=True)
class NpsResult:
    """Net Promoter Score on the -100..100 scale.

    Attributes
    ----------
    nps : float
        ``100 * (share of 9-10 - share of 0-6)``.
    ci_low, ci_high : float
        Wald interval from the trinomial variance
        ``(p_P + p_D - (p_P - p_D)**2) / n`` (clipped to [-100, 100]).
    promoters, passives, detractors, n : int
    """

    nps: float
    ci_low: float
    ci_high: float
    se: float
    promoters: int
    passives: int
    detractors: int
    n: int
    ci: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def nps(data: pd.DataFrame, column: str, *, ci: float = 0.95) -> NpsResult:
    """Net Promoter Score of a 0-10 "would you recommend" question, with a confidence interval.

    Parameters
    ----------
    data : pandas.DataFrame
    column : str
        Whole-number answers 0-10; missing answers are refused (drop them first).
    ci : float, default 0.95

    Returns
    -------
    NpsResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"recommend": [10, 9, 9, 8, 7, 6, 3, 10, 9, 5]})
    >>> nps(df, "recommend").nps
    20.0
    """
    ci = check_probability(ci, "ci")
    x = numeric_columns(data, [column], min_rows=1, allow_constant=True)[column].to_numpy()
    if np.any((x < 0) | (x > 10) | (x != np.round(x))):
        raise StatsInputError(f"column {column!r} must hold whole numbers from 0 to 10", column=column)
    n = len(x)
    promoters = int(np.sum(x >= 9))
    detractors = int(np.sum(x <= 6))
    pp, pd_ = promoters / n, detractors / n
    score = pp - pd_
    se = float(np.sqrt(max(pp + pd_ - score**2, 0.0) / n))
    z = stats.norm.ppf(0.5 + ci / 2.0)
    return NpsResult(
        nps=100.0 * score,
        ci_low=max(-100.0, 100.0 * (score - z * se)),
        ci_high=min(100.0, 100.0 * (score + z * se)),
        se=100.0 * se,
        promoters=promoters,
        passives=n - promoters - detractors,
        detractors=detractors,
        n=n,
        ci=ci,
    )


@dataclass(frozen=True)
class CsatResult:
    """Customer satisfaction score: the percentage of satisfied answers (top-two box).

    Attributes
    ----------
    csat : float
        Percent of answers ``>= threshold``.
    ci_low, ci_high : float
        Wilson score interval, in percent.
    mean : float
        Mean rating.
    """

    csat: float
    ci_low: float
    ci_high: float
    mean: float
    satisfied: int
    n: int
    threshold: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def csat(
    data: pd.DataFrame, column: str, *, scale_max: int = 5, threshold: float | None = None, ci: float = 0.95
) -> CsatResult:
    """CSAT: share of satisfied customers (default: the top two points of the scale) with a Wilson CI.

    Parameters
    ----------
    data : pandas.DataFrame
    column : str
        Ratings from 1 to ``scale_max``.
    scale_max : int, default 5
    threshold : float, optional
        Lowest rating counted as satisfied (default ``scale_max - 1``).
    ci : float, default 0.95

    Returns
    -------
    CsatResult

    Examples
    --------
    >>> import pandas as pd
    >>> csat(pd.DataFrame({"sat": [5, 4, 4, 3, 2, 5, 4, 1]}), "sat").csat
    62.5
    """
    ci = check_probability(ci, "ci")
    x = numeric_columns(data, [column], min_rows=1, allow_constant=True)[column].to_numpy()
    if np.any((x < 1) | (x > scale_max)):
        raise StatsInputError(f"column {column!r} must hold ratings from 1 to {scale_max}", column=column)
    threshold = scale_max - 1 if threshold is None else threshold
    n = len(x)
    k = int(np.sum(x >= threshold))
    p = k / n
    z = stats.norm.ppf(0.5 + ci / 2.0)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n * n)) / (1 + z**2 / n)
    return CsatResult(
        csat=100.0 * p,
        ci_low=100.0 * max(0.0, centre - half),
        ci_high=100.0 * min(1.0, centre + half),
        mean=float(x.mean()),
        satisfied=k,
        n=n,
        threshold=float(threshold),
    )


@dataclass(frozen=True)
class ServqualResult:
    """SERVQUAL gap analysis (Parasuraman, Zeithaml & Berry 1988): gap = perception - expectation.

    Attributes
    ----------
    items : pandas.DataFrame
        Per item: ``dimension``, ``expectation``, ``perception``, ``gap`` (means), ``gap_sd``, ``t``,
        ``pvalue`` (paired t of P - E against 0).
    dimensions : pandas.DataFrame
        Per dimension: mean ``expectation``, ``perception``, ``gap`` (the unweighted SERVQUAL score of the
        dimension), ``weight`` (normalised to sum to 1) and ``weighted_gap``.
    score : float
        Unweighted SERVQUAL score: the mean of the dimension gaps.
    weighted_score : float
        Sum of ``weighted_gap`` (equal weights when none are given).
    respondent_gaps : pandas.DataFrame
        Per respondent, the gap of each dimension (input of :func:`servqual_change`).
    """

    items: pd.DataFrame
    dimensions: pd.DataFrame
    score: float
    weighted_score: float
    respondent_gaps: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        return self.dimensions


def servqual(
    data: pd.DataFrame,
    dimensions: Mapping[str, Sequence[tuple[str, str]]],
    *,
    weights: Mapping[str, float] | None = None,
) -> ServqualResult:
    """SERVQUAL gaps per item and dimension, and the (weighted) SERVQUAL score.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    dimensions : mapping
        Dimension name -> list of ``(expectation_column, perception_column)`` pairs, e.g.
        ``{"tangibles": [("e1", "p1"), ("e2", "p2")], "reliability": [...]}``.
    weights : mapping, optional
        Importance of each dimension (e.g. the 100 points respondents allocate); normalised to sum to 1.

    Returns
    -------
    ServqualResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"e1": [5, 5, 4], "p1": [4, 3, 4], "e2": [4, 5, 5], "p2": [4, 4, 5]})
    >>> res = servqual(df, {"tangibles": [("e1", "p1")], "empathy": [("e2", "p2")]})
    >>> res.dimensions["gap"].round(3).tolist()
    [-1.0, -0.333]
    """
    data = as_frame(data)
    if not dimensions:
        raise StatsInputError("no SERVQUAL dimensions given")
    columns = [c for pairs in dimensions.values() for pair in pairs for c in pair]
    if any(len(pair) != 2 for pairs in dimensions.values() for pair in pairs):
        raise StatsInputError("each SERVQUAL item must be an (expectation, perception) pair of columns")
    frame = numeric_columns(data, list(dict.fromkeys(columns)), min_rows=2, allow_constant=True)
    if weights is None:
        weights = {name: 1.0 for name in dimensions}
    missing = [name for name in dimensions if name not in weights]
    if missing:
        raise StatsInputError(f"no weight for dimension(s) {missing}")
    total_weight = float(sum(weights[name] for name in dimensions))
    if total_weight <= 0 or any(weights[name] < 0 for name in dimensions):
        raise StatsInputError("dimension weights must be non-negative and not all zero")
    item_rows, dim_rows, respondent = [], {}, {}
    for name, pairs in dimensions.items():
        if not pairs:
            raise StatsInputError(f"dimension {name!r} has no items")
        gaps = []
        for e, p in pairs:
            gap = frame[p] - frame[e]
            gaps.append(gap)
            sd = float(gap.std(ddof=1))
            n = len(gap)
            t = float(gap.mean() / (sd / np.sqrt(n))) if sd > 0 else float("nan")
            item_rows.append(
                {
                    "item": f"{p}-{e}",
                    "dimension": name,
                    "expectation": float(frame[e].mean()),
                    "perception": float(frame[p].mean()),
                    "gap": float(gap.mean()),
                    "gap_sd": sd,
                    "t": t,
                    "pvalue": float(2 * stats.t.sf(abs(t), n - 1)) if sd > 0 else float("nan"),
                }
            )
        respondent[name] = pd.concat(gaps, axis=1).mean(axis=1)
        w = weights[name] / total_weight
        dim_gap = float(respondent[name].mean())
        dim_rows[name] = {
            "expectation": float(frame[[e for e, _ in pairs]].to_numpy().mean()),
            "perception": float(frame[[p for _, p in pairs]].to_numpy().mean()),
            "gap": dim_gap,
            "weight": w,
            "weighted_gap": w * dim_gap,
        }
    dims = pd.DataFrame.from_dict(dim_rows, orient="index")
    return ServqualResult(
        items=pd.DataFrame(item_rows).set_index("item"),
        dimensions=dims,
        score=float(dims["gap"].mean()),
        weighted_score=float(dims["weighted_gap"].sum()),
        respondent_gaps=pd.DataFrame(respondent, index=data.index),
    )


def servqual_change(before: ServqualResult, after: ServqualResult, *, paired: bool = False) -> pd.DataFrame:
    """Wave-to-wave change of each SERVQUAL dimension gap, with a t-test.

    Parameters
    ----------
    before, after : ServqualResult
        Two waves of the same questionnaire (e.g. six months apart).
    paired : bool, default False
        The same respondents answered both waves (rows aligned by index): paired t-test. Otherwise
        Welch's independent-samples t-test.

    Returns
    -------
    pandas.DataFrame
        Per dimension (and ``overall``, the mean of the dimension gaps): ``gap_before``, ``gap_after``,
        ``change`` (after - before; positive means the gap closed), ``t``, ``df``, ``pvalue``.

    Examples
    --------
    >>> import pandas as pd
    >>> w1 = pd.DataFrame({"e": [5, 5, 5, 4], "p": [3, 3, 4, 3]})
    >>> w2 = pd.DataFrame({"e": [5, 5, 5, 4], "p": [4, 5, 5, 4]})
    >>> dims = {"reliability": [("e", "p")]}
    >>> servqual_change(servqual(w1, dims), servqual(w2, dims)).loc["reliability", "change"]
    np.float64(1.25)
    """
    a, b = before.respondent_gaps.copy(), after.respondent_gaps.copy()
    if list(a.columns) != list(b.columns):
        raise StatsInputError("the two waves must have the same SERVQUAL dimensions")
    a["overall"] = a.mean(axis=1)
    b["overall"] = b.mean(axis=1)
    if paired and not a.index.equals(b.index):
        raise StatsInputError("a paired comparison needs the same respondents (index) in both waves")
    rows = {}
    for name in a.columns:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        if paired:
            res = stats.ttest_rel(y, x)
            df = len(x) - 1
        else:
            res = stats.ttest_ind(y, x, equal_var=False)
            df = float(res.df)
        rows[name] = {
            "gap_before": float(x.mean()),
            "gap_after": float(y.mean()),
            "change": float(y.mean() - x.mean()),
            "t": float(res.statistic),
            "df": float(df),
            "pvalue": float(res.pvalue),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
