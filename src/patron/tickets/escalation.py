"""SLA breach detection and escalation to a manager, run every minute by the scheduler.

Part of the tickets service layer; the scheduler and the CLI reach it as
``patron.tickets.service.detect_sla_breaches``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.tickets.history import (
    ACTIVE_STATUSES,
    CLOCK_LABELS,
    RUNNING_STATUSES,
    aware,
    mark_breach,
    record_event,
)
from patron.tickets.models import PRIORITIES, Ticket


def _active_loads(session: Session, *, org_id: int) -> dict[int, int]:
    """Active tickets per staff member, counting both assigned and escalated ones."""
    loads: dict[int, int] = {}
    for column in (Ticket.assignee_id, Ticket.escalated_to_id):
        rows = session.execute(
            select(column, func.count())
            .where(Ticket.org_id == org_id, Ticket.status.in_(ACTIVE_STATUSES), column.is_not(None))
            .group_by(column)
        )
        for user_id, count in rows:
            loads[user_id] = loads.get(user_id, 0) + count
    return loads


def _pick_manager(session: Session, *, org_id: int, loads: dict[int, int]):
    """The least-loaded active manager; without managers, the least-loaded admin or owner."""
    for roles in (("manager",), ("admin", "owner")):
        candidates = [
            user
            for role in roles
            for user in accounts_service.list_users(session, org_id=org_id, role=role, active_only=True)
        ]
        if candidates:
            return min(candidates, key=lambda user: (loads.get(user.id, 0), user.id))
    return None


def _bumped(priority: str) -> str:
    index = PRIORITIES.index(priority) if priority in PRIORITIES else 1
    return PRIORITIES[min(index + 1, len(PRIORITIES) - 1)]


def _escalate(
    session: Session, ticket: Ticket, clocks: list[str], *, now: datetime, loads: dict[int, int]
) -> None:
    manager = _pick_manager(session, org_id=ticket.org_id, loads=loads)
    if manager is None:
        return
    loads[manager.id] = loads.get(manager.id, 0) + 1
    old_priority, new_priority = ticket.priority, _bumped(ticket.priority)
    ticket.escalated_to_id = manager.id
    ticket.escalated_at = now
    ticket.priority = new_priority
    missed = " and ".join(CLOCK_LABELS[c] for c in clocks)
    raised = (
        f" Priority raised from {old_priority} to {new_priority}."
        if new_priority != old_priority
        else " Priority stays urgent."
    )
    record_event(
        session,
        ticket,
        "escalation",
        now=now,
        body=f"Escalated to {manager.full_name or manager.email}: the {missed} target was missed.{raised}",
        data={"to": manager.id, "clocks": clocks, "priority": {"from": old_priority, "to": new_priority}},
    )
    accounts_service.notify_user(
        session,
        org_id=ticket.org_id,
        user_id=manager.id,
        kind="escalation",
        title=f"Ticket #{ticket.number} escalated to you: {missed} SLA breached",
        body=f"{ticket.subject}.{raised}",
        link=f"/tickets/{ticket.id}",
    )


def detect_sla_breaches(session: Session, *, now: datetime, org_id: int | None = None) -> int:
    """Mark tickets whose running clock passed its due time and escalate each once to a manager.

    Runs over every organisation (or only ``org_id``). A breach is recorded once per clock
    (``first_response_breached_at`` / ``resolution_breached_at`` and a ``breach`` event); the first
    breach of a ticket escalates it: ``escalated_to_id`` (least-loaded manager, else admin or
    owner), ``escalated_at``, an ``escalation`` event, an in-app notification, and priority one step
    up. Running it again changes nothing. Returns the number of tickets that newly breached.
    """
    now = aware(now)
    first_due = and_(
        Ticket.first_response_at.is_(None),
        Ticket.first_response_breached_at.is_(None),
        Ticket.first_response_due_at <= now,
    )
    resolution_due = and_(Ticket.resolution_breached_at.is_(None), Ticket.resolution_due_at <= now)
    query = select(Ticket).where(Ticket.status.in_(RUNNING_STATUSES), or_(first_due, resolution_due))
    if org_id is not None:
        query = query.where(Ticket.org_id == org_id)
    query = query.order_by(Ticket.org_id, Ticket.id).with_for_update(skip_locked=True)
    loads_by_org: dict[int, dict[int, int]] = {}
    count = 0
    for ticket in session.scalars(query).all():
        clocks = []
        if (
            ticket.first_response_at is None
            and ticket.first_response_breached_at is None
            and ticket.first_response_due_at is not None
            and ticket.first_response_due_at <= now
        ):
            clocks.append("first_response")
        if (
            ticket.resolution_breached_at is None
            and ticket.resolution_due_at is not None
            and ticket.resolution_due_at <= now
        ):
            clocks.append("resolution")
        if not clocks:
            continue
        for clock in clocks:
            mark_breach(session, ticket, clock, now=now)
        if ticket.escalated_at is None:
            if ticket.org_id not in loads_by_org:
                loads_by_org[ticket.org_id] = _active_loads(session, org_id=ticket.org_id)
            _escalate(session, ticket, clocks, now=now, loads=loads_by_org[ticket.org_id])
        count += 1
    session.flush()
    return count
