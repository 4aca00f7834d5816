"""Fixtures of the service-desk suite."""

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


@pytest.fixture
def open_ticket(client):
    """``open_ticket(tenant, customer_id, **fields)`` — POST a ticket and return its JSON."""

    def make(tenant, customer_id: int, **fields) -> dict:
        payload = {
            "customer_id": customer_id,
            "subject": "Meter shows no readings",
            "kind": "complaint",
            "priority": "normal",
            **fields,
        }
        response = client.post("/api/v1/tickets", json=payload, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return make
