"""Messages to customers: enqueue one message for one customer on one channel, read them back, the
suppression list, Web Push subscriptions, the public link actions (unsubscribe, open and click tracking,
push opt-in) and the customer hooks (merge, erasure, privacy export).

The seam for campaigns and rule actions is :func:`enqueue` (or :func:`send`, the same with the
arguments of a staff send): it only records the message. Delivery happens in a worker
(:mod:`patron.notify.delivery`), which checks consent and the suppression list again when it sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import after_outer_commit, utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.core.reassign import reassign_customer_rows
from patron.customers import service as customers_service
from patron.notify import queue
from patron.notify.channels.email import URL_RE
from patron.notify.links import (
    LinkTarget,
    create_customer_link,
    delete_push_subscription,
    do_record_push_refusal,
    do_register_push_subscription,
    do_unsubscribe,
    issue_message_token,
    list_push_subscriptions,
    message_for_token,
    resolve_link,
)
from patron.notify.models import (
    CHANNELS,
    MESSAGE_STATUSES,
    PURPOSES,
    CustomerLink,
    Message,
    MessageEvent,
    PushSubscription,
    Suppression,
)
from patron.notify.suppressions import (
    add_suppression,
    is_suppressed,
    list_suppressions,
    remove_suppression,
)

__all__ = [
    "LinkTarget",
    "MessageFilter",
    "add_suppression",
    "create_customer_link",
    "delete_push_subscription",
    "do_mark_clicked",
    "do_mark_opened",
    "do_record_push_refusal",
    "do_register_push_subscription",
    "do_sms_status",
    "do_unsubscribe",
    "enqueue",
    "enqueue_message",
    "erase_customer",
    "export_customer",
    "get_inbox_message_or_raise",
    "get_message_or_raise",
    "is_suppressed",
    "issue_message_token",
    "list_history",
    "list_inbox",
    "list_messages",
    "list_push_subscriptions",
    "list_suppressions",
    "message_for_token",
    "reassign_customer",
    "record_status",
    "remove_suppression",
    "resolve_link",
    "send",
]

SUBJECT_MAX = 200
BODY_MAX = 10_000
KEY_MAX = 200
#: how far a status may move forward; ``failed`` and ``suppressed`` are final
RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "opened": 4, "clicked": 5}


# --- handing new messages to the queue after the commit ---------------------------------------------


def _announce(message_ids: list[int]) -> None:
    active = queue.active_queue()
    if active is not None:
        for message_id in message_ids:
            active.put(message_id)


def _after_commit(session: Session, message_id: int) -> None:
    """Put the message on the active queue once the transaction that made it has committed (a worker
    must not look for it earlier: on PostgreSQL its claim would find no row, and the message would wait
    for the next sweep). Without an active queue a worker's sweep finds it."""
    after_outer_commit(session, "notify", message_id, _announce)


# --- history -------------------------------------------------------------------------------------


def record_status(session: Session, message: Message, status: str, detail: str = "", *,
                  at: datetime | None = None) -> None:  # fmt: skip
    """Move the message to ``status`` and keep the change in its history."""
    at = at or utcnow()
    message.status = status
    message.updated_at = at
    session.add(MessageEvent(org_id=message.org_id, message_id=message.id, status=status, at=at,
                             detail=detail[:500]))  # fmt: skip


def list_history(session: Session, *, message: Message) -> list[MessageEvent]:
    return list(
        session.scalars(
            select(MessageEvent)
            .where(MessageEvent.org_id == message.org_id, MessageEvent.message_id == message.id)
            .order_by(MessageEvent.at, MessageEvent.id)
        )
    )


# --- enqueue ---------------------------------------------------------------------------------------


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise Invalid(f"Unknown {field} '{value}'; choose one of {', '.join(choices)}.", field=field)


def _links(body: str, data: dict[str, Any]) -> list[str]:
    urls = [m.group(0) for m in URL_RE.finditer(body)]
    if isinstance(data.get("url"), str) and data["url"]:
        urls.append(data["url"])
    return list(dict.fromkeys(urls))


def _check_content(*, channel: str, subject: str, body: str, data: dict[str, Any] | None,
                   idempotency_key: str | None) -> None:  # fmt: skip
    _check_choice(channel, CHANNELS, "channel")
    if len(subject) > SUBJECT_MAX:
        raise Invalid(f"The subject has at most {SUBJECT_MAX} characters.", field="subject")
    if not body.strip():
        raise Invalid("The body must not be empty.", field="body")
    if len(body) > BODY_MAX:
        raise Invalid(f"The body has at most {BODY_MAX} characters.", field="body")
    if channel == "email" and not subject.strip():
        raise Invalid("An e-mail needs a subject.", field="subject")
    if data is not None and not isinstance(data, dict):
        raise Invalid("data must be a JSON object.", field="data")
    url = (data or {}).get("url")
    if url is not None and (not isinstance(url, str) or not re.fullmatch(r"https?://\S+", url)):
        raise Invalid("data.url must be an http(s) URL.", field="data.url")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= KEY_MAX):
        raise Invalid(f"The idempotency key has 1-{KEY_MAX} characters.", field="idempotency_key")


