"""Interactions through the HTTP API: logging, listing, editing, timeline, validation, tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from patron.customers.models import TimelineEntry
from patron.interactions.models import Interaction

URL = "/api/v1/interactions"


def count_interactions(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Interaction))


def log(client, tenant, customer_id, **fields):
    response = client.post(
        URL, json={"customer_id": customer_id, "kind": "call", **fields}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_log_a_call_with_defaults_and_read_it_back(client, tenant, new_customer, db):
    customer_id = new_customer(tenant.org_id)
    body = log(
        client,
        tenant,
        customer_id,
        direction="inbound",
        subject="Router keeps rebooting",
        body="Customer reports reboots every hour.",
        outcome="callback",
        duration_seconds=420,
    )
    assert body["user_id"] == tenant.user_id  # defaults to the caller
    assert body["channel"] == "phone"  # the usual channel of a call
    assert body["direction"] == "inbound"
    occurred = datetime.fromisoformat(body["occurred_at"])
    assert occurred.tzinfo is not None
    assert abs(occurred - datetime.now(UTC)) < timedelta(minutes=5)

    fetched = client.get(f"{URL}/{body['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json() == body

    with db() as session:
        entries = list(session.scalars(select(TimelineEntry).where(TimelineEntry.customer_id == customer_id)))
    assert [(e.kind, e.ref_type, e.ref_id) for e in entries] == [
        ("interaction.call", "interaction", body["id"])
    ]
    assert "Router keeps rebooting" in entries[0].summary


@pytest.mark.parametrize("kind", ["call", "email", "chat", "meeting", "social", "note", "sms"])
def test_every_kind_writes_its_timeline_kind(client, tenant, new_customer, db, kind):
    customer_id = new_customer(tenant.org_id)
    body = log(client, tenant, customer_id, kind=kind, channel="whatsapp" if kind == "chat" else "")
    assert body["kind"] == kind
    if kind == "chat":
        assert body["channel"] == "whatsapp"
    with db() as session:
        kinds = list(
            session.scalars(select(TimelineEntry.kind).where(TimelineEntry.customer_id == customer_id))
        )
    assert kinds == [f"interaction.{kind}"]


def test_explicit_staff_member_and_time(client, tenant, make_tenant, new_customer):
    colleague = make_tenant("Acme", role="agent")
    customer_id = new_customer(tenant.org_id)
    when = "2024-05-01T10:30:00+02:00"
    body = log(client, tenant, customer_id, kind="meeting", user_id=colleague.user_id, occurred_at=when)
    assert body["user_id"] == colleague.user_id
    assert datetime.fromisoformat(body["occurred_at"]) == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def test_list_filters_and_pagination(client, tenant, make_tenant, new_customer):
    colleague = make_tenant("Acme", role="agent")
    first, second = new_customer(tenant.org_id), new_customer(tenant.org_id, first_name="Grace")
    log(client, tenant, first, kind="call", occurred_at="2024-01-10T09:00:00Z")
    log(client, tenant, first, kind="email", occurred_at="2024-02-10T09:00:00Z")
    log(client, colleague, second, kind="call", occurred_at="2024-03-10T09:00:00Z")

    def listed(**params):
        response = client.get(URL, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return response.json()

    everything = listed()
    assert everything["total"] == 3
    assert [i["occurred_at"][:10] for i in everything["items"]] == ["2024-03-10", "2024-02-10", "2024-01-10"]
    assert listed(kind="call")["total"] == 2
    assert listed(customer_id=first)["total"] == 2
    assert listed(user_id=colleague.user_id)["total"] == 1
    assert listed(since="2024-02-01T00:00:00Z")["total"] == 2
    assert listed(until="2024-02-10T09:00:00Z")["total"] == 1  # until is exclusive
    assert listed(since="2024-01-01T00:00:00Z", until="2024-03-01T00:00:00+00:00", kind="email")["total"] == 1
    page = listed(limit=1, offset=1)
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (3, 1, 1, 1)
    assert page["items"][0]["kind"] == "email"


def test_customer_interactions_endpoint(client, tenant, new_customer):
    first, second = new_customer(tenant.org_id), new_customer(tenant.org_id)
    log(client, tenant, first, kind="note", direction="internal")
    log(client, tenant, second)
    response = client.get(f"/api/v1/customers/{first}/interactions", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["total"] == 1
    assert response.json()["items"][0]["kind"] == "note"
    assert client.get("/api/v1/customers/999999/interactions", headers=tenant.headers).status_code == 404


def test_patch_changes_fields_and_refuses_nulls(client, tenant, make_tenant, new_customer):
    colleague = make_tenant("Acme", role="agent")
    body = log(client, tenant, new_customer(tenant.org_id), subject="first")
    url = f"{URL}/{body['id']}"
    response = client.patch(
        url,
        json={"subject": "second", "outcome": "sold", "user_id": colleague.user_id},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["subject"], response.json()["outcome"]) == ("second", "sold")
    assert response.json()["user_id"] == colleague.user_id
    assert client.patch(url, json={"user_id": None}, headers=tenant.headers).json()["user_id"] is None

    refused = client.patch(url, json={"subject": None}, headers=tenant.headers)
    assert refused.status_code == 422
    assert refused.json()["field"] == "subject"
    refused = client.patch(url, json={"occurred_at": "2024-05-01T10:30:00"}, headers=tenant.headers)
    assert refused.status_code == 422
    assert refused.json()["field"] == "occurred_at"
    assert client.get(url, headers=tenant.headers).json()["subject"] == "second"


def test_delete(client, tenant, new_customer, db):
    customer_id = new_customer(tenant.org_id)
    body = log(client, tenant, customer_id)
    timeline = f"/api/v1/customers/{customer_id}/timeline"

    def refs() -> list[int]:
        items = client.get(timeline, headers=tenant.headers).json()["items"]
        return [item["ref_id"] for item in items if item["ref_type"] == "interaction"]

    assert refs() == [body["id"]]
    assert client.delete(f"{URL}/{body['id']}", headers=tenant.headers).status_code == 204
    assert refs() == []  # no timeline entry points at the deleted interaction
    assert client.get(f"{URL}/{body['id']}", headers=tenant.headers).status_code == 404
    assert client.delete(f"{URL}/{body['id']}", headers=tenant.headers).status_code == 404
    assert count_interactions(db) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "carrier-pigeon"}, "kind"),
        ({"direction": "sideways"}, "direction"),
        ({"occurred_at": "2024-05-01T10:30:00"}, "occurred_at"),  # no time zone
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"subject": "x" * 301}, "subject"),
        ({"body": "x" * 50_001}, "body"),
        ({"outcome": "x" * 61}, "outcome"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": "long"}, "duration_seconds"),
        ({"duration_seconds": 86_401}, "duration_seconds"),
        ({"channel": "Phone Call!"}, "channel"),
        ({"subject": "nul\x00byte"}, "subject"),
        ({"customer_id": "abc"}, "customer_id"),
        ({"mood": "happy"}, "mood"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    client, tenant, new_customer, db, payload, field
):
    customer_id = new_customer(tenant.org_id)
    response = client.post(
        URL, json={"customer_id": customer_id, "kind": "call", **payload}, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    assert count_interactions(db) == 0


def test_malformed_json_and_missing_fields(client, tenant, db):
    response = client.post(
        URL,
        content=b'{"customer_id": 1, "kind": ',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    response = client.post(URL, json={"kind": "call"}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "customer_id"
    assert client.post(URL, json=[1, 2], headers=tenant.headers).status_code == 422
    assert count_interactions(db) == 0


def test_unknown_customer_and_staff_are_404(client, tenant, other_tenant, new_customer, db):
    response = client.post(URL, json={"customer_id": 999999, "kind": "call"}, headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["field"] == "customer_id"
    customer_id = new_customer(tenant.org_id)
    response = client.post(
        URL,
        json={"customer_id": customer_id, "kind": "call", "user_id": other_tenant.user_id},
        headers=tenant.headers,
    )
    assert response.status_code == 404
    assert response.json()["field"] == "user_id"
    assert count_interactions(db) == 0


def test_tenant_isolation(client, tenant, other_tenant, new_customer, db):
    ours = log(client, tenant, new_customer(tenant.org_id), subject="ours")
    theirs_customer = new_customer(other_tenant.org_id)
    url = f"{URL}/{ours['id']}"
    assert client.get(url, headers=other_tenant.headers).status_code == 404
    assert client.patch(url, json={"subject": "stolen"}, headers=other_tenant.headers).status_code == 404
    assert client.delete(url, headers=other_tenant.headers).status_code == 404
    assert client.get(URL, headers=other_tenant.headers).json()["total"] == 0
    assert (
        client.get(URL, params={"customer_id": ours["customer_id"]}, headers=other_tenant.headers).json()[
            "total"
        ]
        == 0
    )
    customer_url = f"/api/v1/customers/{ours['customer_id']}/interactions"
    assert client.get(customer_url, headers=other_tenant.headers).status_code == 404
    # logging against another organisation's customer
    response = client.post(URL, json={"customer_id": theirs_customer, "kind": "call"}, headers=tenant.headers)
    assert response.status_code == 404
    # moving one's own interaction to another organisation's staff member
    response = client.patch(url, json={"user_id": other_tenant.user_id}, headers=tenant.headers)
    assert response.status_code == 404
    assert client.get(url, headers=tenant.headers).json() == ours
    assert count_interactions(db) == 1


def test_permissions(client, make_tenant, new_customer):
    viewer = make_tenant("Acme", role="viewer")
    customer_id = new_customer(viewer.org_id)
    assert client.get(URL, headers=viewer.headers).status_code == 200
    response = client.post(URL, json={"customer_id": customer_id, "kind": "call"}, headers=viewer.headers)
    assert response.status_code == 403
    assert client.get(URL).status_code == 401
