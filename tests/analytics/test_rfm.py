"""Transactions -> (frequency, recency, T, monetary value) summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.analytics.errors import (
    EmptyDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)
from patron.analytics.rfm import summarize_transactions


def test_cdnow_transactions_give_the_published_summary(cdnow_transactions, cdnow_summary):
    # The 39-week calibration period of Fader, Hardie & Lee (2005) ends 1997-09-30.
    summary = summarize_transactions(
        cdnow_transactions,
        customer="customer_id",
        date="date",
        amount="amount",
        calibration_end="1997-09-30",
        date_format="%Y%m%d",
    )
    assert len(summary) == 2357
    expected = cdnow_summary.loc[summary.index]
    np.testing.assert_array_equal(summary["frequency"], expected["frequency"])
    # the published file is rounded to 2 decimals
    np.testing.assert_allclose(summary["recency"], expected["recency"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["T"], expected["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["monetary_value"], expected["monetary_value"], atol=0.005 + 1e-9)
    assert (summary["frequency"] > 0).sum() == 946  # the repeat buyers of the Gamma-Gamma fit
    # the rest of the data (to 1998-06-30) is the 39-week hold-out
    assert summary["duration_holdout"].iloc[0] == pytest.approx(39.0)
    assert summary["frequency_holdout"].sum() > 0


def test_same_day_purchases_merge_and_time_unit_only_scales():
    tx = pd.DataFrame(
        {
            "who": ["a", "a", "a", "a", "b"],
            "at": ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-08", "2024-01-15", "2024-01-10"],
            "eur": [10.0, 5.0, 20.0, 30.0, 7.0],
        }
    )
    weeks = summarize_transactions(tx, customer="who", date="at", amount="eur", calibration_end="2024-01-22")
    days = summarize_transactions(
        tx, customer="who", date="at", amount="eur", calibration_end="2024-01-22", time_unit="day"
    )
    assert weeks.loc["a", "frequency"] == 2  # two repeat days after the (merged) first day
    assert weeks.loc["a", "monetary_value"] == pytest.approx(25.0)  # mean of 20 and 30
    assert weeks.loc["a", "recency"] == pytest.approx(2.0)
    assert days.loc["a", "recency"] == pytest.approx(14.0)
    assert days.loc["a", "T"] == pytest.approx(21.0)
    assert days.loc["b", "T"] == pytest.approx(12.0)
    pd.testing.assert_series_equal(weeks["frequency"], days["frequency"])
    assert "frequency_holdout" not in weeks.columns


def test_calibration_end_excludes_later_customers_and_fills_holdout():
    tx = pd.DataFrame(
        {
            "c": [1, 1, 1, 2, 3],
            "d": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-05", "2024-01-20", "2024-03-01"]),
        }
    )
    summary = summarize_transactions(
        tx, customer="c", date="d", calibration_end="2024-02-15", time_unit="day"
    )
    assert list(summary.index) == [1, 2]  # customer 3 arrives after the calibration period
    assert "monetary_value" not in summary.columns
    assert summary.loc[1, "frequency_holdout"] == 1
    assert summary.loc[2, "frequency_holdout"] == 0
    assert summary.loc[1, "duration_holdout"] == pytest.approx(19.0)


def test_timezone_aware_dates():
    tx = pd.DataFrame({"c": [1, 1], "d": pd.to_datetime(["2024-01-01T10:00Z", "2024-01-08T10:00Z"])})
    summary = summarize_transactions(
        tx, customer="c", date="d", calibration_end="2024-01-15", time_unit="day"
    )
    assert summary.loc[1, "T"] == pytest.approx(14.0)


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "column"),
    [
        (pd.DataFrame({"c": [], "d": [], "v": []}), {}, EmptyDataError, None),
        (pd.DataFrame({"c": [1], "d": ["2024-13-45"], "v": [1.0]}), {}, InvalidValueError, "d"),
        (
            pd.DataFrame({"c": [1, 2], "d": ["2024-01-01", "yesterday"], "v": [1.0, 2.0]}),
            {},
            InvalidValueError,
            "d",
        ),
        (pd.DataFrame({"c": [1], "d": [None], "v": [1.0]}), {}, InvalidValueError, "d"),
        (
            pd.DataFrame({"c": [1, 1], "d": ["2024-01-01", "2024-01-02"], "v": [1.0, -5.0]}),
            {},
            InvalidValueError,
            "v",
        ),
        (pd.DataFrame({"c": [1], "d": ["2024-01-01"], "v": [np.nan]}), {}, InvalidValueError, "v"),
        (pd.DataFrame({"c": [1], "d": ["2024-01-01"], "v": ["ten"]}), {}, InvalidValueError, "v"),
        (pd.DataFrame({"c": [None], "d": ["2024-01-01"], "v": [1.0]}), {}, InvalidValueError, "c"),
        (pd.DataFrame({"c": [1], "d": ["2024-01-01"]}), {}, MissingColumnError, "v"),
        (
            pd.DataFrame({"c": [1], "d": ["2024-03-01"], "v": [1.0]}),
            {"calibration_end": "2024-01-01"},
            EmptyDataError,
            None,
        ),
        (
            pd.DataFrame({"c": [1], "d": ["2024-03-01"], "v": [1.0]}),
            {"calibration_end": "soon"},
            InvalidParameterError,
            None,
        ),
        (
            pd.DataFrame({"c": [1], "d": ["2024-03-01"], "v": [1.0]}),
            {"time_unit": "month"},
            InvalidParameterError,
            None,
        ),
    ],
)
def test_bad_transactions_are_rejected(frame, kwargs, error, column):
    with pytest.raises(error) as info:
        summarize_transactions(frame, customer="c", date="d", amount="v", **kwargs)
    assert info.value.column == column
