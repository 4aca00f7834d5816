"""Synthetic CRM tables in the input layout of :mod:`patron.analytics.features`.

Customers with a purchase rate, an activity level and a churn moment each; orders, order lines,
device events, interactions, tickets and survey answers drawn from them with NumPy. Timestamps fall
on whole seconds. Used by the Spark/DuckDB equality test and by ``bench/analytics.py``, which calls
:func:`synthetic_tables` chunk by chunk (``first_customer_id``) to write millions of rows to Parquet.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from patron.analytics.errors import InvalidParameterError

__all__ = ["synthetic_tables"]

_GENDERS = np.array(["female", "male", "other"])
_INCOME_BANDS = np.array(["low", "lower-middle", "middle", "upper-middle", "high"])
_STATUSES = np.array(["pending", "paid", "shipped", "delivered", "cancelled", "refunded"])
_STATUS_P = np.array([0.03, 0.07, 0.05, 0.75, 0.06, 0.04])
_CHANNELS = np.array(["web", "app", "store", "phone", "device", "marketplace"])
_CHANNEL_P = np.array([0.35, 0.3, 0.15, 0.05, 0.1, 0.05])
_EVENT_TYPES = np.array(["telemetry", "session.start", "trip.end", "fault", "heartbeat"])
_EVENT_P = np.array([0.5, 0.2, 0.15, 0.02, 0.13])
_INTERACTION_KINDS = np.array(["email", "call", "chat", "social", "note"])


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]").astype("datetime64[us]"))


def _spread(owner: np.ndarray, start: np.ndarray, stop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform whole-second moment per row in its owner's [start, stop) window."""
    width = np.maximum(stop[owner] - start[owner], 1)
    return start[owner] + (rng.random(owner.size) * width).astype(np.int64)


