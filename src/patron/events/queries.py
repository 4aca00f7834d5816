"""Reading the event store: a customer's or device's events, a device's telemetry downsampled into
time buckets, per-device figures, the dead letters, and the events of many customers of one type (a
campaign's conversions).

Every query runs on DuckDB with parameters (never user text in the SQL) and is scoped to one
organisation. The store's TIMESTAMP columns hold naive UTC: datetimes go in as naive UTC and come
out with UTC attached.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from patron.core.errors import Invalid
from patron.events.ingest import TYPE_RE
from patron.events.store import EVENT_COLUMNS, EventStore, StoredEvent, row_to_event

METRIC_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_TYPES = 20
MAX_METRICS = 20
DEFAULT_POINTS = 120
MAX_POINTS = 2000
DEFAULT_WINDOW = timedelta(hours=24)
#: props that are a position, not a measurement: left out of the default telemetry series
POSITION_PROPS = frozenset({"lat", "lon", "lng", "latitude", "longitude"})
_NUMERIC_JSON = ("BIGINT", "UBIGINT", "DOUBLE")


def naive_utc(moment: datetime) -> datetime:
    """A datetime as the store keeps it: UTC without a zone (naive input is read as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The window as aware UTC datetimes; ``since`` must come before ``until`` (422 naming ``until``)."""
    since, until = aware_utc(since), aware_utc(until)
    if since is not None and until is not None and since >= until:
        raise Invalid("until must be later than since.", field="until")
    return since, until


def check_types(types: Sequence[str] | None) -> list[str]:
    types = list(dict.fromkeys(types or ()))
    if len(types) > MAX_TYPES:
        raise Invalid(f"At most {MAX_TYPES} event types.", field="type")
    for value in types:
        if not TYPE_RE.match(value):
            raise Invalid(
                f"type: '{value[:64]}' is not an event type (1-64 letters, digits or _ . : -).", field="type"
            )
    return types


def check_metrics(metrics: Sequence[str] | None) -> list[str]:
    metrics = list(dict.fromkeys(metrics or ()))
    if len(metrics) > MAX_METRICS:
        raise Invalid(f"At most {MAX_METRICS} metrics.", field="metric")
    for value in metrics:
        if not METRIC_RE.match(value):
            raise Invalid(
                f"metric: '{value[:64]}' is not a property name (1-64 letters, digits or _).", field="metric"
            )
    return metrics


# --- events ----------------------------------------------------------------------------------------


def list_events(
    store: EventStore,
    *,
    org_id: int,
    customer_id: int | None = None,
    device_id: int | None = None,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[StoredEvent], int]:
    """Events of a customer and/or device, newest first (by time, then arrival), and how many match.
    ``since`` is included, ``until`` excluded."""
    types = check_types(types)
    since, until = check_window(since, until)
    conditions = ["org_id = ?"]
    params: list[Any] = [org_id]
    if customer_id is not None:
        conditions.append("customer_id = ?")
        params.append(customer_id)
    if device_id is not None:
        conditions.append("device_id = ?")
        params.append(device_id)
    if types:
        conditions.append("list_contains(?::VARCHAR[], type)")
        params.append(types)
    if since is not None:
        conditions.append("ts >= ?")
        params.append(naive_utc(since))
    if until is not None:
        conditions.append("ts < ?")
        params.append(naive_utc(until))
    where = " AND ".join(conditions)
    total = store.query(f"SELECT count(*) FROM events WHERE {where}", params)[0][0]
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY ts DESC, seq DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [row_to_event(row) for row in rows], int(total)


# --- telemetry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Telemetry:
    """A device's numeric props over a window, in buckets of ``bucket_seconds``: per metric a list of
    ``{"t" (bucket start), "avg", "min", "max", "count"}``, oldest first."""

    device_id: int
    since: datetime
    until: datetime
    bucket_seconds: int
    series: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def bucket_seconds_for(since: datetime, until: datetime, points: int) -> int:
    """Whole seconds per bucket so that the window fits in at most ``points`` buckets."""
    return max(1, math.ceil((until - since).total_seconds() / points))


def numeric_props(
    store: EventStore, *, org_id: int, device_id: int, since: datetime, until: datetime
) -> list[str]:
    """Names of the numeric props the device sent in the window (plain names only; positions left out)."""
    rows = store.query(
        """
        SELECT DISTINCT k FROM (
            SELECT unnest(json_keys(props)) AS k, props FROM events
            WHERE org_id = ? AND device_id = ? AND ts >= ? AND ts < ?
        )
        WHERE regexp_full_match(k, '[A-Za-z0-9_]{1,64}')
          AND list_contains(?::VARCHAR[], json_type(props, '$.' || k))
        ORDER BY k
        """,
        [org_id, device_id, naive_utc(since), naive_utc(until), list(_NUMERIC_JSON)],
    )
    return [row[0] for row in rows if row[0] not in POSITION_PROPS]


def telemetry(
    store: EventStore,
    *,
    org_id: int,
    device_id: int,
    metrics: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    points: int = DEFAULT_POINTS,
    now: datetime | None = None,
) -> Telemetry:
    """The device's telemetry downsampled with ``time_bucket``: avg/min/max/count of each metric per
    bucket, buckets counted from ``since``. Default window: the 24 hours before ``until`` (default now);
    default metrics: every numeric prop seen in the window (at most 20)."""
    metrics = check_metrics(metrics)
    if not 1 <= points <= MAX_POINTS:
        raise Invalid(f"points must be between 1 and {MAX_POINTS}.", field="points")
    since, until = check_window(since, until)
    if until is None:
        until = aware_utc(now) or datetime.now(UTC)
        if since is not None and since >= until:
            raise Invalid("since must be earlier than now when until is not given.", field="since")
    if since is None:
        since = until - DEFAULT_WINDOW
    bucket = bucket_seconds_for(since, until, points)
    if not metrics:
        metrics = numeric_props(store, org_id=org_id, device_id=device_id, since=since, until=until)[
            :MAX_METRICS
        ]
    result = Telemetry(
        device_id=device_id,
        since=since,
        until=until,
        bucket_seconds=bucket,
        series={name: [] for name in metrics},
    )
    if not metrics:
        return result
    rows = store.query(
        """
        SELECT name, time_bucket(to_microseconds(?::BIGINT), ts, ?::TIMESTAMP) AS t,
               avg(v), min(v), max(v), count(v)
        FROM (
            SELECT m.name, e.ts, json_type(e.props, '$.' || m.name) AS jt,
                   TRY_CAST(json_extract(e.props, '$.' || m.name) AS DOUBLE) AS v
            FROM events e, (SELECT unnest(?::VARCHAR[]) AS name) m
            WHERE e.org_id = ? AND e.device_id = ? AND e.ts >= ? AND e.ts < ?
        )
        WHERE list_contains(?::VARCHAR[], jt) AND v IS NOT NULL AND isfinite(v)
        GROUP BY name, t
        ORDER BY name, t
        """,
        [
            bucket * 1_000_000,
            naive_utc(since),
            metrics,
            org_id,
            device_id,
            naive_utc(since),
            naive_utc(until),
            list(_NUMERIC_JSON),
        ],
    )
    for name, bucket_start, avg, low, high, count in rows:
        result.series[name].append(
            {"t": bucket_start.replace(tzinfo=UTC), "avg": avg, "min": low, "max": high, "count": int(count)}
        )
    return result


# --- per-device figures ----------------------------------------------------------------------------


def device_stats(store: EventStore, *, org_id: int, device_id: int, now: datetime) -> dict[str, Any]:
    """Events in the last hour and 24 hours, first and last event time, and counts per type (most first)."""
    now_naive = naive_utc(now)
    hour_ago = now_naive - timedelta(hours=1)
    day_ago = now_naive - timedelta(hours=24)
    total, last_hour, last_day, first_seen, last_seen = store.query(
        """
        SELECT count(*),
               count(*) FILTER (WHERE ts >= ? AND ts <= ?),
               count(*) FILTER (WHERE ts >= ? AND ts <= ?),
               min(ts), max(ts)
        FROM events WHERE org_id = ? AND device_id = ?
        """,
        [hour_ago, now_naive, day_ago, now_naive, org_id, device_id],
    )[0]
    by_type = store.query(
        """
        SELECT type, count(*) AS n, count(*) FILTER (WHERE ts >= ? AND ts <= ?), max(ts)
        FROM events WHERE org_id = ? AND device_id = ?
        GROUP BY type ORDER BY n DESC, type
        """,
        [day_ago, now_naive, org_id, device_id],
    )
    return {
        "device_id": device_id,
        "now": aware_utc(now),
        "events_total": int(total),
        "events_last_hour": int(last_hour),
        "events_last_24h": int(last_day),
        "first_seen_at": aware_utc(first_seen),
        "last_seen_at": aware_utc(last_seen),
        "types": [
            {"type": t, "count": int(n), "count_last_24h": int(n_day), "last_at": aware_utc(last)}
            for t, n, n_day, last in by_type
        ],
    }


# --- dead letters ----------------------------------------------------------------------------------

DEAD_LETTER_COLUMNS = "id, received_at, source, topic, device_id, item_index, reason, payload"


def list_dead_letters(
    store: EventStore, *, org_id: int, source: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """The organisation's dead letters, newest first, and how many match."""
    conditions = ["org_id = ?"]
    params: list[Any] = [org_id]
    if source is not None:
        conditions.append("source = ?")
        params.append(source)
    where = " AND ".join(conditions)
    total = store.query(f"SELECT count(*) FROM dead_letters WHERE {where}", params)[0][0]
    rows = store.query(
        f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE {where} "
        "ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    names = [name.strip() for name in DEAD_LETTER_COLUMNS.split(",")]
    items = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["received_at"] = aware_utc(item["received_at"])
        items.append(item)
    return items, int(total)


# --- a customer's events for the timeline and the privacy export -------------------------------------

KIND_SQL = "'device.' || regexp_replace(lower(type), '[^a-z0-9_]', '_', 'g')"


def timeline_events(
    store: EventStore,
    *,
    org_id: int,
    customer_id: int,
    before: datetime | None,
    limit: int,
    kinds: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    exclude_kinds: Sequence[str] = (),
) -> list[StoredEvent]:
    """The customer's events strictly before ``before``, newest first, as timeline material. An event's
    timeline kind is ``device.<type>`` (lower-cased, other characters ``_``). When ``kinds`` or
    ``prefixes`` are given, only events whose kind equals one of ``kinds`` or starts with one of
    ``prefixes`` are kept; events whose kind is in ``exclude_kinds`` are left out."""
    if not store.may_have_customer_events(org_id=org_id, customer_id=customer_id):
        return []  # most customers have no device: no query (a DuckDB query costs milliseconds)
    conditions = ["org_id = ?", "customer_id = ?"]
    params: list[Any] = [org_id, customer_id]
    if before is not None:
        conditions.append("ts < ?")
        params.append(naive_utc(before))
    if kinds or prefixes:
        wanted = [f"list_contains(?::VARCHAR[], {KIND_SQL})"]
        params.append(list(kinds))
        for prefix in prefixes:
            wanted.append(f"starts_with({KIND_SQL}, ?)")
            params.append(prefix)
        conditions.append("(" + " OR ".join(wanted) + ")")
    if exclude_kinds:
        conditions.append(f"NOT list_contains(?::VARCHAR[], {KIND_SQL})")
        params.append(list(exclude_kinds))
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(conditions)} ORDER BY ts DESC, seq DESC LIMIT ?",
        [*params, limit],
    )
    return [row_to_event(row) for row in rows]


