"""Service desk: the only module that queries tickets, their events and SLA policies.

A ticket is acknowledged the moment it is created, carries two SLA clocks (first response and
resolution) whose due times come from the organisation's policy for its priority, follows the
status workflow in :data:`TRANSITIONS`, and is escalated once to a manager when a clock breaches.
Every write accepts ``now`` so jobs and the demo seeder can replay history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.accounts.permissions import allowed
from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.tickets import sla
from patron.tickets.models import KINDS, PRIORITIES, STATUSES, SlaPolicy, Ticket, TicketEvent

#: status -> the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "pending", "resolved"),
    "open": ("pending", "resolved"),
    "pending": ("open", "resolved"),
    "resolved": ("closed", "open"),
    "closed": ("open",),
}
#: statuses of tickets still being worked on
ACTIVE_STATUSES = ("new", "open", "pending")
#: statuses whose SLA clocks run (pending pauses them)
RUNNING_STATUSES = ("new", "open")

#: built-in targets (first response, resolution) in calendar minutes, used when an org has no policies
DEFAULT_TARGETS: dict[str, tuple[int, int]] = {
    "urgent": (15, 4 * 60),
    "high": (60, 8 * 60),
    "normal": (4 * 60, 24 * 60),
    "low": (8 * 60, 72 * 60),
}

CLOCK_LABELS = {"first_response": "first-response", "resolution": "resolution"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NUMBER_RETRIES = 5

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


def _choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise Invalid(f"Unknown {field} '{value}'; choose one of {', '.join(choices)}.", field=field)


def _aware(value: datetime | None, field: str = "now") -> datetime:
    if value is None:
        return utcnow()
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(f"{field} needs a time zone.", field=field)
    return value


# --- SLA policies ----------------------------------------------------------------------------------


def _validate_policy(*, first: int, resolution: int, start_hour: int, end_hour: int, days: str) -> None:
    if not 1 <= first <= 527_040:
        raise Invalid(
            "first_response_minutes must be between 1 and 527040 (a year).", field="first_response_minutes"
        )
    if not first <= resolution <= 527_040:
        raise Invalid(
            "resolution_minutes must be at least first_response_minutes and at most a year.",
            field="resolution_minutes",
        )
    if not 0 <= start_hour < end_hour <= 24:
        raise Invalid(
            "business_start_hour must be before business_end_hour (hours 0-24).", field="business_start_hour"
        )
    if not days or any(d not in "0123456" for d in days) or len(set(days)) != len(days):
        raise Invalid(
            "business_days lists weekday digits 0-6 (Monday=0) at most once each.", field="business_days"
        )


def ensure_default_sla_policies(session: Session, *, org_id: int) -> None:
    """Give an organisation without any policy the built-in targets (calendar time)."""
    exists = session.scalar(select(SlaPolicy.id).where(SlaPolicy.org_id == org_id).limit(1))
    if exists is not None:
        return
    policies = [
        SlaPolicy(org_id=org_id, priority=priority, first_response_minutes=first, resolution_minutes=res)
        for priority, (first, res) in DEFAULT_TARGETS.items()
    ]
    if session.get_bind().dialect.name == "sqlite":  # one writer at a time; no race to lose
        session.add_all(policies)
        session.flush()
        return
    try:
        with session.begin_nested():
            session.add_all(policies)
    except IntegrityError:  # a concurrent request created them first
        pass


def list_sla_policies(session: Session, *, org_id: int) -> list[SlaPolicy]:
    """The organisation's policies in priority order (the defaults are created on first use)."""
    ensure_default_sla_policies(session, org_id=org_id)
    rows = session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id))
    return sorted(rows, key=lambda p: PRIORITIES.index(p.priority) if p.priority in PRIORITIES else 99)


def get_sla_policy_or_raise(session: Session, *, org_id: int, policy_id: int) -> SlaPolicy:
    policy = session.scalar(select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.id == policy_id))
    if policy is None:
        raise NotFound(f"No SLA policy {policy_id}.", field="policy_id")
    return policy


