"""Device keys (rotate, revoke) and organisation ingest keys, checked against the ingest endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from patron.core.security import secret_hash
from patron.devices.models import Device, IngestKey
from tests.devices.support import accepted, problem, send

EVENT = [{"type": "telemetry", "props": {"speed": 42}}]


def test_rotating_a_key_stops_the_old_one_at_once(api, client, db):
    device = api.device(name="Taxi")
    old_key = device["key"]
    accepted(send(client, old_key, EVENT), 1)

    response = api.post(f"/devices/{device['id']}/key")
    assert response.status_code == 200, response.text
    rotated = response.json()
    new_key = rotated["key"]
    assert new_key.startswith("pdk_") and new_key != old_key
    assert rotated["key_prefix"] == new_key[:12] and rotated["key_rotated_at"] is not None
    with db() as session:
        assert session.get(Device, device["id"]).key_hash == secret_hash(new_key)

    problem(send(client, old_key, EVENT), 401, "authorization")
    accepted(send(client, new_key, EVENT), 1)
    assert "key" not in api.get(f"/devices/{device['id']}").json()


def test_a_revoked_key_is_refused_until_a_new_one_is_issued(api, client):
    device = api.device()
    key = device["key"]
    accepted(send(client, key, EVENT), 1)

    revoked = api.delete(f"/devices/{device['id']}/key")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["key_revoked_at"] is not None and "key" not in revoked.json()
    body = problem(send(client, key, EVENT), 401, "authorization")
    assert body["code"] == "unauthenticated"
    again = api.delete(f"/devices/{device['id']}/key")
    assert again.json()["key_revoked_at"] == revoked.json()["key_revoked_at"]

    fresh = api.post(f"/devices/{device['id']}/key").json()
    assert fresh["key_revoked_at"] is None
    problem(send(client, key, EVENT), 401, "authorization")
    accepted(send(client, fresh["key"], EVENT), 1)


def test_a_device_that_is_not_active_has_its_events_refused(api, client):
    device = api.device()
    key = device["key"]
    api.patch(f"/devices/{device['id']}", json={"status": "inactive"})
    body = accepted(send(client, key, EVENT), 0)
    assert body["rejected"] == [{"index": 0, "reason": "device_id: the device is not active"}]
    api.patch(f"/devices/{device['id']}", json={"status": "active"})
    accepted(send(client, key, EVENT), 1)


def test_a_deleted_device_s_key_stops_working(api, client):
    device = api.device()
    accepted(send(client, device["key"], EVENT), 1)
    api.delete(f"/devices/{device['id']}")
    problem(send(client, device["key"], EVENT), 401)


def test_ingest_keys_are_shown_once_listed_by_prefix_and_revocable(api, client, tenant, db):
    customer_id = api.customer(email="ada@example.com")
    response = api.post("/ingest-keys", json={"name": " fleet gateway "})
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["key"]
    assert key.startswith("pik_") and created["prefix"] == key[:12]
    assert (created["name"], created["created_by_id"], created["revoked_at"]) == (
        "fleet gateway",
        tenant.user_id,
        None,
    )
    with db() as session:
        assert session.get(IngestKey, created["id"]).key_hash == secret_hash(key)

    listed = api.get("/ingest-keys").json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and key not in str(listed)

    accepted(send(client, key, [{"type": "app.open", "customer": customer_id}]), 1)
    accepted(send(client, key, [{"type": "app.open", "customer": "ada@example.com"}]), 1)
    assert api.get("/ingest-keys").json()[0]["last_used_at"] is not None

    revoked = api.delete(f"/ingest-keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    problem(send(client, key, [{"type": "app.open", "customer": customer_id}]), 401, "authorization")
    assert api.delete(f"/ingest-keys/{created['id']}").json()["revoked_at"] == revoked.json()["revoked_at"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "gw", "role": "admin"}, "role"),
        ({"name": 5}, "name"),
    ],
)
def test_bad_ingest_keys_are_refused_and_nothing_is_written(api, db, payload, field):
    problem(api.post("/ingest-keys", json=payload), 422, field)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(IngestKey)) == 0


def test_ingest_keys_need_the_manage_permission(client, make_tenant, db):
    manager = make_tenant("Acme", role="manager")
    problem(client.post("/api/v1/ingest-keys", headers=manager.headers, json={"name": "gw"}), 403)
    problem(client.get("/api/v1/ingest-keys", headers=manager.headers), 403)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(IngestKey)) == 0


def test_another_organisations_ingest_key_cannot_be_seen_or_revoked(api, other_api, client):
    key = api.ingest_key()
    key_id = api.get("/ingest-keys").json()[0]["id"]
    assert other_api.get("/ingest-keys").json() == []
    problem(other_api.delete(f"/ingest-keys/{key_id}"), 404, "key_id")
    assert api.get("/ingest-keys").json()[0]["revoked_at"] is None
    customer_id = api.customer()
    accepted(send(client, key, [{"type": "app.open", "customer": customer_id}]), 1)
