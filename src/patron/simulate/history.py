"""Twelve months of demo activity written through the domain services: interactions, leads, deals, tasks.

Each writer draws from the shared ``random.Random`` in a fixed order and moves the
:class:`~patron.simulate.clock.SimulatedClock` to the moment each thing happens, so the
services stamp it with that time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from patron.accounts.models import User
from patron.interactions import service as interactions_service
from patron.sales import service as sales_service
from patron.simulate import names
from patron.simulate.clock import SimulatedClock
from patron.simulate.people import CustomerSpec, ascii_spelling, weighted

Progress = Callable[[str, int, int], None]
YEAR = timedelta(days=365)


@dataclass
class Staff:
    admin: User
    owner: User
    managers: list[User]
    agents: list[User]
    others: list[User] = field(default_factory=list)

    @property
    def sellers(self) -> list[User]:
        return self.managers + self.agents

    def pick_agent(self, rng: random.Random) -> User:
        return rng.choice(self.agents)


@dataclass
class DemoCustomer:
    id: int
    spec: CustomerSpec
    owner_id: int | None = None


def _moment(rng: random.Random, start: datetime, end: datetime, *, business_hours: bool = True) -> datetime:
    """A random moment in ``[start, end)``, nudged into 7-19 h UTC (8-21 h Berlin) when asked."""
    span = max(60.0, (end - start).total_seconds())
    moment = start + timedelta(seconds=rng.uniform(0, span))
    # always draw the same numbers, so the stream (and so the data set) does not depend on the anchor
    hour, minute, back = rng.randint(7, 18), rng.randint(0, 59), rng.randint(5, 120)
    if business_hours and not 7 <= moment.hour < 19:
        moment = moment.replace(hour=hour, minute=minute)
        if moment >= end:
            moment = end - timedelta(minutes=back)
    return moment.replace(microsecond=0)


def _active_since(customer: DemoCustomer, anchor: datetime) -> datetime:
    return max(customer.spec.signup_at, anchor - YEAR)


# --- interactions --------------------------------------------------------------------------------------

INTERACTION_KIND_WEIGHTS = {
    "call": 26,
    "email": 30,
    "chat": 22,
    "sms": 8,
    "note": 8,
    "social": 4,
    "meeting": 2,
}


def write_interactions(
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
    """About two interactions per customer over the last twelve months; VIP, business and unhappy customers
    get more."""
    plans: list[tuple[datetime, DemoCustomer, str]] = []
    for customer in customers:
        tags = customer.spec.tags
        mean = (
            1.7
            + (2.5 if "vip" in tags else 0)
            + (1.5 if "b2b" in tags else 0)
            + (1.0 if "churn-risk" in tags else 0)
        )
        for _ in range(min(25, int(rng.expovariate(1 / mean) + 0.5))):
            kind = weighted(rng, INTERACTION_KIND_WEIGHTS)
            if kind == "meeting" and not ({"vip", "b2b"} & set(tags)) and rng.random() < 0.7:
                kind = "call"
            if kind == "social" and not any(t == "social" for t, _ in customer.spec.identities):
                kind = "chat"
            plans.append((_moment(rng, _active_since(customer, anchor), anchor), customer, kind))
    plans.sort(key=lambda plan: (plan[0], plan[1].id))
    total = len(plans)
    for done, (when, customer, kind) in enumerate(plans, start=1):
        if kind == "meeting":
            user = rng.choice(staff.managers) if rng.random() < 0.6 else staff.pick_agent(rng)
        elif customer.owner_id and rng.random() < 0.5:
            user = next((u for u in staff.sellers if u.id == customer.owner_id), staff.pick_agent(rng))
        else:
            user = staff.pick_agent(rng)
        direction = {
            "call": rng.choice(("inbound", "inbound", "outbound")),
            "email": rng.choice(("inbound", "outbound", "outbound")),
            "chat": "inbound",
            "social": "inbound",
            "sms": "outbound",
            "note": "internal",
            "meeting": "outbound",
        }[kind]
        subject = rng.choice(names.INTERACTION_SUBJECTS[kind])
        outcome = ""
        duration = None
        if kind == "call":
            outcome = rng.choice(names.CALL_OUTCOMES)
            duration = 0 if outcome in ("no answer", "left voicemail") else int(rng.lognormvariate(5.3, 0.6))
        elif kind == "chat":
            outcome = rng.choice(names.CHAT_OUTCOMES)
            duration = int(rng.lognormvariate(6.0, 0.5))
        elif kind == "meeting":
            outcome = rng.choice(("follow-up agreed", "offer requested", "informed"))
            duration = rng.choice((1800, 2700, 3600))
        body = ""
        if kind in ("email", "note", "chat"):
            body = f"{subject}. {customer.spec.first_name} {rng.choice(_BODY_ENDINGS)}"
        clock.set(when)
        interactions_service.create_interaction(
            session,
            org_id=org_id,
            customer_id=customer.id,
            kind=kind,
            direction=direction,
            user_id=user.id,
            subject=subject,
            body=body,
            outcome=outcome,
            duration_seconds=duration,
            occurred_at=when,
            actor_user_id=user.id,
            # only the last days' complaints still wait for an answer; older ones were dealt with then
            complaint_tickets=when >= anchor - COMPLAINTS_STILL_OPEN,
        )
        if done % 200 == 0 or done == total:
            progress("Interactions", done, total)
    return total


COMPLAINTS_STILL_OPEN = timedelta(days=3)

_BODY_ENDINGS = (
    "was friendly and patient.",
    "asked us to confirm in writing.",
    "will decide next week.",
    "was unhappy at first but calmed down.",
    "thanked the team.",
    "needs an answer by Friday.",
)


# --- sales: leads, deals, tasks ---------------------------------------------------------------------------

#: the second pipeline the demo configures next to the default one
INSTALLATION_STAGES = [
    {"name": "Site survey", "probability": 20, "kind": "open"},
    {"name": "Quote sent", "probability": 45, "kind": "open"},
    {"name": "Installation booked", "probability": 85, "kind": "open"},
    {"name": "Installed", "probability": 100, "kind": "won"},
    {"name": "Cancelled", "probability": 0, "kind": "lost"},
]


@dataclass
class SalesCounts:
    leads: int = 0
    deals: int = 0
    tasks: int = 0


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low, high) // 10 * 10)


def _walk_deal(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    anchor: datetime,
    deal_id: int,
    stages: list,
    target_index: int,
    start: datetime,
    owner_id: int,
) -> None:
    """Move a deal stage by stage up to ``stages[target_index]`` (won/lost jump from the stage reached)."""
    open_stages = [s for s in stages if s.kind == "open"]
    target = stages[target_index]
    path = (
        open_stages[1 : open_stages.index(target) + 1]
        if target.kind == "open"
        else open_stages[1 : rng.randint(1, len(open_stages))]
    )
    if target.kind != "open":
        path.append(target)
    when = start
    for stage in path:
        when = min(anchor - timedelta(minutes=30), when + timedelta(days=rng.uniform(2, 25)))
        clock.set(when)
        reason = rng.choice(names.LOST_REASONS) if stage.kind == "lost" else None
        sales_service.do_move_deal(
            session,
            org_id=org_id,
            deal_id=deal_id,
            stage_id=stage.id,
            lost_reason=reason,
            actor_user_id=owner_id,
        )


@dataclass
class _SalesRun:
    """What the sales writers share: where to write, the clock, the staff, the progress tally."""

    session: Session
    org_id: int
    rng: random.Random
    clock: SimulatedClock
    anchor: datetime
    staff: Staff
    customers: list[DemoCustomer]
    progress: Progress
    total: int
    done: int = 0

    def tick(self) -> None:
        self.done += 1
        if self.done % 20 == 0 or self.done == self.total:
            self.progress("Leads, deals and tasks", self.done, self.total)


def write_sales(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    anchor: datetime,
    staff: Staff,
    customers: list[DemoCustomer],
    progress: Progress,
) -> SalesCounts:
    """Deals in every stage of both pipelines, leads in every status, tasks (some overdue, some with reminders)."""
    clock.set(anchor - YEAR - timedelta(days=30))
    default = sales_service.ensure_default_pipeline(session, org_id=org_id)
    installs = sales_service.create_pipeline(
        session, org_id=org_id, name="Smart-home installations", stages=INSTALLATION_STAGES
    )
    pipelines = {
        default.id: sales_service.list_stages(session, org_id=org_id, pipeline_id=default.id),
        installs.id: sales_service.list_stages(session, org_id=org_id, pipeline_id=installs.id),
    }
    n_deals, n_leads, n_tasks = (
        max(12, len(customers) // 8),
        max(6, len(customers) // 20),
        max(10, len(customers) // 10),
    )
    run = _SalesRun(
        session, org_id, rng, clock, anchor, staff, customers, progress, n_deals + n_leads + n_tasks
    )
    open_deals = _write_deals(run, pipelines=pipelines, installs_id=installs.id, count=n_deals)
    converted = _write_leads(run, default_pipeline_id=default.id, count=n_leads)
    _write_tasks(run, open_deals=open_deals, count=n_tasks)
    return SalesCounts(leads=n_leads, deals=n_deals + converted, tasks=n_tasks)


def _write_deals(
    run: _SalesRun, *, pipelines: dict[int, list], installs_id: int, count: int
) -> list[tuple[int, int, int]]:
    """Deals for every stage of each pipeline first, then a realistic mix. Returns the open ones as
    ``(deal id, customer id, owner id)``."""
    rng, anchor = run.rng, run.anchor
    slots = [(pid, i) for pid, stages in pipelines.items() for i in range(len(stages))]
    open_deals: list[tuple[int, int, int]] = []
    for index in range(count):
        if index < len(slots):
            pipeline_id, target_index = slots[index]
        else:
            pipeline_id = installs_id if rng.random() < 0.3 else next(iter(pipelines))
            stages = pipelines[pipeline_id]
            weights = [{"open": 18 - 3 * i, "won": 25, "lost": 20}[s.kind] for i, s in enumerate(stages)]
            target_index = rng.choices(range(len(stages)), weights=weights)[0]
        stages = pipelines[pipeline_id]
        installation = pipeline_id == installs_id
        pool = [
            c for c in run.customers if not installation or "smart-home" in c.spec.services
        ] or run.customers
        customer = rng.choice(pool)
        templates = [t for t in names.DEAL_TEMPLATES if (t[3] == "smart-home") == installation]
        if "b2b" not in customer.spec.tags:
            templates = [t for t in templates if t[2] < 4000] or templates
        title, low, high, _line = rng.choice(templates)
        owner = rng.choice(run.staff.sellers)
        target = stages[target_index]
        start = _moment(rng, max(customer.spec.signup_at, anchor - YEAR), anchor - timedelta(days=3))
        if target.kind == "open":  # open deals are younger
            start = max(start, anchor - timedelta(days=rng.randint(5, 120)))
        run.clock.set(start)
        close = (start + timedelta(days=rng.randint(20, 120))).date()
        deal = sales_service.create_deal(
            run.session,
            org_id=run.org_id,
            actor_user_id=owner.id,
            data={
                "title": title,
                "customer_id": customer.id,
                "pipeline_id": pipeline_id,
                "value": _money(rng, low, high),
                "expected_close": close,
                "owner_id": owner.id,
            },
        )
        _walk_deal(
            run.session,
            org_id=run.org_id,
            rng=rng,
            clock=run.clock,
            anchor=anchor,
            deal_id=deal.id,
            stages=stages,
            target_index=target_index,
            start=start,
            owner_id=owner.id,
        )
        if target.kind == "open":
            open_deals.append((deal.id, customer.id, owner.id))
        run.tick()
    return open_deals


def _write_leads(run: _SalesRun, *, default_pipeline_id: int, count: int) -> int:
    """Leads in every status; the converted ones become customers with a deal. Returns how many converted."""
    rng, anchor = run.rng, run.anchor
    statuses = ["new", "contacted", "qualified", "disqualified", "converted"]
    lead_names = [
        (weighted(rng, names.FEMALE_FIRST_NAMES + names.MALE_FIRST_NAMES), weighted(rng, names.LAST_NAMES))
        for _ in range(count)
    ]
    converted = 0
    for index, (first, last) in enumerate(lead_names):
        status = (
            statuses[index]
            if index < len(statuses)
            else rng.choices(statuses, weights=[25, 25, 15, 15, 20])[0]
        )
        company = rng.choice(names.LEAD_COMPANIES)
        owner = rng.choice(run.staff.sellers)
        run.clock.set(_moment(rng, anchor - timedelta(days=200), anchor - timedelta(days=1)))
        lead = sales_service.create_lead(
            run.session,
            org_id=run.org_id,
            data={
                "first_name": first,
                "last_name": last,
                "company": company,
                "email": f"{ascii_spelling(f'{first}.{last}')}.lead{index}@example.com",
                "source": rng.choice(names.LEAD_SOURCES),
                "status": "new",
                "owner_id": owner.id,
                "notes": "Met at the smart-city fair." if company else "",
            },
        )
        if status in ("contacted", "qualified", "disqualified"):
            run.clock.advance(timedelta(days=rng.uniform(1, 10)))
            sales_service.update_lead(
                run.session, org_id=run.org_id, lead_id=lead.id, changes={"status": status}
            )
        elif status == "converted":
            run.clock.advance(timedelta(days=rng.uniform(3, 30)))
            title, low, high, _line = rng.choice(names.DEAL_TEMPLATES)
            sales_service.do_convert_lead(
                run.session,
                org_id=run.org_id,
                lead_id=lead.id,
                actor_user_id=owner.id,
                deal={"title": title, "value": _money(rng, low, high), "pipeline_id": default_pipeline_id},
            )
            converted += 1
        run.tick()
    return converted


def _write_tasks(run: _SalesRun, *, open_deals: list[tuple[int, int, int]], count: int) -> None:
    """Tasks: overdue, done, due in the coming days with a reminder (some reminders already due)."""
    rng, anchor, sellers = run.rng, run.anchor, run.staff.sellers
    for index in range(count):
        kind = index % 4 if index < 4 else rng.choices(range(4), weights=[20, 35, 30, 15])[0]
        created = _moment(rng, anchor - timedelta(days=60), anchor - timedelta(hours=2))
        if kind == 0:  # overdue
            due = created + timedelta(days=rng.uniform(1, 20))
            due = min(due, anchor - timedelta(hours=rng.randint(2, 72)))
        elif kind == 1:  # done
            due = created + timedelta(days=rng.uniform(1, 14))
        else:  # due in the coming days
            due = anchor + timedelta(days=rng.uniform(0.2, 21))
        remind = due - timedelta(hours=rng.choice((2, 24, 48))) if kind in (2, 3) else None
        if kind == 3:  # the reminder time has passed: the reminder job notifies the assignee
            remind = anchor - timedelta(hours=rng.randint(1, 20))
        link = rng.choice(open_deals) if open_deals and rng.random() < 0.6 else None
        customer_id = link[1] if link else rng.choice(run.customers).id
        assignee = next((u for u in sellers if link and u.id == link[2]), rng.choice(sellers))
        creator = rng.choice(run.staff.managers) if rng.random() < 0.3 else assignee
        run.clock.set(created)
        task = sales_service.create_task(
            run.session,
            org_id=run.org_id,
            actor_user_id=creator.id,
            data={
                "title": rng.choice(names.TASK_TITLES),
                "due_at": due.replace(microsecond=0),
                "remind_at": remind.replace(microsecond=0) if remind else None,
                "assignee_id": assignee.id,
                "customer_id": customer_id,
                "deal_id": link[0] if link else None,
                "notes": "Customer prefers e-mail." if rng.random() < 0.3 else "",
            },
        )
        if kind == 1:
            finished = min(anchor - timedelta(minutes=5), due - timedelta(hours=rng.uniform(0, 30)))
            run.clock.set(max(created + timedelta(hours=1), finished))
            sales_service.do_complete_task(run.session, org_id=run.org_id, task_id=task.id)
        run.tick()
