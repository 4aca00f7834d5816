"""Reads over many messages at once for the domains that report on them (a campaign's funnel)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.notify.models import Message

CHUNK = 500


@dataclass(frozen=True)
class MessageProgress:
    """How far one message got: its status and when it was sent, delivered, opened and clicked."""

    id: int
    customer_id: int
    channel: str
    subject: str
    status: str
    reason: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None


def message_progress(
    session: Session, *, org_id: int, message_ids: Iterable[int]
) -> dict[int, MessageProgress]:
    """The progress of each of ``message_ids`` that exists in the organisation, by id."""
    ids = list(dict.fromkeys(message_ids))
    found: dict[int, MessageProgress] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Message.id, Message.customer_id, Message.channel, Message.subject, Message.status, Message.reason,
                   Message.sent_at, Message.delivered_at, Message.opened_at, Message.clicked_at)
            .where(Message.org_id == org_id, Message.id.in_(ids[start : start + CHUNK]))
        )  # fmt: skip
        for row in rows:
            found[row.id] = MessageProgress(*row)
    return found
