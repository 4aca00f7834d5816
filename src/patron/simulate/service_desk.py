"""A year of service desk work for the demo, replayed in time order through the tickets service.

Every ticket gets a planned life (opened, assigned, answered, maybe waiting on the customer,
resolved, closed with a rating). The steps of all tickets are then played in time order while the
SLA breach detector runs a minute after each clock falls due, as the every-minute scheduler would
have: late tickets are marked breached and escalated to a manager by the service itself.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.simulate import names
from patron.simulate.clock import SimulatedClock
from patron.simulate.history import DemoCustomer, Progress, Staff
from patron.simulate.people import weighted
from patron.tickets import service as tickets_service
from patron.tickets.models import Ticket

#: how long after a due time the breach detector notices (the scheduler runs every minute)
SCHEDULER_DELAY = timedelta(minutes=1)
#: every status the demo guarantees at least one ticket in, with the age range (days) of such a ticket
GUARANTEED = (("new", 0.05, 0.3), ("open", 0.5, 3), ("pending", 1, 5), ("resolved", 2, 6), ("closed", 20, 60))
PRIORITY_WEIGHTS = {
    "incident": {"low": 5, "normal": 40, "high": 40, "urgent": 15},
    "complaint": {"low": 10, "normal": 55, "high": 30, "urgent": 5},
    "request": {"low": 35, "normal": 55, "high": 10, "urgent": 0},
    "question": {"low": 45, "normal": 50, "high": 5, "urgent": 0},
}
#: how long the first reply and the resolution take, as multiples of the policy's targets: lognormal
#: (log median, spread) for a ticket handled in time and for one that slips
REPLY_SPEED = {"in_time": (-1.0, 0.6), "late": (0.2, 0.5)}
RESOLVE_SPEED = {"in_time": (-1.0, 0.7), "late": (0.25, 0.5)}
TARGETS = {"urgent": (30, 240), "high": (120, 720), "normal": (480, 2880), "low": (480, 7200)}


@dataclass
class TicketPlan:
    customer: DemoCustomer
    kind: str
    category: str
    subject: str
    description: str
    priority: str
    channel: str
    assignee_id: int
    steps: list[tuple[datetime, str, dict]] = field(default_factory=list)


def _status_for_age(rng: random.Random, age_days: float) -> str:
    if age_days < 1:
        table = {"new": 45, "open": 35, "pending": 20}
    elif age_days < 7:
        table = {"new": 5, "open": 35, "pending": 20, "resolved": 30, "closed": 10}
    elif age_days < 30:
        table = {"open": 8, "pending": 7, "resolved": 25, "closed": 60}
    else:
        table = {"open": 2, "resolved": 6, "closed": 92}
    return weighted(rng, table)


def _plan(
    rng: random.Random,
    *,
    anchor: datetime,
    staff: Staff,
    customer: DemoCustomer,
    status: str,
    age_days: float,
) -> TicketPlan:
    lines = [line for line in customer.spec.services if line in names.TICKET_TOPICS] + ["billing", "account"]
    kind, category, subject, description = rng.choice(names.TICKET_TOPICS[rng.choice(lines)])
    priority = weighted(rng, PRIORITY_WEIGHTS[kind])
    if "vip" in customer.spec.tags and priority in ("low", "normal") and rng.random() < 0.4:
        priority = "high"
    channel = rng.choice(("app", "app", "app", "email", "phone", "web"))
    assignee = rng.choice(staff.agents)
    plan = TicketPlan(customer, kind, category, subject, description, priority, channel, assignee.id)

    opened = (anchor - timedelta(days=age_days)).replace(microsecond=0)
    first_target, resolve_target = TARGETS[priority]
    late = rng.random() < (0.25 if "churn-risk" in customer.spec.tags else 0.12)
    pace = "late" if late else "in_time"
    reply = timedelta(minutes=first_target * rng.lognormvariate(*REPLY_SPEED[pace]))
    resolve = timedelta(minutes=resolve_target * rng.lognormvariate(*RESOLVE_SPEED[pace]))
    resolve = max(resolve, reply + timedelta(minutes=rng.randint(5, 90)))

    plan.steps.append((opened, "create", {}))
    if status == "new":
        return plan
    answered = opened + reply
    plan.steps.append((answered, "reply", {"author_id": assignee.id}))
    if status == "open":
        return plan
    resolved_at = opened + resolve
    if status == "pending" or rng.random() < 0.25:  # the agent needs something from the customer first
        asked = answered + timedelta(minutes=rng.randint(2, 30))
        plan.steps.append((asked, "pending", {}))
        if status == "pending":
            return plan
        back = asked + timedelta(hours=rng.uniform(1, 30))
        plan.steps.append((back, "open", {}))
        resolved_at = max(resolved_at, back) + timedelta(minutes=rng.randint(20, 600))
    plan.steps.append((resolved_at, "resolved", {}))
    if status == "resolved":
        return plan
    breached = resolved_at - opened > timedelta(minutes=resolve_target) or reply > timedelta(
        minutes=first_target
    )
    score = weighted(
        rng, {1: 14, 2: 20, 3: 28, 4: 24, 5: 14} if breached else {1: 2, 2: 5, 3: 15, 4: 38, 5: 40}
    )
    comment = rng.choice(names.SATISFACTION_COMMENTS[score]) if rng.random() < 0.6 else ""
    plan.steps.append(
        (
            resolved_at + timedelta(hours=rng.uniform(2, 120)),
            "close",
            {"satisfaction": score, "comment": comment},
        )
    )
    return plan


def _clip_to(plan: TicketPlan, anchor: datetime) -> TicketPlan:
    """Drop the steps that would lie in the future: the ticket stays where it had got to by now."""
    plan.steps = [step for step in plan.steps if step[0] < anchor]
    return plan


def _squeeze_into(plan: TicketPlan, anchor: datetime) -> TicketPlan:
    """Keep every step but compress the ticket's life so its last step happened ten minutes ago."""
    start, end = plan.steps[0][0], plan.steps[-1][0]
    latest = anchor - timedelta(minutes=10)
    if end > latest and end > start:
        scale = max(0.0, (latest - start) / (end - start))
        plan.steps = [(start + (when - start) * scale, step, data) for when, step, data in plan.steps]
    return plan