def customer_events(store: EventStore, *, org_id: int, customer_id: int) -> list[StoredEvent]:
    """Every stored event of the customer, oldest first (the privacy export)."""
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE org_id = ? AND customer_id = ? ORDER BY ts, seq",
        [org_id, customer_id],
    )
    return [row_to_event(row) for row in rows]


def count_customer_events(store: EventStore, *, org_id: int, customer_id: int) -> int:
    return int(
        store.query(
            "SELECT count(*) FROM events WHERE org_id = ? AND customer_id = ?", [org_id, customer_id]
        )[0][0]
    )


# --- events of many customers (campaign conversions) --------------------------------------------------


def customers_events(
    store: EventStore,
    *,
    org_id: int,
    customer_ids: Iterable[int],
    event_type: str,
    since: datetime,
    until: datetime,
) -> list[StoredEvent]:
    """The organisation's events of ``event_type`` about any of ``customer_ids`` from ``since`` (included)
    to ``until`` (excluded), oldest first (by time, then arrival)."""
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return []
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE org_id = ? AND type = ? AND ts >= ? AND ts < ? "
        "AND customer_id IN (SELECT unnest(?::INTEGER[])) ORDER BY ts, seq",
        [org_id, event_type, naive_utc(since), naive_utc(until), ids],
    )
    return [row_to_event(row) for row in rows]
