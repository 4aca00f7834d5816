"""Helpers for the sales tests: customers to attach deals to, and direct reads of what was written."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers.models import Customer


@pytest.fixture
def make_customer(db) -> Callable[..., int]:
    """``make_customer(tenant, first_name=..., ...)`` — a customer of the tenant's organisation; returns its id."""

    def make(tenant, **fields) -> int:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
            customer = Customer(
                org_id=tenant.org_id,
                first_name=fields.pop("first_name", "Ada"),
                last_name=fields.pop("last_name", "Lovelace"),
                **fields,
            )
            session.add(customer)
            session.flush()
            return customer.id

    return make


@pytest.fixture
def count_rows(db) -> Callable[..., int]:
    """``count_rows(Model, org_id=...)`` — how many rows of a model an organisation holds."""

    def count(model, **where) -> int:
        with session_scope(db) as session:
            query = select(func.count()).select_from(model)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return session.scalar(query) or 0

    return count
