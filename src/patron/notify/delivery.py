"""Delivering one message: claim it, check consent and the suppression list, send, record what happened.

1. **Claim** (one transaction): ``UPDATE ... SET status='sending', attempts=attempts+1 WHERE id=:id AND
   status='queued' AND next_attempt_at <= now``. Only one worker's update can match, so two workers, a
   duplicate queue entry or a late retry never send a message twice.
2. **Check** (same transaction): the customer still exists and is not erased, the consent for the
   channel is granted *now* (the customers' consent ledger), neither the customer nor the address is on
   the suppression list, and there is an address. Otherwise the message is ``suppressed`` with the
   reason (``no_consent``, ``suppressed``, ``no_address``, ``customer_gone``) and nothing is sent.
   A ``marketing`` message then meets the channel's quiet hours (held, still queued, until they end in
   the customer's time zone) and frequency caps (``suppressed``: ``daily_cap``, ``weekly_cap``); see
   :mod:`patron.notify.fatigue`.
3. **Send** outside any transaction, through the channel adapter.
4. **Record**: ``sent``/``delivered``; a passing failure goes back to ``queued`` with an exponential,
   jittered delay until ``PATRON_NOTIFY_MAX_ATTEMPTS``; a permanent one is ``failed``.

A worker that dies between 1 and 4 leaves the message ``sending``; :func:`fail_stale_claims` fails
such messages after a while (``interrupted``) rather than risk sending them twice.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope, utcnow
from patron.customers import service as customers_service
from patron.customers.normalise import local_zone
from patron.devices import service as devices_service
from patron.notify import fatigue
from patron.notify import service as notify_service
from patron.notify.channels import Job, Outcome, sender
from patron.notify.channels.mqtt import command_topic
from patron.notify.channels.webpush import Subscription
from patron.notify.models import CONSENT_CHANNEL, Message, PushSubscription

log = logging.getLogger("patron.notify")
STALE_CLAIM = timedelta(minutes=15)
ACTOR = Actor(org_id=None, label="notify-worker")


@dataclass(frozen=True)
class Delivered:
    """What one delivery call did: the message's status afterwards, and when to try again (Unix time)
    if it went back to the queue. ``status`` is None when another worker had the message."""

    status: str | None
    retry_at: float | None = None


def backoff_seconds(attempts: int, settings: Settings, *, rng: random.Random | None = None) -> float:
    """Delay before the next attempt after ``attempts`` tries: ``base * 2**(attempts-1)``, capped, of
    which a random half is taken off ("equal jitter"), so retries of many messages spread out."""
    rng = rng or random
    delay = min(settings.notify_retry_max_seconds, settings.notify_retry_base_seconds * 2 ** max(attempts - 1, 0))
    return delay / 2 + rng.uniform(0, delay / 2)


def claim(session: Session, *, message_id: int, now: datetime) -> bool:
    result = session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == "queued",
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
        .values(status="sending", attempts=Message.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _target(session: Session, message: Message, customer, settings: Settings):
    """Where the message goes on its channel, or None when the customer has no address there."""
    if message.channel == "email":
        return customer.email or None
    if message.channel == "sms":
        return customer.phone or None
    if message.channel == "push":
        subs = session.scalars(
            select(PushSubscription)
            .where(PushSubscription.org_id == message.org_id, PushSubscription.customer_id == message.customer_id)
            .order_by(PushSubscription.id)
        )
        found = [Subscription(s.id, s.endpoint, s.p256dh, s.auth) for s in subs]
        return found or None
    if message.channel == "device":
        devices = devices_service.list_customer_devices(
            session, org_id=message.org_id, customer_id=message.customer_id
        )
        org = accounts_service.get_organisation(session, org_id=message.org_id)
        slug = org.slug if org is not None else str(message.org_id)
        topics = [
            command_topic(prefix=settings.mqtt_topic_prefix, org_slug=slug, device_id=d.id)
            for d in devices
            if d.status == "active"
        ]
        return topics or None
    return "inbox"


def _prepare(session: Session, message: Message, settings: Settings, now: datetime) -> Job | Outcome:
    customer = customers_service.get_customer(
        session, org_id=message.org_id, customer_id=message.customer_id, include_merged=True
    )
    if customer is None or customer.erased_at is not None or customer.merged_into_id is not None:
        return Outcome("suppressed", reason="customer_gone")
    if not customers_service.has_consent(
        session, org_id=message.org_id, customer_id=message.customer_id, channel=CONSENT_CHANNEL[message.channel]
    ):
        return Outcome("suppressed", reason="no_consent")
    target = _target(session, message, customer, settings)
    address = target if isinstance(target, str) else None
    if notify_service.is_suppressed(
        session, org_id=message.org_id, customer_id=message.customer_id, channel=message.channel, address=address
    ):
        return Outcome("suppressed", reason="suppressed", address=address)
    if target is None:
        return Outcome("suppressed", reason="no_address")
    if message.purpose == "marketing":
        policy = fatigue.get_policy(session, org_id=message.org_id, channel=message.channel)
        if policy is not None:
            org = accounts_service.get_organisation(session, org_id=message.org_id)
            tz = local_zone(customer.timezone, org.timezone if org is not None else None)
            until = fatigue.quiet_until(policy, tz, now)
            if until is not None:
                return Outcome("held", reason=f"quiet hours until {until.astimezone(tz):%H:%M} {tz.key}", until=until)
            capped = fatigue.cap_reached(session, policy, message, now)
            if capped is not None:
                return Outcome("suppressed", reason=capped)
    token = notify_service.issue_message_token(message)
    return Job(
        message_id=message.id, org_id=message.org_id, channel=message.channel, subject=message.subject,
        body=message.body, data=dict(message.data or {}), links=list(message.links or []), token=token,
        target=target, public_url=settings.public_url,
    )  # fmt: skip


def _record(session: Session, message: Message, outcome: Outcome, settings: Settings, now: datetime) -> Delivered:
    if outcome.address is not None:
        message.address = outcome.address[:254]
    if outcome.provider_id is not None:
        message.provider_id = outcome.provider_id[:200]
    if outcome.gone_subscription_ids:
        for sub in session.scalars(select(PushSubscription).where(
                PushSubscription.org_id == message.org_id, PushSubscription.id.in_(outcome.gone_subscription_ids))):
            session.delete(sub)  # fmt: skip
    attempt = f"attempt {message.attempts}"
    if outcome.status in ("sent", "delivered"):
        message.sent_at = now
        message.last_error = outcome.error
        if outcome.status == "delivered":
            message.delivered_at = now
        notify_service.record_status(session, message, outcome.status, f"{attempt}: {outcome.status}", at=now)
        if message.channel == "push" and outcome.status == "sent":
            session.execute(update(PushSubscription).where(
                PushSubscription.org_id == message.org_id, PushSubscription.customer_id == message.customer_id,
                PushSubscription.id.notin_(outcome.gone_subscription_ids or [0])).values(last_success_at=now))  # fmt: skip
        return Delivered(outcome.status)
    if outcome.status == "held":
        message.attempts -= 1  # waiting for the quiet hours to end is not a try
        message.next_attempt_at = outcome.until
        notify_service.record_status(session, message, "queued", f"held: {outcome.reason}", at=now)
        return Delivered("queued", retry_at=outcome.until.timestamp())
    if outcome.status == "suppressed":
        message.reason = outcome.reason
        notify_service.record_status(session, message, "suppressed", outcome.reason or "", at=now)
        return Delivered("suppressed")
    message.last_error = (outcome.error or "")[:500] or None
    if outcome.status == "retry" and message.attempts < settings.notify_max_attempts:
        delay = backoff_seconds(message.attempts, settings)
        message.next_attempt_at = now + timedelta(seconds=delay)
        notify_service.record_status(
            session, message, "queued", f"{attempt} failed: {outcome.error}; retry in {delay:.1f} s", at=now
        )
        return Delivered("queued", retry_at=time.time() + delay)
    message.reason = outcome.reason or "attempts_exhausted"
    message.failed_at = now
    notify_service.record_status(session, message, "failed", f"{attempt}: {outcome.error or message.reason}", at=now)
    return Delivered("failed")


def deliver_message(
    factory: sessionmaker[Session], settings: Settings, message_id: int, *, now: datetime | None = None
) -> Delivered:
    """Claim, check, send and record one message (see the module's description). ``now`` is the
    moment the checks see and the outcome is recorded at (default the clock's)."""
    fixed = now
    now = now or utcnow()
    with session_scope(factory) as session:
        session.info["actor"] = ACTOR
        if not claim(session, message_id=message_id, now=now):
            return Delivered(None)
        message = session.get(Message, message_id)
        prepared = _prepare(session, message, settings, now)
        if isinstance(prepared, Outcome):
            return _record(session, message, prepared, settings, now)
    try:
        outcome = sender(prepared.channel)(prepared, settings)
    except Exception as exc:  # an adapter's bug must not leave the message claimed for ever
        log.exception("sending message %s failed", message_id)
        outcome = Outcome("retry", error=f"{exc.__class__.__name__}: {exc}"[:500])
    with session_scope(factory) as session:
        session.info["actor"] = ACTOR
        message = session.get(Message, message_id)
        if message is None or message.status != "sending":  # erased meanwhile
            return Delivered(message.status if message is not None else None)
        return _record(session, message, outcome, settings, fixed or utcnow())


def due_message_ids(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Queued messages whose time has come, oldest first (what a sweep puts on the queue)."""
    now = now or utcnow()
    return list(session.scalars(
        select(Message.id).where(Message.status == "queued",
                                 or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))
        .order_by(Message.next_attempt_at, Message.id).limit(limit)
    ))  # fmt: skip


def fail_stale_claims(session: Session, *, now: datetime | None = None) -> int:
    """Fail messages claimed long ago by a worker that never came back (``interrupted``): whether the
    provider got them is unknown, and a second copy is worse than none."""
    now = now or utcnow()
    stale = list(session.scalars(select(Message).where(Message.status == "sending",
                                                       Message.updated_at < now - STALE_CLAIM)))  # fmt: skip
    for message in stale:
        message.reason = "interrupted"
        message.failed_at = now
        notify_service.record_status(session, message, "failed", "the worker stopped while sending", at=now)
    return len(stale)


def run_due(
    factory: sessionmaker[Session], settings: Settings, *, limit: int = 500, now: datetime | None = None
) -> dict[str, int]:
    """Deliver every message that is due now, one after the other; ``{status: count}``."""
    with session_scope(factory) as session:
        ids = due_message_ids(session, limit=limit, now=now)
    counts: dict[str, int] = {}
    for message_id in ids:
        result = deliver_message(factory, settings, message_id, now=now)
        if result.status is not None:
            counts[result.status] = counts.get(result.status, 0) + 1
    return counts