def plan_tickets(
    rng: random.Random, *, anchor: datetime, staff: Staff, customers: list[DemoCustomer]
) -> list[TicketPlan]:
    count = max(len(GUARANTEED), round(len(customers) * 0.2))
    weights = [
        3 if "churn-risk" in c.spec.tags else 1.5 if "smart-home" in c.spec.services else 1 for c in customers
    ]
    plans = []
    for index in range(count):
        customer = rng.choices(customers, weights=weights)[0]
        if index < len(GUARANTEED):
            status, low, high = GUARANTEED[index]
            age = rng.uniform(low, high)
        else:
            roll = rng.random()
            age = (
                rng.uniform(0.02, 3)
                if roll < 0.12
                else rng.uniform(3, 30)
                if roll < 0.35
                else rng.uniform(30, 365)
            )
            status = _status_for_age(rng, age)
        plan = _plan(rng, anchor=anchor, staff=staff, customer=customer, status=status, age_days=age)
        plans.append(_squeeze_into(plan, anchor) if index < len(GUARANTEED) else _clip_to(plan, anchor))
    return plans


def _play(
    session: Session,
    *,
    org_id: int,
    plan: TicketPlan,
    ticket: Ticket | None,
    step: str,
    data: dict,
    now: datetime,
) -> Ticket:
    if ticket is None:  # the first step of every plan creates the ticket
        return tickets_service.create_ticket(
            session,
            org_id=org_id,
            customer_id=plan.customer.id,
            subject=plan.subject,
            kind=plan.kind,
            priority=plan.priority,
            description=plan.description,
            category=plan.category,
            channel=plan.channel,
            assignee_id=plan.assignee_id,
            now=now,
        )
    if step == "reply":
        tickets_service.do_add_ticket_comment(
            session,
            ticket=ticket,
            body=data.get("body", ""),
            public=True,
            author_id=data["author_id"],
            now=now,
        )
    elif step in ("pending", "open", "resolved"):
        if ticket.status != step:
            tickets_service.do_change_ticket_status(
                session, ticket=ticket, status=step, actor_user_id=plan.assignee_id, now=now
            )
    elif step == "close":
        tickets_service.do_close_ticket(
            session,
            ticket=ticket,
            satisfaction=data["satisfaction"],
            comment=data["comment"],
            actor_user_id=None,
            now=now,
        )
    return ticket


def write_tickets(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    anchor: datetime,
    staff: Staff,
    customers: list[DemoCustomer],
    progress: Progress,
) -> int:
    """Plan the tickets, then play every step in time order, running the breach detector when a clock is due."""
    plans = plan_tickets(rng, anchor=anchor, staff=staff, customers=customers)
    queue: list[tuple[datetime, int, int, str, dict]] = []
    order = 0
    for index, plan in enumerate(plans):
        for when, step, data in plan.steps:
            if step == "reply":
                data = {**data, "body": rng.choice(names.TICKET_REPLIES)}
            queue.append((when, order, index, step, data))
            order += 1
    heapq.heapify(queue)
    total = len(queue)
    tickets: dict[int, Ticket] = {}
    checks: set[datetime] = set()
    played = 0
    while queue:
        when, _order, index, step, data = heapq.heappop(queue)
        clock.set(when)
        if step == "check":
            tickets_service.detect_sla_breaches(session, now=when, org_id=org_id)
            continue
        ticket = _play(
            session,
            org_id=org_id,
            plan=plans[index],
            ticket=tickets.get(index),
            step=step,
            data=data,
            now=when,
        )
        tickets[index] = ticket
        if ticket.status in (
            "new",
            "open",
        ):  # a clock runs: look again when it falls due, as the scheduler would
            for due in (
                ticket.first_response_due_at if ticket.first_response_at is None else None,
                ticket.resolution_due_at,
            ):
                moment = due + SCHEDULER_DELAY if due is not None else None
                if moment is not None and moment < anchor and moment > when and moment not in checks:
                    checks.add(moment)
                    order += 1
                    heapq.heappush(queue, (moment, order, -1, "check", {}))
        played += 1
        if played % 100 == 0 or played == total:
            progress("Tickets", played, total)
    clock.set(anchor)
    tickets_service.detect_sla_breaches(session, now=anchor, org_id=org_id)
    return len(tickets)
