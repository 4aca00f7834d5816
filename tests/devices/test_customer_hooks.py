"""A customer merge moves the duplicate's devices, bindings and events; an erasure unbinds the devices
and deletes the customer's events; the privacy export lists devices, bindings and events."""

from __future__ import annotations

from sqlalchemy import select

from patron.core.audit import AuditEntry
from tests.devices.support import accepted, send


def customer_events(api, customer_id: int) -> dict:
    return api.events(f"/customers/{customer_id}/events")


def test_merge_moves_devices_bindings_and_events_to_the_kept_customer(api, client):
    kept, duplicate = api.customer(first_name="Ada"), api.customer(first_name="Ada L.")
    taxi = api.device(name="Taxi", customer_id=duplicate)
    own = api.device(name="Watch", type="wearable", customer_id=kept)
    accepted(send(client, taxi["key"], [{"id": f"t{i}", "type": "trip.end"} for i in range(3)]), 3)
    accepted(send(client, own["key"], [{"id": "w1", "type": "workout"}]), 1)
    assert customer_events(api, duplicate)["total"] == 3

    response = api.post(f"/customers/{kept}/merge", json={"duplicate_id": duplicate})
    assert response.status_code == 200, response.text
    moved = response.json()["moved"]
    assert (moved["devices"], moved["events"]) == (1, 3)

    assert api.get(f"/devices/{taxi['id']}").json()["customer_id"] == kept
    assert sorted(d["id"] for d in api.get(f"/customers/{kept}/devices").json()) == sorted(
        [taxi["id"], own["id"]]
    )
    history = api.get(f"/devices/{taxi['id']}/bindings").json()
    assert [(b["customer_id"], b["unbound_at"]) for b in history] == [(kept, None)]
    events = customer_events(api, kept)
    assert events["total"] == 4
    assert {e["id"] for e in events["items"]} == {"t0", "t1", "t2", "w1"}

    # the device's new events go to the kept customer at once (the ingest cache was told)
    accepted(send(client, taxi["key"], [{"id": "t9", "type": "trip.end"}]), 1)
    newest = api.events(f"/devices/{taxi['id']}/events")["items"][0]
    assert (newest["id"], newest["customer_id"]) == ("t9", kept)


def test_erasure_unbinds_devices_and_deletes_the_customer_s_events(api, client, db):
    ada, bob = api.customer(first_name="Ada"), api.customer(first_name="Bob")
    taxi = api.device(name="Taxi", customer_id=ada)
    meter = api.device(name="Meter", type="smart_meter", customer_id=bob)
    accepted(
        send(
            client,
            taxi["key"],
            [{"id": f"a{i}", "type": "trip.end", "props": {"lat": 52.5, "lon": 13.4}} for i in range(4)],
        ),
        4,
    )
    accepted(send(client, meter["key"], [{"id": "b1", "type": "reading", "props": {"kwh": 1.2}}]), 1)

    response = api.post(f"/customers/{ada}/erase")
    assert response.status_code == 200, response.text

    device = api.get(f"/devices/{taxi['id']}").json()
    assert device["customer_id"] is None
    history = api.get(f"/devices/{taxi['id']}/bindings").json()
    assert len(history) == 1 and history[0]["unbound_at"] is not None
    assert customer_events(api, ada) == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert api.events(f"/devices/{taxi['id']}/events")["total"] == 0
    assert customer_events(api, bob)["total"] == 1

    # the device stays registered and keeps sending, now for nobody
    accepted(send(client, taxi["key"], [{"id": "a9", "type": "trip.end"}]), 1)
    assert api.events(f"/devices/{taxi['id']}/events")["items"][0]["customer_id"] is None
    assert customer_events(api, ada)["total"] == 0

    with db() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "customers.erase"))
    assert entry.after["related"]["devices"] == 1
    assert entry.after["related"]["events"] == 4


def test_privacy_export_lists_devices_bindings_and_events(api, client):
    ada, bob = api.customer(first_name="Ada"), api.customer(first_name="Bob")
    taxi = api.device(name="Taxi", serial="VIN-1", customer_id=bob)
    api.post(f"/devices/{taxi['id']}/bind", json={"customer_id": ada})
    accepted(
        send(
            client,
            taxi["key"],
            [
                {"id": "e1", "type": "fault", "ts": "2024-05-01T10:00:00Z", "props": {"code": "E42"}},
                {"id": "e2", "type": "trip.end", "ts": "2024-05-01T11:00:00Z"},
            ],
        ),
        2,
    )

    response = api.get(f"/customers/{ada}/privacy-export")
    assert response.status_code == 200, response.text
    related = response.json()["related"]
    devices = related["devices"]
    assert [(d["id"], d["serial"], d["customer_id"]) for d in devices["devices"]] == [
        (taxi["id"], "VIN-1", ada)
    ]
    assert "key_hash" not in str(devices) and taxi["key"] not in str(response.json())
    assert [(b["customer_id"], b["unbound_at"] is None) for b in devices["device_bindings"]] == [(ada, True)]
    events = related["events"]["events"]
    assert [(e["id"], e["type"], e["props"]) for e in events] == [
        ("e1", "fault", {"code": "E42"}),
        ("e2", "trip.end", {}),
    ]
    assert events[0]["ts"].startswith("2024-05-01T10:00:00")

    bobs = api.get(f"/customers/{bob}/privacy-export").json()["related"]
    assert bobs["devices"]["devices"] == [] and bobs["events"]["events"] == []
    assert [b["customer_id"] for b in bobs["devices"]["device_bindings"]] == [bob]
