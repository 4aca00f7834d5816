"""Sending a campaign: launching and pausing it, assigning each customer to a variant or the hold-out,
rendering their message and handing it to ``notify``; the periodic job that sends scheduled and
recurring campaigns and turns rule triggers into triggered offers.

* **Assignment** is deterministic: SHA-256 of ``"<campaign id>:<customer id>"`` read as a number in
  [0, 1); below ``holdout_percent`` / 100 is the hold-out, the rest is split by the variants' weights.
  The same customer lands in the same group at every occurrence.
* **Idempotence**: a customer is taken into an occurrence once (unique recipient row per campaign,
  customer and occurrence), and the message's idempotency key is ``campaign:<id>:<occurrence>:<customer>``;
  re-running an occurrence or re-reading a trigger sends nothing twice.
* **Speed**: an occurrence is worked a chunk of customers at a time, set-based: the groups are hashed over
  the chunk with numpy, names, consents, points and places are read once per chunk, each template is
  compiled once, and recipients, messages and message history are written by multi-row inserts.
* **Background launch**: a one-off launched to a big audience (``campaign_background_from``) is left
  ``launching`` by the request, which answers at once; :func:`finish_launch` sends it in a session of its
  own, committing chunk by chunk. A launch cut off (the process stopped) is finished by the campaign job
  once it has written nothing for :data:`LAUNCH_STALE`; the recipients already taken in are skipped.
* **Consent**: each customer gets the first of the campaign's channels they consented to; one without any
  is recorded (``skipped = no_consent``) and sent nothing. Notify checks the consent again when sending.
* **Budget**: a message costs its channel's ``costs`` entry. When the next message would take ``spent``
  past ``budget`` the campaign stops sending: the rest are recorded with ``skipped = budget`` and the
  campaign is paused with ``stop_reason = budget``.
* **Triggers**: the job reads unconsumed triggers named by running triggered campaigns, claims each one
  (``consumed_by = campaign:<ids>``), and sends the offer to the trigger's customer when the trigger's data
  match the campaign's conditions, the customer is in the audience and did not get the campaign within
  its cooldown.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.campaigns import audience as audience_module
from patron.campaigns import personalise, templates
from patron.campaigns.models import Campaign, CampaignRecipient, CampaignVariant
from patron.campaigns.schedule import next_occurrence, occurrence_key, zone_or_raise
from patron.campaigns.service import list_variants
from patron.core import audit
from patron.core.audit import Actor
from patron.core.db import utcnow
from patron.core.errors import Conflict
from patron.notify import bulk as notify_bulk
from patron.orders import insights as order_insights
from patron.rules import service as rules_service
from patron.rules import trigger_reads

log = logging.getLogger("patron.campaigns")
SCALE = 2**64
#: customers taken into an occurrence per round of reads and inserts (and per commit of a background launch)
LAUNCH_CHUNK = 2000


def assign(campaign_id: int, customer_id: int, holdout_percent: int,
           variants: list[CampaignVariant]) -> CampaignVariant | None:  # fmt: skip
    """The customer's variant, or None for the hold-out (see the module's description)."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / SCALE
    share = holdout_percent / 100
    if u < share:
        return None
    point = (u - share) / (1 - share) * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant
    return variants[-1]


@dataclass
class Outcome:
    """What one occurrence did."""

    assigned: int = 0
    queued: int = 0
    held_out: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    budget_stop: bool = False

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _needed(variants: list[CampaignVariant]) -> set[str]:
    used: set[str] = set()
    for i, variant in enumerate(variants):
        used |= templates.check_template(variant.subject, field=f"variants[{i}].subject")
        used |= templates.check_template(variant.body, field=f"variants[{i}].body")
    return used


