"""Instant complaint handling: an inbound message that is negative and worded like a complaint opens a
ticket at once.

Every inbound message with words in it (a call's notes, an e-mail, a chat, a social post, an SMS) gets
its sentiment (VADER's compound score, in [-1, 1]) when it is logged. A written message (e-mail, chat,
social post, SMS) with a score at or below :data:`THRESHOLD` whose words read like a complaint
(:func:`patron.analytics.sentiment.looks_like_complaint`) becomes a ``complaint`` ticket on the
customer: ``high`` priority at or below :data:`URGENT_BELOW`, ``normal`` otherwise, on the message's
channel, acknowledged at once like every ticket. While that ticket is still unresolved, the
customer's next complaint-like messages are added to it as internal comments instead of opening
another, so a customer venting in three posts gets one ticket, not three. A message logged more than
:data:`MAX_AGE` after it occurred (history brought in later) is scored but opens no ticket.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.analytics.sentiment import looks_like_complaint, vader_analyzer
from patron.core.db import utcnow
from patron.interactions.models import Interaction
from patron.tickets import service as tickets_service

if TYPE_CHECKING:
    from collections.abc import Callable

#: kinds of message whose words are the customer's own, written
WRITTEN_KINDS = ("email", "chat", "social", "sms")
#: a message at or below this score may be a complaint (VADER's usual "negative" band starts at -0.05)
THRESHOLD = -0.3
#: a complaint at or below this score gets a high-priority ticket
URGENT_BELOW = -0.6
#: ticket statuses in which a new complaint is added to the ticket instead of opening another
UNRESOLVED = ("new", "open", "pending")
SUBJECT_WORDS = 80
#: a message logged later than this after it was written (history brought in afterwards) is scored
#: but opens no ticket: the moment for an instant answer has passed
MAX_AGE = timedelta(days=3)


@lru_cache(maxsize=1)
def _analyzer() -> Callable[[str], float]:
    return vader_analyzer()


def message_text(interaction: Interaction) -> str:
    """The words of the message: subject and body joined."""
    return ". ".join(part for part in (interaction.subject.strip(), interaction.body.strip()) if part)


def score(text: str) -> float | None:
    """Sentiment of ``text`` in [-1, 1], or ``None`` for a text without words."""
    return round(_analyzer()(text), 4) if text.strip() else None


def _subject(interaction: Interaction, text: str) -> str:
    label = {"email": "e-mail", "chat": "chat", "social": "social post", "sms": "SMS"}[interaction.kind]
    words = " ".join(text.split())
    if len(words) > SUBJECT_WORDS:
        words = words[: SUBJECT_WORDS - 1].rstrip() + "…"
    return f"Complaint by {label}: {words}"


def _open_complaint(session: Session, *, org_id: int, customer_id: int):
    """The customer's unresolved ticket that an earlier message opened, if any."""
    ticket_ids = session.scalars(
        select(Interaction.ticket_id)
        .where(Interaction.org_id == org_id, Interaction.customer_id == customer_id,
               Interaction.ticket_id.is_not(None))
        .order_by(Interaction.id.desc()).limit(5)
    )  # fmt: skip
    for ticket_id in dict.fromkeys(ticket_ids):
        ticket = tickets_service.get_ticket(session, org_id=org_id, ticket_id=ticket_id)
        if ticket is not None and ticket.status in UNRESOLVED:
            return ticket
    return None


def handle_message(
    session: Session, *, interaction: Interaction, actor_user_id: int | None = None, open_tickets: bool = True
) -> None:
    """Score an inbound message and, when it is a written complaint, open or extend its ticket
    (see the module's description). Outbound and internal interactions are left alone. Called before
    a new interaction is added to the session, so its own row is never taken for an earlier one."""
    if interaction.direction != "inbound":
        interaction.sentiment = None
        return
    text = message_text(interaction)
    interaction.sentiment = score(text)
    if (
        not open_tickets
        or interaction.ticket_id is not None
        or interaction.kind not in WRITTEN_KINDS
        or interaction.sentiment is None
        or not looks_like_complaint(text, interaction.sentiment, threshold=THRESHOLD)
        or (interaction.occurred_at is not None and interaction.occurred_at < utcnow() - MAX_AGE)
    ):
        return
    ticket = _open_complaint(session, org_id=interaction.org_id, customer_id=interaction.customer_id)
    if ticket is not None:
        tickets_service.do_add_ticket_comment(
            session, ticket=ticket, body=f"Another message from the customer ({interaction.channel}): {text}",
            author_id=actor_user_id, now=interaction.occurred_at,
        )  # fmt: skip
    else:
        ticket = tickets_service.create_ticket(
            session,
            org_id=interaction.org_id,
            customer_id=interaction.customer_id,
            subject=_subject(interaction, text),
            description=text,
            kind="complaint",
            priority="high" if interaction.sentiment <= URGENT_BELOW else "normal",
            category="complaint",
            channel=interaction.channel,
            actor_user_id=actor_user_id,
            now=interaction.occurred_at,
        )
    interaction.ticket_id = ticket.id
