"""Customer-data hooks of the service desk, called by the customers domain on merge, erase and export.

Part of the tickets service layer; callers reach them as ``patron.tickets.service.<name>``.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow
from patron.core.reassign import reassign_customer_rows
from patron.tickets.models import Ticket, TicketEvent

TICKET_EXPORT_FIELDS = (
    "id",
    "number",
    "customer_id",
    "subject",
    "description",
    "kind",
    "category",
    "priority",
    "status",
    "channel",
    "assignee_id",
    "escalated_to_id",
    "acknowledged_at",
    "first_response_at",
    "first_response_due_at",
    "resolution_due_at",
    "first_response_breached_at",
    "resolution_breached_at",
    "escalated_at",
    "resolved_at",
    "closed_at",
    "satisfaction",
    "satisfaction_comment",
    "created_at",
    "updated_at",
)
EVENT_EXPORT_FIELDS = ("id", "ticket_id", "kind", "author_id", "body", "public", "data", "created_at")


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move every ticket of one customer to another (merge of duplicates). Returns how many moved."""
    return reassign_customer_rows(session, Ticket, org_id=org_id, from_customer_id=from_customer_id,
                                  to_customer_id=to_customer_id)


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Blank the subject, description, satisfaction comment and every comment text of the customer's
    tickets; numbers, statuses, times and scores stay for anonymous figures. Returns tickets erased."""
    ticket_ids = select(Ticket.id).where(Ticket.org_id == org_id, Ticket.customer_id == customer_id)
    result = session.execute(
        update(Ticket)
        .where(Ticket.org_id == org_id, Ticket.customer_id == customer_id)
        .values(subject="", description="", satisfaction_comment="", updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    session.execute(
        update(TicketEvent)
        .where(TicketEvent.org_id == org_id, TicketEvent.ticket_id.in_(ticket_ids))
        .values(body="")
        .execution_options(synchronize_session="fetch")
    )
    erased = result.rowcount or 0
    if erased:
        audit.record(
            session,
            action="erase",
            entity="tickets",
            org_id=org_id,
            after={"customer_id": customer_id, "count": erased},
        )
    return erased


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's tickets and their full history, as JSON-ready dicts."""
    tickets = list(
        session.scalars(
            select(Ticket)
            .where(Ticket.org_id == org_id, Ticket.customer_id == customer_id)
            .order_by(Ticket.number)
        )
    )
    events = (
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.org_id == org_id, TicketEvent.ticket_id.in_([t.id for t in tickets]))
            .order_by(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id)
        )
        if tickets
        else []
    )
    return {
        "tickets": [
            {name: audit.jsonable(getattr(t, name)) for name in TICKET_EXPORT_FIELDS} for t in tickets
        ],
        "ticket_events": [
            {name: audit.jsonable(getattr(e, name)) for name in EVENT_EXPORT_FIELDS} for e in events
        ],
    }