def assign_many(campaign_id: int, customer_ids: list[int], holdout_percent: int,
                variants: list[CampaignVariant]) -> np.ndarray:  # fmt: skip
    """:func:`assign` for many customers at once: each one's index in ``variants``, -1 for the hold-out.
    The same arithmetic in the same order, so both give the same groups."""
    digests = b"".join(hashlib.sha256(f"{campaign_id}:{i}".encode()).digest()[:8] for i in customer_ids)
    u = np.frombuffer(digests, dtype=">u8").astype(np.float64) / SCALE
    share = holdout_percent / 100
    point = (u - share) / (1 - share) * sum(v.weight for v in variants)
    chosen = np.full(len(customer_ids), len(variants) - 1, dtype=np.int64)
    open_ = np.ones(len(customer_ids), dtype=bool)
    for i, variant in enumerate(variants):
        point = point - variant.weight
        hit = open_ & (point < 0)
        chosen[hit] = i
        open_ &= ~hit
    chosen[u < share] = -1
    return chosen


def run_occurrence(
    session: Session,
    *,
    campaign: Campaign,
    occurrence: str,
    customer_ids: list[int],
    now: datetime,
    trigger_data: dict[str, Any] | None = None,
    after_chunk: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Take ``customer_ids`` into one occurrence of the campaign and queue their messages (see the
    module's description). Customers already in the occurrence are left alone, so an occurrence cut off
    half-way is finished by running it again. Works a chunk of :data:`LAUNCH_CHUNK` customers at a time:
    the groups by hash over the chunk, the customers' names and consents and the costly template fields
    by one read each, the recipients and messages by multi-row inserts; ``after_chunk`` (a background
    launch commits there) is called after each chunk is written."""
    outcome = Outcome()
    variants = list_variants(session, campaign=campaign)
    needed = _needed(variants)
    already = set(session.scalars(select(CampaignRecipient.customer_id).where(
        CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.occurrence == occurrence)))  # fmt: skip
    todo = sorted({i for i in customer_ids if i not in already})
    costs = {ch: Decimal(str(amount)) for ch, amount in (campaign.costs or {}).items()}
    spent = Decimal(campaign.spent or 0)
    table = CampaignRecipient.__table__
    shared = personalise.SharedReads()
    for start in range(0, len(todo), LAUNCH_CHUNK):
        customers = audience_module.names_by_id(session, org_id=campaign.org_id,
                                                customer_ids=todo[start : start + LAUNCH_CHUNK])  # fmt: skip
        ids = [c.id for c in customers]
        groups = assign_many(campaign.id, ids, campaign.holdout_percent, variants).tolist()
        sendable = [c for c, g in zip(customers, groups, strict=True) if g >= 0]
        channels = audience_module.channels_by_customer(session, org_id=campaign.org_id,
                                                        customer_ids=[c.id for c in sendable],
                                                        channels=list(campaign.channels))  # fmt: skip
        contexts = personalise.build_contexts(session, org_id=campaign.org_id, customers=[
            c for c in sendable if c.id in channels], campaign_name=campaign.name, needed=needed,
            trigger_data=trigger_data, shared=shared)  # fmt: skip
        recipients: list[dict[str, Any]] = []
        outgoing: list[notify_bulk.Outgoing] = []
        for customer, group in zip(customers, groups, strict=True):
            variant = variants[group] if group >= 0 else None
            recipient = {"org_id": campaign.org_id, "campaign_id": campaign.id, "customer_id": customer.id,
                         "occurrence": occurrence, "variant_id": variant.id if variant else None,
                         "holdout": variant is None, "assigned_at": now, "cost": Decimal("0"), "channel": None,
                         "message_id": None, "skipped": None}  # fmt: skip
            recipients.append(recipient)
            outcome.assigned += 1
            if variant is None:
                outcome.held_out += 1
                continue
            channel = channels.get(customer.id)
            cost = costs.get(channel or "", Decimal("0"))
            if channel is None:
                recipient["skipped"] = "no_consent"
            elif outcome.budget_stop or (campaign.budget is not None and spent + cost > campaign.budget):
                recipient["skipped"] = "budget"
                outcome.budget_stop = True
            if recipient["skipped"]:
                outcome.skip(recipient["skipped"])
                continue
            context = contexts[customer.id]
            key = f"campaign:{campaign.id}:{occurrence}:{customer.id}"
            try:
                message = notify_bulk.Outgoing(
                    customer_id=customer.id, channel=channel, idempotency_key=key,
                    subject=templates.render(variant.subject, context, field=f"variants[{group}].subject"),
                    body=templates.render(variant.body, context, field=f"variants[{group}].body"))  # fmt: skip
                notify_bulk.check(message)  # an empty body, say: this customer is skipped, not the chunk
            except Exception:
                log.info("campaign %s: template failed for customer %s", campaign.id, customer.id)
                recipient["skipped"] = "template"
                outcome.skip("template")
                continue
            outgoing.append(message)
            recipient.update(channel=channel, cost=cost, message_id=key)
            spent += cost
            outcome.queued += 1
        message_ids = notify_bulk.enqueue_many(
            session, org_id=campaign.org_id, messages=outgoing, campaign_id=campaign.id
        )
        for recipient in recipients:
            if recipient["message_id"] is not None:
                recipient["message_id"] = message_ids[recipient["message_id"]]
        if recipients:
            session.execute(table.insert(), recipients)
        if after_chunk is not None:
            after_chunk(outcome)
    campaign.spent = spent
    campaign.last_run_at = now
    if outcome.budget_stop:
        campaign.status, campaign.stop_reason, campaign.next_run_at = "paused", "budget", None
    session.flush()
    return outcome


def _run_audience(session: Session, campaign: Campaign, occurrence: str, now: datetime,
                  after_chunk: Callable[[Outcome], None] | None = None) -> Outcome:  # fmt: skip
    ids = audience_module.audience_ids(session, org_id=campaign.org_id, audience=campaign.audience)
    return run_occurrence(session, campaign=campaign, occurrence=occurrence, customer_ids=ids, now=now,
                          after_chunk=after_chunk)  # fmt: skip


def do_launch_campaign(session: Session, *, campaign: Campaign, now: datetime | None = None,
                       background: bool = False) -> Outcome:  # fmt: skip
    """Start (or resume) a campaign. A one-off without ``send_at`` in the future sends now and is done
    (with ``background``, it is left ``launching`` for :func:`finish_launch`); with one it is
    ``scheduled``; a recurring one is ``running`` from its next occurrence; a triggered one is ``running``
    and acts on triggers emitted from now on."""
    now = now or utcnow()
    if campaign.status not in ("draft", "paused", "scheduled"):
        raise Conflict(f"A {campaign.status} campaign cannot be launched.", field="status")
    if campaign.stop_reason == "budget" and campaign.budget is not None and campaign.spent >= campaign.budget:
        raise Conflict("The campaign has spent its budget; raise the budget to resume it.", field="budget")
    before = campaign.status
    campaign.stop_reason = None
    campaign.launched_at = campaign.launched_at or now
    outcome = Outcome()
    if campaign.kind == "one_off":
        if campaign.send_at is not None and campaign.send_at > now:
            campaign.status, campaign.next_run_at = "scheduled", campaign.send_at
        elif background:
            campaign.status, campaign.next_run_at = "launching", None
        else:
            campaign.status, campaign.next_run_at = "running", None
            outcome = _run_audience(session, campaign, "once", now)
            if campaign.status == "running":
                campaign.status = "done"
    elif campaign.kind == "recurring":
        tz = zone_or_raise(campaign.timezone)
        campaign.status, campaign.next_run_at = "running", next_occurrence(campaign.recurrence, tz, now)
    else:
        campaign.status, campaign.next_run_at = "running", None
    audit.record(session, action="launch", entity="campaigns", entity_id=str(campaign.id), org_id=campaign.org_id,
                 before={"status": before}, after={"status": campaign.status, "queued": outcome.queued,
                                                   "assigned": outcome.assigned})  # fmt: skip
    session.flush()
    return outcome


# --- launching in the background ---------------------------------------------------------------------

#: a ``launching`` campaign whose launch has not written anything for this long is taken to be cut off
#: (the process stopped) and is finished by the campaign job
LAUNCH_STALE = timedelta(minutes=5)
_running: set[int] = set()
_running_lock = threading.Lock()


def sends_in_background(
    session: Session, *, campaign: Campaign, threshold: int, now: datetime | None = None
) -> bool:
    """Whether launching the campaign now sends a one-off to at least ``threshold`` customers (and so is
    better done in the background). Resolving the audience here also reports a bad one (422) at once."""
    now = now or utcnow()
    if campaign.kind != "one_off" or campaign.status not in ("draft", "paused", "scheduled"):
        return False
    if campaign.send_at is not None and campaign.send_at > now:
        return False
    ids = audience_module.audience_ids(session, org_id=campaign.org_id, audience=campaign.audience)
    return len(ids) >= threshold


def launched_recipients(session: Session, *, campaign: Campaign) -> int:
    """How many customers a launching one-off has taken in so far."""
    return session.scalar(select(func.count(CampaignRecipient.id)).where(
        CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.occurrence == "once")) or 0  # fmt: skip


def _continue_launch(session: Session, campaign: Campaign, now: datetime, *, commit: bool) -> Outcome:
    """Send a ``launching`` one-off to the audience members it has not taken in yet, then mark it done.
    The spend is counted again from the recipients written before, so a resumed launch keeps to the
    budget; with ``commit`` each chunk is committed as it is written (a heartbeat in ``updated_at``)."""
    campaign.spent = session.scalar(select(func.coalesce(func.sum(CampaignRecipient.cost), 0)).where(
        CampaignRecipient.campaign_id == campaign.id)) or Decimal("0")  # fmt: skip

    def after_chunk(_outcome: Outcome) -> None:
        campaign.updated_at = utcnow()
        if commit:
            session.commit()

    outcome = _run_audience(session, campaign, "once", now, after_chunk=after_chunk)
    if campaign.status == "launching":
        campaign.status = "done"
    session.flush()
    return outcome


def finish_launch(factory: sessionmaker[Session], *, org_id: int, campaign_id: int) -> Outcome | None:
    """Send a campaign left ``launching`` by :func:`do_launch_campaign`, in a session of its own,
    committing chunk by chunk (run after the launch request has answered). A launch cut off half-way
    stays ``launching`` and is finished by :func:`run_due_campaigns`; nothing is sent twice (one recipient
    row per customer, one message per idempotency key). None when the campaign is not launching or is
    already being sent by this process."""
    with _running_lock:
        if campaign_id in _running:
            return None
        _running.add(campaign_id)
    try:
        with factory() as session:
            session.info["actor"] = Actor(org_id=org_id, label="campaigns:launch")
            campaign = session.scalar(
                select(Campaign).where(Campaign.org_id == org_id, Campaign.id == campaign_id)
            )
            if campaign is None or campaign.status != "launching":
                return None
            try:
                outcome = _continue_launch(session, campaign, utcnow(), commit=True)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("campaign %s: the launch stopped; the campaign job will finish it", campaign_id)
                return None
            log.info(
                "campaign %s launched: %s assigned, %s queued", campaign_id, outcome.assigned, outcome.queued
            )
            return outcome
    finally:
        with _running_lock:
            _running.discard(campaign_id)


def _resume_stale_launches(session: Session, now: datetime) -> int:
    stale = list(session.scalars(select(Campaign).where(
        Campaign.status == "launching", Campaign.updated_at <= now - LAUNCH_STALE).order_by(Campaign.id)))  # fmt: skip
    acted = 0
    for campaign in stale:
        with _running_lock:
            if campaign.id in _running:
                continue
        log.info("campaign %s: finishing a launch that was cut off", campaign.id)
        acted += _guarded(
            session, campaign, lambda c=campaign: _continue_launch(session, c, now, commit=False)
        )
    return acted


def do_pause_campaign(session: Session, *, campaign: Campaign) -> Campaign:
    """Stop sending; a paused campaign can be changed and launched again."""
    if campaign.status not in ("scheduled", "running"):
        raise Conflict(f"A {campaign.status} campaign cannot be paused.", field="status")
    campaign.status, campaign.next_run_at = "paused", None
    session.flush()
    return campaign


# --- triggers ----------------------------------------------------------------------------------------


def _matches(conditions: dict[str, str], data: dict[str, Any]) -> bool:
    return all(str(data.get(key)) == value for key, value in conditions.items())


def _cooling_down(session: Session, campaign: Campaign, customer_id: int, now: datetime) -> bool:
    hours = (campaign.trigger or {}).get("cooldown_hours", 0)
    if not hours:
        return False
    recent = session.scalar(select(CampaignRecipient.id).where(
        CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.customer_id == customer_id,
        CampaignRecipient.holdout.is_(False), CampaignRecipient.message_id.is_not(None),
        CampaignRecipient.assigned_at > now - timedelta(hours=hours)).limit(1))  # fmt: skip
    return recent is not None


def process_triggers(session: Session, *, org_id: int, campaigns: list[Campaign], now: datetime) -> int:
    """Act on the organisation's pending triggers for its running triggered ``campaigns``; how many
    triggers were consumed."""
    by_name: dict[str, list[Campaign]] = {}
    for campaign in campaigns:
        by_name.setdefault(campaign.trigger["name"], []).append(campaign)
    consumed = 0
    for trigger in trigger_reads.pending_triggers(session, org_id=org_id, names=by_name):
        listeners = [c for c in by_name[trigger.name] if c.status == "running"]
        if not listeners:
            continue
        try:
            with session.begin_nested():
                rules_service.do_consume_trigger(session, org_id=org_id, trigger_id=trigger.id, now=now,
                                                 consumed_by="campaign:" + ",".join(str(c.id) for c in listeners))  # fmt: skip
        except Conflict:
            continue  # another worker has it
        consumed += 1
        for campaign in listeners:
            customer_id = trigger.customer_id
            if customer_id is None or not _matches(
                campaign.trigger.get("conditions") or {}, trigger.data or {}
            ):
                continue
            if _cooling_down(session, campaign, customer_id, now):
                continue
            if not audience_module.contains(
                session, org_id=org_id, audience=campaign.audience, customer_id=customer_id
            ):
                continue
            run_occurrence(session, campaign=campaign, occurrence=f"trigger:{trigger.id}", customer_ids=[customer_id],
                           now=now, trigger_data=trigger.data or {})  # fmt: skip
    return consumed


# --- built-in triggers: no purchase for N days ------------------------------------------------------

#: a triggered campaign on this name is evaluated by the campaign job itself, once a day: customers whose
#: latest order is at least ``conditions.days`` (default 60) days old get the offer once per lapse
NO_PURCHASE = "no_purchase"
NO_PURCHASE_EVERY = timedelta(days=1)


def process_no_purchase(session: Session, *, campaign: Campaign, now: datetime) -> int:
    """Send a ``no_purchase`` campaign to the customers of its audience who lapsed since their last order
    (occurrence ``no_purchase:<date of that order>``, so one lapse sends once); how many were taken in."""
    days = int((campaign.trigger.get("conditions") or {}).get("days", 60))
    lapsed = order_insights.lapsed_customers(
        session, org_id=campaign.org_id, before=now - timedelta(days=days)
    )
    members = set(audience_module.audience_ids(session, org_id=campaign.org_id, audience=campaign.audience))
    by_occurrence: dict[str, list[int]] = {}
    for customer_id, last_order_at in lapsed.items():
        if customer_id in members and not _cooling_down(session, campaign, customer_id, now):
            by_occurrence.setdefault(f"no_purchase:{last_order_at.date().isoformat()}", []).append(
                customer_id
            )
    taken = 0
    for occurrence, customer_ids in sorted(by_occurrence.items()):
        taken += run_occurrence(session, campaign=campaign, occurrence=occurrence, customer_ids=sorted(customer_ids),
                                now=now).assigned  # fmt: skip
        if campaign.status != "running":
            break
    campaign.last_run_at = now
    return taken


# --- the periodic job --------------------------------------------------------------------------------


def _run_due(session: Session, campaign: Campaign, now: datetime) -> bool:
    """Send a scheduled one-off, or a recurring campaign's due occurrence."""
    if campaign.kind == "one_off":
        campaign.status, campaign.next_run_at = "running", None
        _run_audience(session, campaign, "once", now)
        if campaign.status == "running":
            campaign.status = "done"
    else:
        tz = zone_or_raise(campaign.timezone)
        _run_audience(session, campaign, occurrence_key(campaign.next_run_at, tz), now)
        if campaign.status == "running":
            campaign.next_run_at = next_occurrence(campaign.recurrence, tz, now)
    return True


def _guarded(session: Session, campaign: Campaign, work) -> int:
    """Run one campaign's work in a savepoint: a campaign that fails is logged and left as it was (to be
    tried again next time) without holding back the others. 1 if it ran."""
    try:
        with session.begin_nested():
            work()
        return 1
    except Exception:
        log.exception("campaign %s failed", campaign.id)
        session.refresh(campaign)
        return 0


def run_due_campaigns(session: Session, *, now: datetime | None = None) -> int:
    """Send what is due: launches cut off half-way (see :func:`finish_launch`), scheduled one-offs whose
    time has come, recurring campaigns' occurrences, and triggered offers for pending triggers; then bring attribution up to date. Returns how many
    occurrences and triggers were acted on. Registered with the scheduler (``campaigns``)."""
    from patron.campaigns import birthday, results

    now = now or utcnow()
    acted = 0
    due = list(session.scalars(select(Campaign).where(
        Campaign.status.in_(("scheduled", "running")), Campaign.next_run_at.is_not(None),
        Campaign.next_run_at <= now).order_by(Campaign.next_run_at, Campaign.id)))  # fmt: skip
    acted += _resume_stale_launches(session, now)
    for campaign in due:
        acted += _guarded(session, campaign, lambda c=campaign: _run_due(session, c, now))
    triggered = list(session.scalars(select(Campaign).where(Campaign.status == "running",
                                                            Campaign.kind == "triggered")))  # fmt: skip
    by_org: dict[int, list[Campaign]] = {}
    for campaign in triggered:
        if campaign.trigger["name"] == NO_PURCHASE:
            if campaign.last_run_at is None or campaign.last_run_at <= now - NO_PURCHASE_EVERY:
                acted += _guarded(session, campaign, lambda c=campaign: process_no_purchase(session, campaign=c,
                                                                                            now=now) >= 0)  # fmt: skip
            continue
        if campaign.trigger["name"] == birthday.BIRTHDAY:
            if birthday.is_due(campaign, now):
                acted += _guarded(session, campaign, lambda c=campaign: birthday.process_birthdays(session, campaign=c,
                                                                                                  now=now) >= 0)  # fmt: skip
            continue
        by_org.setdefault(campaign.org_id, []).append(campaign)
    for org_id, campaigns in by_org.items():
        acted += process_triggers(session, org_id=org_id, campaigns=campaigns, now=now)
    results.refresh_open_campaigns(session, now=now)
    session.flush()
    return acted


# --- preview -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    customer_id: int
    name: str
    group: str
    channel: str | None
    subject: str
    body: str


def preview(session: Session, *, campaign: Campaign, size: int = 5,
            trigger_data: dict[str, Any] | None = None) -> list[Preview]:  # fmt: skip
    """The personalised message the first ``size`` customers of the audience would get (nothing is
    written or sent). A template that fails for one of them is a 422 naming the variant's field."""
    variants = list_variants(session, campaign=campaign)
    needed = _needed(variants)
    position = {v.id: i for i, v in enumerate(variants)}
    customers = audience_module.sample(session, org_id=campaign.org_id, audience=campaign.audience, size=size)
    channels = audience_module.channels_by_customer(session, org_id=campaign.org_id,
                                                    customer_ids=[c.id for c in customers],
                                                    channels=list(campaign.channels))  # fmt: skip
    shown = []
    for customer in customers:
        assigned = assign(campaign.id, customer.id, campaign.holdout_percent, variants)
        held, variant = assigned is None, assigned or variants[0]
        i = position[variant.id]
        context = personalise.build_context(session, org_id=campaign.org_id, customer=customer,
                                            campaign_name=campaign.name, needed=needed, trigger_data=trigger_data)  # fmt: skip
        shown.append(Preview(
            customer_id=customer.id, name=f"{customer.first_name} {customer.last_name}".strip(),
            group="holdout" if held else variant.name, channel=channels.get(customer.id),
            subject=templates.render(variant.subject, context, field=f"variants[{i}].subject"),
            body=templates.render(variant.body, context, field=f"variants[{i}].body"),
        ))  # fmt: skip
    return shown
