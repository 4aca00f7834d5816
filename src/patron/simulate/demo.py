"""The demo organisation: staff, settings, customers and a year of history, written through the services.

:func:`seed_demo` creates "Patron Demo" (slug ``patron-demo``) once, in one transaction, so a
failure leaves nothing behind (with ``reset``, the old demo data stays) and a second run finds the
organisation and seeds nothing.

Determinism: every value comes from ``random.Random(seed)`` in a fixed order. Times are offsets from
an *anchor*, by default the moment of seeding (to the minute), so the demo always looks current:
tickets opened this morning, tasks due next week. Pass ``anchor=`` to reproduce a data set exactly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from patron.accounts import service as accounts_service
from patron.accounts.models import Organisation
from patron.core import audit
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope, utcnow
from patron.customers import service as customers_service
from patron.customers.places import create_place
from patron.sales import service as sales_service
from patron.simulate import names
from patron.simulate.campaigns import seed_demo_campaigns
from patron.simulate.clock import SimulatedClock
from patron.simulate.contests import seed_demo_contests
from patron.simulate.history import DemoCustomer, Staff, write_interactions, write_sales
from patron.simulate.loyalty import seed_demo_loyalty
from patron.simulate.orders import write_orders
from patron.simulate.people import CustomerSpec, make_customers
from patron.simulate.segments import seed_demo_segments
from patron.simulate.service_desk import write_tickets
from patron.simulate.surveys import seed_demo_surveys

DEMO_ORG_NAME = "Patron Demo"
DEMO_SLUG = "patron-demo"
DEMO_EMAIL = "demo@patron.example"
DEMO_PASSWORD = "patron-demo"
STAFF_DOMAIN = "patron.example"

Progress = Callable[[str, int, int], None]

#: the demo's custom profile attributes: (key, label, type, description)
ATTRIBUTES = (
    ("app_rating", "App rating", "number", "The customer's latest rating of the app, 1.0 to 5.0."),
    ("subscription_plan", "Subscription plan", "string", "free, plus, premium or family."),
    ("member_since", "Member since", "date", "When the customer signed up."),
)

#: the demo's SLA policies: priority -> (first response minutes, resolution minutes, business hours)
SLA_POLICIES = {
    "urgent": (30, 4 * 60, False),
    "high": (2 * 60, 12 * 60, False),
    "normal": (8 * 60, 48 * 60, False),
    "low": (8 * 60, 5 * 8 * 60, True),
}


@dataclass
class DemoSummary:
    org_id: int
    org_name: str
    created: bool
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


def seed_demo(
    factory: sessionmaker[Session],
    *,
    customers: int = 2000,
    seed: int = 42,
    reset: bool = False,
    anchor: datetime | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Create the demo organisation with ``customers`` customers and their history, unless it exists.

    With ``reset`` an existing demo organisation and everything in it is deleted first.
    Returns what was done; ``created`` is False when the organisation was already there.
    """
    progress = progress or _no_progress
    anchor = (anchor or utcnow()).replace(second=0, microsecond=0)
    started = time.perf_counter()
    with session_scope(factory) as session:  # one transaction: a failed reset or seed changes nothing
        session.info["actor"] = Actor(org_id=None, label="demo")
        existing = accounts_service.get_organisation_by_slug(session, slug=DEMO_SLUG)
        if existing is not None and not reset:
            return DemoSummary(org_id=existing.id, org_name=existing.name, created=False)
        if existing is not None:
            delete_demo_organisation(session, org=existing)
        counts = _seed(
            session, customers=customers, rng=random.Random(seed), anchor=anchor, progress=progress
        )
        org = accounts_service.get_organisation_by_slug_or_raise(session, slug=DEMO_SLUG)
        return DemoSummary(
            org_id=org.id,
            org_name=org.name,
            created=True,
            seconds=time.perf_counter() - started,
            counts=counts,
        )


def predict_with_device_usage(factory: sessionmaker[Session], *, org_id: int) -> dict:
    """Run the predictions again once the devices' history is in the event store, so the churn model
    weighs device usage (the first run, inside :func:`seed_demo`, comes before the devices exist).
    Returns the run's summary."""
    from patron.events.source import event_store_for_run
    from patron.predictions import service as predictions_service

    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="demo")
        with event_store_for_run(session) as source:
            run = predictions_service.run_predictions(
                session, org_id=org_id, events_store=source.store, events_missing=source.missing
            )
        return run.summary


