"""SLA policies through the HTTP API."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from patron.tickets.models import SlaPolicy

URL = "/api/v1/sla-policies"


def policy_count(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(SlaPolicy))


def by_priority(client, tenant) -> dict[str, dict]:
    response = client.get(URL, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {p["priority"]: p for p in response.json()}


def test_defaults_are_created_on_first_use(client, tenant):
    response = client.get(URL, headers=tenant.headers)
    assert [p["priority"] for p in response.json()] == ["low", "normal", "high", "urgent"]
    targets = {
        p["priority"]: (p["first_response_minutes"], p["resolution_minutes"], p["business_hours"])
        for p in response.json()
    }
    assert targets == {
        "urgent": (15, 240, False),
        "high": (60, 480, False),
        "normal": (240, 1440, False),
        "low": (480, 4320, False),
    }
    assert client.get(URL, headers=tenant.headers).json() == response.json()  # created once


def test_change_applies_to_new_tickets_only(client, tenant, new_customer, open_ticket):
    customer = new_customer(tenant.org_id)
    before = open_ticket(tenant, customer, priority="high")
    high = by_priority(client, tenant)["high"]
    response = client.patch(
        f"{URL}/{high['id']}",
        json={"first_response_minutes": 30, "resolution_minutes": 120},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["first_response_minutes"], response.json()["resolution_minutes"]) == (30, 120)
    assert client.get(f"{URL}/{high['id']}", headers=tenant.headers).json() == response.json()
    after = open_ticket(tenant, customer, priority="high")
    created = datetime.fromisoformat(after["created_at"])
    assert datetime.fromisoformat(after["sla"]["first_response_due_at"]) - created == timedelta(minutes=30)
    unchanged = client.get(f"/api/v1/tickets/{before['id']}", headers=tenant.headers).json()
    assert unchanged["sla"]["first_response_due_at"] == before["sla"]["first_response_due_at"]


def test_delete_then_create_again(client, tenant, new_customer, open_ticket):
    low = by_priority(client, tenant)["low"]
    duplicate = client.post(
        URL,
        json={"priority": "low", "first_response_minutes": 60, "resolution_minutes": 60},
        headers=tenant.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "priority"
    assert client.delete(f"{URL}/{low['id']}", headers=tenant.headers).status_code == 204
    assert "low" not in by_priority(client, tenant)  # the other policies exist, so no defaults are re-created
    fallback = open_ticket(tenant, new_customer(tenant.org_id), priority="low")  # built-in targets apply
    created = datetime.fromisoformat(fallback["created_at"])
    assert datetime.fromisoformat(fallback["sla"]["first_response_due_at"]) - created == timedelta(hours=8)
    created_policy = client.post(
        URL,
        headers=tenant.headers,
        json={
            "priority": "low",
            "first_response_minutes": 120,
            "resolution_minutes": 2880,
            "business_hours": True,
            "business_start_hour": 8,
            "business_end_hour": 20,
            "business_days": "543210",
        },
    )
    assert created_policy.status_code == 201, created_policy.text
    assert created_policy.json()["business_days"] == "012345"
    assert by_priority(client, tenant)["low"]["id"] == created_policy.json()["id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"business_start_hour": 17, "business_end_hour": 9}, "business_start_hour"),
        ({"business_start_hour": 9, "business_end_hour": 9}, "business_start_hour"),
        ({"business_end_hour": 25}, "business_end_hour"),
        ({"business_start_hour": -1}, "business_start_hour"),
        ({"business_days": "0089"}, "business_days"),
        ({"business_days": "7"}, "business_days"),
        ({"business_days": ""}, "business_days"),
        ({"business_days": "mon"}, "business_days"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"first_response_minutes": 600_000}, "first_response_minutes"),
        ({"first_response_minutes": 500, "resolution_minutes": 100}, "resolution_minutes"),
        ({"resolution_minutes": "a day"}, "resolution_minutes"),
        ({"business_hours": None}, "business_hours"),
        ({"priority": "high"}, "priority"),  # the priority of a policy is fixed
    ],
)
def test_bad_policy_changes_are_422(client, tenant, db, payload, field):
    normal = by_priority(client, tenant)["normal"]
    response = client.patch(f"{URL}/{normal['id']}", json=payload, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert by_priority(client, tenant)["normal"] == normal


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"priority": "critical"}, "priority"),
        ({"resolution_minutes": 10}, "resolution_minutes"),
        ({"business_start_hour": 18}, "business_start_hour"),
    ],
)
def test_bad_new_policies_are_refused(client, tenant, db, payload, field):
    urgent = by_priority(client, tenant)["urgent"]
    client.delete(f"{URL}/{urgent['id']}", headers=tenant.headers)
    written = policy_count(db)
    body = {"priority": "urgent", "first_response_minutes": 15, "resolution_minutes": 240, **payload}
    response = client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert policy_count(db) == written


def test_permissions_and_tenant_isolation(client, tenant, other_tenant, make_tenant):
    agent = make_tenant("Acme", role="agent")
    normal = by_priority(client, tenant)["normal"]
    url = f"{URL}/{normal['id']}"
    assert client.get(url, headers=agent.headers).status_code == 200
    assert client.patch(url, json={"first_response_minutes": 1}, headers=agent.headers).status_code == 403
    assert client.delete(url, headers=agent.headers).status_code == 403
    assert (
        client.post(
            URL,
            json={"priority": "low", "first_response_minutes": 1, "resolution_minutes": 1},
            headers=agent.headers,
        ).status_code
        == 403
    )
    assert client.get(url, headers=other_tenant.headers).status_code == 404
    assert (
        client.patch(url, json={"first_response_minutes": 1}, headers=other_tenant.headers).status_code == 404
    )
    assert client.delete(url, headers=other_tenant.headers).status_code == 404
    theirs = by_priority(client, other_tenant)
    assert theirs["normal"]["id"] != normal["id"]
    assert by_priority(client, tenant)["normal"] == normal
