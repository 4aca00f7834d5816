"""Queueing many messages at once (a campaign's send): the same rows :func:`patron.notify.service.enqueue`
writes - the message and the first line of its history - written by two multi-row statements per batch
instead of a round of ORM work per message. Consent, quiet hours and caps are checked when each message
is sent, as for any other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid
from patron.notify.models import PURPOSES, Message, MessageEvent
from patron.notify.service import _after_commit, _check_content, _links, enqueue_message

CHUNK = 500


@dataclass(frozen=True)
class Outgoing:
    """One message to queue. ``idempotency_key`` is required: it is how the caller finds its message id."""

    customer_id: int
    channel: str
    subject: str
    body: str
    idempotency_key: str
    data: dict[str, Any] = field(default_factory=dict)


def _existing(session: Session, org_id: int, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        rows = session.execute(select(Message.idempotency_key, Message.id).where(
            Message.org_id == org_id, Message.idempotency_key.in_(keys[start : start + CHUNK])))  # fmt: skip
        found.update({key: message_id for key, message_id in rows})
    return found


def enqueue_many(session: Session, *, org_id: int, messages: list[Outgoing], campaign_id: int | None = None,
                 purpose: str = "marketing") -> dict[str, int]:  # fmt: skip
    """Queue ``messages`` for customers the caller has already found live in the organisation; returns
    ``{idempotency_key: message id}``. A key that already has a message keeps it (nothing new is queued
    for it), as with :func:`~patron.notify.service.enqueue`."""
    if purpose not in PURPOSES:
        raise Invalid(f"Unknown purpose '{purpose}'.", field="purpose")
    for message in messages:
        _check_content(channel=message.channel, subject=message.subject, body=message.body, data=message.data,
                       idempotency_key=message.idempotency_key)  # fmt: skip
    ids = _existing(session, org_id, [m.idempotency_key for m in messages])
    fresh = list({m.idempotency_key: m for m in messages if m.idempotency_key not in ids}.values())
    for start in range(0, len(fresh), CHUNK):
        batch = fresh[start : start + CHUNK]
        now = utcnow()
        rows = [{
            "org_id": org_id, "customer_id": m.customer_id, "channel": m.channel, "subject": m.subject.strip(),
            "body": m.body, "data": dict(m.data), "links": _links(m.body, m.data), "idempotency_key": m.idempotency_key,
            "status": "queued", "attempts": 0, "next_attempt_at": now, "campaign_id": campaign_id, "purpose": purpose,
            "created_at": now, "updated_at": now,
        } for m in batch]  # fmt: skip
        try:
            with session.begin_nested():
                made = session.execute(
                    insert(Message).returning(
                        Message.id, Message.idempotency_key, sort_by_parameter_order=True
                    ),
                    rows,
                ).all()
        except IntegrityError:  # another writer took one of the keys meanwhile: one at a time
            for m in batch:
                message, _ = enqueue_message(session, org_id=org_id, customer_id=m.customer_id, channel=m.channel,
                                             subject=m.subject, body=m.body, data=m.data, purpose=purpose,
                                             idempotency_key=m.idempotency_key, campaign_id=campaign_id)  # fmt: skip
                ids[m.idempotency_key] = message.id
            continue
        session.execute(insert(MessageEvent), [
            {"org_id": org_id, "message_id": message_id, "status": "queued", "at": now, "detail": "enqueued"}
            for message_id, _key in made])  # fmt: skip
        for message_id, key in made:
            ids[key] = message_id
            _after_commit(session, message_id)
    return ids