def delete_demo_organisation(session: Session, *, org: Organisation) -> None:
    """Drop the demo organisation; the database cascades the delete to every row it owns.

    Deals go first through the sales service: their stage reference is ``RESTRICT`` and must not
    meet a stage deleted before them within the cascade.
    """
    while True:
        deals, _total = sales_service.list_deals(session, org_id=org.id, limit=500)
        if not deals:
            break
        for deal in deals:
            sales_service.delete_deal(session, org_id=org.id, deal_id=deal.id)
    session.expunge_all()
    session.execute(delete(Organisation).where(Organisation.id == org.id))
    audit.record(
        session,
        action="demo.reset",
        entity="organisations",
        entity_id=org.id,
        before={"slug": org.slug, "name": org.name},
    )
    session.flush()


def forget_events(settings: Settings, *, org_id: int) -> int:
    """Delete a dropped demo organisation's events and dead letters from the event store (its records
    went with the organisation; a re-created one may get the same id). Run while no server holds
    the store. Returns how many events were deleted."""
    from patron.events.store import EventStore, resolve_path

    store = EventStore(
        resolve_path(settings.events_url, settings.data_dir), memory_limit=settings.events_memory_limit
    )
    try:
        # the store never reuses a sequence number, so the processors' cursor stays valid
        count = store.delete_events(org_id=org_id)
    finally:
        store.close()
    return int(count)


def _seed(
    session: Session, *, customers: int, rng: random.Random, anchor: datetime, progress: Progress
) -> dict[str, int]:
    clock = SimulatedClock(anchor - timedelta(days=5 * 365))
    with clock.running(session):
        progress("Staff and settings", 0, 3)
        org = accounts_service.create_organisation(
            session, name=DEMO_ORG_NAME, slug=DEMO_SLUG, timezone="Europe/Berlin", currency="EUR"
        )
        session.info["actor"] = Actor(org_id=org.id, label="demo")
        staff = _create_staff(session, org_id=org.id)
        progress("Staff and settings", 1, 3)
        _configure(session, org_id=org.id)
        progress("Staff and settings", 3, 3)

        specs = make_customers(rng, anchor, customers)
        demo_customers = _write_customers(
            session, org_id=org.id, rng=rng, clock=clock, staff=staff, specs=specs, progress=progress
        )
        interactions = write_interactions(
            session,
            org_id=org.id,
            rng=rng,
            clock=clock,
            anchor=anchor,
            staff=staff,
            customers=demo_customers,
            progress=progress,
        )
        tickets = write_tickets(
            session,
            org_id=org.id,
            rng=rng,
            clock=clock,
            anchor=anchor,
            staff=staff,
            customers=demo_customers,
            progress=progress,
        )
        sales = write_sales(
            session,
            org_id=org.id,
            rng=rng,
            clock=clock,
            anchor=anchor,
            staff=staff,
            customers=demo_customers,
            progress=progress,
        )
        orders = write_orders(
            session,
            org_id=org.id,
            rng=rng,
            clock=clock,
            anchor=anchor,
            customers=demo_customers,
            progress=progress,
        )
        progress("Surveys", 0, 1)
        surveys = seed_demo_surveys(
            session,
            org_id=org.id,
            customer_ids=[c.id for c in demo_customers],
            clock=clock,
            anchor=anchor,
            seed=rng.randrange(1 << 30),
        )
        progress("Surveys", 1, 1)
        engagement = seed_demo_loyalty(
            session,
            org_id=org.id,
            rng=rng,
            clock=clock,
            anchor=anchor,
            customers=demo_customers,
            progress=progress,
        )
        engagement |= seed_demo_contests(
            session,
            org_id=org.id,
            rng=rng,
            clock=clock,
            anchor=anchor,
            customers=demo_customers,
            progress=progress,
        )
        engagement |= seed_demo_segments(
            session, org_id=org.id, clock=clock, anchor=anchor, progress=progress
        )
        engagement |= seed_demo_campaigns(
            session, org_id=org.id, clock=clock, anchor=anchor, progress=progress
        )
        clock.set(anchor)
        sales_service.send_due_reminders(session, now=anchor)
    return {
        "staff": 1 + len(names.STAFF),
        "customers": len(demo_customers),
        "interactions": interactions,
        "tickets": tickets,
        "deals": sales.deals,
        "leads": sales.leads,
        "tasks": sales.tasks,
        "products": orders["products"],
        "orders": orders["orders"],
        **surveys,
        **engagement,
    }