def _by_key(session: Session, *, org_id: int, idempotency_key: str) -> Message | None:
    return session.scalar(
        select(Message).where(Message.org_id == org_id, Message.idempotency_key == idempotency_key)
    )


def _same_request(message: Message, *, customer_id: int, channel: str) -> Message:
    if message.customer_id != customer_id or message.channel != channel:
        raise Conflict("The idempotency key was already used for another customer or channel.",
                       field="idempotency_key")
    return message


def enqueue_message(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    channel: str,
    subject: str,
    body: str,
    data: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    campaign_id: int | None = None,
    created_by_id: int | None = None,
    purpose: str = "service",
) -> tuple[Message, bool]:
    """Record a message for delivery; ``(message, created)``. A known ``idempotency_key`` returns the
    message made with it (``created`` False) and sends nothing more; the same key for another customer
    or channel is a Conflict. Consent is not checked here but when the message is sent; so are quiet
    hours and frequency caps, for a ``marketing`` message (:mod:`patron.notify.fatigue`)."""
    _check_content(channel=channel, subject=subject, body=body, data=data, idempotency_key=idempotency_key)
    _check_choice(purpose, PURPOSES, "purpose")
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    if idempotency_key is not None:
        existing = _by_key(session, org_id=org_id, idempotency_key=idempotency_key)
        if existing is not None:
            return _same_request(existing, customer_id=customer_id, channel=channel), False
    now = utcnow()
    data = dict(data or {})
    message = Message(
        org_id=org_id, customer_id=customer_id, channel=channel, subject=subject.strip(), body=body, data=data,
        links=_links(body, data), idempotency_key=idempotency_key, status="queued", attempts=0,
        next_attempt_at=now, campaign_id=campaign_id, created_by_id=created_by_id, created_at=now, updated_at=now,
        purpose=purpose,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
    except IntegrityError:
        # another request with the same key committed first
        existing = _by_key(session, org_id=org_id, idempotency_key=idempotency_key or "")
        if existing is None:
            raise
        return _same_request(existing, customer_id=customer_id, channel=channel), False
    session.add(MessageEvent(org_id=org_id, message_id=message.id, status="queued", at=now, detail="enqueued"))
    session.flush()
    _after_commit(session, message.id)
    return message, True


def enqueue(session: Session, *, org_id: int, customer_id: int, channel: str, subject: str, body: str,
            data: dict[str, Any] | None = None, idempotency_key: str | None = None,
            campaign_id: int | None = None, purpose: str = "marketing") -> Message:  # fmt: skip
    """Record a message for one customer on one channel and hand it to the delivery queue (the seam
    campaigns and rule actions call; their messages are ``marketing`` unless said otherwise). See
    :func:`enqueue_message`."""
    message, _created = enqueue_message(
        session, org_id=org_id, customer_id=customer_id, channel=channel, subject=subject, body=body, data=data,
        idempotency_key=idempotency_key, campaign_id=campaign_id, purpose=purpose,
    )  # fmt: skip
    return message


send = enqueue


# --- reads ---------------------------------------------------------------------------------------


def get_message_or_raise(session: Session, *, org_id: int, message_id: int) -> Message:
    message = session.scalar(select(Message).where(Message.org_id == org_id, Message.id == message_id))
    if message is None:
        raise NotFound(f"No message {message_id}.", field="message_id")
    return message


@dataclass(frozen=True)
class MessageFilter:
    customer_id: int | None = None
    channel: str | None = None
    status: str | None = None
    campaign_id: int | None = None


def list_messages(session: Session, *, org_id: int, filters: MessageFilter | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[Message], int]:  # fmt: skip
    """Messages matching ``filters``, newest first, and the total that match."""
    filters = filters or MessageFilter()
    query = select(Message).where(Message.org_id == org_id)
    if filters.customer_id is not None:
        query = query.where(Message.customer_id == filters.customer_id)
    if filters.channel is not None:
        _check_choice(filters.channel, CHANNELS, "channel")
        query = query.where(Message.channel == filters.channel)
    if filters.status is not None:
        _check_choice(filters.status, MESSAGE_STATUSES, "status")
        query = query.where(Message.status == filters.status)
    if filters.campaign_id is not None:
        query = query.where(Message.campaign_id == filters.campaign_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Message.id.desc()).limit(limit).offset(offset))
    return list(rows), total


INBOX_STATUSES = ("delivered", "opened", "clicked")


def list_inbox(session: Session, *, org_id: int, customer_id: int, unread_only: bool = False, limit: int = 50,
               offset: int = 0) -> tuple[list[Message], int]:  # fmt: skip
    """The customer's in-app messages that reached the inbox, newest first."""
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    statuses = ("delivered",) if unread_only else INBOX_STATUSES
    query = select(Message).where(
        Message.org_id == org_id, Message.customer_id == customer_id, Message.channel == "in_app",
        Message.status.in_(statuses),
    )  # fmt: skip
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Message.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def get_inbox_message_or_raise(session: Session, *, org_id: int, customer_id: int, message_id: int) -> Message:
    message = session.scalar(
        select(Message).where(
            Message.org_id == org_id, Message.customer_id == customer_id, Message.id == message_id,
            Message.channel == "in_app", Message.status.in_(INBOX_STATUSES),
        )  # fmt: skip
    )
    if message is None:
        raise NotFound(f"No message {message_id} in the customer's inbox.", field="message_id")
    return message


