"""Customers: profiles, identities, consents, places, custom attributes, the timeline, import/export,
merge and privacy. The only module that queries the customers tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import NotFound
from patron.customers.models import Customer, TimelineEntry


def get_customer(session: Session, *, org_id: int, customer_id: int) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.org_id == org_id, Customer.id == customer_id))


def get_customer_or_raise(session: Session, *, org_id: int, customer_id: int, field: str = "customer_id") -> Customer:
    """The customer, or NotFound (also for another organisation's customer: ids never leak across tenants)."""
    customer = get_customer(session, org_id=org_id, customer_id=customer_id)
    if customer is None:
        raise NotFound(f"No customer {customer_id}.", field=field)
    return customer


def record_timeline(session: Session, *, org_id: int, customer_id: int, kind: str, summary: str,
                    ref_type: str | None = None, ref_id: int | None = None, occurred_at: datetime | None = None,
                    data: dict | None = None, actor_user_id: int | None = None) -> TimelineEntry:
    """Add one entry to a customer's timeline: the extension point every domain writes to.

    ``kind`` is ``<domain>.<event>`` (``ticket.created``, ``deal.won``, ``interaction.call``),
    ``ref_type``/``ref_id`` point at the record the entry is about.
    """
    entry = TimelineEntry(org_id=org_id, customer_id=customer_id, kind=kind, summary=summary[:500],
                          ref_type=ref_type, ref_id=ref_id, occurred_at=occurred_at or utcnow(),
                          data=data or {}, actor_user_id=actor_user_id)
    session.add(entry)
    return entry
