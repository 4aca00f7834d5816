"""Service desk: the interface other domains, the web app, the CLI and jobs call.

The service layer of tickets is split in five modules that alone query the domain's tables:
this one (tickets, their workflow and queue figures), :mod:`~patron.tickets.policies`
(SLA policies), :mod:`~patron.tickets.escalation` (breach detection),
:mod:`~patron.tickets.privacy` (customer merge, erase and export hooks) and
:mod:`~patron.tickets.history` (event and timeline writes). Their public functions are
re-exported here, so callers only ever import ``patron.tickets.service``.

A ticket is acknowledged the moment it is created, carries two SLA clocks (first response and
resolution) whose due times come from the organisation's policy for its priority, follows the
status workflow in :data:`TRANSITIONS`, and is escalated once to a manager when a clock breaches.
Every write accepts ``now`` so jobs and the demo seeder can replay history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.accounts.permissions import allowed
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.tickets import sla
from patron.tickets.escalation import detect_sla_breaches
from patron.tickets.history import (
    ACTIVE_STATUSES,
    RUNNING_STATUSES,
    aware,
    check_choice,
    list_ticket_events,
    mark_breach,
    record_event,
    record_timeline,
)
from patron.tickets.models import KINDS, PRIORITIES, STATUSES, Ticket, TicketEvent
from patron.tickets.policies import (
    DEFAULT_TARGETS,
    Clock,
    create_sla_policy,
    delete_sla_policy,
    ensure_default_sla_policies,
    get_sla_policy_or_raise,
    list_sla_policies,
    sla_clock,
    update_sla_policy,
)
from patron.tickets.privacy import erase_customer, export_customer, reassign_customer

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_TARGETS",
    "RUNNING_STATUSES",
    "TRANSITIONS",
    "Clock",
    "TicketFilter",
    "breached_clause",
    "create_sla_policy",
    "create_ticket",
    "delete_sla_policy",
    "delete_ticket",
    "detect_sla_breaches",
    "do_add_ticket_comment",
    "do_assign_ticket",
    "do_change_ticket_status",
    "do_close_ticket",
    "do_rate_ticket",
    "ensure_default_sla_policies",
    "erase_customer",
    "export_customer",
    "get_sla_policy_or_raise",
    "get_ticket",
    "get_ticket_or_raise",
    "list_sla_policies",
    "list_ticket_events",
    "list_tickets",
    "queue_summary",
    "reassign_customer",
    "resolved_count_by_user",
    "sla_clock",
    "sla_snapshot",
    "update_sla_policy",
    "update_ticket",
]

#: status -> the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "pending", "resolved"),
    "open": ("pending", "resolved"),
    "pending": ("open", "resolved"),
    "resolved": ("closed", "open"),
    "closed": ("open",),
}

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NUMBER_RETRIES = 5

# --- reads -----------------------------------------------------------------------------------------


def get_ticket(session: Session, *, org_id: int, ticket_id: int) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.org_id == org_id, Ticket.id == ticket_id))


def get_ticket_or_raise(session: Session, *, org_id: int, ticket_id: int) -> Ticket:
    """The ticket, or NotFound (also when it belongs to another organisation)."""
    ticket = get_ticket(session, org_id=org_id, ticket_id=ticket_id)
    if ticket is None:
        raise NotFound(f"No ticket {ticket_id}.", field="ticket_id")
    return ticket


def sla_snapshot(ticket: Ticket, *, now: datetime | None = None) -> sla.SlaSnapshot:
    """The ticket's SLA state at ``now`` (default: the current time)."""
    return sla.sla_state(
        now=aware(now),
        status=ticket.status,
        created_at=ticket.created_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        first_response_breached_at=ticket.first_response_breached_at,
        resolution_breached_at=ticket.resolution_breached_at,
    )


@dataclass(frozen=True)
class TicketFilter:
    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    kind: str | None = None
    assignee_id: int | None = None
    customer_id: int | None = None
    breached: bool | None = None
    q: str | None = None
    sort: str = "-created"


def _after(done, due):
    return and_(done.is_not(None), due.is_not(None), done > due)


