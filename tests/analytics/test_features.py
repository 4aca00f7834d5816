"""The feature table on a small hand-made history whose every value was worked out by hand.

As of 2024-07-01 00:00 UTC (2024 is a leap year): the 90-day window starts 2024-04-02, the 30-day
window 2024-06-01 and the 30 days before it 2024-05-02.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron.analytics.errors import InvalidParameterError, MissingColumnError
from patron.analytics.features import (
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    compute_features,
    duckdb_inputs,
    to_pandas,
    to_pyarrow,
)

AS_OF = datetime(2024, 7, 1)
NaN = float("nan")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


@pytest.fixture
def history() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "birth_year": [1980, None, 2000],
            "gender": ["female", None, "male"],
            "income_band": ["middle", None, "high"],
            # customer 3 was created after as_of, with an order imported from before
            "created_at": [ts("2024-01-01"), ts("2024-06-01"), ts("2024-08-01")],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [10, 11, 12, 13, 20],
            "customer_id": [1, 1, 1, 1, 3],
            "ordered_at": [
                ts("2024-03-02 12:00"),
                ts("2024-05-01"),
                ts("2024-06-15"),
                ts("2024-07-01"),  # at as_of: does not count
                ts("2024-05-01"),
            ],
            "total": [20.0, 40.0, 100.0, 500.0, 30.5],
            "status": ["delivered", "paid", "refunded", "delivered", "pending"],
            "channel": ["web", "app", "web", "store", "store"],
        }
    )
    order_lines = pd.DataFrame(
        {
            "order_id": [10, 10, 11, 12, 13, 20],
            "product_id": [1, 2, 1, 3, 4, 2],
            "quantity": [2, 1, 1, 5, 1, 3],
            "line_total": [15.0, 5.0, 40.0, 100.0, 500.0, 30.5],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1, 1, 3, None],
            "type": ["trip.end"] * 8,
            "ts": [
                ts("2024-06-10 08:00"),
                ts("2024-06-10 20:00"),
                ts("2024-06-30 23:59:59"),
                ts("2024-05-20"),
                ts("2024-05-01 12:00"),  # before both windows
                ts("2024-07-01"),  # at as_of
                ts("2024-04-01"),
                ts("2024-06-20"),  # no customer: ignored
            ],
        }
    )
    interactions = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "kind": ["call", "email", "chat"],
            "channel": ["phone", "email", "web"],
            "occurred_at": [ts("2024-06-20"), ts("2024-03-01"), ts("2024-07-02")],
        }
    )
    tickets = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 3],
            "created_at": [
                ts("2024-02-01"),
                ts("2024-06-25"),
                ts("2024-06-28"),
                ts("2024-07-02"),
                ts("2024-05-05"),
            ],
            "resolved_at": [ts("2024-02-03"), ts("2024-07-05"), pd.NaT, pd.NaT, ts("2024-05-06")],
            "satisfaction": [4.0, NaN, 2.0, 1.0, NaN],
        }
    )
    survey_scores = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 3, 3],
            "nps": [9.0, 6.0, 0.0, NaN, 10.0],
            "submitted_at": [
                ts("2024-03-01"),
                ts("2024-06-01"),
                ts("2024-07-15"),
                ts("2024-06-01"),
                ts("2024-01-01"),
            ],
        }
    )
    return {
        "customers": customers,
        "orders": orders,
        "order_lines": order_lines,
        "events": events,
        "interactions": interactions,
        "tickets": tickets,
        "survey_scores": survey_scores,
    }


# worked out by hand from the history above (see the comments in the fixture)
EXPECTED = {
    1: {
        "recency_days": 61.0,  # last counted order 2024-05-01 (the refunded one does not count)
        "frequency": 2,
        "monetary": 60.0,
        "avg_order_value": 30.0,
        "monetary_90d": 40.0,
        "orders_90d": 1,
        "basket_size": 2.0,  # (2 + 1 + 1) items / 2 orders
        "distinct_products": 2,
        "channels_used": 2,
        "return_rate": 1 / 3,  # 1 refunded of 3 orders before as_of
        "tenure_days": 182.0,  # 2024-01-01 to 2024-07-01
        "events_30d": 3,
        "active_days_30d": 2,
        "usage_trend": 0.5,  # (3 - 1) / (3 + 1)
        "days_since_last_event": 1 / 86_400,
        "interactions_90d": 1,
        "tickets_total": 3,
        "tickets_open": 2,  # one resolved after as_of, one never
        "csat_mean": 3.0,  # (4 + 2) / 2
        "nps_last": 6.0,
        "age": 44.0,
        "gender": "female",
        "income_band": "middle",
    },
    2: {
        "recency_days": NaN,
        "frequency": 0,
        "monetary": 0.0,
        "avg_order_value": NaN,
        "monetary_90d": 0.0,
        "orders_90d": 0,
        "basket_size": NaN,
        "distinct_products": 0,
        "channels_used": 0,
        "return_rate": NaN,
        "tenure_days": 30.0,
        "events_30d": 0,
        "active_days_30d": 0,
        "usage_trend": NaN,
        "days_since_last_event": NaN,
        "interactions_90d": 0,
        "tickets_total": 0,
        "tickets_open": 0,
        "csat_mean": NaN,
        "nps_last": NaN,
        "age": NaN,
        "gender": None,
        "income_band": None,
    },
    3: {
        "recency_days": 61.0,
        "frequency": 1,
        "monetary": 30.5,
        "avg_order_value": 30.5,
        "monetary_90d": 30.5,
        "orders_90d": 1,
        "basket_size": 3.0,
        "distinct_products": 1,
        "channels_used": 1,
        "return_rate": 0.0,
        "tenure_days": 61.0,  # from the first order: the record was created later
        "events_30d": 0,
        "active_days_30d": 0,
        "usage_trend": NaN,
        "days_since_last_event": 91.0,  # 2024-04-01
        "interactions_90d": 0,
        "tickets_total": 1,
        "tickets_open": 0,
        "csat_mean": NaN,
        "nps_last": 10.0,  # the later answer is missing
        "age": 24.0,
        "gender": "male",
        "income_band": "high",
    },
}


def features(history: dict, *, as_of: datetime = AS_OF) -> pd.DataFrame:
    frame = to_pandas(compute_features(duckdb_inputs(**history), as_of=as_of))
    return frame.set_index("customer_id")


def assert_row(row: pd.Series, expected: dict) -> None:
    for column, value in expected.items():
        got = row[column]
        if value is None:
            assert pd.isna(got), column
        elif isinstance(value, str):
            assert got == value, column
        elif math.isnan(value):
            assert pd.isna(got), f"{column}: {got}"
        else:
            assert got == pytest.approx(value, rel=1e-12, abs=1e-12), column


def test_every_column_matches_the_hand_computed_values(history):
    frame = features(history)
    assert list(frame.columns) == list(FEATURE_COLUMNS)
    assert list(frame.index) == [1, 2, 3]
    for customer_id, expected in EXPECTED.items():
        assert_row(frame.loc[customer_id], expected)


def test_counts_are_integers_and_the_rest_floats(history):
    frame = features(history)
    for column in NUMERIC_FEATURES:
        kind = frame[column].dtype.kind
        assert kind == (
            "i"
            if column
            in {
                "frequency",
                "orders_90d",
                "events_30d",
                "tickets_total",
                "tickets_open",
                "distinct_products",
                "channels_used",
                "active_days_30d",
                "interactions_90d",
            }
            else "f"
        ), column


def test_only_records_before_as_of_count(history):
    # at 2024-05-01 00:00 the orders of that moment (11 and 20) are not yet there
    frame = features(history, as_of=datetime(2024, 5, 1))
    first = frame.loc[1]
    assert first["frequency"] == 1 and first["monetary"] == 20.0
    assert first["recency_days"] == pytest.approx(59.5)  # 2024-03-02 12:00 to 2024-05-01
    assert first["basket_size"] == 3.0 and first["distinct_products"] == 2
    assert first["tickets_total"] == 1 and first["tickets_open"] == 0 and first["csat_mean"] == 4.0
    assert first["nps_last"] == 9.0
    assert first["events_30d"] == 0 and first["days_since_last_event"] != first["days_since_last_event"]
    third = frame.loc[3]
    assert third["frequency"] == 0 and pd.isna(third["recency_days"])
    assert third["tenure_days"] == 0.0  # neither created nor buying yet
    assert third["events_30d"] == 1 and third["usage_trend"] == 1.0  # (1 - 0) / (1 + 0)
    assert third["age"] == 24.0


def test_a_time_zone_aware_as_of_is_the_same_moment_in_utc(history):
    plus_two = timezone(timedelta(hours=2))
    aware = features(history, as_of=datetime(2024, 7, 1, 2, 0, tzinfo=plus_two))
    pd.testing.assert_frame_equal(aware, features(history))
    utc = features(history, as_of=datetime(2024, 7, 1, tzinfo=UTC))
    pd.testing.assert_frame_equal(utc, features(history))


def test_missing_optional_inputs_give_zero_counts_and_null_measures(history):
    frame = features({"customers": history["customers"]})
    assert list(frame.columns) == list(FEATURE_COLUMNS)
    first = frame.loc[1]
    for column in ("frequency", "monetary", "orders_90d", "events_30d", "interactions_90d", "tickets_total"):
        assert first[column] == 0, column
    for column in ("recency_days", "avg_order_value", "basket_size", "usage_trend", "csat_mean", "nps_last"):
        assert pd.isna(first[column]), column
    assert first["tenure_days"] == 182.0 and first["age"] == 44.0

    # orders without their lines: the order features are there, the basket ones are not
    partial = features({"customers": history["customers"], "orders": history["orders"]})
    assert partial.loc[1, "monetary"] == 60.0 and pd.isna(partial.loc[1, "basket_size"])
    assert partial.loc[1, "distinct_products"] == 0


def test_empty_tables(history):
    empty_customers = history["customers"].iloc[0:0]
    frame = features({**history, "customers": empty_customers})
    assert frame.empty and list(frame.columns) == list(FEATURE_COLUMNS)

    no_activity = {name: table.iloc[0:0] for name, table in history.items() if name != "customers"}
    quiet = features({"customers": history["customers"], **no_activity})
    assert (quiet["frequency"] == 0).all() and quiet["recency_days"].isna().all()
    assert quiet.loc[1, "tenure_days"] == 182.0


def test_all_missing_columns_are_read_as_null(history):
    customers = history["customers"].assign(birth_year=[None, None, None], gender=[None, None, None])
    tickets = history["tickets"].assign(satisfaction=[NaN] * 5)
    orders = history["orders"].assign(total=[NaN] * 5)
    frame = features({**history, "customers": customers, "tickets": tickets, "orders": orders})
    assert frame["age"].isna().all() and frame["gender"].isna().all()
    assert frame["csat_mean"].isna().all() and frame.loc[1, "tickets_total"] == 3
    # orders without a total still count; they add nothing to the money spent
    assert frame.loc[1, "frequency"] == 2 and frame.loc[1, "monetary"] == 0.0


def test_a_missing_column_is_named(history):
    with pytest.raises(MissingColumnError) as caught:
        compute_features(
            duckdb_inputs(**{**history, "orders": history["orders"].drop(columns="ordered_at")}), as_of=AS_OF
        )
    assert caught.value.column == "ordered_at" and "orders" in str(caught.value)
    with pytest.raises(MissingColumnError) as caught:
        compute_features(
            duckdb_inputs(customers=history["customers"].drop(columns="customer_id")), as_of=AS_OF
        )
    assert caught.value.column == "customer_id"
    with pytest.raises(InvalidParameterError):
        compute_features(duckdb_inputs(**history), as_of="2024-07-01")  # type: ignore[arg-type]


def test_arrow_and_parquet_inputs_give_the_same_table(history, tmp_path):
    paths = {}
    for name, frame in history.items():
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), paths[name])
    from_files = to_pyarrow(compute_features(duckdb_inputs(**paths), as_of=AS_OF))
    arrow = {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in history.items()}
    from_arrow = to_pyarrow(compute_features(duckdb_inputs(**arrow), as_of=AS_OF))
    assert from_files.equals(from_arrow)
    assert from_files.column("customer_id").to_pylist() == [1, 2, 3]
    assert np.isclose(from_files.column("return_rate")[0].as_py(), 1 / 3)


def test_synthetic_tables_refuse_impossible_sizes():
    from patron.analytics.synthetic import synthetic_tables

    for kwargs in ({"n_customers": 0}, {"n_customers": 5, "orders_per_customer": -1},
                   {"n_customers": 5, "start": AS_OF, "end": AS_OF}):  # fmt: skip
        with pytest.raises(InvalidParameterError):
            synthetic_tables(**kwargs)
    tables = synthetic_tables(50, first_customer_id=101, seed=2)
    assert tables["customers"].column("customer_id").to_pylist() == list(range(101, 151))
    assert set(tables["orders"].column("customer_id").to_pylist()) <= set(range(101, 151))


def test_time_zone_aware_inputs_are_read_in_utc(history):
    # 2024-01-01 01:00 in Berlin is midnight UTC; 2024-06-30 01:30 in summer time is 06-29 23:30 UTC
    customers = (
        history["customers"]
        .iloc[:1]
        .assign(created_at=pd.to_datetime(["2024-01-01 01:00"]).tz_localize("Europe/Berlin"))
    )
    orders = (
        history["orders"]
        .iloc[:1]
        .assign(ordered_at=pd.to_datetime(["2024-06-30 01:30"]).tz_localize("Europe/Berlin"))
    )
    row = features({"customers": customers, "orders": orders}).loc[1]
    assert row["tenure_days"] == 182.0
    assert row["recency_days"] == pytest.approx(1 + 0.5 / 24)