def create_sla_policy(
    session: Session,
    *,
    org_id: int,
    priority: str,
    first_response_minutes: int,
    resolution_minutes: int,
    business_hours: bool = False,
    business_start_hour: int = 9,
    business_end_hour: int = 17,
    business_days: str = "01234",
) -> SlaPolicy:
    _choice(priority, PRIORITIES, "priority")
    _validate_policy(
        first=first_response_minutes,
        resolution=resolution_minutes,
        start_hour=business_start_hour,
        end_hour=business_end_hour,
        days=business_days,
    )
    taken = session.scalar(
        select(SlaPolicy.id).where(SlaPolicy.org_id == org_id, SlaPolicy.priority == priority)
    )
    if taken is not None:
        raise Conflict(
            f"There is already a policy for {priority} tickets (id {taken}); change that one.",
            field="priority",
        )
    policy = SlaPolicy(
        org_id=org_id,
        priority=priority,
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        business_hours=business_hours,
        business_start_hour=business_start_hour,
        business_end_hour=business_end_hour,
        business_days="".join(sorted(business_days)),
    )
    session.add(policy)
    session.flush()
    return policy


def update_sla_policy(session: Session, *, policy: SlaPolicy, changes: dict) -> SlaPolicy:
    """Change targets or business hours; tickets already open keep their due times."""
    merged = {
        name: changes.get(name, getattr(policy, name))
        for name in (
            "first_response_minutes",
            "resolution_minutes",
            "business_hours",
            "business_start_hour",
            "business_end_hour",
            "business_days",
        )
    }
    _validate_policy(
        first=merged["first_response_minutes"],
        resolution=merged["resolution_minutes"],
        start_hour=merged["business_start_hour"],
        end_hour=merged["business_end_hour"],
        days=merged["business_days"],
    )
    merged["business_days"] = "".join(sorted(merged["business_days"]))
    for name, value in merged.items():
        setattr(policy, name, value)
    session.flush()
    return policy


def delete_sla_policy(session: Session, *, policy: SlaPolicy) -> None:
    """Remove a policy; tickets of that priority then use the built-in targets."""
    session.delete(policy)
    session.flush()


@dataclass(frozen=True)
class Clock:
    """The targets that apply to one priority, and the working hours they count in (None: calendar)."""

    first_response_minutes: int
    resolution_minutes: int
    hours: sla.BusinessHours | None


def sla_clock(session: Session, *, org_id: int, priority: str) -> Clock:
    policy = session.scalar(
        select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.priority == priority)
    )
    if policy is None:
        first, resolution = DEFAULT_TARGETS[priority]
        return Clock(first, resolution, None)
    hours = None
    if policy.business_hours:
        org = accounts_service.get_organisation(session, org_id=org_id)
        hours = sla.BusinessHours.from_policy(
            start_hour=policy.business_start_hour,
            end_hour=policy.business_end_hour,
            days=policy.business_days,
            timezone=org.timezone if org else "UTC",
        )
    return Clock(policy.first_response_minutes, policy.resolution_minutes, hours)


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
        now=_aware(now),
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
    now = _aware(now)
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


def list_ticket_events(session: Session, *, ticket: Ticket) -> list[TicketEvent]:
    """The ticket's history, oldest first."""
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.org_id == ticket.org_id, TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.created_at, TicketEvent.id)
        )
    )


# --- creating and changing tickets ----------------------------------------------------------------


