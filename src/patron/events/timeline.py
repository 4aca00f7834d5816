"""Device events on the customer timeline: a timeline provider named ``devices`` that reads the event
store at request time (nothing is copied into the records database).

Each event becomes an item of kind ``device.<type>`` (lower-cased, characters other than letters,
digits and ``_`` turned into ``_``: ``trip.end`` → ``device.trip_end``), with ``ref_type`` ``device``,
``ref_id`` the device and ``data`` the event's props. High-rate types (:data:`HIGH_RATE_TYPES`) would
drown everything else and are left out, unless the caller asks for their kind by name
(``kinds=device.telemetry``); a pattern such as ``device.*`` does not bring them in.

:func:`install` is called by :meth:`patron.events.runtime.EventRuntime.start` (the provider closes over
that runtime's store) and :func:`uninstall` by ``stop()``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from patron.customers.timeline import (
    TimelineItem,
    register_timeline_provider,
    timeline_providers,
    unregister_timeline_provider,
)
from patron.events import queries
from patron.events.store import StoredEvent

if TYPE_CHECKING:
    from patron.events.runtime import EventRuntime

PROVIDER_NAME = "devices"
KIND_PREFIX = "device."
#: event types left out of the timeline unless asked for by exact kind
HIGH_RATE_TYPES = ("telemetry", "heartbeat", "location", "gps")
FAULT_CODE_PROPS = ("code", "fault_code", "error_code")
_OTHER = re.compile(r"[^a-z0-9_]")


def kind_for(event_type: str) -> str:
    """``trip.end`` → ``device.trip_end``."""
    return KIND_PREFIX + _OTHER.sub("_", event_type.lower())


HIGH_RATE_KINDS = tuple(kind_for(t) for t in HIGH_RATE_TYPES)


def summary_for(event: StoredEvent, device_name: str | None) -> str:
    """The item's line: ``Fault E42 on Taxi 12``, ``trip.end from Taxi 12``, or just the type for an
    event without a device."""
    if event.type.lower() == "fault":
        code = next((event.props[p] for p in FAULT_CODE_PROPS if event.props.get(p) not in (None, "")), None)
        text = f"Fault {code}" if code is not None else "Fault"
        return f"{text} on {device_name}" if device_name else text
    return f"{event.type} from {device_name}" if device_name else event.type


def _split(kinds: list[str] | None) -> tuple[list[str], list[str]] | None:
    """``(exact kinds, prefixes)`` that can match a device event, or None when nothing can."""
    if not kinds:
        return [], []
    exact = [k for k in kinds if not k.endswith(".*") and k.startswith(KIND_PREFIX)]
    # "device.*" -> "device."
    prefixes = [k[:-1] for k in kinds if k.endswith(".*") and k.startswith(KIND_PREFIX)]
    if not exact and not prefixes:
        return None
    return exact, prefixes


def device_items(
    runtime: EventRuntime,
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    before: datetime | None,
    limit: int,
    kinds: list[str] | None = None,
) -> list[TimelineItem]:
    """The provider: the customer's device events older than ``before``, newest first, at most ``limit``."""
    split = _split(kinds)
    if split is None:
        return []
    exact, prefixes = split
    events = queries.timeline_events(
        runtime.store,
        org_id=org_id,
        customer_id=customer_id,
        before=before,
        limit=limit,
        kinds=exact,
        prefixes=prefixes,
        exclude_kinds=[k for k in HIGH_RATE_KINDS if k not in exact],
    )
    if not events:
        return []
    from patron.devices import service as devices_service

    names = devices_service.device_names(
        session, org_id=org_id, device_ids={e.device_id for e in events if e.device_id is not None}
    )
    return [
        TimelineItem(
            occurred_at=event.ts,
            kind=kind_for(event.type),
            summary=summary_for(
                event,
                None if event.device_id is None else names.get(event.device_id, f"device {event.device_id}"),
            ),
            ref_type="device" if event.device_id is not None else None,
            ref_id=event.device_id,
            data=event.props,
        )
        for event in events
    ]


def provider_for(runtime: EventRuntime):
    def devices_provider(
        session: Session,
        *,
        org_id: int,
        customer_id: int,
        before: datetime | None,
        limit: int,
        kinds: list[str] | None = None,
    ) -> list[TimelineItem]:
        return device_items(
            runtime, session, org_id=org_id, customer_id=customer_id, before=before, limit=limit, kinds=kinds
        )

    devices_provider.runtime = runtime  # type: ignore[attr-defined]
    return devices_provider


def install(runtime: EventRuntime) -> None:
    """Put this runtime's device events on every customer timeline."""
    register_timeline_provider(PROVIDER_NAME, provider_for(runtime))


def uninstall(runtime: EventRuntime) -> None:
    """Take this runtime's provider off again (called after it left :data:`~patron.events.runtime.CURRENT`);
    the runtime still running before it, if any, takes over. Another runtime's provider stays."""
    from patron.events.runtime import CURRENT

    provider = timeline_providers().get(PROVIDER_NAME)
    if provider is None or getattr(provider, "runtime", None) is not runtime:
        return
    previous = CURRENT.get()
    if previous is not None:
        install(previous)
    else:
        unregister_timeline_provider(PROVIDER_NAME)
