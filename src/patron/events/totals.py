"""Per-customer totals of one event type over a window (read by games: steps walked, rides taken)."""

from __future__ import annotations

from datetime import datetime

from patron.events.queries import naive_utc
from patron.events.store import EventStore


def customer_totals(store: EventStore, *, org_id: int, event_type: str, prop: str | None, since: datetime,
                    until: datetime | None) -> dict[int, float]:  # fmt: skip
    """``{customer_id: total}`` over events of ``event_type`` from ``since`` (included) to ``until``
    (excluded, open when None): the number of events, or the sum of the numeric property ``prop`` (events
    without it, or with a value that is not a number, add nothing). Events of no customer are left out."""
    value = "1.0" if prop is None else "coalesce(TRY_CAST(json_extract(props, '$.' || ?) AS DOUBLE), 0)"
    params: list = [] if prop is None else [prop]
    conditions = "org_id = ? AND type = ? AND customer_id IS NOT NULL AND ts >= ?"
    params += [org_id, event_type, naive_utc(since)]
    if until is not None:
        conditions += " AND ts < ?"
        params.append(naive_utc(until))
    rows = store.query(
        f"SELECT customer_id, sum({value}) FROM events WHERE {conditions} GROUP BY customer_id", params
    )
    return {int(customer_id): float(total or 0) for customer_id, total in rows}