def _event(
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


def _timeline(
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
    now = _aware(now)
    _choice(kind, KINDS, "kind")
    _choice(priority, PRIORITIES, "priority")
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
    _event(
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
    _timeline(
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
    _event(
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
            kind="ticket.assigned",
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
    now = _aware(now)
    if assignee_id == ticket.assignee_id:
        return ticket
    if assignee_id is not None:
        _assignable(session, org_id=ticket.org_id, user_id=assignee_id)
    old = ticket.assignee_id
    ticket.assignee_id = assignee_id
    _record_assignment(session, ticket, old, assignee_id, actor_user_id=actor_user_id, now=now)
    session.flush()
    return ticket


def _mark_breach(session: Session, ticket: Ticket, clock: str, *, now: datetime) -> None:
    due = getattr(ticket, f"{clock}_due_at")
    setattr(ticket, f"{clock}_breached_at", due)
    _event(
        session,
        ticket,
        "breach",
        now=now,
        data={"clock": clock, "due_at": due.isoformat()},
        body=f"The {CLOCK_LABELS[clock]} target was missed (due {due:%Y-%m-%d %H:%M} UTC).",
    )


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
    now = _aware(now)
    _choice(status, STATUSES, "status")
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
            _mark_breach(session, ticket, "first_response", now=now)
        if (
            ticket.resolution_breached_at is None
            and ticket.resolution_due_at is not None
            and now > ticket.resolution_due_at
        ):
            _mark_breach(session, ticket, "resolution", now=now)
    elif status == "closed":
        ticket.closed_at = now
    elif old in ("resolved", "closed"):
        ticket.resolved_at = None
        ticket.closed_at = None
    _event(
        session,
        ticket,
        "status",
        now=now,
        author_id=actor_user_id,
        data=data,
        body=f"Status changed from {old} to {status}.",
    )
    if old in ("resolved", "closed"):
        kind, words = "ticket.reopened", "reopened"
    else:
        kind, words = _STATUS_TIMELINE[status]
    _timeline(
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
    now = _aware(now)
    body = body.strip()
    if not body:
        raise Invalid("The comment must not be blank.", field="body")
    event = _event(session, ticket, "comment", now=now, body=body, public=public, author_id=author_id)
    if public and ticket.first_response_at is None:
        ticket.first_response_at = now
        if (
            ticket.first_response_breached_at is None
            and ticket.first_response_due_at is not None
            and now > ticket.first_response_due_at
        ):
            _mark_breach(session, ticket, "first_response", now=now)
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
    now = _aware(now)
    if ticket.status not in ("resolved", "closed"):
        raise Conflict(
            f"Only resolved or closed tickets are rated; this one is {ticket.status}.", field="status"
        )
    if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise Invalid("satisfaction is a whole number from 1 to 5.", field="satisfaction")
    ticket.satisfaction = satisfaction
    ticket.satisfaction_comment = comment.strip()[:1000]
    _event(
        session,
        ticket,
        "satisfaction",
        now=now,
        author_id=actor_user_id,
        body=ticket.satisfaction_comment,
        data={"satisfaction": satisfaction},
    )
    _timeline(
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
    now = _aware(now)
    if satisfaction is not None and (isinstance(satisfaction, bool) or not 1 <= satisfaction <= 5):
        raise Invalid("satisfaction is a whole number from 1 to 5.", field="satisfaction")
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
    now = _aware(now)
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise Invalid(f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    if "kind" in changes:
        _choice(changes["kind"], KINDS, "kind")
    if "priority" in changes:
        _choice(changes["priority"], PRIORITIES, "priority")
    if "status" in changes:
        _choice(changes["status"], STATUSES, "status")
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
    """Delete the ticket and its history."""
    for event in list_ticket_events(session, ticket=ticket):
        session.delete(event)
    session.delete(ticket)
    session.flush()


# --- SLA breaches and escalation ------------------------------------------------------------------


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
    _event(
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
        kind="ticket.escalated",
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
    now = _aware(now)
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
            _mark_breach(session, ticket, clock, now=now)
        if ticket.escalated_at is None:
            if ticket.org_id not in loads_by_org:
                loads_by_org[ticket.org_id] = _active_loads(session, org_id=ticket.org_id)
            _escalate(session, ticket, clocks, now=now, loads=loads_by_org[ticket.org_id])
        count += 1
    session.flush()
    return count


# --- figures for dashboards and staff activity -----------------------------------------------------


def resolved_count_by_user(
    session: Session, *, org_id: int, since: datetime, until: datetime
) -> dict[int, int]:
    """Tickets resolved in ``[since, until)`` per assignee (tickets reopened since then do not count)."""
    since, until = _aware(since, "since"), _aware(until, "until")
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
    now = _aware(now)
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


# --- customer hooks (called by the customers domain on merge, erase and export) --------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move every ticket of one customer to another (merge of duplicates). Returns how many moved."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.org_id == org_id, Ticket.customer_id == from_customer_id)
        .values(customer_id=to_customer_id, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    moved = result.rowcount or 0
    if moved:
        audit.record(
            session,
            action="reassign",
            entity="tickets",
            org_id=org_id,
            before={"customer_id": from_customer_id},
            after={"customer_id": to_customer_id, "count": moved},
        )
    return moved


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
