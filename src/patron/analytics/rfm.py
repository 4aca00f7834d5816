"""Transactions to the customer-base summary the buy-till-you-die models use.

For each customer the summary holds, as in Fader, Hardie & Lee (2005):

- ``frequency`` (x): number of *repeat* purchases — purchase days after the first;
- ``recency`` (t_x): time from the first purchase to the last one;
- ``T``: time from the first purchase to the end of the calibration period;
- ``monetary_value``: mean spend of the repeat purchase days (0 when x = 0), the z̄ of the
  Gamma-Gamma model.

Purchases on the same calendar day merge into one (their amounts add up); a repeat purchase is
one on a later day. ``time_unit`` only sets the unit in which recency and T are measured.
When the data run past ``calibration_end``, the hold-out columns ``frequency_holdout``,
``monetary_value_holdout`` and ``duration_holdout`` describe the period after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from patron.analytics._validation import numeric_column, parse_dates, require_columns
from patron.analytics.errors import EmptyDataError, InvalidParameterError, InvalidValueError

__all__ = ["TIME_UNITS", "summarize_transactions"]

#: length of each supported time unit in days
TIME_UNITS: dict[str, float] = {"day": 1.0, "week": 7.0}


def _as_timestamp(value: object, like: pd.Series, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} {value!r} is not a date") from exc
    if stamp is pd.NaT:
        raise InvalidParameterError(f"{name} {value!r} is not a date")
    tz = getattr(like.dt, "tz", None)
    if tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz)
    elif tz is None and stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def summarize_transactions(
    transactions: pd.DataFrame,
    *,
    customer: str,
    date: str,
    amount: str | None = None,
    calibration_end: object = None,
    observation_end: object = None,
    time_unit: str = "week",
    date_format: str | None = None,
) -> pd.DataFrame:
    """Summarise a transaction log into frequency, recency, T (and monetary value) per customer.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction.
    customer, date : str
        Columns holding the customer id and the transaction date (date-like or parsable text).
    amount : str, optional
        Column holding the transaction value (>= 0); adds ``monetary_value``.
    calibration_end : date-like, optional
        Last day (inclusive) of the calibration period; default the last transaction day.
        Customers whose first purchase comes after it are not in the summary.
    observation_end : date-like, optional
        Last day (inclusive) of the hold-out period; default the last transaction day. Hold-out
        columns are added when it lies after ``calibration_end``.
    time_unit : {"week", "day"}
        Unit of ``recency``, ``T`` and ``duration_holdout``.
    date_format : str, optional
        ``strptime`` format of text dates (e.g. ``"%Y%m%d"``); inferred when omitted.

    Returns
    -------
    DataFrame
        Indexed by customer id, sorted; columns ``frequency`` (int), ``recency``, ``T`` and, with
        ``amount``, ``monetary_value``; plus ``frequency_holdout``, ``duration_holdout`` (and
        ``monetary_value_holdout``) when there is a hold-out period.

    Raises
    ------
    EmptyDataError
        No transactions, or none on or before ``calibration_end``.
    MissingColumnError
        A named column is absent.
    InvalidValueError
        Missing or unparsable dates, missing customer ids, missing or negative amounts.
    InvalidParameterError
        Unknown ``time_unit`` or a ``calibration_end``/``observation_end`` that is not a date.

    Examples
    --------
    >>> tx = pd.DataFrame({"who": [1, 1, 1, 2], "day": ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"],
    ...                    "eur": [10.0, 5.0, 20.0, 7.0]})
    >>> summarize_transactions(tx, customer="who", date="day", amount="eur", calibration_end="2024-01-29")  # doctest: +NORMALIZE_WHITESPACE
         frequency  recency    T  monetary_value
    who
    1            1      2.0  4.0            20.0
    2            0      0.0  3.0             0.0
    """
    if not isinstance(transactions, pd.DataFrame):
        raise InvalidValueError("transactions must be a DataFrame")
    if time_unit not in TIME_UNITS:
        raise InvalidParameterError(f"time_unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    columns = [customer, date] + ([amount] if amount is not None else [])
    require_columns(transactions, columns, what="transactions table")
    if len(transactions) == 0:
        raise EmptyDataError("the transactions table has no rows")
    if transactions[customer].isna().any():
        raise InvalidValueError(
            f"{int(transactions[customer].isna().sum())} missing customer id(s)", column=customer
        )

    days = parse_dates(transactions[date], date, date_format).dt.normalize()
    frame = pd.DataFrame({"customer": transactions[customer].to_numpy(), "day": days.to_numpy()})
    if amount is not None:
        frame["spend"] = numeric_column(transactions, amount, nonnegative=True)
    else:
        frame["spend"] = 0.0
    unit = pd.Timedelta(days=TIME_UNITS[time_unit])
    cal_end = (
        _as_timestamp(calibration_end, frame["day"], "calibration_end")
        if calibration_end is not None
        else None
    )
    obs_end = (
        _as_timestamp(observation_end, frame["day"], "observation_end")
        if observation_end is not None
        else None
    )
    last_day = frame["day"].max()
    cal_end = last_day if cal_end is None else cal_end
    obs_end = last_day if obs_end is None else obs_end

    # one row per customer and purchase day (same-day purchases merge)
    daily = frame.groupby(["customer", "day"], sort=True, observed=True)["spend"].sum().reset_index()
    calibration = daily[daily["day"] <= cal_end]
    if calibration.empty:
        raise EmptyDataError(f"no transactions on or before the calibration end {cal_end.date()}")
    grouped = calibration.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    n_days = grouped.size()
    summary = pd.DataFrame(index=first.index)
    summary.index.name = customer
    summary["frequency"] = (n_days - 1).astype(int)
    summary["recency"] = (last - first) / unit
    summary["T"] = (cal_end - first) / unit
    if amount is not None:
        first_spend = grouped["spend"].first()
        repeat_spend = grouped["spend"].sum() - first_spend
        with np.errstate(divide="ignore", invalid="ignore"):
            summary["monetary_value"] = np.where(
                summary["frequency"] > 0, repeat_spend / summary["frequency"].clip(lower=1), 0.0
            )

    if obs_end > cal_end:
        holdout = daily[(daily["day"] > cal_end) & (daily["day"] <= obs_end)]
        holdout = holdout[holdout["customer"].isin(summary.index)]
        by_customer = holdout.groupby("customer")
        counts = by_customer.size().reindex(summary.index, fill_value=0)
        summary["frequency_holdout"] = counts.astype(int).to_numpy()
        if amount is not None:
            means = by_customer["spend"].mean().reindex(summary.index, fill_value=0.0)
            summary["monetary_value_holdout"] = means.to_numpy()
        summary["duration_holdout"] = (obs_end - cal_end) / unit
    return summary
