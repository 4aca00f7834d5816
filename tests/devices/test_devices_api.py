"""The device registry through the HTTP API: register, list, change, delete, bind with history."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from patron.core.security import secret_hash
from patron.devices.models import Device, DeviceBinding
from tests.devices.support import problem


def counts(db) -> tuple[int, int]:
    with db() as session:
        return (
            session.scalar(select(func.count()).select_from(Device)),
            session.scalar(select(func.count()).select_from(DeviceBinding)),
        )


def stored(db, device_id: int) -> Device:
    with db() as session:
        return session.get(Device, device_id)


def test_register_a_device_shows_its_key_once_and_stores_only_the_hash(api, tenant, db):
    customer_id = api.customer(first_name="Ada")
    device = api.device(
        type="vehicle",
        customer_id=customer_id,
        name="  Taxi 12 ",
        serial="VIN-0012",
        model="Prius",
        firmware="4.2.1",
        attributes={"plate": "B-TX 12", "seats": 4},
    )
    assert device["key"].startswith("pdk_") and len(device["key"]) > 40
    assert device["key_prefix"] == device["key"][:12]
    assert device["mqtt_topic"] == f"patron/{tenant.slug}/devices/{device['id']}/events"
    assert (device["type"], device["name"], device["serial"], device["model"], device["firmware"]) == (
        "vehicle",
        "Taxi 12",
        "VIN-0012",
        "Prius",
        "4.2.1",
    )
    assert device["attributes"] == {"plate": "B-TX 12", "seats": 4}
    assert device["customer_id"] == customer_id
    assert (device["status"], device["health"], device["health_reason"]) == ("active", "unknown", "")
    assert (
        device["last_seen_at"] is None and device["message_rate"] == 0.0 and device["last_fault_code"] is None
    )

    row = stored(db, device["id"])
    assert row.key_hash == secret_hash(device["key"])
    assert device["key"] not in str(row.__dict__)

    again = api.get(f"/devices/{device['id']}")
    assert again.status_code == 200
    assert "key" not in again.json()
    assert again.json()["key_prefix"] == device["key_prefix"]
    listed = api.get("/devices").json()["items"]
    assert all("key" not in item for item in listed)

    bindings = api.get(f"/devices/{device['id']}/bindings").json()
    assert len(bindings) == 1
    assert bindings[0]["customer_id"] == customer_id and bindings[0]["unbound_at"] is None
    assert bindings[0]["bound_by_id"] == tenant.user_id


def test_a_device_without_a_customer_has_no_binding(api, db):
    device = api.device(type="smart_meter")
    assert device["customer_id"] is None and device["serial"] is None and device["name"] == ""
    assert api.get(f"/devices/{device['id']}/bindings").json() == []


def test_list_filters_and_pages(api):
    ada, bob = api.customer(first_name="Ada"), api.customer(first_name="Bob")
    taxi = api.device(type="vehicle", name="Taxi 12", customer_id=ada)
    meter = api.device(type="smart_meter", name="Meter", serial="SM-100_x", customer_id=bob)
    watch = api.device(type="wearable", name="Watch", status="inactive")

    def ids(**params) -> list[int]:
        response = api.get("/devices", params=params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["items"]]

    assert ids() == [watch["id"], meter["id"], taxi["id"]]
    assert ids(type="vehicle") == [taxi["id"]]
    assert ids(status="inactive") == [watch["id"]]
    assert ids(customer_id=bob) == [meter["id"]]
    assert ids(health="unknown") == [watch["id"], meter["id"], taxi["id"]]
    assert ids(health="fault") == []
    assert ids(q="taxi") == [taxi["id"]]
    assert ids(q="sm-100_") == [meter["id"]]
    assert ids(q="%") == []
    page = api.get("/devices", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 3 and [d["id"] for d in page["items"]] == [meter["id"], taxi["id"]]

    problem(api.get("/devices", params={"type": "toaster"}), 422, "type")
    problem(api.get("/devices", params={"health": "dead"}), 422, "health")
    problem(api.get("/devices", params={"status": "lost"}), 422, "status")
    problem(api.get("/devices", params={"limit": 0}), 422, "limit")


def test_update_changes_only_what_is_sent(api, db):
    device = api.device(type="wearable", name="Watch", serial="W-1", attributes={"size": "m"})
    response = api.patch(f"/devices/{device['id']}", json={"firmware": "2.0", "attributes": {"size": "l"}})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["name"], changed["serial"], changed["firmware"], changed["attributes"]) == (
        "Watch",
        "W-1",
        "2.0",
        {"size": "l"},
    )
    cleared = api.patch(f"/devices/{device['id']}", json={"serial": None, "status": "retired"}).json()
    assert cleared["serial"] is None and cleared["status"] == "retired"
    assert stored(db, device["id"]).serial is None


def test_delete_needs_the_delete_permission(api, client, make_tenant, db):
    device = api.device()
    agent = make_tenant("Acme", role="agent")
    problem(client.delete(f"/api/v1/devices/{device['id']}", headers=agent.headers), 403)
    assert counts(db)[0] == 1
    assert api.delete(f"/devices/{device['id']}").status_code == 204
    assert counts(db)[0] == 0
    problem(api.get(f"/devices/{device['id']}"), 404, "device_id")


def test_readers_cannot_write(api, client, make_tenant, db):
    device = api.device()
    viewer = make_tenant("Acme", role="viewer")
    assert client.get("/api/v1/devices", headers=viewer.headers).status_code == 200
    problem(client.post("/api/v1/devices", headers=viewer.headers, json={"type": "vehicle"}), 403)
    problem(client.patch(f"/api/v1/devices/{device['id']}", headers=viewer.headers, json={"name": "x"}), 403)
    problem(client.post(f"/api/v1/devices/{device['id']}/key", headers=viewer.headers), 403)
    problem(client.get("/api/v1/ingest-keys", headers=viewer.headers), 403)
    assert counts(db) == (1, 0)
    assert stored(db, device["id"]).name == ""


def test_binding_history_follows_every_move(api, db):
    ada, bob = api.customer(first_name="Ada"), api.customer(first_name="Bob")
    device = api.device(customer_id=ada)
    url = f"/devices/{device['id']}"

    moved = api.post(f"{url}/bind", json={"customer_id": bob})
    assert moved.status_code == 200, moved.text
    assert moved.json()["customer_id"] == bob
    same = api.post(f"{url}/bind", json={"customer_id": bob})
    assert same.json()["customer_id"] == bob
    unbound = api.post(f"{url}/bind", json={"customer_id": None})
    assert unbound.json()["customer_id"] is None
    again = api.post(f"{url}/bind", json={"customer_id": None})
    assert again.status_code == 200
    api.post(f"{url}/bind", json={"customer_id": ada})

    history = api.get(f"{url}/bindings").json()
    assert [b["customer_id"] for b in history] == [ada, bob, ada]
    assert history[0]["unbound_at"] is None
    assert all(b["unbound_at"] is not None for b in history[1:])
    assert history[1]["unbound_at"] >= history[1]["bound_at"]
    assert [d["id"] for d in api.get(f"/customers/{ada}/devices").json()] == [device["id"]]
    assert api.get(f"/customers/{bob}/devices").json() == []


def test_customer_devices_lists_only_theirs(api, other_api):
    ada = api.customer(first_name="Ada")
    first, second = api.device(customer_id=ada, name="A"), api.device(customer_id=ada, name="B")
    api.device(name="loose")
    devices = api.get(f"/customers/{ada}/devices").json()
    assert [d["id"] for d in devices] == [first["id"], second["id"]]
    assert all("key" not in d for d in devices)
    problem(api.get("/customers/999999/devices"), 404, "customer_id")
    problem(other_api.get(f"/customers/{ada}/devices"), 404, "customer_id")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "toaster"}, "type"),
        ({}, "type"),
        ({"type": "vehicle", "status": "lost"}, "status"),
        ({"type": "vehicle", "customer_id": 999999}, "customer_id"),
        ({"type": "vehicle", "customer_id": 0}, "customer_id"),
        ({"type": "vehicle", "customer_id": "ada"}, "customer_id"),
        ({"type": "vehicle", "name": "x" * 121}, "name"),
        ({"type": "vehicle", "serial": "s" * 121}, "serial"),
        ({"type": "vehicle", "model": "m" * 121}, "model"),
        ({"type": "vehicle", "firmware": "f" * 61}, "firmware"),
        ({"type": "vehicle", "name": "nul\x00"}, "name"),
        ({"type": "vehicle", "attributes": ["not", "an", "object"]}, "attributes"),
        ({"type": "vehicle", "attributes": "plate"}, "attributes"),
        ({"type": "vehicle", "attributes": {f"k{i}": i for i in range(101)}}, "attributes"),
        ({"type": "vehicle", "attributes": {"blob": "x" * 17_000}}, "attributes"),
        ({"type": "vehicle", "colour": "red"}, "colour"),
        ({"type": "vehicle", "key": "pdk_mine"}, "key"),
    ],
)
def test_bad_devices_are_refused_and_nothing_is_written(api, db, payload, field):
    problem(api.post("/devices", json=payload), 404 if payload.get("customer_id") == 999999 else 422, field)
    assert counts(db) == (0, 0)


def test_duplicate_serial_in_the_organisation_conflicts(api, other_api, db):
    first = api.device(serial="SN-1")
    problem(api.post("/devices", json={"type": "vehicle", "serial": "SN-1"}), 409, "serial")
    assert counts(db)[0] == 1
    other = api.device(serial="SN-2")
    problem(api.patch(f"/devices/{other['id']}", json={"serial": "SN-1"}), 409, "serial")
    assert stored(db, other["id"]).serial == "SN-2"
    assert api.patch(f"/devices/{first['id']}", json={"serial": "SN-1"}).status_code == 200
    other_api.device(serial="SN-1")  # serials are unique per organisation only


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "vehicle"}, "type"),
        ({"status": "lost"}, "status"),
        ({"name": None}, "name"),
        ({"status": None}, "status"),
        ({"attributes": None}, "attributes"),
        ({"attributes": [1]}, "attributes"),
        ({"firmware": "f" * 61}, "firmware"),
        ({"customer_id": 1}, "customer_id"),
        ({"key_hash": "x"}, "key_hash"),
        ({"health": "ok"}, "health"),
    ],
)
def test_bad_changes_are_refused_and_nothing_changes(api, db, payload, field):
    device = api.device(name="Taxi", attributes={"a": 1})
    problem(api.patch(f"/devices/{device['id']}", json=payload), 422, field)
    row = stored(db, device["id"])
    assert (row.type, row.status, row.name, row.attributes, row.firmware, row.health) == (
        "vehicle",
        "active",
        "Taxi",
        {"a": 1},
        "",
        "unknown",
    )


def test_bad_bindings_are_refused_and_nothing_changes(api, other_api, db):
    ada = api.customer(first_name="Ada")
    theirs = other_api.customer(first_name="Eve")
    device = api.device(customer_id=ada)
    url = f"/devices/{device['id']}/bind"
    problem(api.post(url, json={"customer_id": theirs}), 404, "customer_id")
    problem(api.post(url, json={"customer_id": 999999}), 404, "customer_id")
    problem(api.post(url, json={"customer_id": "ada"}), 422, "customer_id")
    problem(api.post(url, json={}), 422, "customer_id")
    problem(api.post(url, json={"customer_id": ada, "note": "x"}), 422, "note")
    assert stored(db, device["id"]).customer_id == ada
    assert counts(db) == (1, 1)


def test_a_merged_or_erased_customer_cannot_be_bound(api, db):
    kept, duplicate, erased = (api.customer(first_name=n) for n in ("Kept", "Dup", "Gone"))
    assert api.post(f"/customers/{kept}/merge", json={"duplicate_id": duplicate}).status_code == 200
    assert api.post(f"/customers/{erased}/erase").status_code == 200
    device = api.device()
    merged = problem(
        api.post(f"/devices/{device['id']}/bind", json={"customer_id": duplicate}), 404, "customer_id"
    )
    assert merged["code"] == "customer_merged"
    problem(api.post(f"/devices/{device['id']}/bind", json={"customer_id": erased}), 409, "customer_id")
    problem(api.post("/devices", json={"type": "vehicle", "customer_id": erased}), 409, "customer_id")
    assert counts(db) == (1, 0)


def test_another_organisations_device_is_not_found_on_every_route(api, other_api, db):
    ada = api.customer(first_name="Ada")
    device = api.device(customer_id=ada, name="Taxi")
    theirs = other_api.customer(first_name="Eve")
    url = f"/devices/{device['id']}"
    problem(other_api.get(url), 404, "device_id")
    problem(other_api.patch(url, json={"name": "Stolen"}), 404, "device_id")
    problem(other_api.delete(url), 404, "device_id")
    problem(other_api.post(f"{url}/bind", json={"customer_id": theirs}), 404, "device_id")
    problem(other_api.post(f"{url}/bind", json={"customer_id": None}), 404, "device_id")
    problem(other_api.get(f"{url}/bindings"), 404, "device_id")
    problem(other_api.post(f"{url}/key"), 404, "device_id")
    problem(other_api.delete(f"{url}/key"), 404, "device_id")
    problem(other_api.get(f"{url}/events"), 404, "device_id")
    problem(other_api.get(f"{url}/telemetry"), 404, "device_id")
    problem(other_api.get(f"{url}/stats"), 404, "device_id")
    assert other_api.get("/devices").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert other_api.get("/devices", params={"customer_id": ada}).json()["items"] == []

    row = stored(db, device["id"])
    assert (row.name, row.customer_id, row.key_revoked_at, row.key_rotated_at) == ("Taxi", ada, None, None)
    assert counts(db) == (1, 1)
