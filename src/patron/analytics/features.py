"""The customer feature table, written once with Ibis: runs on DuckDB, and unchanged on Spark.

:func:`compute_features` turns a CRM's raw tables into one row per customer with recency,
frequency and monetary value, order and basket statistics, device usage, engagement, service and
survey scores and demographics. The expression is plain Ibis (filters, aggregations and left
joins; no window functions and no user-defined functions), so any Ibis backend runs it: DuckDB by
default (:func:`duckdb_inputs`), Apache Spark through ``ibis.pyspark.connect(spark_session)``.

Inputs
------
The tables of a :class:`FeatureInputs`, all on one Ibis backend. Timestamps are UTC; naive
timestamps are read as UTC. Extra columns are ignored.

``customers`` (required)
    ``customer_id`` (integer), ``birth_year`` (integer, may be null), ``gender`` (string, may be
    null), ``income_band`` (string, may be null), ``created_at`` (timestamp).
    Every customer in this table gets a row, even one with no activity at all.
``orders``
    ``order_id`` (integer), ``customer_id`` (integer), ``ordered_at`` (timestamp), ``total``
    (number, order value after discounts), ``status`` (one of pending, paid, shipped, delivered,
    cancelled, refunded), ``channel`` (string).
``order_lines``
    ``order_id`` (integer), ``product_id`` (integer, may be null), ``quantity`` (integer),
    ``line_total`` (number).
``events``
    Device events: ``customer_id`` (integer), ``type`` (string), ``ts`` (timestamp).
``interactions``
    ``customer_id`` (integer), ``kind`` (string), ``channel`` (string), ``occurred_at`` (timestamp).
``tickets``
    ``customer_id`` (integer), ``created_at`` (timestamp), ``resolved_at`` (timestamp, null while
    the ticket is open), ``satisfaction`` (CSAT rating, number, may be null).
``survey_scores``
    ``customer_id`` (integer), ``nps`` (0-10 answer to the recommendation question, number),
    ``submitted_at`` (timestamp).

Every input but ``customers`` may be ``None``: its features are then 0 (counts) or null
(means, recencies). Only rows dated strictly before ``as_of`` count.

Output
------
One row per customer, ``customer_id`` first and then :data:`FEATURE_COLUMNS` in this order
("counted orders" are orders before ``as_of`` whose status is in :data:`SPENDING_STATUSES`):

=====================  =========  ==========================================================
column                 unit       meaning
=====================  =========  ==========================================================
recency_days           days       time from the last counted order to ``as_of``; null: none
frequency              orders     number of counted orders
monetary               currency   sum of the counted orders' totals
avg_order_value        currency   monetary / frequency; null without orders
monetary_90d           currency   spend of counted orders in the 90 days before ``as_of``
orders_90d             orders     counted orders in the 90 days before ``as_of``
basket_size            items      mean number of items (sum of quantities) per counted order
distinct_products      products   distinct products in counted orders
channels_used          channels   distinct sales channels of counted orders
return_rate            share      cancelled or refunded orders / all orders; null: none
tenure_days            days       time from the first sign of the customer (created_at or
                                  first order, whichever is earlier) to ``as_of``; >= 0
events_30d             events     device events in the 30 days before ``as_of``
active_days_30d        days       distinct UTC calendar days with an event in those 30 days
usage_trend            ratio      (events_30d - e_prev) / (events_30d + e_prev), e_prev the
                                  events of the 30 days before those; in [-1, 1], null: none
days_since_last_event  days       time from the last device event to ``as_of``; null: none
interactions_90d       contacts   interactions in the 90 days before ``as_of``
tickets_total          tickets    tickets created before ``as_of``
tickets_open           tickets    of those, the ones not resolved by ``as_of``
csat_mean              rating     mean satisfaction of the rated tickets; null: none rated
nps_last               0-10       the customer's last NPS answer; null: never answered
age                    years      calendar year of ``as_of`` minus birth_year; null: unknown
gender                 text       as given (categorical)
income_band            text       as given (categorical)
=====================  =========  ==========================================================

Counts are 64-bit integers, the other numeric columns 64-bit floats. Durations are fractional
days measured on whole seconds. Rows are not in any particular order (sort by ``customer_id``).

Example
-------
>>> import pandas as pd
>>> from datetime import datetime
>>> customers = pd.DataFrame({"customer_id": [1, 2], "birth_year": [1980, None],
...     "gender": ["f", None], "income_band": ["mid", None],
...     "created_at": pd.to_datetime(["2024-01-01", "2024-06-01"])})
>>> orders = pd.DataFrame({"order_id": [10, 11], "customer_id": [1, 1],
...     "ordered_at": pd.to_datetime(["2024-03-01", "2024-05-01"]), "total": [20.0, 40.0],
...     "status": ["delivered", "paid"], "channel": ["web", "app"]})
>>> table = compute_features(duckdb_inputs(customers=customers, orders=orders),
...     as_of=datetime(2024, 7, 1))
>>> frame = table.order_by("customer_id").to_pandas()
>>> print(frame[["customer_id", "frequency", "monetary", "recency_days", "age"]].to_string(index=False))
 customer_id  frequency  monetary  recency_days  age
           1          2      60.0          61.0 44.0
           2          0       0.0           NaN  NaN
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from patron.analytics.errors import InvalidParameterError, MissingColumnError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_COLUMNS",
    "INPUT_COLUMNS",
    "NUMERIC_FEATURES",
    "SPENDING_STATUSES",
    "FeatureInputs",
    "compute_features",
    "duckdb_inputs",
    "to_pandas",
    "to_pyarrow",
]

#: order statuses whose orders count as purchases (cancelled and refunded ones do not)
SPENDING_STATUSES: tuple[str, ...] = ("pending", "paid", "shipped", "delivered")
#: statuses that undo an order; they count towards ``return_rate``
RETURN_STATUSES: tuple[str, ...] = ("cancelled", "refunded")

#: the columns each input needs (extra columns are ignored)
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "birth_year", "gender", "income_band", "created_at"),
    "orders": ("order_id", "customer_id", "ordered_at", "total", "status", "channel"),
    "order_lines": ("order_id", "product_id", "quantity", "line_total"),
    "events": ("customer_id", "type", "ts"),
    "interactions": ("customer_id", "kind", "channel", "occurred_at"),
    "tickets": ("customer_id", "created_at", "resolved_at", "satisfaction"),
    "survey_scores": ("customer_id", "nps", "submitted_at"),
}

#: the Arrow type an all-null input column is given (pandas cannot tell the type of an all-None column)
_NULL_COLUMN_TYPES: dict[str, str] = {
    "customer_id": "int64",
    "order_id": "int64",
    "product_id": "int64",
    "birth_year": "int64",
    "quantity": "int64",
    "total": "float64",
    "line_total": "float64",
    "satisfaction": "float64",
    "nps": "float64",
    "created_at": "timestamp[us]",
    "ordered_at": "timestamp[us]",
    "ts": "timestamp[us]",
    "occurred_at": "timestamp[us]",
    "resolved_at": "timestamp[us]",
    "submitted_at": "timestamp[us]",
}

#: numeric feature columns, in output order; counts are int64, the rest float64
NUMERIC_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "monetary_90d",
    "orders_90d",
    "basket_size",
    "distinct_products",
    "channels_used",
    "return_rate",
    "tenure_days",
    "events_30d",
    "active_days_30d",
    "usage_trend",
    "days_since_last_event",
    "interactions_90d",
    "tickets_total",
    "tickets_open",
    "csat_mean",
    "nps_last",
    "age",
)
#: the numeric features read from the device event store
USAGE_FEATURES: tuple[str, ...] = ("events_30d", "active_days_30d", "usage_trend", "days_since_last_event")
#: categorical (text) feature columns
CATEGORICAL_FEATURES: tuple[str, ...] = ("gender", "income_band")
#: every feature column of :func:`compute_features`, in output order (after ``customer_id``)
FEATURE_COLUMNS: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

COUNT_FEATURES: frozenset[str] = frozenset(
    {
        "frequency",
        "orders_90d",
        "distinct_products",
        "channels_used",
        "events_30d",
        "active_days_30d",
        "interactions_90d",
        "tickets_total",
        "tickets_open",
    }
)

_DAY = 86_400.0


@dataclass(frozen=True)
class FeatureInputs:
    """The raw tables :func:`compute_features` reads, all Ibis tables on one backend.

    See the module docstring for the columns of each; every table but ``customers`` may be None.
    """

    customers: ir.Table
    orders: ir.Table | None = None
    order_lines: ir.Table | None = None
    events: ir.Table | None = None
    interactions: ir.Table | None = None
    tickets: ir.Table | None = None
    survey_scores: ir.Table | None = None


def _check_columns(inputs: FeatureInputs) -> None:
    if inputs.customers is None:
        raise MissingColumnError("the customers table is required", column="customer_id")
    for item in fields(inputs):
        table = getattr(inputs, item.name)
        if table is None:
            continue
        missing = [name for name in INPUT_COLUMNS[item.name] if name not in table.columns]
        if missing:
            raise MissingColumnError(
                f"the {item.name} table lacks the column(s) {', '.join(missing)}", column=missing[0]
            )


def _naive_utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise InvalidParameterError(f"as_of must be a datetime, got {moment!r}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _ts(column: ir.Value) -> ir.TimestampValue:
    """A timestamp column as a naive UTC timestamp (aware ones are converted to UTC first)."""
    if column.type().is_timestamp() and column.type().timezone is not None:
        return column.cast(dt.Timestamp(timezone="UTC")).cast(dt.timestamp)
    return column.cast(dt.timestamp)


def _seconds(column: ir.TimestampValue) -> ir.IntegerValue:
    return column.epoch_seconds().cast(dt.int64)


def _number(column: ir.Value) -> ir.FloatingValue:
    """A numeric column as float64 with NaN read as null (pandas writes missing floats as NaN)."""
    value = column.cast(dt.float64)
    return ibis.ifelse(value.isnan(), ibis.null(dt.float64), value)


def _days_before(as_of_seconds: int, seconds: ir.IntegerValue) -> ir.FloatingValue:
    return (ibis.literal(as_of_seconds, dt.int64) - seconds).cast(dt.float64) / _DAY


def compute_features(tables: FeatureInputs, *, as_of: datetime) -> ir.Table:
    """Build the one-row-per-customer feature table as an Ibis expression.

    Parameters
    ----------
    tables : FeatureInputs
        The raw tables, on one Ibis backend (DuckDB, PySpark, ...); see the module docstring.
    as_of : datetime
        The moment the features describe; only rows dated strictly before it count. A naive
        datetime is read as UTC.

    Returns
    -------
    ibis.Table
        Unexecuted expression with ``customer_id`` and :data:`FEATURE_COLUMNS`; run it with
        :func:`to_pandas`, :func:`to_pyarrow` or the backend's own methods. An empty customers
        table gives an empty result with the same columns.

    Raises
    ------
    MissingColumnError
        An input lacks a column it needs.
    InvalidParameterError
        ``as_of`` is not a datetime.

    Examples
    --------
    >>> import pandas as pd
    >>> customers = pd.DataFrame({"customer_id": [7], "birth_year": [1990], "gender": ["m"],
    ...     "income_band": ["high"], "created_at": pd.to_datetime(["2024-01-01"])})
    >>> table = compute_features(duckdb_inputs(customers=customers), as_of=datetime(2024, 1, 11))
    >>> row = table.to_pandas().iloc[0]
    >>> int(row["frequency"]), float(row["tenure_days"]), int(row["age"])
    (0, 10.0, 34)
    """
    _check_columns(tables)
    as_of = _naive_utc(as_of)
    now = ibis.literal(as_of, dt.timestamp)
    now_s = int(as_of.replace(tzinfo=UTC).timestamp())

    def since(days: int) -> ir.Scalar:
        return ibis.literal(as_of - timedelta(days=days), dt.timestamp)

    customers = tables.customers.select(
        customer_id=tables.customers.customer_id.cast(dt.int64),
        birth_year=tables.customers.birth_year.cast(dt.int64),
        gender=tables.customers.gender.cast(dt.string),
        income_band=tables.customers.income_band.cast(dt.string),
        created_s=_seconds(_ts(tables.customers.created_at)),
    )
    parts: list[ir.Table] = []

    if tables.orders is not None:
        raw = tables.orders
        orders = raw.select(
            order_id=raw.order_id.cast(dt.int64),
            customer_id=raw.customer_id.cast(dt.int64),
            at=_ts(raw.ordered_at),
            total=_number(raw.total),
            status=raw.status.cast(dt.string),
            channel=raw.channel.cast(dt.string),
        ).filter(lambda t: t.at < now)
        counted_flag = orders.status.isin(SPENDING_STATUSES)
        recent_flag = counted_flag & (orders.at >= since(90))
        order_agg = orders.group_by("customer_id").aggregate(
            frequency=counted_flag.cast(dt.int64).sum(),
            monetary=orders.total.sum(where=counted_flag),
            last_order_s=_seconds(orders.at).max(where=counted_flag),
            first_order_s=_seconds(orders.at).min(),
            orders_90d=recent_flag.cast(dt.int64).sum(),
            monetary_90d=orders.total.sum(where=recent_flag),
            returned=orders.status.isin(RETURN_STATUSES).cast(dt.int64).sum(),
            all_orders=orders.count(),
        )
        parts.append(order_agg)
        # distinct counts as a group-by of the pairs, then a count: DuckDB's COUNT(DISTINCT) per group
        # is many times slower on tens of millions of rows
        channels = orders.filter(counted_flag).group_by(["customer_id", "channel"]).aggregate()
        parts.append(channels.group_by("customer_id").aggregate(channels_used=channels.channel.count()))

        if tables.order_lines is not None:
            lines = tables.order_lines.select(
                order_id=tables.order_lines.order_id.cast(dt.int64),
                product_id=tables.order_lines.product_id.cast(dt.int64),
                quantity=tables.order_lines.quantity.cast(dt.int64),
            )
            counted = orders.filter(counted_flag).select("order_id", "customer_id")
            joined = lines.join(counted, "order_id")
            per_product = joined.group_by(["customer_id", "product_id"]).aggregate(
                items=joined.quantity.sum()
            )
            parts.append(
                per_product.group_by("customer_id").aggregate(
                    items=per_product["items"].sum(), distinct_products=per_product.product_id.count()
                )
            )

    if tables.events is not None:
        raw = tables.events
        events = raw.select(customer_id=raw.customer_id.cast(dt.int64), at=_ts(raw.ts)).filter(
            lambda t: t.customer_id.notnull() & (t.at < now)
        )
        last_30 = events.at >= since(30)
        prev_30 = (events.at >= since(60)) & ~last_30
        parts.append(
            events.group_by("customer_id").aggregate(
                events_30d=last_30.cast(dt.int64).sum(),
                events_prev_30d=prev_30.cast(dt.int64).sum(),
                last_event_s=_seconds(events.at).max(),
            )
        )
        days = events.filter(last_30).select("customer_id", day=events.at.date()).distinct()
        parts.append(days.group_by("customer_id").aggregate(active_days_30d=days.count()))

    if tables.interactions is not None:
        raw = tables.interactions
        contacts = raw.select(customer_id=raw.customer_id.cast(dt.int64), at=_ts(raw.occurred_at))
        contacts = contacts.filter((contacts.at < now) & (contacts.at >= since(90)))
        parts.append(contacts.group_by("customer_id").aggregate(interactions_90d=contacts.count()))

    if tables.tickets is not None:
        raw = tables.tickets
        tickets = raw.select(
            customer_id=raw.customer_id.cast(dt.int64),
            at=_ts(raw.created_at),
            resolved=_ts(raw.resolved_at),
            satisfaction=_number(raw.satisfaction),
        ).filter(lambda t: t.at < now)
        still_open = tickets.resolved.isnull() | (tickets.resolved >= now)
        parts.append(
            tickets.group_by("customer_id").aggregate(
                tickets_total=tickets.count(),
                tickets_open=still_open.cast(dt.int64).sum(),
                csat_mean=tickets.satisfaction.mean(),
            )
        )

    if tables.survey_scores is not None:
        raw = tables.survey_scores
        scores = raw.select(
            customer_id=raw.customer_id.cast(dt.int64), at=_ts(raw.submitted_at), nps=_number(raw.nps)
        ).filter(lambda t: (t.at < now) & t.nps.notnull())
        parts.append(
            scores.group_by("customer_id").aggregate(nps_last=scores.nps.argmax(_seconds(scores.at)))
        )

    joined = customers
    for part in parts:
        joined = joined.left_join(part, "customer_id").drop("customer_id_right")
    return joined.select(**_feature_columns(joined, now_s=now_s, as_of_year=as_of.year))


def _feature_columns(t: ir.Table, *, now_s: int, as_of_year: int) -> dict[str, ir.Value]:
    """The output columns over the joined table; absent inputs give 0 or null."""

    def col(name: str, type_: dt.DataType) -> ir.Value:
        return t[name] if name in t.columns else ibis.null(type_)

    def count(name: str) -> ir.IntegerValue:
        return col(name, dt.int64).cast(dt.int64).fill_null(0)

    def amount(name: str) -> ir.FloatingValue:
        return col(name, dt.float64).cast(dt.float64).fill_null(0.0)

    def days_since(name: str) -> ir.FloatingValue:
        return _days_before(now_s, col(name, dt.int64).cast(dt.int64))

    frequency = count("frequency")
    monetary = amount("monetary")
    events_30d = count("events_30d")
    events_prev = count("events_prev_30d")
    all_orders = count("all_orders")
    started_s = ibis.least(t.created_s, col("first_order_s", dt.int64).cast(dt.int64))
    tenure = _days_before(now_s, started_s)
    per_order = frequency.cast(dt.float64).nullif(0.0)
    usage_total = (events_30d + events_prev).cast(dt.float64).nullif(0.0)
    return {
        "customer_id": t.customer_id,
        "recency_days": days_since("last_order_s"),
        "frequency": frequency,
        "monetary": monetary,
        "avg_order_value": monetary / per_order,
        "monetary_90d": amount("monetary_90d"),
        "orders_90d": count("orders_90d"),
        # an order without lines has 0 items; without the order_lines input the basket is unknown
        "basket_size": (
            t["items"].cast(dt.float64).fill_null(0.0) if "items" in t.columns else ibis.null(dt.float64)
        )
        / per_order,
        "distinct_products": count("distinct_products"),
        "channels_used": count("channels_used"),
        "return_rate": count("returned").cast(dt.float64) / all_orders.cast(dt.float64).nullif(0.0),
        "tenure_days": ibis.greatest(tenure, ibis.literal(0.0)).fill_null(0.0),
        "events_30d": events_30d,
        "active_days_30d": count("active_days_30d"),
        "usage_trend": (events_30d - events_prev).cast(dt.float64) / usage_total,
        "days_since_last_event": days_since("last_event_s"),
        "interactions_90d": count("interactions_90d"),
        "tickets_total": count("tickets_total"),
        "tickets_open": count("tickets_open"),
        "csat_mean": col("csat_mean", dt.float64).cast(dt.float64),
        "nps_last": col("nps_last", dt.float64).cast(dt.float64),
        "age": (ibis.literal(as_of_year, dt.int64) - t.birth_year).cast(dt.float64),
        "gender": t.gender,
        "income_band": t.income_band,
    }


# --- running it ------------------------------------------------------------------------------------


def to_pandas(table: ir.Table) -> pd.DataFrame:
    """Execute the feature expression and return a pandas DataFrame sorted by ``customer_id``."""
    return table.order_by("customer_id").to_pandas().reset_index(drop=True)


def to_pyarrow(table: ir.Table) -> pa.Table:
    """Execute the feature expression and return a pyarrow Table sorted by ``customer_id``."""
    return table.order_by("customer_id").to_pyarrow()


Source = Any  # a pandas DataFrame, a pyarrow Table, a Parquet path (str or Path) or an Ibis table


def duckdb_inputs(
    con: Any = None,
    *,
    customers: Source,
    orders: Source = None,
    order_lines: Source = None,
    events: Source = None,
    interactions: Source = None,
    tickets: Source = None,
    survey_scores: Source = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> FeatureInputs:
    """Put DataFrames, Arrow tables or Parquet files on a DuckDB connection as :class:`FeatureInputs`.

    Parameters
    ----------
    con : ibis DuckDB backend, optional
        The connection to use; a new in-memory one when omitted.
    customers, orders, order_lines, events, interactions, tickets, survey_scores
        Each a pandas DataFrame, a pyarrow Table, the path of a Parquet file (or a glob of them,
        read lazily, never loaded whole), an Ibis table on ``con``, or None (optional inputs).
    threads, memory_limit : optional
        DuckDB settings for a new connection (e.g. ``threads=2``, ``memory_limit="4GB"``).

    Returns
    -------
    FeatureInputs

    Examples
    --------
    >>> import pandas as pd
    >>> customers = pd.DataFrame({"customer_id": [1], "birth_year": [None], "gender": [None],
    ...     "income_band": [None], "created_at": pd.to_datetime(["2024-01-01"])})
    >>> duckdb_inputs(customers=customers).customers.count().execute()
    1
    """
    if con is None:
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        con = ibis.duckdb.connect(**config)
    sources: Mapping[str, Source] = {
        "customers": customers,
        "orders": orders,
        "order_lines": order_lines,
        "events": events,
        "interactions": interactions,
        "tickets": tickets,
        "survey_scores": survey_scores,
    }
    tables: dict[str, ir.Table | None] = {}
    for name, source in sources.items():
        if source is None:
            tables[name] = None
        elif isinstance(source, ir.Table):
            tables[name] = source
        elif isinstance(source, str | os.PathLike):
            tables[name] = con.read_parquet(str(Path(source)), table_name=f"feature_input_{name}")
        else:
            view = f"feature_input_{name}"
            con.con.register(view, _arrow_with_types(source))
            tables[name] = con.table(view)
    if tables["customers"] is None:
        raise MissingColumnError("the customers table is required", column="customer_id")
    return FeatureInputs(**tables)


def _arrow_with_types(source: Any) -> pa.Table:
    """A DataFrame or Arrow table as Arrow, all-null columns given the type their name calls for."""
    table = source if isinstance(source, pa.Table) else pa.Table.from_pandas(source, preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            wanted = pa.type_for_alias(_NULL_COLUMN_TYPES.get(field.name, "string"))
            table = table.set_column(index, field.name, table.column(index).cast(wanted))
    return table
