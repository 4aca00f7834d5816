"""Service functions other domains call: figures, customer hooks; and ticket numbering under contention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from patron.core.audit import Actor, AuditEntry
from patron.core.db import session_scope
from patron.tickets import service as tickets_service
from patron.tickets.models import Ticket, TicketEvent

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def create(db, org_id: int, customer_id: int, *, now: datetime = T0, **fields) -> int:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        ticket = tickets_service.create_ticket(
            session,
            org_id=org_id,
            customer_id=customer_id,
            subject=fields.pop("subject", "Bill too high"),
            kind=fields.pop("kind", "complaint"),
            priority=fields.pop("priority", "normal"),
            now=now,
            **fields,
        )
        return ticket.id


def act(db, org_id: int, ticket_id: int, action: str, **kwargs):
    with session_scope(db) as session:
        ticket = tickets_service.get_ticket_or_raise(session, org_id=org_id, ticket_id=ticket_id)
        return getattr(tickets_service, action)(session, ticket=ticket, **kwargs)


def test_resolved_count_by_user_counts_the_assignee_in_a_half_open_period(
    db, tenant, other_tenant, make_tenant, new_customer
):
    agent = make_tenant("Acme", role="agent")
    customer = new_customer(tenant.org_id)
    plan = [
        (agent.user_id, T0 + timedelta(hours=1)),
        (agent.user_id, T0 + timedelta(days=1)),
        (tenant.user_id, T0 + timedelta(hours=2)),
        (agent.user_id, T0 + timedelta(days=7)),  # at the end
        (None, T0 + timedelta(hours=3)),
    ]
    for assignee, resolved_at in plan:
        ticket_id = create(db, tenant.org_id, customer, assignee_id=assignee)
        act(db, tenant.org_id, ticket_id, "do_change_ticket_status", status="resolved", now=resolved_at)
    reopened = create(db, tenant.org_id, customer, assignee_id=agent.user_id)
    act(
        db, tenant.org_id, reopened, "do_change_ticket_status", status="resolved", now=T0 + timedelta(hours=4)
    )
    act(db, tenant.org_id, reopened, "do_change_ticket_status", status="open", now=T0 + timedelta(hours=5))
    theirs = create(
        db, other_tenant.org_id, new_customer(other_tenant.org_id), assignee_id=other_tenant.user_id
    )
    act(
        db,
        other_tenant.org_id,
        theirs,
        "do_change_ticket_status",
        status="resolved",
        now=T0 + timedelta(hours=1),
    )

    with db() as session:
        counts = tickets_service.resolved_count_by_user(
            session, org_id=tenant.org_id, since=T0, until=T0 + timedelta(days=7)
        )
    assert counts == {agent.user_id: 2, tenant.user_id: 1}


def test_queue_summary_counts_sla_states_at_a_moment(db, tenant, new_customer):
    customer = new_customer(tenant.org_id)
    create(db, tenant.org_id, customer, priority="urgent")  # first response due T0+15 min
    create(db, tenant.org_id, customer, priority="low")  # due T0+8 h
    create(db, tenant.org_id, customer, priority="high", now=T0 + timedelta(minutes=30))  # due T0+90 min
    waiting = create(db, tenant.org_id, customer)
    act(
        db, tenant.org_id, waiting, "do_change_ticket_status", status="pending", now=T0 + timedelta(minutes=1)
    )
    closed = create(db, tenant.org_id, customer)
    act(
        db, tenant.org_id, closed, "do_change_ticket_status", status="resolved", now=T0 + timedelta(minutes=2)
    )
    act(db, tenant.org_id, closed, "do_close_ticket", satisfaction=4, now=T0 + timedelta(minutes=3))
    with db() as session:
        summary = tickets_service.queue_summary(session, org_id=tenant.org_id, now=T0 + timedelta(minutes=80))
    # at T0+80 min: urgent is overdue, high has 10 of its 60 minutes left, low is fine, pending is paused
    assert summary == {
        "by_status": {"new": 3, "open": 0, "pending": 1, "resolved": 0, "closed": 1},
        "active": 4,
        "unassigned": 4,
        "breached": 1,
        "at_risk": 1,
        "by_priority": {"low": 1, "normal": 1, "high": 1, "urgent": 1},
    }


def test_reassign_moves_tickets_to_the_survivor(db, tenant, other_tenant, new_customer):
    duplicate, survivor = new_customer(tenant.org_id), new_customer(tenant.org_id)
    for _ in range(2):
        create(db, tenant.org_id, duplicate)
    theirs = new_customer(other_tenant.org_id)
    create(db, other_tenant.org_id, theirs)
    with session_scope(db) as session:
        assert (
            tickets_service.reassign_customer(
                session, org_id=tenant.org_id, from_customer_id=duplicate, to_customer_id=survivor
            )
            == 2
        )
        assert (
            tickets_service.reassign_customer(
                session, org_id=tenant.org_id, from_customer_id=theirs, to_customer_id=survivor
            )
            == 0
        )
    with db() as session:
        filters = tickets_service.TicketFilter
        assert (
            tickets_service.list_tickets(
                session, org_id=tenant.org_id, filters=filters(customer_id=survivor)
            )[1]
            == 2
        )
        assert (
            tickets_service.list_tickets(
                session, org_id=tenant.org_id, filters=filters(customer_id=duplicate)
            )[1]
            == 0
        )
        assert (
            session.scalar(
                select(AuditEntry).where(AuditEntry.entity == "tickets", AuditEntry.action == "reassign")
            )
            is not None
        )


def test_erase_blanks_texts_and_keeps_the_figures(db, tenant, new_customer):
    erased, kept = new_customer(tenant.org_id), new_customer(tenant.org_id)
    ticket_id = create(
        db, tenant.org_id, erased, subject="My neighbour Bob", description="Call me on 555-1234"
    )
    act(db, tenant.org_id, ticket_id, "do_add_ticket_comment", body="Bob is at 12 Elm St", public=True)
    act(db, tenant.org_id, ticket_id, "do_change_ticket_status", status="resolved")
    act(db, tenant.org_id, ticket_id, "do_close_ticket", satisfaction=2, comment="Bob was rude")
    kept_id = create(db, tenant.org_id, kept, subject="keep me")
    with session_scope(db) as session:
        assert tickets_service.erase_customer(session, org_id=tenant.org_id, customer_id=erased) == 1
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (ticket.subject, ticket.description, ticket.satisfaction_comment) == ("", "", "")
        assert (ticket.number, ticket.status, ticket.satisfaction) == (1, "closed", 2)
        bodies = session.scalars(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket_id)).all()
        assert len(bodies) >= 5
        assert set(bodies) == {""}
        assert session.get(Ticket, kept_id).subject == "keep me"
        kept_events = session.scalars(select(TicketEvent.body).where(TicketEvent.ticket_id == kept_id)).all()
        assert "keep me" in kept_events[0]


def test_export_holds_tickets_and_their_history(db, tenant, new_customer):
    customer = new_customer(tenant.org_id)
    first = create(db, tenant.org_id, customer, subject="First")
    create(db, tenant.org_id, customer, subject="Second")
    act(db, tenant.org_id, first, "do_add_ticket_comment", body="Internal thought")
    create(db, tenant.org_id, new_customer(tenant.org_id), subject="Somebody else's")
    with db() as session:
        exported = tickets_service.export_customer(session, org_id=tenant.org_id, customer_id=customer)
        empty = tickets_service.export_customer(
            session, org_id=tenant.org_id, customer_id=new_customer(tenant.org_id)
        )
    assert [t["subject"] for t in exported["tickets"]] == ["First", "Second"]
    assert exported["tickets"][0]["created_at"].startswith("2024-03-04T09:00:00")
    assert [(e["ticket_id"], e["kind"]) for e in exported["ticket_events"]] == [
        (first, "acknowledgement"),
        (first, "comment"),
        (exported["tickets"][1]["id"], "acknowledgement"),
    ]
    assert empty == {"tickets": [], "ticket_events": []}


# SQLite serialises writers, so a number cannot be taken between reading and inserting there.
@pytest.mark.postgres_only
def test_a_taken_number_is_retried(db, database, tenant, new_customer, monkeypatch):
    customer = new_customer(tenant.org_id)
    create(db, tenant.org_id, customer)
    real = tickets_service._next_number
    calls = []

    def stale_then_real(session, *, org_id):
        calls.append(org_id)
        return 1 if len(calls) == 1 else real(session, org_id=org_id)  # as if a concurrent insert took #1

    monkeypatch.setattr(tickets_service, "_next_number", stale_then_real)
    ticket_id = create(db, tenant.org_id, customer)
    with db() as session:
        assert session.get(Ticket, ticket_id).number == 2
        assert session.scalar(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket_id)).startswith(
            'We received your complaint #2 "Bill too high"'
        )
    assert len(calls) == 2