def _create_staff(session: Session, *, org_id: int) -> Staff:
    admin = accounts_service.create_user(
        session, org_id=org_id, email=DEMO_EMAIL, password=DEMO_PASSWORD, role="admin", full_name="Demo Admin"
    )
    by_role: dict[str, list] = {}
    for full_name, local, role in names.STAFF:
        user = accounts_service.create_user(
            session,
            org_id=org_id,
            email=f"{local}@{STAFF_DOMAIN}",
            password=DEMO_PASSWORD,
            role=role,
            full_name=full_name,
        )
        by_role.setdefault(role, []).append(user)
    return Staff(
        admin=admin,
        owner=by_role["owner"][0],
        managers=by_role["manager"],
        agents=by_role["agent"],
        others=by_role.get("analyst", []) + by_role.get("viewer", []),
    )


def _configure(session: Session, *, org_id: int) -> None:
    from patron.tickets import service as tickets_service

    for key, label, kind, description in ATTRIBUTES:
        customers_service.create_attribute_definition(
            session, org_id=org_id, key=key, label=label, type=kind, description=description
        )
    for priority, (first, resolution, business) in SLA_POLICIES.items():
        tickets_service.create_sla_policy(
            session,
            org_id=org_id,
            priority=priority,
            first_response_minutes=first,
            resolution_minutes=resolution,
            business_hours=business,
            business_start_hour=9,
            business_end_hour=17,
            business_days="01234",
        )


def _write_customers(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    staff: Staff,
    specs: list[CustomerSpec],
    progress: Progress,
) -> list[DemoCustomer]:
    written: list[DemoCustomer] = []
    total = len(specs)
    for done, spec in enumerate(specs, start=1):
        clock.set(spec.signup_at)
        owner_id = None
        if {"vip", "b2b"} & set(spec.tags):
            owner_id = rng.choice(staff.sellers).id
        elif rng.random() < 0.15:
            owner_id = rng.choice(staff.agents).id
        customer = customers_service.create_customer(
            session,
            org_id=org_id,
            data={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "email": spec.email,
                "phone": spec.phone,
                "birth_year": spec.birth_year,
                "birth_date": datetime(spec.birth_year, 1 + done % 12, 1 + done * 7 % 28).date() if done % 2 else None,
                "gender": spec.gender,
                "education": spec.education,
                "occupation": spec.occupation,
                "income_band": spec.income_band,
                "lifestyle_tags": spec.lifestyle_tags,
                "preferences": spec.preferences,
                "attributes": spec.attributes,
                "city": spec.city,
                "country": spec.country,
                "timezone": spec.timezone,
                "owner_id": owner_id,
                "tags": spec.tags,
            },
        )
        for kind, value in spec.identities:
            if kind not in ("email", "phone"):  # those two come with the profile
                customers_service.create_identity(
                    session, org_id=org_id, customer_id=customer.id, type=kind, value=value
                )
        for change in spec.consents:
            clock.set(change.recorded_at)
            customers_service.do_record_consent(
                session,
                org_id=org_id,
                customer_id=customer.id,
                channel=change.channel,
                granted=change.granted,
                source=change.source,
                method=change.method,
                note=change.note,
                recorded_at=change.recorded_at,
            )
        clock.set(spec.signup_at)
        for place_spec in spec.places:
            place = create_place(
                session,
                org_id=org_id,
                customer_id=customer.id,
                label=place_spec.label,
                latitude=place_spec.latitude,
                longitude=place_spec.longitude,
                address=place_spec.address,
            )
            # visits accumulate over months of rides and deliveries; the demo sets the tally directly
            place.visit_count = place_spec.visit_count
            place.last_visited_at = place_spec.last_visited_at
        written.append(DemoCustomer(id=customer.id, spec=spec, owner_id=owner_id))
        if done % 50 == 0 or done == total:
            progress("Customers", done, total)
    return written
