"""Fixtures of the rules suite: customers and devices made through the ORM, events sent through the
real ingest endpoint, and the running rule engine."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.core.security import new_secret, secret_hash
from patron.customers.models import Customer
from patron.devices.models import Device
from patron.rules.engine import RuleProcessor
from patron.rules.models import RuleFiring, Trigger

RULES = "/api/v1/rules"


@dataclass
class Thing:
    """A device of a tenant with its key, bound to ``customer_id`` (or to no one)."""

    id: int
    key: str
    customer_id: int | None
    org_id: int


@pytest.fixture
def new_customer(db) -> Callable[..., int]:
    """``new_customer(org_id, **fields)`` — a customer row; returns its id."""

    def make(org_id: int, **fields) -> int:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            customer = Customer(
                org_id=org_id,
                first_name=fields.pop("first_name", "Ada"),
                last_name=fields.pop("last_name", "Lovelace"),
                email=fields.pop("email", f"{uuid.uuid4().hex[:8]}@example.com"),
                **fields,
            )
            session.add(customer)
            session.flush()
            return customer.id

    return make


@pytest.fixture
def new_device(db) -> Callable[..., Thing]:
    """``new_device(org_id, customer_id=None, type="vehicle", name=...)`` — a device with a key."""

    def make(
        org_id: int,
        customer_id: int | None = None,
        *,
        type: str = "vehicle",
        name: str = "Taxi 7",
        status: str = "active",
    ) -> Thing:
        key = new_secret("pdk")
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            device = Device(
                org_id=org_id,
                type=type,
                name=name,
                customer_id=customer_id,
                status=status,
                key_hash=secret_hash(key),
                key_prefix=key[:8],
                serial=uuid.uuid4().hex[:10],
            )
            session.add(device)
            session.flush()
            return Thing(device.id, key, customer_id, org_id)

    return make


@pytest.fixture
def send(client, app) -> Callable[..., dict]:
    """``send(device, {"type": ..., "props": ...}, ...)`` — ingest events with the device's key and wait
    until the processors (the rule engine among them) have seen them."""

    def post(device: Thing, *events: dict) -> dict:
        response = client.post(
            "/ingest/v1/events", headers={"Authorization": f"Bearer {device.key}"}, json=list(events)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["rejected"] == [], body
        assert app.state.events.wait_processed(timeout=20)
        return body

    return post


@pytest.fixture
def engine(client, app) -> RuleProcessor:
    """The rule engine the app's event runtime runs."""
    found = [p for p in app.state.events.processors if isinstance(p, RuleProcessor)]
    assert found, "the rule engine is not running"
    return found[0]


@pytest.fixture
def make_rule(client) -> Callable[..., dict]:
    """``make_rule(tenant, definition, name=...)`` — POST a rule and return its JSON."""

    def make(tenant, definition: dict, *, name: str | None = None, enabled: bool = True) -> dict:
        payload = {
            "name": name or f"rule {uuid.uuid4().hex[:6]}",
            "definition": definition,
            "enabled": enabled,
        }
        response = client.post(RULES, json=payload, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def firings(db) -> Callable[[int], list[RuleFiring]]:
    """``firings(rule_id)`` — the rule's firings, oldest first."""

    def read(rule_id: int) -> list[RuleFiring]:
        with db() as session:
            return list(
                session.scalars(
                    select(RuleFiring).where(RuleFiring.rule_id == rule_id).order_by(RuleFiring.id)
                )
            )

    return read


@pytest.fixture
def triggers(db) -> Callable[..., list[Trigger]]:
    def read(org_id: int, name: str | None = None) -> list[Trigger]:
        with db() as session:
            query = select(Trigger).where(Trigger.org_id == org_id)
            if name:
                query = query.where(Trigger.name == name)
            return list(session.scalars(query.order_by(Trigger.id)))

    return read
