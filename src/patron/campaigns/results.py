"""Attribution and results: conversions found within the campaign's window after each assignment, the
funnel per variant and for the hold-out, uplift, cost; the customer's journey on their timeline.

Attribution is by intention to treat: a recipient's window opens when they were assigned (to a variant
or to the hold-out), whether or not a message reached them, so the hold-out is measured exactly like
the variants. A conversion (an order that counts as spending; a visit: the trigger named by the
conversion; or an app or device event of the conversion's ``type`` whose props match its ``where``) is
credited to the customer's latest assignment whose window it falls in; one order, visit or event counts
once per campaign. An event's time is when it happened (its ``ts``), and its value is the numeric prop
named by ``value_prop`` (0 without one, or when the prop is missing or not a number).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, null, select, union_all
from sqlalchemy.orm import Session

from patron.campaigns.models import HOLDOUT, Campaign, CampaignConversion, CampaignRecipient
from patron.campaigns.service import list_variants
from patron.core.db import utcnow
from patron.core.errors import Conflict
from patron.customers import service as customers_service
from patron.customers.timeline import TimelineItem
from patron.events import queries as event_queries
from patron.events import runtime as events_runtime
from patron.events.store import EventStore
from patron.notify import reports as notify_reports
from patron.orders import insights as order_insights
from patron.rules import trigger_reads

log = logging.getLogger("patron.campaigns")
SENT = ("sent", "delivered", "opened", "clicked")


#: an event's value beyond this (in either direction) does not fit the money column and counts as 0
MAX_EVENT_VALUE = Decimal("10000000000")


def event_value(props: dict[str, Any], prop: str | None) -> Decimal:
    """The value of an event conversion: the prop ``prop`` as a number (a JSON number, or text such as
    ``"12.50"``), to 4 decimals; 0 without ``prop``, when the event lacks it, or when it is not a finite number
    of a size money can hold."""
    if prop is None:
        return Decimal("0")
    raw = props.get(prop)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return Decimal("0")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        return Decimal("0")
    if not amount.is_finite() or abs(amount) >= MAX_EVENT_VALUE:
        return Decimal("0")
    return amount.quantize(Decimal("0.0001"))


def _same(found: Any, expected: Any) -> bool:
    """An event prop equals a ``where`` value: the same kind of value (a number is not a text, true is not
    1) and equal."""
    if isinstance(expected, bool) or isinstance(found, bool):
        return isinstance(expected, bool) and isinstance(found, bool) and found is expected
    if isinstance(expected, int | float):
        return isinstance(found, int | float) and found == expected
    return found == expected


def _event_conversions(store: EventStore, campaign: Campaign, customer_ids, since: datetime,
                       until: datetime) -> list[tuple[str, int, datetime, Decimal]]:  # fmt: skip
    spec = campaign.conversion
    where: dict[str, Any] = spec.get("where") or {}
    found = []
    for event in event_queries.customers_events(store, org_id=campaign.org_id, customer_ids=customer_ids,
                                                event_type=spec["type"], since=since, until=until):  # fmt: skip
        if event.customer_id is None or not all(
            key in event.props and _same(event.props[key], value) for key, value in where.items()
        ):
            continue
        value = event_value(event.props, spec.get("value_prop"))
        found.append((event.id, event.customer_id, event.ts, value))
    return found


def do_attribute(session: Session, *, campaign: Campaign, now: datetime | None = None,
                 store: EventStore | None = None) -> int:  # fmt: skip
    """Record the conversions not yet recorded (see the module's description); how many were new. An event
    conversion reads ``store``, by default the event store of the server this runs in; without one it is a
    Conflict naming ``conversion.kind``."""
    now = now or utcnow()
    window = timedelta(hours=int(campaign.conversion.get("window_hours", 72)))
    recipients = list(session.execute(
        select(CampaignRecipient.id, CampaignRecipient.customer_id, CampaignRecipient.assigned_at,
               CampaignRecipient.variant_id, CampaignRecipient.holdout, CampaignRecipient.message_id)
        .where(CampaignRecipient.org_id == campaign.org_id, CampaignRecipient.campaign_id == campaign.id)
    ))  # fmt: skip
    if not recipients:
        return 0
    by_customer: dict[int, list] = defaultdict(list)
    for row in recipients:
        by_customer[row.customer_id].append(row)
    since = min(r.assigned_at for r in recipients)
    until = min(max(r.assigned_at for r in recipients) + window, now + timedelta(microseconds=1))
    if until <= since:
        return 0
    kind = campaign.conversion.get("kind", "order")
    if kind == "order":
        found = [(str(o.id), o.customer_id, o.ordered_at, o.total) for o in order_insights.orders_between(
            session, org_id=campaign.org_id, customer_ids=by_customer, since=since, until=until)]  # fmt: skip
    elif kind == "event":
        store = store or events_runtime.store_serving(session)
        if store is None:
            raise Conflict("The event store is not available in this process; app-event conversions are "
                           "counted by the server.", field="conversion.kind")  # fmt: skip
        found = _event_conversions(store, campaign, by_customer, since, until)
    else:
        found = [(str(t.id), t.customer_id, t.created_at, Decimal("0")) for t in trigger_reads.triggers_between(
            session, org_id=campaign.org_id, name=campaign.conversion["name"], customer_ids=by_customer,
            since=since, until=until)]  # fmt: skip
    known = set(session.scalars(select(CampaignConversion.source_id).where(
        CampaignConversion.campaign_id == campaign.id, CampaignConversion.kind == kind)))  # fmt: skip
    added = 0
    for source_id, customer_id, at, value in found:
        if source_id in known:
            continue
        windows = [r for r in by_customer[customer_id] if r.assigned_at <= at < r.assigned_at + window]
        if not windows:
            continue
        recipient = max(windows, key=lambda r: (r.assigned_at, r.id))
        session.add(CampaignConversion(
            org_id=campaign.org_id, campaign_id=campaign.id, recipient_id=recipient.id, customer_id=customer_id,
            variant_id=recipient.variant_id, holdout=recipient.holdout, kind=kind, source_id=source_id,
            value=value or Decimal("0"), converted_at=at, message_id=recipient.message_id,
        ))  # fmt: skip
        known.add(source_id)
        added += 1
    session.flush()
    return added


def refresh_open_campaigns(session: Session, *, now: datetime) -> int:
    """Attribute for every campaign whose last send is recent enough for its window to be open. Campaigns
    converting on app events are left for later when no event store is open in this process."""
    added = 0
    store = events_runtime.store_serving(session)
    for campaign in session.scalars(select(Campaign).where(Campaign.last_run_at.is_not(None))):
        window = timedelta(hours=int(campaign.conversion.get("window_hours", 72)))
        if campaign.last_run_at + window + timedelta(hours=1) >= now:
            if campaign.conversion.get("kind") == "event" and store is None:
                log.info("campaign %s: no event store here; its event conversions wait", campaign.id)
                continue
            added += do_attribute(session, campaign=campaign, now=now, store=store)
    return added


# --- results -----------------------------------------------------------------------------------------


@dataclass
class GroupResult:
    """One variant's (or the hold-out's) funnel. ``conversion_rate`` is converted / assigned;
    ``uplift`` is that rate minus the hold-out's (percentage points / 100) and ``relative_uplift`` the
    ratio minus one (None without a hold-out or when its rate is zero)."""

    group: str
    variant_id: int | None
    assigned: int = 0
    messaged: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    conversions: int = 0
    value: Decimal = Decimal("0")
    cost: Decimal = Decimal("0")
    conversion_rate: float | None = None
    uplift: float | None = None
    relative_uplift: float | None = None
    cost_per_conversion: Decimal | None = None


@dataclass
class CampaignResults:
    campaign_id: int
    groups: list[GroupResult]
    cost_by_channel: dict[str, Decimal]
    skipped: dict[str, int]
    spent: Decimal
    budget: Decimal | None


def campaign_results(session: Session, *, campaign: Campaign, now: datetime | None = None,
                     store: EventStore | None = None) -> CampaignResults:  # fmt: skip
    """Bring attribution up to date (event conversions from ``store``, see :func:`do_attribute`), then count
    the funnel per variant and for the hold-out."""
    do_attribute(session, campaign=campaign, now=now, store=store)
    variants = list_variants(session, campaign=campaign)
    groups = {v.id: GroupResult(group=v.name, variant_id=v.id) for v in variants}
    holdout = GroupResult(group=HOLDOUT, variant_id=None)
    recipients = list(session.execute(
        select(CampaignRecipient.id, CampaignRecipient.variant_id, CampaignRecipient.holdout,
               CampaignRecipient.message_id, CampaignRecipient.skipped, CampaignRecipient.cost,
               CampaignRecipient.channel)
        .where(CampaignRecipient.org_id == campaign.org_id, CampaignRecipient.campaign_id == campaign.id)
    ))  # fmt: skip
    progress = notify_reports.message_progress(session, org_id=campaign.org_id,
                                               message_ids=[r.message_id for r in recipients if r.message_id])  # fmt: skip
    converted: dict[int, tuple[int, Decimal]] = {}
    for row in session.execute(
        select(CampaignConversion.recipient_id, func.count(CampaignConversion.id), func.sum(CampaignConversion.value))
        .where(CampaignConversion.campaign_id == campaign.id).group_by(CampaignConversion.recipient_id)
    ):  # fmt: skip
        converted[row[0]] = (int(row[1]), Decimal(row[2] or 0))
    cost_by_channel: dict[str, Decimal] = defaultdict(Decimal)
    skipped: dict[str, int] = defaultdict(int)
    for r in recipients:
        group = holdout if r.holdout else groups.get(r.variant_id)
        if group is None:
            continue
        group.assigned += 1
        if r.skipped:
            skipped[r.skipped] += 1
        if r.message_id is not None:
            group.messaged += 1
            group.cost += Decimal(r.cost or 0)
            cost_by_channel[r.channel] += Decimal(r.cost or 0)
            message = progress.get(r.message_id)
            if message is not None:
                group.sent += message.status in SENT or message.sent_at is not None
                group.delivered += bool(message.delivered_at or message.opened_at or message.clicked_at)
                group.opened += message.opened_at is not None
                group.clicked += message.clicked_at is not None
        if r.id in converted:
            count, value = converted[r.id]
            group.converted += 1
            group.conversions += count
            group.value += value
    ordered = [groups[v.id] for v in variants] + (
        [holdout] if campaign.holdout_percent or holdout.assigned else []
    )
    for group in ordered:
        group.conversion_rate = group.converted / group.assigned if group.assigned else None
        group.cost_per_conversion = (
            (group.cost / group.converted).quantize(Decimal("0.0001")) if group.converted else None
        )
    base = holdout.conversion_rate if holdout.assigned else None
    for group in ordered:
        if group is holdout or base is None or group.conversion_rate is None:
            continue
        group.uplift = group.conversion_rate - base
        group.relative_uplift = group.conversion_rate / base - 1 if base > 0 else None
    return CampaignResults(campaign_id=campaign.id, groups=ordered, cost_by_channel=dict(cost_by_channel),
                           skipped=dict(skipped), spent=Decimal(campaign.spent or 0), budget=campaign.budget)  # fmt: skip


@dataclass(frozen=True)
class RecipientRow:
    id: int
    customer_id: int
    occurrence: str
    group: str
    channel: str | None
    message_id: int | None
    message_status: str | None
    skipped: str | None
    cost: Decimal
    assigned_at: datetime
    converted: bool


def list_recipients(session: Session, *, campaign: Campaign, group: str | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[RecipientRow], int]:  # fmt: skip
    """The campaign's recipients in the order they were assigned, with their message's status."""
    names = {v.id: v.name for v in list_variants(session, campaign=campaign)}
    query = select(CampaignRecipient).where(CampaignRecipient.org_id == campaign.org_id,
                                            CampaignRecipient.campaign_id == campaign.id)  # fmt: skip
    if group == HOLDOUT:
        query = query.where(CampaignRecipient.holdout.is_(True))
    elif group is not None:
        ids = [i for i, name in names.items() if name == group]
        query = query.where(CampaignRecipient.variant_id.in_(ids or [0]))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(CampaignRecipient.id).limit(limit).offset(offset)))
    progress = notify_reports.message_progress(session, org_id=campaign.org_id,
                                               message_ids=[r.message_id for r in rows if r.message_id])  # fmt: skip
    converted = set(session.scalars(select(CampaignConversion.recipient_id).where(
        CampaignConversion.campaign_id == campaign.id, CampaignConversion.recipient_id.in_([r.id for r in rows] or [0]))))  # fmt: skip
    return [RecipientRow(
        id=r.id, customer_id=r.customer_id, occurrence=r.occurrence,
        group=HOLDOUT if r.holdout else names.get(r.variant_id, "?"), channel=r.channel, message_id=r.message_id,
        message_status=progress[r.message_id].status if r.message_id in progress else None, skipped=r.skipped,
        cost=r.cost, assigned_at=r.assigned_at, converted=r.id in converted,
    ) for r in rows], total  # fmt: skip


# --- the journey on the customer's timeline ------------------------------------------------------------


def journey_items(
    session: Session, *, org_id: int, customer_id: int, before: datetime | None, limit: int
) -> list[TimelineItem]:
    """Timeline provider: each campaign message's steps (sent, opened, clicked) and each conversion.

    The customer's conversions and messaged recipients come back in one statement (it runs on every
    timeline read, most often for customers without either); the messages' progress is one more, only
    when there are messages."""
    conversions = (
        select(
            CampaignConversion.campaign_id,
            Campaign.name,
            CampaignConversion.message_id,
            CampaignConversion.converted_at,
            CampaignConversion.kind,
            CampaignConversion.source_id,
            CampaignConversion.holdout,
        )
        .join(Campaign, Campaign.id == CampaignConversion.campaign_id)
        .where(CampaignConversion.org_id == org_id, CampaignConversion.customer_id == customer_id)
    )
    # the conversions go first: a compound statement takes its column types from its first part
    recipients = (
        select(CampaignRecipient.campaign_id, Campaign.name, CampaignRecipient.message_id, null(), null(),
               null(), null())
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(CampaignRecipient.org_id == org_id, CampaignRecipient.customer_id == customer_id,
               CampaignRecipient.message_id.is_not(None))
    )  # fmt: skip
    rows = list(session.execute(union_all(conversions, recipients)))
    sent = [row for row in rows if row.converted_at is None]
    progress = notify_reports.message_progress(
        session, org_id=org_id, message_ids=[row.message_id for row in sent]
    ) if sent else {}  # fmt: skip
    items: list[TimelineItem] = []
    for row in sent:
        message = progress.get(row.message_id)
        if message is None:
            continue
        for step, at in (
            ("sent", message.sent_at),
            ("opened", message.opened_at),
            ("clicked", message.clicked_at),
        ):
            if at is not None:
                items.append(TimelineItem(occurred_at=at, kind=f"campaign.{step}", ref_type="campaign",
                                          ref_id=row.campaign_id, summary=f"{row.name}: {message.channel} {step}",
                                          data={"message_id": message.id}))  # fmt: skip
    for row in rows:
        if row.converted_at is not None:
            items.append(TimelineItem(
                occurred_at=row.converted_at, kind="campaign.converted", ref_type="campaign",
                ref_id=row.campaign_id, summary=f"{row.name}: converted ({row.kind} {row.source_id})",
                data={"kind": row.kind, "source_id": row.source_id, "message_id": row.message_id,
                      "holdout": row.holdout},
            ))  # fmt: skip
    if before is not None:
        items = [i for i in items if i.occurred_at < before]
    items.sort(key=lambda i: i.occurred_at, reverse=True)
    return items[:limit]


customers_service.register_timeline_provider("campaigns", journey_items)
