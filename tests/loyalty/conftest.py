"""Fixtures of the loyalty suite: an API client per tenant with helpers for the catalogue, orders and the
programme, and a way to run the daily jobs at a chosen time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from tests.devices.support import Api


class LoyaltyApi(Api):
    def ok(self, response, status: int = 201) -> dict | list:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    def product(self, sku: str, price: str, **fields) -> dict:
        return self.ok(self.post("/products", json={"sku": sku, "name": fields.pop("name", sku), "price": price,
                                                    **fields}))  # fmt: skip

    def category(self, name: str) -> int:
        return self.ok(self.post("/product-categories", json={"name": name}))["id"]

    def order(self, customer_id: int, lines: list[dict], **fields):
        fields.setdefault("channel", "web")
        return self.post("/orders", json={"customer_id": customer_id, "lines": lines, **fields})

    def programme(self, **changes) -> dict:
        return self.ok(self.patch("/loyalty/programme", json=changes), 200)

    def points(self, customer_id: int) -> dict:
        return self.ok(self.get(f"/customers/{customer_id}/points", params={"limit": 500}), 200)

    def balance(self, customer_id: int) -> int:
        return self.points(customer_id)["balance"]


@pytest.fixture
def api(client, tenant) -> LoyaltyApi:
    return LoyaltyApi(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> LoyaltyApi:
    return LoyaltyApi(client, other_tenant)


@pytest.fixture
def role_api(client, make_tenant) -> Callable[[str], LoyaltyApi]:
    """``role_api("viewer")``: a client as a user of that role in Acme."""
    return lambda role: LoyaltyApi(client, make_tenant("Acme", role=role))


@pytest.fixture
def run_job(db) -> Callable:
    """``run_job(fn, now=...)``: run a job function in its own transaction, as the scheduler does."""

    def run(job: Callable, *, now: datetime, **kwargs):
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=None, label="job:test")
            return job(session, now=now, **kwargs)

    return run