def synthetic_tables(
    n_customers: int,
    *,
    orders_per_customer: float = 20.0,
    events_per_customer: float = 50.0,
    start: datetime = datetime(2023, 1, 1),
    end: datetime = datetime(2025, 1, 1),
    products: int = 2_000,
    first_customer_id: int = 1,
    seed: int | None = None,
) -> dict[str, pa.Table]:
    """Draw the seven feature inputs for ``n_customers`` customers as Arrow tables.

    Parameters
    ----------
    n_customers : int
        Number of customers (ids ``first_customer_id`` onwards).
    orders_per_customer, events_per_customer : float
        Mean numbers of orders and device events per customer (heavy-tailed across customers).
    start, end : datetime
        The period the history covers (UTC).
    products : int
        Size of the product catalogue.
    first_customer_id : int
        The first id; order ids start at ``first_customer_id * 1000`` so chunks never collide.
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    dict of str to pyarrow.Table
        ``customers``, ``orders``, ``order_lines``, ``events``, ``interactions``, ``tickets`` and
        ``survey_scores``, with the columns :data:`patron.analytics.features.INPUT_COLUMNS` names.

    Examples
    --------
    >>> tables = synthetic_tables(10, seed=1)
    >>> tables["customers"].num_rows, sorted(tables)[:3]
    (10, ['customers', 'events', 'interactions'])
    """
    if n_customers < 1:
        raise InvalidParameterError(f"n_customers must be at least 1, got {n_customers}")
    if orders_per_customer < 0 or events_per_customer < 0:
        raise InvalidParameterError("orders_per_customer and events_per_customer must be >= 0")
    lo, hi = _seconds(start), _seconds(end)
    if hi <= lo:
        raise InvalidParameterError("end must come after start")
    rng = np.random.default_rng(seed)
    n = n_customers
    ids = np.arange(first_customer_id, first_customer_id + n, dtype=np.int64)

    # each customer: sign-up moment, churn moment (some never churn), purchase and usage intensity
    joined = lo + (rng.random(n) * (hi - lo) * 0.8).astype(np.int64)
    churned = rng.random(n) < 0.3
    leaves = np.where(churned, joined + (rng.random(n) * (hi - joined)).astype(np.int64), hi)
    buy_rate = rng.gamma(2.0, orders_per_customer / 2.0, n)
    use_rate = rng.gamma(1.5, events_per_customer / 1.5, n)

    customers = pa.table(
        {
            "customer_id": ids,
            "birth_year": pa.array(rng.integers(1945, 2006, n), mask=rng.random(n) < 0.1),
            "gender": pa.array(rng.choice(_GENDERS, n, p=[0.48, 0.48, 0.04]), mask=rng.random(n) < 0.05),
            "income_band": pa.array(rng.choice(_INCOME_BANDS, n), mask=rng.random(n) < 0.15),
            "created_at": _timestamps(joined),
        }
    )

    # orders
    n_orders = rng.poisson(buy_rate)
    order_owner = np.repeat(np.arange(n), n_orders)
    m = order_owner.size
    order_ids = first_customer_id * 1000 + np.arange(m, dtype=np.int64)
    ordered_at = _spread(order_owner, joined, leaves, rng)
    lines_per_order = 1 + rng.poisson(1.0, m)
    line_order = np.repeat(np.arange(m), lines_per_order)
    quantity = 1 + rng.poisson(0.5, line_order.size)
    unit_price = np.round(rng.lognormal(3.0, 0.8, line_order.size), 2)
    line_total = np.round(quantity * unit_price, 2)
    order_total = np.round(np.bincount(line_order, weights=line_total, minlength=m), 2)
    orders = pa.table(
        {
            "order_id": order_ids,
            "customer_id": ids[order_owner],
            "ordered_at": _timestamps(ordered_at),
            "total": order_total,
            "status": pa.array(rng.choice(_STATUSES, m, p=_STATUS_P)).dictionary_encode(),
            "channel": pa.array(rng.choice(_CHANNELS, m, p=_CHANNEL_P)).dictionary_encode(),
        }
    )
    order_lines = pa.table(
        {
            "order_id": order_ids[line_order],
            "product_id": rng.zipf(1.6, line_order.size) % products + 1,
            "quantity": quantity,
            "line_total": line_total,
        }
    )

    # device events, denser towards the end of each customer's life
    n_events = rng.poisson(use_rate)
    event_owner = np.repeat(np.arange(n), n_events)
    width = np.maximum(leaves - joined, 1)[event_owner]
    event_ts = joined[event_owner] + (np.sqrt(rng.random(event_owner.size)) * width).astype(np.int64)
    events = pa.table(
        {
            "customer_id": ids[event_owner],
            "type": pa.array(rng.choice(_EVENT_TYPES, event_owner.size, p=_EVENT_P)).dictionary_encode(),
            "ts": _timestamps(event_ts),
        }
    )

    # interactions, tickets, survey answers
    contact_owner = np.repeat(np.arange(n), rng.poisson(3.0, n))
    interactions = pa.table(
        {
            "customer_id": ids[contact_owner],
            "kind": rng.choice(_INTERACTION_KINDS, contact_owner.size),
            "channel": rng.choice(_CHANNELS[:4], contact_owner.size),
            "occurred_at": _timestamps(_spread(contact_owner, joined, leaves, rng)),
        }
    )
    ticket_owner = np.repeat(np.arange(n), rng.poisson(0.8, n))
    k = ticket_owner.size
    opened = _spread(ticket_owner, joined, leaves, rng)
    resolved = opened + rng.integers(600, 14 * 86_400, k)
    tickets = pa.table(
        {
            "customer_id": ids[ticket_owner],
            "created_at": _timestamps(opened),
            "resolved_at": pa.array(
                resolved.astype("datetime64[s]").astype("datetime64[us]"), mask=rng.random(k) < 0.2
            ),
            "satisfaction": pa.array(rng.integers(1, 6, k).astype(np.float64), mask=rng.random(k) < 0.5),
        }
    )
    survey_owner = np.repeat(np.arange(n), rng.poisson(0.6, n))
    survey_scores = pa.table(
        {
            "customer_id": ids[survey_owner],
            "nps": rng.integers(0, 11, survey_owner.size).astype(np.float64),
            "submitted_at": _timestamps(_spread(survey_owner, joined, leaves, rng)),
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
