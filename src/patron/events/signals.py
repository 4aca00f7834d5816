"""Customer signals and learned places, computed from the event store and written to the records
database (the writing half of :mod:`patron.events.enrichment`; also read by the signals API).

Usage counts come from one DuckDB aggregate per batch of customers (not from memory), so they are
right after a restart. The usage trend is a churn signal (see :func:`usage_trend`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from patron.customers import places as places_service
from patron.customers.base import get_customer_or_raise
from patron.customers.models import Customer
from patron.devices.models import Device
from patron.events.models import CustomerSignals
from patron.events.places import (
    CLUSTER_EPS_M,
    MAX_PLACES,
    LearnedPlace,
    Position,
    cluster_places,
    detect_stops,
    haversine_m,
    timezone_or_utc,
)
from patron.events.store import EventStore

log = logging.getLogger("patron.events.signals")

#: trend thresholds: relative change of weekly events per week
RISING = 0.15
FALLING = -0.15
TREND_WEEKS = 4
NEW_WEEKS = 2
INACTIVE_AFTER = timedelta(days=14)
#: the worst first: a customer's device health is the worst of their devices'
HEALTH_ORDER = ("fault", "offline", "warning", "ok", "unknown")
#: event types that report a stop at the event's position, and visits seen by fixed devices
STOP_TYPES = frozenset({"trip.end", "stop"})
VISIT_TYPES = frozenset({"beacon.visit"})
#: how far back positions are read when learning a customer's places, and at most how many
LEARN_WINDOW = timedelta(days=60)
LEARN_MAX_POSITIONS = 200_000


def naive_utc(moment: datetime) -> datetime:
    """The event store's form of a time: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


# --- trend ------------------------------------------------------------------------------------------


def usage_trend(
    weekly: Sequence[int], *, first_seen: datetime | None, last_seen: datetime | None, now: datetime
) -> tuple[str, float | None]:
    """``(trend, slope)`` from weekly event counts, oldest week first, the last one ending ``now``.

    * ``inactive`` — nothing in the last 14 days (the slope is still given when there is enough data);
    * ``new`` — less than 2 weeks since the first event (no slope);
    * otherwise the least-squares slope over the full weeks since the first event (at most 4),
      relative to their mean: ``rising`` above +15 % per week, ``falling`` below -15 %, else ``steady``.
    """
    if last_seen is None or first_seen is None:
        return "new", None
    weeks_of_data = min(TREND_WEEKS, len(weekly), int((now - first_seen) / timedelta(days=7)))
    slope = None
    if weeks_of_data >= NEW_WEEKS:
        counts = [float(c) for c in weekly[-weeks_of_data:]]
        mean = sum(counts) / len(counts)
        if mean > 0:
            x_mean = (len(counts) - 1) / 2
            numerator = sum((x - x_mean) * (y - mean) for x, y in enumerate(counts))
            denominator = sum((x - x_mean) ** 2 for x in range(len(counts)))
            slope = round(numerator / denominator / mean, 4)
        else:
            slope = 0.0
    if now - last_seen > INACTIVE_AFTER:
        return "inactive", slope
    if slope is None:
        return "new", None
    if slope > RISING:
        return "rising", slope
    if slope < FALLING:
        return "falling", slope
    return "steady", slope


def worst_health(states: Iterable[str]) -> str:
    """The worst of some device health states (``unknown`` for none)."""
    rank = {state: i for i, state in enumerate(HEALTH_ORDER)}
    return min(states, key=lambda s: rank.get(s, len(HEALTH_ORDER)), default="unknown")


# --- usage from the event store -----------------------------------------------------------------------


@dataclass
class Usage:
    customer_id: int
    last_seen: datetime | None = None
    first_seen: datetime | None = None
    today: int = 0
    days_7: int = 0
    days_30: int = 0
    weekly: list[int] = field(default_factory=lambda: [0] * TREND_WEEKS)
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerFacts:
    org_id: int
    timezone: str | None


