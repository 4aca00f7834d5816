"""HTTP API over the event store: a customer's and a device's events, a device's telemetry series and
figures, and the organisation's ingest dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep
from patron.customers import service as customers_service
from patron.devices import service as devices_service
from patron.events import queries

router = APIRouter(prefix="/api/v1", tags=["events"])


class EventOut(BaseModel):
    seq: int = Field(description="Position of the event in the store, in order of arrival.")
    id: str = Field(description="The event's id: the sender's, or one generated on arrival.")
    device_id: int | None = Field(
        description="The device that sent it; null for customer events sent with an ingest key."
    )
    customer_id: int | None = Field(
        description="The customer it belongs to (the device's customer when it arrived)."
    )
    type: str = Field(description="What happened: `telemetry`, `trip.end`, `fault`...")
    ts: datetime = Field(description="When it happened (UTC).")
    received_at: datetime = Field(description="When Patron stored it (UTC).")
    source: str = Field(description="How it arrived: `http` or `mqtt`.")
    lat: float | None = Field(description="Latitude of the event's position, if it had one.")
    lon: float | None = Field(description="Longitude of the event's position, if it had one.")
    props: dict[str, Any] = Field(description="Everything else the sender put in the event.")


class TelemetryPoint(BaseModel):
    t: datetime = Field(description="Start of the bucket (UTC).")
    avg: float = Field(description="Mean of the metric's values in the bucket.")
    min: float = Field(description="Smallest value in the bucket.")
    max: float = Field(description="Largest value in the bucket.")
    count: int = Field(description="Number of values in the bucket.")


class TelemetryOut(BaseModel):
    device_id: int = Field(description="The device.")
    since: datetime = Field(description="Start of the window (UTC), included.")
    until: datetime = Field(description="End of the window (UTC), excluded.")
    bucket_seconds: int = Field(
        description="Width of each bucket in seconds; buckets are counted from `since`."
    )
    series: dict[str, list[TelemetryPoint]] = Field(
        description="Per metric, its buckets that hold values, oldest first (empty buckets are left out)."
    )


class TypeCount(BaseModel):
    type: str = Field(description="Event type.")
    count: int = Field(description="Events of this type, ever.")
    count_last_24h: int = Field(description="Events of this type in the last 24 hours.")
    last_at: datetime | None = Field(description="Time of the latest event of this type (UTC).")


class DeviceStatsOut(BaseModel):
    device_id: int = Field(description="The device.")
    now: datetime = Field(description="The moment the figures were computed for (UTC).")
    events_total: int = Field(description="Events stored for the device, ever.")
    events_last_hour: int = Field(description="Events with a time in the last hour.")
    events_last_24h: int = Field(description="Events with a time in the last 24 hours.")
    first_seen_at: datetime | None = Field(description="Time of the device's earliest stored event (UTC).")
    last_seen_at: datetime | None = Field(description="Time of the device's latest stored event (UTC).")
    types: list[TypeCount] = Field(description="Counts per event type, most frequent first.")


class DeadLetterOut(BaseModel):
    id: int = Field(description="Identifier of the dead letter.")
    received_at: datetime = Field(description="When the message arrived (UTC).")
    source: str = Field(description="How it arrived: `http` or `mqtt`.")
    topic: str | None = Field(description="The MQTT topic it came on, for MQTT messages.")
    device_id: int | None = Field(description="The device whose key sent it, if a device key was used.")
    item_index: int | None = Field(
        description="Position of the refused event in its body (0-based); null when the whole body was refused."
    )
    reason: str = Field(description="Why it was refused, starting with the field at fault.")
    payload: str | None = Field(
        description="What was received (the event, or the start of the body), as text."
    )


Since = Annotated[
    datetime | None,
    Query(description="Only events at or after this time (ISO 8601; UTC when no zone is given)."),
]
Until = Annotated[
    datetime | None, Query(description="Only events before this time (ISO 8601; UTC when no zone is given).")
]
Types = Annotated[
    list[str] | None, Query(alias="type", description="Only events of these types (repeatable, at most 20).")
]


def _store(request: Request):
    return request.app.state.events.store


def _events_page(items, total: int, page) -> dict:
    return {
        "items": [event.as_dict() for event in items],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get(
    "/customers/{customer_id}/events",
    response_model=Page[EventOut],
    summary="A customer's device and app events",
)
def customer_events(
    customer_id: int,
    request: Request,
    principal: Allowed("events.read"),
    session: SessionDep,
    page: PageDep,
    types: Types = None,
    device_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only events of this device.")
    ] = None,
    since: Since = None,
    until: Until = None,
) -> dict:
    """The customer's events, newest first (by event time)."""
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    items, total = queries.list_events(
        _store(request),
        org_id=principal.org_id,
        customer_id=customer_id,
        device_id=device_id,
        types=types,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return _events_page(items, total, page)


@router.get("/devices/{device_id}/events", response_model=Page[EventOut], summary="A device's events")
def device_events(
    device_id: int,
    request: Request,
    principal: Allowed("events.read"),
    session: SessionDep,
    page: PageDep,
    types: Types = None,
    since: Since = None,
    until: Until = None,
) -> dict:
    """The device's events, newest first (by event time), whichever customer they belonged to."""
    devices_service.get_device_or_raise(session, org_id=principal.org_id, device_id=device_id)
    items, total = queries.list_events(
        _store(request),
        org_id=principal.org_id,
        device_id=device_id,
        types=types,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return _events_page(items, total, page)


@router.get(
    "/devices/{device_id}/telemetry", response_model=TelemetryOut, summary="A device's telemetry, downsampled"
)
def device_telemetry(
    device_id: int,
    request: Request,
    principal: Allowed("devices.read"),
    session: SessionDep,
    metric: Annotated[
        list[str] | None,
        Query(
            description="Numeric props to chart, e.g. `speed`, `kwh` (repeatable, at most 20); "
            "default: every numeric prop the device sent in the window."
        ),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Start of the window (ISO 8601); default 24 hours before `until`.")
    ] = None,
    until: Annotated[datetime | None, Query(description="End of the window (ISO 8601); default now.")] = None,
    points: Annotated[
        int, Query(description="Target number of buckets (1-2000); the window is cut into at most this many.")
    ] = queries.DEFAULT_POINTS,
) -> dict:
    """Average, minimum, maximum and count of each metric per time bucket."""
    devices_service.get_device_or_raise(session, org_id=principal.org_id, device_id=device_id)
    runtime = request.app.state.events
    result = queries.telemetry(
        runtime.store,
        org_id=principal.org_id,
        device_id=device_id,
        metrics=metric,
        since=since,
        until=until,
        points=points,
        now=runtime.clock(),
    )
    return result.__dict__


@router.get("/devices/{device_id}/stats", response_model=DeviceStatsOut, summary="A device's event figures")
def device_stats(
    device_id: int, request: Request, principal: Allowed("devices.read"), session: SessionDep
) -> dict:
    """Events in the last hour and 24 hours, first and last seen, and counts per event type."""
    devices_service.get_device_or_raise(session, org_id=principal.org_id, device_id=device_id)
    runtime = request.app.state.events
    return queries.device_stats(
        runtime.store, org_id=principal.org_id, device_id=device_id, now=runtime.clock()
    )


@router.get(
    "/ingest/dead-letters",
    response_model=Page[DeadLetterOut],
    tags=["ingest"],
    summary="Messages and events ingest refused",
)
def dead_letters(
    request: Request,
    principal: Allowed("events.read"),
    page: PageDep,
    source: Annotated[
        Literal["http", "mqtt"] | None, Query(description="Only those that came this way.")
    ] = None,
) -> dict:
    """Refused events and unreadable bodies sent with the organisation's keys, newest first, each with
    the reason."""
    items, total = queries.list_dead_letters(
        _store(request), org_id=principal.org_id, source=source, limit=page.limit, offset=page.offset
    )
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
