"""The per-event checks after their speed-up: inputs that used to crash them, and the bulk look-ups
of devices and keys that replaced one query per device."""

from __future__ import annotations

from datetime import UTC, datetime

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.devices.models import Device
from patron.events.directory import Directory
from patron.events.ingest import Credential, DeviceInfo, EventChecker


def _post(client, key, body):
    return client.post("/ingest/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})


def test_an_explicit_null_id_gets_a_generated_one(client, tenant, make_keyed_device):
    device = make_keyed_device(tenant)
    answer = _post(client, device.key, [{"id": None, "type": "telemetry"}, {"type": "telemetry"}])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 2, "rejected": []}
    ids = [row[0] for row in client.app.state.events.store.query("SELECT id FROM events")]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)


def test_a_customer_reference_that_is_not_an_id_or_email_is_refused_not_a_crash(
    client, tenant, make_ingest_key
):
    key = make_ingest_key(tenant)
    answer = _post(
        client,
        key,
        [{"type": "x", "customer": {}}, {"type": "x", "customer": [1]}, {"type": "x", "customer": True}],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 0
    assert [r["reason"] for r in answer.json()["rejected"]] == ["customer: no such customer"] * 3
    assert client.app.state.events.store.query("SELECT count(*) FROM events") == [(0,)]


def test_an_ingest_key_batch_over_many_devices(
    client, tenant, other_tenant, make_keyed_device, make_ingest_key, db
):
    key = make_ingest_key(tenant)
    ours = [make_keyed_device(tenant) for _ in range(5)]
    unbound = make_keyed_device(tenant, bound=False)
    inactive = make_keyed_device(tenant, status="inactive")
    theirs = make_keyed_device(other_tenant)
    body = [{"id": f"e{d.id}", "type": "t", "device_id": d.id} for d in ours]
    body += [
        {"id": "unbound", "type": "t", "device_id": unbound.id},
        {"id": "inactive", "type": "t", "device_id": inactive.id},
        {"id": "theirs", "type": "t", "device_id": theirs.id},
        {"id": "unknown", "type": "t", "device_id": 999_999},
        {"id": "again", "type": "t", "device_id": ours[0].id},
    ]
    answer = _post(client, key, body)
    assert answer.status_code == 200
    assert answer.json()["rejected"] == [
        {"index": 6, "reason": "device_id: the device is not active"},
        {"index": 7, "reason": "device_id: no such device"},
        {"index": 8, "reason": "device_id: no such device"},
    ]
    rows = dict(
        (row[0], row[1:])
        for row in client.app.state.events.store.query("SELECT id, device_id, customer_id FROM events")
    )
    assert rows == {
        **{f"e{d.id}": (d.id, d.customer_id) for d in ours},
        "unbound": (unbound.id, None),  # a device bound to no one: its events belong to no customer
        "again": (ours[0].id, ours[0].customer_id),
    }
    # a device deactivated after the look-up is seen once the cached entry is forgotten
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        session.get(Device, ours[1].id).status = "inactive"
    client.app.state.events.directory.forget(ours[1].id)
    answer = _post(client, key, [{"type": "t", "device_id": ours[1].id}])
    assert answer.json()["rejected"] == [{"index": 0, "reason": "device_id: the device is not active"}]


def test_bulk_look_ups_agree_with_single_ones(db, tenant, other_tenant, make_keyed_device, make_ingest_key):
    devices = [
        make_keyed_device(tenant),
        make_keyed_device(tenant, status="inactive"),
        make_keyed_device(other_tenant),
    ]
    ingest_key = make_ingest_key(tenant)
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        session.get(Device, devices[0].id).key_revoked_at = datetime.now(UTC)
    ids = [d.id for d in devices] + [999_999]
    keys = [d.key for d in devices] + [
        ingest_key,
        "pdk_unknown",
        "pik_unknown",
        "nonsense",
        ingest_key.replace("pik", "pdk"),
    ]
    bulk, single = Directory(db), Directory(db)
    assert bulk.devices(ids) == {i: single.device(i) for i in ids}
    assert bulk.credentials(keys) == {k: single.credential_for_key(k) for k in keys}
    assert bulk.credentials(keys) == bulk.credentials(keys)  # and from the cache
    assert bulk.devices(ids[:1]) == {ids[0]: single.device(ids[0])}


def test_the_checker_without_a_bulk_look_up_gives_the_same_answers():
    devices = {
        1: DeviceInfo(1, 10, 5, "active", None, False),
        2: DeviceInfo(2, 10, None, "inactive", None, False),
        3: DeviceInfo(3, 11, 6, "active", None, False),
    }
    items = [{"id": f"e{i}", "type": "t", "device_id": i} for i in (1, 2, 3, 4, 1)] + [
        {"type": "t", "device_id": "1"}
    ]
    now = datetime.now(UTC)
    answers = []
    for bulk in (None, lambda ids: {i: devices.get(i) for i in ids}):
        checker = EventChecker(
            device_lookup=devices.get,
            devices_lookup=bulk,
            customer_lookup=lambda o, r: {},
            max_event_bytes=1024,
        )
        checked = checker.check(
            items, credential=Credential(10, ingest_key_id=1), source="http", received_at=now
        )
        answers.append(([r.as_dict() for r in checked.rejected], checked.batch.id, checked.batch.customer_id))
    assert answers[0] == answers[1]
    assert answers[0][1] == ["e1", "e1"] and answers[0][2] == [5, 5]