def breached_clause(now: datetime):
    """SQL condition true for tickets whose SLA state is ``breached`` at ``now``."""
    running = Ticket.status.in_(RUNNING_STATUSES)
    return or_(
        Ticket.first_response_breached_at.is_not(None),
        Ticket.resolution_breached_at.is_not(None),
        _after(Ticket.first_response_at, Ticket.first_response_due_at),
        _after(Ticket.resolved_at, Ticket.resolution_due_at),
        and_(running, Ticket.first_response_at.is_(None), Ticket.first_response_due_at < now),
        and_(running, Ticket.resolution_due_at < now),
    )


def _next_due():
    return case(
        (Ticket.first_response_at.is_(None), Ticket.first_response_due_at), else_=Ticket.resolution_due_at
    )


_SORTS = {
    "-created": lambda: (Ticket.created_at.desc(), Ticket.id.desc()),
    "created": lambda: (Ticket.created_at, Ticket.id),
    "-number": lambda: (Ticket.number.desc(),),
    "number": lambda: (Ticket.number,),
    "due": lambda: (case((Ticket.status.in_(ACTIVE_STATUSES), 0), else_=1), _next_due(), Ticket.id),
    "priority": lambda: (
        case((Ticket.status.in_(ACTIVE_STATUSES), 0), else_=1),
        case(*((Ticket.priority == p, i) for i, p in enumerate(reversed(PRIORITIES))), else_=9),
        _next_due(),
        Ticket.id,
    ),
}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_tickets(
    session: Session,
    *,
    org_id: int,
    filters: TicketFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[Ticket], int]:
    """Tickets matching ``filters`` in the asked order, and the total that match."""
    filters = filters or TicketFilter()
    now = aware(now)
    if filters.sort not in _SORTS:
        raise Invalid(f"Unknown sort '{filters.sort}'; choose one of {', '.join(_SORTS)}.", field="sort")
    query = select(Ticket).where(Ticket.org_id == org_id)
    if filters.status:
        query = query.where(Ticket.status.in_(filters.status))
    if filters.priority:
        query = query.where(Ticket.priority.in_(filters.priority))
    if filters.kind:
        query = query.where(Ticket.kind == filters.kind)
    if filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    if filters.customer_id is not None:
        query = query.where(Ticket.customer_id == filters.customer_id)
    if filters.breached is not None:
        clause = breached_clause(now)
        query = query.where(clause if filters.breached else not_(clause))
    text = (filters.q or "").strip()
    if text:
        matches = or_(
            Ticket.subject.ilike(_like(text), escape="\\"), Ticket.description.ilike(_like(text), escape="\\")
        )
        number = re.fullmatch(r"#?(\d{1,9})", text)
        if number:
            matches = or_(matches, Ticket.number == int(number.group(1)))
        query = query.where(matches)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*_SORTS[filters.sort]()).limit(limit).offset(offset))
    return list(rows), total


# --- creating and changing tickets ----------------------------------------------------------------


def _assignable(session: Session, *, org_id: int, user_id: int):
    user = accounts_service.get_user_or_raise(session, org_id=org_id, user_id=user_id, field="assignee_id")
    if not user.is_active:
        raise Invalid(f"User {user_id} is deactivated and cannot take tickets.", field="assignee_id")
    if not allowed(user.role, "tickets.write"):
        raise Invalid(
            f"A {user.role} cannot work on tickets; choose an agent, manager or admin.", field="assignee_id"
        )
    return user


def _next_number(session: Session, *, org_id: int) -> int:
    return (session.scalar(select(func.max(Ticket.number)).where(Ticket.org_id == org_id)) or 0) + 1


def _insert_numbered(session: Session, ticket: Ticket) -> None:
    """Insert with the next free per-organisation number, retrying if a concurrent insert took it."""
    if session.get_bind().dialect.name == "sqlite":  # writers are serialised: the number cannot be taken
        ticket.number = _next_number(session, org_id=ticket.org_id)
        session.add(ticket)
        session.flush()
        return
    for _attempt in range(NUMBER_RETRIES):
        ticket.number = _next_number(session, org_id=ticket.org_id)
        try:
            with session.begin_nested():
                session.add(ticket)
            return
        except IntegrityError:
            continue
    raise Conflict("Could not allocate a ticket number; please retry.", field="number")


