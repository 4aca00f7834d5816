"""Who a campaign is for: everyone, the customers a filter finds (the customer search's own filters), or
the members of a segment.

Segments are another capability (``patron.segments``); it is imported only when an audience of kind
``segment`` is resolved, and its absence is a 422 naming ``audience.segment_id``. Reachable customers are
those with a current consent for at least one of the campaign's channels; the consent is checked again by
the delivery worker when each message is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.errors import Invalid, NotFound
from patron.customers import service as customers_service
from patron.customers.models import Customer
from patron.customers.search import filtered_query
from patron.notify.models import CONSENT_CHANNEL

AUDIENCE_KINDS = ("all", "filter", "segment")
FILTER_FIELDS = ("q", "tags", "country", "gender", "income_band", "education", "owner_id")
CHUNK = 500


def check_audience(value: Any) -> dict:
    """The audience definition, normalised; Invalid naming the field at fault."""
    if not isinstance(value, dict):
        raise Invalid("audience must be an object.", field="audience")
    kind = value.get("kind")
    if kind not in AUDIENCE_KINDS:
        raise Invalid(f"audience.kind must be one of {', '.join(AUDIENCE_KINDS)}.", field="audience.kind")
    if kind == "all":
        return {"kind": "all"}
    if kind == "segment":
        segment_id = value.get("segment_id")
        if isinstance(segment_id, bool) or not isinstance(segment_id, int) or segment_id < 1:
            raise Invalid("An audience of kind segment needs a segment_id.", field="audience.segment_id")
        return {"kind": "segment", "segment_id": segment_id}
    raw = value.get("filter") or {}
    clean = {k: v for k, v in raw.items() if k in FILTER_FIELDS and v not in (None, "", [])}
    if not clean:
        raise Invalid("An audience of kind filter needs at least one filter.", field="audience.filter")
    return {"kind": "filter", "filter": clean}


def _filters(audience: dict) -> customers_service.CustomerFilters:
    spec = audience.get("filter") or {}
    return customers_service.CustomerFilters(
        q=spec.get("q"), tags=list(spec.get("tags") or []), country=spec.get("country"), gender=spec.get("gender"),
        income_band=spec.get("income_band"), education=spec.get("education"), owner_id=spec.get("owner_id"),
    )  # fmt: skip


def _segment_members(session: Session, *, org_id: int, segment_id: int) -> list[int]:
    try:
        segments = import_module("patron.segments.service")
    except ModuleNotFoundError as exc:
        if exc.name and "patron.segments.service".startswith(exc.name):
            segments = None
        else:
            raise
    members = getattr(segments, "members", None)
    if members is None:
        raise Invalid("Segments are not available in this installation; use an audience of kind filter.",
                      field="audience.segment_id")  # fmt: skip
    try:
        return [int(i) for i in members(session, org_id=org_id, segment_id=segment_id)]
    except NotFound:
        raise Invalid(f"No segment {segment_id}.", field="audience.segment_id") from None


def _filter_query(session: Session, *, org_id: int, audience: dict):
    filters = _filters(audience) if audience["kind"] == "filter" else customers_service.CustomerFilters()
    try:
        return filtered_query(session, org_id=org_id, filters=filters)
    except Invalid as exc:
        raise Invalid(exc.detail, field=f"audience.filter.{exc.field}") from None


def validate(session: Session, *, org_id: int, audience: dict) -> None:
    """Invalid when a filter value is not one the customer search knows (a gender, an income band...), or
    when the segment does not exist or segments are not available."""
    if audience["kind"] == "segment":
        _segment_members(session, org_id=org_id, segment_id=audience["segment_id"])
    else:
        _filter_query(session, org_id=org_id, audience=audience)


def _live_among(org_id: int, customer_ids: list[int], *columns):
    """``SELECT columns`` of the live customers (not erased, not merged away: the customer search's
    default) among ``customer_ids``. The tenant condition is ``customers_service.in_org``, so the id list
    drives the plan: with the plain ``org_id = ?`` SQLite, without table statistics, picks an index on
    ``org_id`` and reads the whole organisation once per chunk (a million customers: 0.2 s per 500 ids)."""
    return select(*columns).where(customers_service.in_org(Customer.org_id, org_id), Customer.id.in_(customer_ids),
                                  Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))  # fmt: skip


def audience_ids(session: Session, *, org_id: int, audience: dict) -> list[int]:
    """Ids of the customers in the audience now (not erased, not merged away), ascending."""
    if audience["kind"] == "segment":
        members = _segment_members(session, org_id=org_id, segment_id=audience["segment_id"])
        found: list[int] = []
        for start in range(0, len(members), CHUNK):
            found.extend(session.scalars(_live_among(org_id, members[start : start + CHUNK], Customer.id)))
        return sorted(set(found))
    query = _filter_query(session, org_id=org_id, audience=audience).with_only_columns(Customer.id)
    return list(session.scalars(query.order_by(Customer.id)))


def contains(session: Session, *, org_id: int, audience: dict, customer_id: int) -> bool:
    """Whether one customer is in the audience (a triggered campaign's check)."""
    if audience["kind"] == "segment":
        return customer_id in set(_segment_members(session, org_id=org_id, segment_id=audience["segment_id"]))
    query = _filter_query(session, org_id=org_id, audience=audience).where(Customer.id == customer_id)
    return session.scalar(query.with_only_columns(Customer.id)) is not None


def names_by_id(session: Session, *, org_id: int, customer_ids: list[int]) -> list[Any]:
    """``(id, first_name, last_name)`` rows of the live customers among ``customer_ids``, in id order (one
    read per :data:`CHUNK` ids, no ORM objects: a launch reads its whole audience this way)."""
    ids = sorted(set(customer_ids))
    rows: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        query = _live_among(org_id, ids[start : start + CHUNK], Customer.id, Customer.first_name, Customer.last_name)
        rows.extend(session.execute(query.order_by(Customer.id)))
    return rows


def channels_by_customer(
    session: Session, *, org_id: int, customer_ids: list[int], channels: list[str]
) -> dict[int, str]:
    """Each customer's first channel (in ``channels`` order) with a current consent."""
    chosen: dict[int, str] = {}
    for channel in channels:
        left = [i for i in customer_ids if i not in chosen]
        if not left:
            break
        allowed = customers_service.customers_with_consent(session, org_id=org_id, customer_ids=left,
                                                           channel=CONSENT_CHANNEL[channel])  # fmt: skip
        for customer_id in left:
            if customer_id in allowed:
                chosen[customer_id] = channel
    return chosen


@dataclass(frozen=True)
class AudienceCount:
    total: int
    reachable: int
    by_channel: dict[str, int]


def count(session: Session, *, org_id: int, audience: dict, channels: list[str]) -> AudienceCount:
    """How many customers the audience holds, and how many of them may be reached on the channels (each
    counted on the first channel they consented to)."""
    ids = audience_ids(session, org_id=org_id, audience=audience)
    chosen = channels_by_customer(session, org_id=org_id, customer_ids=ids, channels=channels)
    by_channel = {channel: 0 for channel in channels}
    for channel in chosen.values():
        by_channel[channel] += 1
    return AudienceCount(total=len(ids), reachable=len(chosen), by_channel=by_channel)


def sample(session: Session, *, org_id: int, audience: dict, size: int) -> list[Customer]:
    """The first ``size`` customers of the audience (by id), for previews."""
    ids = audience_ids(session, org_id=org_id, audience=audience)[:size]
    if not ids:
        return []
    return list(session.scalars(select(Customer).where(customers_service.in_org(Customer.org_id, org_id),
                                                       Customer.id.in_(ids)).order_by(Customer.id)))  # fmt: skip