def customer_facts(session: Session, customer_ids: Iterable[int]) -> dict[int, CustomerFacts]:
    """Organisation and time zone of the customers that still exist and are not merged away."""
    ids = sorted(set(customer_ids))
    found: dict[int, CustomerFacts] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Customer.id, Customer.org_id, Customer.timezone).where(
                Customer.id.in_(ids[start : start + 500]), Customer.merged_into_id.is_(None)
            )
        ).all()
        for customer_id, org_id, timezone in rows:
            found[customer_id] = CustomerFacts(org_id, timezone)
    return found


def local_day_start(now: datetime, timezone: str | None) -> datetime:
    """Midnight of today in the time zone (UTC when unset), as an aware UTC time."""
    local = now.astimezone(timezone_or_utc(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def usage_from_store(
    store: EventStore, customers: dict[int, CustomerFacts], *, now: datetime
) -> dict[int, Usage]:
    """Counts of the customers' events (today in their time zone, 7 and 30 days, the last four weeks,
    per type over 30 days) and their first and last event, in two aggregate queries."""
    if not customers:
        return {}
    ids = list(customers)
    touched = pa.table(
        {
            "customer_id": pa.array(ids, pa.int32()),
            "org_id": pa.array([customers[i].org_id for i in ids], pa.int32()),
            "day_start": pa.array(
                [naive_utc(local_day_start(now, customers[i].timezone)) for i in ids], pa.timestamp("us")
            ),
        }
    )
    end = naive_utc(now)
    week_filters = ", ".join(
        f"count(*) FILTER (WHERE e.ts > ?::TIMESTAMP - INTERVAL {7 * (k + 1)} DAY "
        f"AND e.ts <= ?::TIMESTAMP - INTERVAL {7 * k} DAY) AS w{k}"
        for k in range(TREND_WEEKS)
    )
    sql = f"""
        SELECT e.customer_id, max(e.ts), min(e.ts),
               count(*) FILTER (WHERE e.ts >= t.day_start),
               count(*) FILTER (WHERE e.ts > ?::TIMESTAMP - INTERVAL 7 DAY),
               count(*) FILTER (WHERE e.ts > ?::TIMESTAMP - INTERVAL 30 DAY),
               {week_filters}
        FROM events e JOIN touched t ON e.customer_id = t.customer_id AND e.org_id = t.org_id
        WHERE e.ts <= ?
        GROUP BY e.customer_id
    """
    by_type_sql = """
        SELECT e.customer_id, e.type, count(*)
        FROM events e JOIN touched t ON e.customer_id = t.customer_id AND e.org_id = t.org_id
        WHERE e.ts > ?::TIMESTAMP - INTERVAL 30 DAY AND e.ts <= ?
        GROUP BY e.customer_id, e.type
    """
    cursor = store.cursor()
    try:
        cursor.register("touched", touched)
        rows = cursor.execute(sql, [end, end] + [end, end] * TREND_WEEKS + [end]).fetchall()
        type_rows = cursor.execute(by_type_sql, [end, end]).fetchall()
        cursor.unregister("touched")
    finally:
        cursor.close()
    usage = {i: Usage(customer_id=i) for i in ids}
    for customer_id, last, first, today, days_7, days_30, *weeks in rows:
        item = usage[customer_id]
        item.last_seen, item.first_seen = aware(last), aware(first)
        item.today, item.days_7, item.days_30 = int(today), int(days_7), int(days_30)
        item.weekly = [int(w) for w in reversed(weeks)]  # oldest first
    for customer_id, event_type, count in type_rows:
        usage[customer_id].by_type[event_type] = int(count)
    return usage


def device_summary(session: Session, customer_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """``customer_id -> (device count, worst health)`` over the customers' devices that are not retired."""
    ids = sorted(set(customer_ids))
    states: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Device.customer_id, Device.health, func.count())
            .where(Device.customer_id.in_(ids[start : start + 500]), Device.status != "retired")
            .group_by(Device.customer_id, Device.health)
        ).all()
        for customer_id, health, count in rows:
            states.setdefault(customer_id, []).append(health)
            counts[customer_id] = counts.get(customer_id, 0) + int(count)
    return {i: (counts.get(i, 0), worst_health(states.get(i, ()))) for i in ids}


def write_signals(session: Session, *, store: EventStore, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute and store the signals of these customers; returns how many were written.

    Everything is read and computed first, then written in two executemany statements (an UPDATE of the
    rows that exist, an INSERT of the others) rather than through ORM objects: a write covers up to a
    thousand customers every few seconds, and the ORM's per-object work would cost most of it. The
    statements come last so that, on SQLite, the database's write lock is held only for them."""
    facts = customer_facts(session, customer_ids)
    if not facts:
        return 0
    usage = usage_from_store(store, facts, now=now)
    devices = device_summary(session, facts)
    ids = list(facts)
    existing: set[int] = set()
    for start in range(0, len(ids), 500):
        existing.update(
            session.scalars(
                select(CustomerSignals.customer_id).where(
                    CustomerSignals.customer_id.in_(ids[start : start + 500])
                )
            )
        )
    updated_at = datetime.now(UTC)
    updates: list[dict] = []
    inserts: list[dict] = []
    for customer_id, fact in facts.items():
        item = usage[customer_id]
        trend, slope = usage_trend(item.weekly, first_seen=item.first_seen, last_seen=item.last_seen, now=now)
        count, health = devices[customer_id]
        values = {
            "last_seen_at": item.last_seen,
            "events_today": item.today,
            "events_7d": item.days_7,
            "events_30d": item.days_30,
            "usage_by_type": dict(sorted(item.by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
            "usage_trend": trend,
            "trend_slope": slope,
            "device_count": count,
            "device_health": health,
            "updated_at": updated_at,
        }
        if customer_id in existing:
            updates.append({"signals_customer_id": customer_id, **values})
        else:
            inserts.append({"customer_id": customer_id, "org_id": fact.org_id, **values})
    if updates:
        session.execute(_SIGNALS_UPDATE, updates)
    if inserts:
        session.execute(insert(CustomerSignals.__table__), inserts)
    session.expire_all()  # rows of these customers held by the session are out of date now
    return len(facts)


_SIGNALS_TABLE = CustomerSignals.__table__
_SIGNALS_UPDATE = (
    _SIGNALS_TABLE.update()
    .where(_SIGNALS_TABLE.c.customer_id == bindparam("signals_customer_id"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "last_seen_at",
                "events_today",
                "events_7d",
                "events_30d",
                "usage_by_type",
                "usage_trend",
                "trend_slope",
                "device_count",
                "device_health",
                "updated_at",
            )
        }
    )
)


def stale_customers(session: Session, *, older_than: datetime, limit: int) -> list[int]:
    """Customers whose signals were last computed before ``older_than`` (their windows have moved on)."""
    return list(
        session.scalars(
            select(CustomerSignals.customer_id)
            .where(CustomerSignals.updated_at < older_than)
            .order_by(CustomerSignals.updated_at)
            .limit(limit)
        )
    )


# --- learned places -------------------------------------------------------------------------------


def positions_from_store(
    store: EventStore, *, org_id: int, customer_id: int, now: datetime, window: timedelta = LEARN_WINDOW
) -> list[Position]:
    """The customer's positioned events of the last ``window`` as positions (newest
    :data:`LEARN_MAX_POSITIONS` at most)."""
    rows = store.query(
        """SELECT device_id, ts, lat, lon, type FROM events
           WHERE org_id = ? AND customer_id = ? AND lat IS NOT NULL AND ts > ? AND ts <= ?
           ORDER BY ts DESC LIMIT ?""",
        [org_id, customer_id, naive_utc(now - window), naive_utc(now), LEARN_MAX_POSITIONS],
    )
    positions = []
    for device_id, ts, lat, lon, event_type in rows:
        kind = "stop" if event_type in STOP_TYPES else "visit" if event_type in VISIT_TYPES else "fix"
        positions.append(Position(ts.replace(tzinfo=UTC), lat, lon, device_id, kind))
    positions.reverse()
    return positions


def learn_places(
    session: Session, *, store: EventStore, org_id: int, customer_id: int, now: datetime
) -> list[LearnedPlace]:
    """Learn the customer's frequent places from their devices' stops and store them as ``learned``
    places (updated in place, at most :data:`MAX_PLACES`); manual places are never touched.
    Raises :class:`PatronError` when the customer cannot be written (gone, merged, erased)."""
    customer = get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    stops = detect_stops(positions_from_store(store, org_id=org_id, customer_id=customer_id, now=now))
    learned = cluster_places(stops, tz=customer.timezone, max_places=MAX_PLACES)
    write_learned_places(session, org_id=org_id, customer_id=customer_id, learned=learned)
    row = session.get(CustomerSignals, customer_id)
    if row is None:
        row = CustomerSignals(org_id=org_id, customer_id=customer_id)
        session.add(row)
    row.places_learned_at = now
    session.flush()
    return learned


def write_learned_places(
    session: Session, *, org_id: int, customer_id: int, learned: Sequence[LearnedPlace]
) -> None:
    """Make the customer's ``learned`` places match ``learned``: each one updates the nearest
    existing learned place within the clustering distance, or becomes a new place; learned places
    that match none are removed. Changes go through the customers service (and its audit)."""
    existing = [
        place
        for place in places_service.list_places(session, org_id=org_id, customer_id=customer_id)
        if place.source == "learned"
    ]
    unmatched = list(existing)
    for item in learned:
        match = min(
            (
                p
                for p in unmatched
                if haversine_m(p.latitude, p.longitude, item.lat, item.lon) <= CLUSTER_EPS_M
            ),
            key=lambda p: haversine_m(p.latitude, p.longitude, item.lat, item.lon),
            default=None,
        )
        if match is None:
            place = places_service.create_place(
                session,
                org_id=org_id,
                customer_id=customer_id,
                label=item.label,
                latitude=item.lat,
                longitude=item.lon,
            )
            place.source = "learned"
        else:
            unmatched.remove(match)
            place = match
            if haversine_m(place.latitude, place.longitude, item.lat, item.lon) > 1.0:
                place.latitude, place.longitude = item.lat, item.lon
            if place.kind != item.kind:
                place.label = item.label
        place.kind = item.kind
        place.visit_count = item.visit_count
        if (
            place.last_visited_at is None
            or math.fabs((place.last_visited_at - item.last_visited_at).total_seconds()) >= 1
        ):
            place.last_visited_at = item.last_visited_at
    for place in unmatched:
        places_service.delete_place(session, org_id=org_id, customer_id=customer_id, place_id=place.id)
    session.flush()


# --- reading (the signals API) ----------------------------------------------------------------------


def get_signals(session: Session, *, org_id: int, customer_id: int) -> CustomerSignals:
    """The customer's signals, or a blank (unsaved) row when none were computed yet; NotFound for a
    customer of another organisation."""
    get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    row = session.scalar(
        select(CustomerSignals).where(
            CustomerSignals.org_id == org_id, CustomerSignals.customer_id == customer_id
        )
    )
    if row is not None:
        return row
    return CustomerSignals(
        org_id=org_id,
        customer_id=customer_id,
        last_seen_at=None,
        events_today=0,
        events_7d=0,
        events_30d=0,
        usage_by_type={},
        usage_trend="new",
        trend_slope=None,
        device_count=0,
        device_health="unknown",
        places_learned_at=None,
        updated_at=None,
    )


def customers_seen_on(session: Session, *, org_id: int, day: date) -> list[int]:
    """Customers whose devices or app were last seen on ``day`` (UTC), by the enrichment counters; run late
    on ``day`` it lists everyone active that day (the loyalty programme's app streaks)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return list(session.scalars(
        select(CustomerSignals.customer_id)
        .where(CustomerSignals.org_id == org_id, CustomerSignals.last_seen_at >= start,
               CustomerSignals.last_seen_at < start + timedelta(days=1))
        .order_by(CustomerSignals.customer_id)
    ))  # fmt: skip
