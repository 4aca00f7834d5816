"""Shared helpers of the service-desk modules: input checks, the ticket history and timeline writes.

Part of the tickets service layer (see :mod:`patron.tickets.service`); it queries only the
tickets domain's own tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid
from patron.customers import service as customers_service
from patron.tickets.models import Ticket, TicketEvent

#: statuses of tickets still being worked on
ACTIVE_STATUSES = ("new", "open", "pending")
#: statuses whose SLA clocks run (pending pauses them)
RUNNING_STATUSES = ("new", "open")

CLOCK_LABELS = {"first_response": "first-response", "resolution": "resolution"}


def check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise Invalid(f"Unknown {field} '{value}'; choose one of {', '.join(choices)}.", field=field)


def aware(value: datetime | None, field: str = "now") -> datetime:
    if value is None:
        return utcnow()
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(f"{field} needs a time zone.", field=field)
    return value


def record_event(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    now: datetime,
    body: str = "",
    public: bool = False,
    author_id: int | None = None,
    data: dict | None = None,
) -> TicketEvent:
    event = TicketEvent(
        org_id=ticket.org_id,
        ticket_id=ticket.id,
        kind=kind,
        author_id=author_id,
        body=body,
        public=public,
        data=data or {},
        created_at=now,
    )
    session.add(event)
    return event


def record_timeline(
    session: Session,
    ticket: Ticket,
    kind: str,
    summary: str,
    *,
    now: datetime,
    actor_user_id: int | None,
    data: dict | None = None,
) -> None:
    customers_service.record_timeline(
        session,
        org_id=ticket.org_id,
        customer_id=ticket.customer_id,
        kind=kind,
        summary=summary,
        ref_type="ticket",
        ref_id=ticket.id,
        occurred_at=now,
        data={"number": ticket.number, **(data or {})},
        actor_user_id=actor_user_id,
    )


def mark_breach(session: Session, ticket: Ticket, clock: str, *, now: datetime) -> None:
    due = getattr(ticket, f"{clock}_due_at")
    setattr(ticket, f"{clock}_breached_at", due)
    record_event(
        session,
        ticket,
        "breach",
        now=now,
        data={"clock": clock, "due_at": due.isoformat()},
        body=f"The {CLOCK_LABELS[clock]} target was missed (due {due:%Y-%m-%d %H:%M} UTC).",
    )


def list_ticket_events(session: Session, *, ticket: Ticket) -> list[TicketEvent]:
    """The ticket's history, oldest first."""
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.org_id == ticket.org_id, TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.created_at, TicketEvent.id)
        )
    )