# --- engagement: opened, clicked, delivery reports ---------------------------------------------------


def _forward(session: Session, message: Message, status: str, detail: str) -> bool:
    """Move forward to ``status`` when that is further than where the message is (never back, never out
    of a final state). True if the status changed."""
    if message.status not in RANK or RANK[status] <= RANK[message.status]:
        return False
    record_status(session, message, status, detail)
    return True


def do_mark_opened(session: Session, *, message: Message, how: str = "pixel") -> Message:
    if message.status in ("queued", "sending", "failed", "suppressed"):
        return message
    now = utcnow()
    if message.opened_at is None:
        message.opened_at = now
    _forward(session, message, "opened", f"opened ({how})")
    session.flush()
    return message


def do_mark_clicked(session: Session, *, message: Message, url: str) -> Message:
    """Record a click on one of the message's own links (an open too, if none was seen)."""
    if url not in (message.links or []):
        raise Invalid("The link is not one of this message's links.", field="u")
    if message.status in ("queued", "sending", "failed", "suppressed"):
        return message
    now = utcnow()
    message.opened_at = message.opened_at or now
    message.clicked_at = message.clicked_at or now
    _forward(session, message, "clicked", f"clicked {url}"[:500])
    session.flush()
    return message


def do_sms_status(session: Session, *, message_id: int, status: str, error: str | None = None) -> Message:
    """A delivery report of the SMS gateway: ``delivered`` or ``failed``."""
    message = session.scalar(select(Message).where(Message.id == message_id, Message.channel == "sms"))
    if message is None:
        raise NotFound(f"No SMS message {message_id}.", field="message_id")
    _check_choice(status, ("delivered", "failed"), "status")
    now = utcnow()
    if status == "delivered":
        message.delivered_at = message.delivered_at or now
        _forward(session, message, "delivered", "delivery report")
    elif message.status in ("sent", "delivered"):
        message.failed_at = now
        message.reason = "rejected"
        message.last_error = (error or "the gateway reported a failure")[:500]
        record_status(session, message, "failed", f"delivery report: {message.last_error}")
    session.flush()
    return message


# --- customer hooks (merge, erasure, privacy export) -----------------------------------------------

MESSAGE_EXPORT_FIELDS = ("id", "channel", "subject", "body", "data", "status", "reason", "address", "campaign_id",
                         "created_at", "sent_at", "delivered_at", "opened_at", "clicked_at", "failed_at")
SUBSCRIPTION_EXPORT_FIELDS = ("id", "endpoint", "user_agent", "created_at", "last_success_at")


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move a merged duplicate's messages and push subscriptions to the customer it was merged into."""
    moved = reassign_customer_rows(session, Message, org_id=org_id, from_customer_id=from_customer_id,
                                   to_customer_id=to_customer_id)  # fmt: skip
    for model in (PushSubscription, CustomerLink):
        reassign_customer_rows(session, model, org_id=org_id, from_customer_id=from_customer_id,
                               to_customer_id=to_customer_id)  # fmt: skip
    return moved


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Delete the customer's messages (with their history), push subscriptions and personal links, and the
    suppression entry naming the customer id. Returns how many messages went."""
    ids = list(session.scalars(select(Message.id).where(Message.org_id == org_id, Message.customer_id == customer_id)))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(MessageEvent).where(MessageEvent.org_id == org_id, MessageEvent.message_id.in_(chunk)))
        session.execute(delete(Message).where(Message.org_id == org_id, Message.id.in_(chunk)))
    for model in (PushSubscription, CustomerLink):
        session.execute(delete(model).where(model.org_id == org_id, model.customer_id == customer_id))
    session.execute(delete(Suppression).where(Suppression.org_id == org_id, Suppression.kind == "customer",
                                              Suppression.value == str(customer_id)))  # fmt: skip
    audit.record(session, action="erase", entity="notify_messages", org_id=org_id,
                 after={"customer_id": customer_id, "messages": len(ids)})  # fmt: skip
    return len(ids)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's messages and push subscriptions (without their keys)."""
    messages = session.scalars(select(Message).where(Message.org_id == org_id, Message.customer_id == customer_id)
                               .order_by(Message.id))  # fmt: skip
    subs = session.scalars(select(PushSubscription).where(PushSubscription.org_id == org_id,
                                                          PushSubscription.customer_id == customer_id)
                           .order_by(PushSubscription.id))  # fmt: skip
    return {
        "messages": [{n: audit.jsonable(getattr(m, n)) for n in MESSAGE_EXPORT_FIELDS} for m in messages],
        "push_subscriptions": [{n: audit.jsonable(getattr(s, n)) for n in SUBSCRIPTION_EXPORT_FIELDS} for s in subs],
    }

