"""Fixtures of the interactions suite."""

from __future__ import annotations

import uuid

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers.models import Customer


@pytest.fixture
def new_customer(db):
    """``new_customer(org_id)`` — a customer row in that organisation; returns its id."""

    def make(org_id: int, first_name: str = "Ada", last_name: str = "Lovelace") -> int:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            customer = Customer(
                org_id=org_id,
                first_name=first_name,
                last_name=last_name,
                email=f"{uuid.uuid4().hex[:8]}@example.com",
            )
            session.add(customer)
            session.flush()
            return customer.id

    return make