def _acknowledgement(ticket: Ticket, clock: Clock, org_timezone: str) -> str:
    subject = ticket.subject if len(ticket.subject) <= 80 else ticket.subject[:77] + "..."
    due = ticket.first_response_due_at.astimezone(sla.zone(org_timezone))
    text = (
        f'We received your {ticket.kind} #{ticket.number} "{subject}". Our team will send you a first '
        f"response within {sla.describe_minutes(clock.first_response_minutes)}, "
        f"by {due:%a %d %b %Y %H:%M} ({due.tzname()})."
    )
    if clock.hours is not None:
        days = ", ".join(WEEKDAYS[d] for d in sorted(clock.hours.days))
        text += (
            f" We count business hours: {days}, {clock.hours.start_hour:02d}:00-"
            f"{clock.hours.end_hour:02d}:00."
        )
    return text


def create_ticket(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    subject: str,
    kind: str,
    priority: str,
    description: str = "",
    category: str = "general",
    channel: str = "web",
    assignee_id: int | None = None,
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket: number it, set its SLA due times, acknowledge it at once, put it on the timeline.

    The acknowledgement (``acknowledged_at`` and a public ``acknowledgement`` event with the text the
    customer receives) is written in the same transaction as the ticket.
    """
    now = aware(now)
    check_choice(kind, KINDS, "kind")
    check_choice(priority, PRIORITIES, "priority")
    subject = subject.strip()
    if not subject:
        raise Invalid("The subject must not be blank.", field="subject")
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    if assignee_id is not None:
        _assignable(session, org_id=org_id, user_id=assignee_id)
    ensure_default_sla_policies(session, org_id=org_id)
    clock = sla_clock(session, org_id=org_id, priority=priority)
    ticket = Ticket(
        org_id=org_id,
        customer_id=customer_id,
        subject=subject,
        description=description,
        kind=kind,
        category=category or "general",
        priority=priority,
        status="new",
        channel=channel or "web",
        assignee_id=assignee_id,
        created_at=now,
        updated_at=now,
        acknowledged_at=now,
        first_response_due_at=sla.due_at(now, clock.first_response_minutes, clock.hours),
        resolution_due_at=sla.due_at(now, clock.resolution_minutes, clock.hours),
    )
    _insert_numbered(session, ticket)
    org = accounts_service.get_organisation(session, org_id=org_id)
    record_event(
        session,
        ticket,
        "acknowledgement",
        now=now,
        public=True,
        body=_acknowledgement(ticket, clock, org.timezone if org else "UTC"),
        data={
            "channel": ticket.channel,
            "first_response_due_at": ticket.first_response_due_at.isoformat(),
            "resolution_due_at": ticket.resolution_due_at.isoformat(),
        },
    )
    record_timeline(
        session,
        ticket,
        "ticket.created",
        f"{ticket.kind.title()} #{ticket.number} opened: {subject}",
        now=now,
        actor_user_id=actor_user_id,
        data={"priority": priority, "kind": kind, "category": ticket.category},
    )
    if assignee_id is not None:
        _record_assignment(session, ticket, None, assignee_id, actor_user_id=actor_user_id, now=now)
    session.flush()
    return ticket


def _record_assignment(
    session: Session,
    ticket: Ticket,
    old: int | None,
    new: int | None,
    *,
    actor_user_id: int | None,
    now: datetime,
) -> None:
    record_event(
        session,
        ticket,
        "assignment",
        now=now,
        author_id=actor_user_id,
        data={"from": old, "to": new},
        body=f"Assigned to user {new}." if new is not None else "Unassigned.",
    )
    if new is not None and new != actor_user_id:
        accounts_service.notify_user(
            session,
            org_id=ticket.org_id,
            user_id=new,
            kind="assignment",
            title=f"Ticket #{ticket.number} assigned to you",
            body=ticket.subject,
            link=f"/tickets/{ticket.id}",
        )


def do_assign_ticket(
    session: Session,
    *,
    ticket: Ticket,
    assignee_id: int | None,
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Give the ticket to a staff member (notified in the app), or unassign it with None."""
    now = aware(now)
    if assignee_id == ticket.assignee_id:
        return ticket
    if assignee_id is not None:
        _assignable(session, org_id=ticket.org_id, user_id=assignee_id)
    old = ticket.assignee_id
    ticket.assignee_id = assignee_id
    _record_assignment(session, ticket, old, assignee_id, actor_user_id=actor_user_id, now=now)
    session.flush()
    return ticket


def _resume_clocks(session: Session, ticket: Ticket, *, now: datetime) -> float:
    """Leaving ``pending``: push the running due times back by the time spent waiting. Returns minutes."""
    last = session.scalar(
        select(TicketEvent)
        .where(
            TicketEvent.org_id == ticket.org_id,
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.kind == "status",
        )
        .order_by(TicketEvent.created_at.desc(), TicketEvent.id.desc())
        .limit(1)
    )
    if last is None or (last.data or {}).get("to") != "pending" or now <= last.created_at:
        return 0.0
    hours = sla_clock(session, org_id=ticket.org_id, priority=ticket.priority).hours
    paused = sla.working_time_between(last.created_at, now, hours)
    if paused <= timedelta(0):
        return 0.0
    if ticket.first_response_at is None and ticket.first_response_due_at is not None:
        ticket.first_response_due_at = sla.add_working_time(ticket.first_response_due_at, paused, hours)
    if ticket.resolution_due_at is not None:
        ticket.resolution_due_at = sla.add_working_time(ticket.resolution_due_at, paused, hours)
    return round(paused.total_seconds() / 60, 1)


_STATUS_TIMELINE = {
    "resolved": ("ticket.resolved", "resolved"),
    "closed": ("ticket.closed", "closed"),
    "pending": ("ticket.status_changed", "is waiting on the customer"),
    "open": ("ticket.status_changed", "is open"),
}


def do_change_ticket_status(
    session: Session,
    *,
    ticket: Ticket,
    status: str,
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Move the ticket along the workflow; a move :data:`TRANSITIONS` does not allow is a Conflict."""
    now = aware(now)
    check_choice(status, STATUSES, "status")
    old = ticket.status
    if status == old:
        return ticket
    if status not in TRANSITIONS[old]:
        raise Conflict(
            f"A {old} ticket cannot move to {status}; it can move to {' or '.join(TRANSITIONS[old])}.",
            field="status",
        )
    data: dict = {"from": old, "to": status}
    if old == "pending":
        data["paused_minutes"] = _resume_clocks(session, ticket, now=now)
    ticket.status = status
    if status == "resolved":
        ticket.resolved_at = now
        if (
            ticket.first_response_at is None
            and ticket.first_response_breached_at is None
            and ticket.first_response_due_at is not None
            and now > ticket.first_response_due_at
        ):
            mark_breach(session, ticket, "first_response", now=now)
        if (
            ticket.resolution_breached_at is None
            and ticket.resolution_due_at is not None
            and now > ticket.resolution_due_at
        ):
            mark_breach(session, ticket, "resolution", now=now)
    elif status == "closed":
        ticket.closed_at = now
    elif old in ("resolved", "closed"):
        ticket.resolved_at = None
        ticket.closed_at = None
    record_event(
        session,
        ticket,
        "status",
        now=now,
        author_id=actor_user_id,
        data=data,
        body=f"Status changed from {old} to {status}.",
    )
    if status == "open" and old in ("resolved", "closed"):
        kind, words = "ticket.reopened", "reopened"
    else:
        kind, words = _STATUS_TIMELINE[status]
    record_timeline(
        session,
        ticket,
        kind,
        f"Ticket #{ticket.number} {words}: {ticket.subject}",
        now=now,
        actor_user_id=actor_user_id,
        data={"from": old, "to": status},
    )
    session.flush()
    return ticket


def do_add_ticket_comment(
    session: Session,
    *,
    ticket: Ticket,
    body: str,
    public: bool = False,
    author_id: int | None = None,
    now: datetime | None = None,
) -> TicketEvent:
    """Add a reply (``public``) or an internal note. The first public reply stops the first-response
    clock and opens a new ticket."""
    now = aware(now)
    body = body.strip()
    if not body:
        raise Invalid("The comment must not be blank.", field="body")
    event = record_event(session, ticket, "comment", now=now, body=body, public=public, author_id=author_id)
    if public and ticket.first_response_at is None:
        ticket.first_response_at = now
        if (
            ticket.first_response_breached_at is None
            and ticket.first_response_due_at is not None
            and now > ticket.first_response_due_at
        ):
            mark_breach(session, ticket, "first_response", now=now)
    if public and ticket.status == "new":
        do_change_ticket_status(session, ticket=ticket, status="open", actor_user_id=author_id, now=now)
    session.flush()
    return event


def do_rate_ticket(
    session: Session,
    *,
    ticket: Ticket,
    satisfaction: int,
    comment: str = "",
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Record the customer's satisfaction (1-5) with a resolved or closed ticket."""
    now = aware(now)
    if ticket.status not in ("resolved", "closed"):
        raise Conflict(
            f"Only resolved or closed tickets are rated; this one is {ticket.status}.", field="status"
        )
    if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise Invalid("satisfaction is a whole number from 1 to 5.", field="satisfaction")
    ticket.satisfaction = satisfaction
    ticket.satisfaction_comment = comment.strip()[:1000]
    record_event(
        session,
        ticket,
        "satisfaction",
        now=now,
        author_id=actor_user_id,
        body=ticket.satisfaction_comment,
        data={"satisfaction": satisfaction},
    )
    record_timeline(
        session,
        ticket,
        "ticket.satisfaction",
        f"Rated ticket #{ticket.number} {satisfaction}/5"
        + (f": {comment.strip()}" if comment.strip() else ""),
        now=now,
        actor_user_id=actor_user_id,
        data={"satisfaction": satisfaction},
    )
    session.flush()
    return ticket


def do_close_ticket(
    session: Session,
    *,
    ticket: Ticket,
    satisfaction: int | None = None,
    comment: str = "",
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Close a resolved ticket, recording the customer's satisfaction (1-5) when given."""
    now = aware(now)
    if satisfaction is not None and (isinstance(satisfaction, bool) or not 1 <= satisfaction <= 5):
        raise Invalid("satisfaction is a whole number from 1 to 5.", field="satisfaction")
    if ticket.status != "resolved":
        raise Conflict(f"Only resolved tickets are closed; this one is {ticket.status}.", field="status")
    do_change_ticket_status(session, ticket=ticket, status="closed", actor_user_id=actor_user_id, now=now)
    if satisfaction is not None:
        do_rate_ticket(
            session,
            ticket=ticket,
            satisfaction=satisfaction,
            comment=comment,
            actor_user_id=actor_user_id,
            now=now,
        )
    return ticket


_EDITABLE = ("subject", "description", "kind", "category", "channel", "priority", "status", "assignee_id")


def update_ticket(
    session: Session,
    *,
    ticket: Ticket,
    changes: dict,
    actor_user_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Apply ``changes``: plain fields, then priority (SLA due times recomputed from creation for the
    clocks still running), then assignee (notified), then status (workflow-checked)."""
    now = aware(now)
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise Invalid(f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    if "kind" in changes:
        check_choice(changes["kind"], KINDS, "kind")
    if "priority" in changes:
        check_choice(changes["priority"], PRIORITIES, "priority")
    if "status" in changes:
        check_choice(changes["status"], STATUSES, "status")
        if changes["status"] != ticket.status and changes["status"] not in TRANSITIONS[ticket.status]:
            raise Conflict(
                f"A {ticket.status} ticket cannot move to {changes['status']}; it can move to "
                f"{' or '.join(TRANSITIONS[ticket.status])}.",
                field="status",
            )
    if changes.get("assignee_id") is not None:
        _assignable(session, org_id=ticket.org_id, user_id=changes["assignee_id"])
    if "subject" in changes:
        subject = changes["subject"].strip()
        if not subject:
            raise Invalid("The subject must not be blank.", field="subject")
        ticket.subject = subject
    for name in ("description", "kind", "category", "channel"):
        if name in changes:
            setattr(ticket, name, changes[name])
    if "priority" in changes and changes["priority"] != ticket.priority:
        ticket.priority = changes["priority"]
        clock = sla_clock(session, org_id=ticket.org_id, priority=ticket.priority)
        if ticket.first_response_at is None:
            ticket.first_response_due_at = sla.due_at(
                ticket.created_at, clock.first_response_minutes, clock.hours
            )
        if ticket.resolved_at is None:
            ticket.resolution_due_at = sla.due_at(ticket.created_at, clock.resolution_minutes, clock.hours)
    if "assignee_id" in changes:
        do_assign_ticket(
            session, ticket=ticket, assignee_id=changes["assignee_id"], actor_user_id=actor_user_id, now=now
        )
    if "status" in changes:
        do_change_ticket_status(
            session, ticket=ticket, status=changes["status"], actor_user_id=actor_user_id, now=now
        )
    session.flush()
    return ticket


def delete_ticket(session: Session, *, ticket: Ticket) -> None:
    """Delete the ticket, its history and the customer-timeline entries that point at it."""
    customers_service.delete_timeline_entries(session, org_id=ticket.org_id, ref_type="ticket", ref_id=ticket.id)
    for event in list_ticket_events(session, ticket=ticket):
        session.delete(event)
    session.flush()  # the history first: the unit of work does not order the two tables by itself
    session.delete(ticket)
    session.flush()


# --- figures for dashboards and staff activity -----------------------------------------------------


def resolved_count_by_user(
    session: Session, *, org_id: int, since: datetime, until: datetime
) -> dict[int, int]:
    """Tickets resolved in ``[since, until)`` per assignee (tickets reopened since then do not count)."""
    since, until = aware(since, "since"), aware(until, "until")
    rows = session.execute(
        select(Ticket.assignee_id, func.count())
        .where(
            Ticket.org_id == org_id,
            Ticket.assignee_id.is_not(None),
            Ticket.resolved_at.is_not(None),
            Ticket.resolved_at >= since,
            Ticket.resolved_at < until,
        )
        .group_by(Ticket.assignee_id)
    )
    return {user_id: count for user_id, count in rows}


def queue_summary(session: Session, *, org_id: int, now: datetime | None = None) -> dict:
    """Counts for the service-desk dashboard.

    ``{"by_status": {status: n}, "active": n, "unassigned": n, "breached": n, "at_risk": n,
    "by_priority": {priority: n}}`` where everything after ``by_status`` counts active tickets
    (new, open, pending) and SLA states are computed at ``now``.
    """
    now = aware(now)
    by_status = dict.fromkeys(STATUSES, 0)
    for status, count in session.execute(
        select(Ticket.status, func.count()).where(Ticket.org_id == org_id).group_by(Ticket.status)
    ):
        by_status[status] = count
    summary = {
        "by_status": by_status,
        "active": 0,
        "unassigned": 0,
        "breached": 0,
        "at_risk": 0,
        "by_priority": dict.fromkeys(PRIORITIES, 0),
    }
    rows = session.execute(
        select(
            Ticket.status,
            Ticket.priority,
            Ticket.assignee_id,
            Ticket.created_at,
            Ticket.first_response_at,
            Ticket.first_response_due_at,
            Ticket.resolution_due_at,
            Ticket.first_response_breached_at,
            Ticket.resolution_breached_at,
        ).where(Ticket.org_id == org_id, Ticket.status.in_(ACTIVE_STATUSES))
    )
    for row in rows:
        summary["active"] += 1
        summary["by_priority"][row.priority] = summary["by_priority"].get(row.priority, 0) + 1
        if row.assignee_id is None:
            summary["unassigned"] += 1
        state = sla.sla_state(
            now=now,
            status=row.status,
            created_at=row.created_at,
            first_response_due_at=row.first_response_due_at,
            resolution_due_at=row.resolution_due_at,
            first_response_at=row.first_response_at,
            first_response_breached_at=row.first_response_breached_at,
            resolution_breached_at=row.resolution_breached_at,
        ).state
        if state in ("breached", "at_risk"):
            summary[state] += 1
    return summary
