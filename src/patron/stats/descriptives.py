"""Descriptive statistics per item and construct, and frequency tables (SPSS ``DESCRIPTIVES``/``FREQUENCIES``)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from patron.stats._validation import StatsInputError, as_frame, numeric_columns

__all__ = ["construct_scores", "describe", "frequencies"]


def describe(data: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Descriptive statistics per column, as in SPSS ``DESCRIPTIVES``/``FREQUENCIES``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    columns : sequence of str, optional
        Columns to describe (default: all). Every one must be numeric and complete.

    Returns
    -------
    pandas.DataFrame
        One row per column with ``n``, ``mean``, ``sd`` (N-1), ``variance`` (N-1), ``min``, ``max``,
        ``range``, ``median``, ``mode`` (smallest mode when several), ``skew`` and ``kurtosis``
        (bias-corrected sample skewness G1 and excess kurtosis G2, the values SPSS and Excel print).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [2, 2, 3, 3, 5]})
    >>> describe(df).loc["q1", ["n", "mean", "variance", "range"]].tolist()
    [5.0, 3.0, 2.5, 4.0]
    """
    frame = numeric_columns(data, columns, min_rows=2, allow_constant=True)
    rows = {}
    for column in frame.columns:
        values = frame[column]
        modes = values.mode()
        rows[column] = {
            "n": float(values.count()),
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)),
            "variance": float(values.var(ddof=1)),
            "min": float(values.min()),
            "max": float(values.max()),
            "range": float(values.max() - values.min()),
            "median": float(values.median()),
            "mode": float(modes.iloc[0]),
            "skew": float(values.skew()) if len(values) >= 3 else np.nan,
            "kurtosis": float(values.kurt()) if len(values) >= 4 else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def frequencies(data: pd.DataFrame, column: str, *, dropna: bool = True) -> pd.DataFrame:
    """Frequency table of one column with percent and cumulative percent (SPSS ``FREQUENCIES``).

    Parameters
    ----------
    data : pandas.DataFrame
    column : str
        Any column (numeric or categorical). Categories keep their order when the column is an
        ordered categorical; otherwise values are sorted.
    dropna : bool, default True
        Leave missing values out of the table and of the percentages.

    Returns
    -------
    pandas.DataFrame
        Indexed by value, columns ``count``, ``percent`` and ``cumulative_percent`` (0-100).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"gender": ["Male"] * 59 + ["Female"] * 115})
    >>> frequencies(df, "gender").round(1)["percent"].tolist()
    [66.1, 33.9]
    """
    data = as_frame(data)
    if column not in data.columns:
        raise StatsInputError(f"column {column!r} is not in the data", column=column)
    series = data[column]
    counts = series.value_counts(dropna=dropna, sort=False)
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        counts = counts.reindex([c for c in series.cat.categories if c in counts.index])
    else:
        with contextlib.suppress(TypeError):  # mixed types: keep the order of appearance
            counts = counts.sort_index()
    total = counts.sum()
    if total == 0:
        raise StatsInputError(f"column {column!r} has no values", column=column)
    table = pd.DataFrame({"count": counts.astype("int64")})
    table["percent"] = 100.0 * table["count"] / total
    table["cumulative_percent"] = table["percent"].cumsum()
    table.index.name = column
    return table


def construct_scores(
    data: pd.DataFrame, constructs: Mapping[str, Sequence[str]], *, method: str = "mean"
) -> pd.DataFrame:
    """Score each construct per respondent as the mean (or sum) of its items.

    Parameters
    ----------
    data : pandas.DataFrame
    constructs : mapping of str to sequence of str
        Construct name -> item columns, e.g. ``{"loyalty": ["l1", "l2", "l3"]}``.
    method : {"mean", "sum"}

    Returns
    -------
    pandas.DataFrame
        One column per construct, same index as ``data``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a1": [1, 5], "a2": [3, 5]})
    >>> construct_scores(df, {"a": ["a1", "a2"]})["a"].tolist()
    [2.0, 5.0]
    """
    if method not in ("mean", "sum"):
        raise StatsInputError(f"method must be 'mean' or 'sum', got {method!r}")
    if not constructs:
        raise StatsInputError("no constructs given")
    out = {}
    for name, items in constructs.items():
        frame = numeric_columns(data, list(items), min_rows=1, allow_constant=True)
        out[name] = frame.mean(axis=1) if method == "mean" else frame.sum(axis=1)
    return pd.DataFrame(out, index=data.index)
