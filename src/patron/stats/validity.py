"""Content validity: Lawshe's (1975) content validity ratio (CVR) per item and the content validity index."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from patron.stats._validation import StatsInputError, as_frame

__all__ = ["ContentValidity", "content_validity", "lawshe_critical_value"]

# Lawshe (1975), Table 1: minimum CVR for a one-tailed test at p = .05, by number of panellists.
LAWSHE_CRITICAL_VALUES: dict[int, float] = {
    5: 0.99,
    6: 0.99,
    7: 0.99,
    8: 0.75,
    9: 0.78,
    10: 0.62,
    11: 0.59,
    12: 0.56,
    13: 0.54,
    14: 0.51,
    15: 0.49,
    20: 0.42,
    25: 0.37,
    30: 0.33,
    35: 0.31,
    40: 0.29,
}


def lawshe_critical_value(n_experts: int, *, method: str = "lawshe", alpha: float = 0.05) -> float:
    """Minimum CVR for an item to be retained with ``n_experts`` panellists.

    Parameters
    ----------
    n_experts : int
        Number of panellists.
    method : {"lawshe", "exact"}
        ``"lawshe"`` reads Lawshe's (1975) published table (5-40 panellists; a size between two rows takes
        the larger, stricter value of the smaller panel). ``"exact"`` uses the one-tailed binomial test of
        Ayre & Scally (2014): the smallest CVR whose count of "essential" votes has
        ``P(X >= n_e) <= alpha`` under ``p = 0.5``.
    alpha : float
        One-tailed level for ``"exact"``.

    Returns
    -------
    float

    Examples
    --------
    >>> lawshe_critical_value(10)
    0.62
    >>> lawshe_critical_value(10, method="exact")
    0.8
    """
    n = int(n_experts)
    if n != n_experts or n < 1:
        raise StatsInputError(f"n_experts must be a positive integer, got {n_experts!r}")
    if method == "lawshe":
        if n < 5 or n > 40:
            raise StatsInputError(f"Lawshe's table covers 5 to 40 panellists, got {n}; use method='exact'")
        eligible = [k for k in LAWSHE_CRITICAL_VALUES if k <= n]
        return LAWSHE_CRITICAL_VALUES[max(eligible)]
    if method == "exact":
        for n_essential in range(n + 1):
            if stats.binom.sf(n_essential - 1, n, 0.5) <= alpha:
                return (n_essential - n / 2.0) / (n / 2.0)
        raise StatsInputError(f"no CVR is significant at alpha={alpha} with {n} panellists")
    raise StatsInputError(f"method must be 'lawshe' or 'exact', got {method!r}")


@dataclass(frozen=True)
class ContentValidity:
    """Lawshe's content validity.

    Attributes
    ----------
    items : pandas.DataFrame
        Per item: ``n_essential``, ``n_experts``, ``cvr`` = (n_e - N/2)/(N/2), ``critical`` and
        ``retained`` (``cvr >= critical``).
    cvi : float
        Content validity index: the mean CVR of the retained items (NaN only if none is retained,
        which is then also listed in ``warnings``).
    """

    items: pd.DataFrame
    cvi: float
    critical: float
    n_experts: int
    warnings: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        return self.items


def content_validity(
    data: pd.DataFrame,
    items: list[str] | None = None,
    *,
    essential: object = 1,
    method: str = "lawshe",
) -> ContentValidity:
    """Lawshe's content validity ratio per item and the content validity index (CVI).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per expert, one column per item; a cell equal to ``essential`` counts as an
        "essential" vote (any other non-missing value does not).
    items : list of str, optional
        Item columns (default: all).
    essential : object, default 1
        The rating that means "essential" (e.g. 3 on Lawshe's 3-point scale, or ``"essential"``).
    method : {"lawshe", "exact"}
        Source of the critical value, see :func:`lawshe_critical_value`.

    Returns
    -------
    ContentValidity

    Examples
    --------
    >>> import pandas as pd
    >>> votes = pd.DataFrame({"q1": [1] * 9 + [0], "q2": [1] * 5 + [0] * 5})
    >>> res = content_validity(votes)
    >>> res.items["cvr"].tolist(), res.items["retained"].tolist()
    ([0.8, 0.0], [True, False])
    """
    data = as_frame(data)
    items = list(data.columns) if items is None else list(items)
    if not items:
        raise StatsInputError("no items given")
    rows = {}
    for item in items:
        if item not in data.columns:
            raise StatsInputError(f"column {item!r} is not in the data", column=item)
        votes = data[item]
        if votes.isna().any():
            raise StatsInputError(
                f"column {item!r} has missing votes; every expert must rate every item", column=item
            )
        rows[item] = int((votes == essential).sum())
    n = len(data)
    critical = lawshe_critical_value(n, method=method)
    table = pd.DataFrame({"n_essential": pd.Series(rows)})
    table["n_experts"] = n
    table["cvr"] = (table["n_essential"] - n / 2.0) / (n / 2.0)
    table["critical"] = critical
    table["retained"] = table["cvr"] >= critical - 1e-12
    retained = table.loc[table["retained"], "cvr"]
    warnings: tuple[str, ...] = ()
    if retained.empty:
        cvi = float("nan")
        warnings = ("no item reaches the critical CVR; the CVI is undefined",)
    else:
        cvi = float(np.mean(retained))
    return ContentValidity(items=table, cvi=cvi, critical=critical, n_experts=n, warnings=warnings)
