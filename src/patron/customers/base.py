"""Fetching one customer: the lookups every other customers module builds on."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, NotFound
from patron.customers.models import Customer


def in_org(column: ColumnElement[int], org_id: int) -> ColumnElement[bool]:
    """``column = org_id`` for queries that also select by customer or row id.

    Written ``column + 0`` so the tenant filter stays in SQL but cannot drive the plan: without table
    statistics SQLite rates the ``org_id`` index as selective as a customer id and may scan a whole
    organisation instead of looking up one customer. The id condition picks the index; this one checks.
    """
    return (column + 0) == org_id


def get_customer(
    session: Session, *, org_id: int, customer_id: int, include_merged: bool = False
) -> Customer | None:
    """The customer of this organisation, or None. Profiles merged into another count as gone
    unless ``include_merged``."""
    customer = session.scalar(select(Customer).where(Customer.org_id == org_id, Customer.id == customer_id))
    if customer is not None and customer.merged_into_id is not None and not include_merged:
        return None
    return customer


def get_customer_or_raise(
    session: Session, *, org_id: int, customer_id: int, field: str = "customer_id"
) -> Customer:
    """The customer, or NotFound (also for another organisation's customer: ids never leak across tenants).

    A profile merged into another answers NotFound naming the survivor, so clients can follow it.
    """
    customer = get_customer(session, org_id=org_id, customer_id=customer_id, include_merged=True)
    if customer is None:
        raise NotFound(f"No customer {customer_id}.", field=field)
    if customer.merged_into_id is not None:
        raise NotFound(
            f"Customer {customer_id} was merged into customer {customer.merged_into_id}.",
            field=field,
            code="customer_merged",
            errors=[{"field": field, "merged_into_id": customer.merged_into_id}],
        )
    return customer


def get_writable_customer_or_raise(
    session: Session, *, org_id: int, customer_id: int, field: str = "customer_id"
) -> Customer:
    """Like :func:`get_customer_or_raise`, but an erased customer answers Conflict: its personal data is gone
    for good and must not be filled in again."""
    customer = get_customer_or_raise(session, org_id=org_id, customer_id=customer_id, field=field)
    if customer.erased_at is not None:
        raise Conflict(
            f"Customer {customer_id} was erased on {customer.erased_at:%Y-%m-%d}; it cannot be changed.",
            field=field,
            code="customer_erased",
        )
    return customer


def display_name(customer: Customer) -> str:
    """``First Last``, else the e-mail, else the phone, else ``Customer <id>``."""
    name = f"{customer.first_name or ''} {customer.last_name or ''}".strip()
    return name or customer.email or customer.phone or f"Customer {customer.id}"
