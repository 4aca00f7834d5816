"""Device events on the customer timeline, and the event store's part in merge, erasure and export:
changes land only when the records transaction commits, also from the CLI with no server running."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from patron.customers.models import Customer
from patron.customers.timeline import timeline_providers
from patron.events import privacy
from patron.events.runtime import CURRENT
from patron.events.store import EventStore, resolve_path
from tests.devices.support import Api, accepted, problem, send, without_processors

T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings):
    return without_processors(settings)


@pytest.fixture
def api(client, tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> Api:
    return Api(client, other_tenant)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def timeline(api, customer_id: int, **params) -> dict:
    response = api.get(f"/customers/{customer_id}/timeline", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def device_items(page: dict) -> list[dict]:
    return [item for item in page["items"] if item["source"] == "devices"]


@pytest.fixture
def taxi_day(api, client) -> dict:
    """Ada's taxi with a day's mix of events, high-rate ones among them."""
    ada = api.customer(first_name="Ada")
    taxi = api.device(name="Taxi 12", customer_id=ada)
    events = [
        {"id": "e1", "type": "trip.start", "ts": at(0), "props": {"from": "home"}},
        {"id": "e2", "type": "telemetry", "ts": at(1), "props": {"speed": 40}},
        {"id": "e3", "type": "gps", "ts": at(2), "props": {"lat": 52.5, "lon": 13.4}},
        {"id": "e4", "type": "Heartbeat", "ts": at(3)},
        {"id": "e5", "type": "fault", "ts": at(4), "props": {"code": "E42", "severity": "high"}},
        {"id": "e6", "type": "location", "ts": at(5)},
        {"id": "e7", "type": "trip.end", "ts": at(6), "props": {"fare": 18.0}},
        {"id": "e8", "type": "fault", "ts": at(7)},
        {"id": "e9", "type": "door:open-rear", "ts": at(8)},
    ]
    accepted(send(client, taxi["key"], events), len(events))
    return {"ada": ada, "taxi": taxi}


def test_device_events_appear_on_the_timeline_without_the_high_rate_ones(api, taxi_day):
    taxi_id = taxi_day["taxi"]["id"]
    items = device_items(timeline(api, taxi_day["ada"]))
    assert [(i["kind"], i["summary"]) for i in items] == [
        ("device.door_open_rear", "door:open-rear from Taxi 12"),
        ("device.fault", "Fault on Taxi 12"),
        ("device.trip_end", "trip.end from Taxi 12"),
        ("device.fault", "Fault E42 on Taxi 12"),
        ("device.trip_start", "trip.start from Taxi 12"),
    ]
    fault = items[3]
    assert (fault["ref_type"], fault["ref_id"], fault["id"]) == ("device", taxi_id, None)
    assert fault["data"] == {"code": "E42", "severity": "high"}
    assert datetime.fromisoformat(fault["occurred_at"]) == T0 + timedelta(minutes=4)


def test_kind_filters_bring_in_high_rate_types_only_by_name(api, taxi_day):
    ada = taxi_day["ada"]
    assert [i["kind"] for i in device_items(timeline(api, ada, kinds="device.telemetry"))] == [
        "device.telemetry"
    ]
    assert [i["kind"] for i in device_items(timeline(api, ada, kinds="device.heartbeat,device.fault"))] == [
        "device.fault",
        "device.fault",
        "device.heartbeat",
    ]
    assert len(device_items(timeline(api, ada, kinds="device.*"))) == 5
    assert device_items(timeline(api, ada, kinds="ticket.*")) == []
    assert device_items(timeline(api, ada, kinds="device.gps,device.location")) != []


def test_timeline_pages_walk_through_device_events_once(api, taxi_day):
    seen, before = [], None
    while True:
        params = {"limit": 2, "kinds": "device.*"}
        if before:
            params["before"] = before
        page = timeline(api, taxi_day["ada"], **params)
        seen += [i["data"] for i in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert len(seen) == 5
    times = timeline(api, taxi_day["ada"], before=at(5), kinds="device.*")
    assert [i["kind"] for i in times["items"]] == ["device.fault", "device.trip_start"]


def test_events_without_a_device_or_of_a_deleted_device(api, client, taxi_day):
    key = api.ingest_key()
    accepted(send(client, key, [{"type": "app.open", "ts": at(20), "customer": taxi_day["ada"]}]), 1)
    api.delete(f"/devices/{taxi_day['taxi']['id']}")
    items = device_items(timeline(api, taxi_day["ada"]))
    assert (items[0]["summary"], items[0]["ref_type"], items[0]["ref_id"]) == ("app.open", None, None)
    assert items[1]["summary"] == f"door:open-rear from device {taxi_day['taxi']['id']}"


def test_another_organisation_cannot_read_the_timeline(api, other_api, taxi_day):
    problem(other_api.get(f"/customers/{taxi_day['ada']}/timeline"), 404, "customer_id")
    theirs = other_api.customer(first_name="Eve")
    assert device_items(timeline(other_api, theirs)) == []


def test_the_provider_and_current_runtime_come_and_go_with_the_app(app):
    assert "devices" not in timeline_providers()
    with TestClient(app):
        assert CURRENT.get() is app.state.events
        assert timeline_providers()["devices"].runtime is app.state.events
    assert CURRENT.get() is None
    assert "devices" not in timeline_providers()


# --- the privacy hooks -------------------------------------------------------------------------------


def store_ids(app, customer_id: int) -> list[str]:
    rows = app.state.events.store.query(
        "SELECT id FROM events WHERE customer_id = ? ORDER BY id", [customer_id]
    )
    return [row[0] for row in rows]


def test_erasure_of_events_waits_for_the_commit(api, app, db, tenant, taxi_day):
    ada = taxi_day["ada"]
    with db() as session:
        assert privacy.erase_customer(session, org_id=tenant.org_id, customer_id=ada) == 9
        assert len(store_ids(app, ada)) == 9
        session.rollback()
    assert len(store_ids(app, ada)) == 9

    with db() as session:
        assert privacy.erase_customer(session, org_id=tenant.org_id, customer_id=ada) == 9
        session.commit()
    assert store_ids(app, ada) == []


def test_a_merge_moves_events_when_it_commits(api, app, db, tenant, taxi_day):
    ada, bob = taxi_day["ada"], api.customer(first_name="Bob")
    with db() as session:
        assert (
            privacy.reassign_customer(session, org_id=tenant.org_id, from_customer_id=ada, to_customer_id=bob)
            == 9
        )
        session.rollback()
    assert store_ids(app, bob) == []
    with db() as session:
        privacy.reassign_customer(session, org_id=tenant.org_id, from_customer_id=ada, to_customer_id=bob)
        session.commit()
    assert len(store_ids(app, bob)) == 9 and store_ids(app, ada) == []


def test_hooks_of_another_organisation_touch_nothing(api, app, db, other_tenant, taxi_day):
    with db() as session:
        assert privacy.erase_customer(session, org_id=other_tenant.org_id, customer_id=taxi_day["ada"]) == 0
        assert privacy.export_customer(session, org_id=other_tenant.org_id, customer_id=taxi_day["ada"]) == {
            "events": []
        }
        session.commit()
    assert len(store_ids(app, taxi_day["ada"])) == 9




def _stopped_with_events(app, tenant) -> tuple[int, str]:
    """Start the app, give a customer two events, stop it: returns the customer and the store path."""
    with TestClient(app) as client:
        api = Api(client, tenant)
        ada = api.customer(first_name="Ada")
        taxi = api.device(customer_id=ada)
        accepted(
            send(client, taxi["key"], [{"id": "c1", "type": "trip.end"}, {"id": "c2", "type": "fault"}]), 2
        )
    return ada, resolve_path(app.state.settings.events_url, app.state.settings.data_dir)


def test_the_cli_erases_events_with_no_server_running(app, tenant, settings, cli):
    ada, path = _stopped_with_events(app, tenant)
    assert CURRENT.get() is None
    exported = cli("customers", "privacy-export", ada, "--org", tenant.slug)
    assert exported.exit_code == 0, exported.output
    assert '"c1"' in exported.output and '"c2"' in exported.output

    result = cli("customers", "erase", ada, "--org", tenant.slug, "--yes")
    assert result.exit_code == 0, result.output
    store = EventStore(path)
    try:
        assert store.query("SELECT count(*) FROM events")[0][0] == 0
    finally:
        store.close()


def test_the_cli_refuses_to_erase_while_another_process_holds_the_store(app, tenant, settings, cli, db):
    ada, path = _stopped_with_events(app, tenant)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; held = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(120)",
            path,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        result = cli("customers", "erase", ada, "--org", tenant.slug, "--yes")
        assert result.exit_code == 1
        assert "event store is in use by another process" in result.output
    finally:
        holder.kill()
        holder.wait()
    with db() as session:
        assert session.get(Customer, ada).erased_at is None
    store = EventStore(path)
    try:
        assert store.query("SELECT count(*) FROM events WHERE customer_id = ?", [ada])[0][0] == 2
    finally:
        store.close()


def test_without_any_store_the_hooks_find_nothing(app, db, tenant, cli):
    # the app was never started: no event store file exists for this data directory yet
    with db() as session:
        assert privacy.erase_customer(session, org_id=tenant.org_id, customer_id=1) == 0
        assert privacy.export_customer(session, org_id=tenant.org_id, customer_id=1) == {"events": []}


def test_deleting_a_customer_deletes_their_events_and_only_theirs(api, app, client, taxi_day):
    ada = taxi_day["ada"]
    bob = api.customer(first_name="Bob")
    bobs_taxi = api.device(name="Taxi 7", customer_id=bob)
    accepted(send(client, bobs_taxi["key"], [{"id": "b1", "type": "trip.start", "ts": at(0)}]), 1)
    assert len(store_ids(app, ada)) == 9
    assert api.delete(f"/customers/{ada}").status_code == 204
    assert store_ids(app, ada) == []
    assert store_ids(app, bob) == ["b1"]
