"""Small read helpers shared by pages: names of the staff and customers a page mentions (service calls only)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.accounts.models import User
from patron.customers import service as customers_service


def staff_by_id(session: Session, *, org_id: int) -> dict[int, User]:
    """Every user of the organisation by id (owners of customers, assignees, authors)."""
    return {user.id: user for user in accounts_service.list_users(session, org_id=org_id)}


def display_name(customer) -> str:
    name = f"{customer.first_name} {customer.last_name}".strip()
    return name or customer.email or customer.phone or f"Customer {customer.id}"


def customer_names(session: Session, *, org_id: int, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the given customers of the organisation (ids of other organisations are left out)."""
    names: dict[int, str] = {}
    for customer_id in {i for i in ids if i}:
        customer = customers_service.get_customer(session, org_id=org_id, customer_id=customer_id)
        if customer is not None:
            names[customer_id] = display_name(customer)
    return names
