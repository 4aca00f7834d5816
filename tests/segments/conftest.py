"""Fixtures of the segments suite: a hand-made set of customers, each condition kind telling them apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update

from patron.core.db import session_scope, utcnow
from patron.devices.models import Device

SEGMENTS = "/api/v1/segments"


def post(client, tenant, path: str, body: dict):
    return client.post(path, json=body, headers=tenant.headers)


def created(response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


@dataclass
class People:
    """Acme's customers by first name (ids), and Globex's one customer."""

    ana: int
    ben: int
    cleo: int
    dan: int  # erased: never in a segment
    globex: int

    def ids(self, *names: str) -> list[int]:
        return sorted(getattr(self, name) for name in names)


@pytest.fixture
def people(client, db, tenant, other_tenant) -> People:
    """ana: female, high income, Berlin DE, born 1990, tagged vip, plan 3, e-mail opt-in, a vehicle seen a day
    ago, owned by the tenant's user. ben: male, low income, Nairobi KE, born 1975, plan 1, e-mail opted in then
    out, a wearable seen 40 days ago. cleo: female, middle income, no city, no birth year, tagged vip and
    churn-risk, no consent, no device. dan: like ana but erased. Globex has one female high-income customer."""
    created(
        post(
            client, tenant, "/api/v1/customer-attributes", {"key": "plan", "label": "Plan", "type": "integer"}
        )
    )

    def customer(who, **fields) -> int:
        return created(post(client, who, "/api/v1/customers", fields))["id"]

    ana = customer(tenant, first_name="Ana", gender="female", income_band="high", city="Berlin", country="DE",
                   birth_year=1990, tags=["vip"], attributes={"plan": 3}, owner_id=tenant.user_id)  # fmt: skip
    ben = customer(tenant, first_name="Ben", gender="male", income_band="low", city="Nairobi", country="KE",
                   birth_year=1975, attributes={"plan": 1})  # fmt: skip
    cleo = customer(
        tenant, first_name="Cleo", gender="female", income_band="middle", tags=["VIP", "churn-risk"]
    )
    dan = customer(tenant, first_name="Dan", gender="female", income_band="high", city="Berlin", tags=["vip"])
    globex = customer(other_tenant, first_name="Gloria", gender="female", income_band="high")
    for cid, granted in ((ana, True), (ben, True), (ben, False), (dan, True)):
        created(post(client, tenant, f"/api/v1/customers/{cid}/consents",
                     {"channel": "email", "granted": granted, "source": "web_form"}))  # fmt: skip
    vehicle = created(post(client, tenant, "/api/v1/devices", {"type": "vehicle", "customer_id": ana}))["id"]
    wearable = created(post(client, tenant, "/api/v1/devices", {"type": "wearable", "customer_id": ben}))[
        "id"
    ]
    now = utcnow()
    with session_scope(db) as session:  # last sightings are written by the event processor; set them here
        for device_id, days in ((vehicle, 1), (wearable, 40)):
            session.execute(
                update(Device).where(Device.id == device_id).values(last_seen_at=now - timedelta(days=days))
            )
    assert created(post(client, tenant, f"/api/v1/customers/{dan}/erase", {}))
    return People(ana, ben, cleo, dan, globex)
