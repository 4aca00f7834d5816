"""The device, rule and dead-letter pages, rendered on real data (devices, ingested events, rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.devices import service as devices_service
from patron.rules.models import Rule, RuleFiring


def _device(db, tenant, customer_id, name="Taxi 12", type_="vehicle"):
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
        key, device = devices_service.create_device(
            session, org_id=tenant.org_id, type=type_, customer_id=customer_id, name=name
        )
        return key, device.id


def _send(client, key, events):
    response = client.post("/ingest/v1/events", headers={"Authorization": f"Bearer {key}"}, json=events)
    assert response.status_code == 200, response.text
    return response.json()


def test_device_list_and_page_show_health_telemetry_and_topic(browser, seed, db, tenant, app):
    customer_id = seed.customer(tenant, first_name="Ines", last_name="Moreau")
    key, device_id = _device(db, tenant, customer_id)
    now = datetime.now(UTC)
    _send(browser.client, key, [
        {"id": f"e{i}", "type": "telemetry", "ts": (now - timedelta(minutes=30 - i)).isoformat(),
         "props": {"speed": 20 + i, "lat": 48.85, "lon": 2.35}}
        for i in range(20)
    ] + [{"id": "f1", "type": "fault", "props": {"code": "E42"}}])
    assert app.state.events.wait_processed(timeout=20)

    listing = browser.get("/devices")
    assert listing.status_code == 200
    assert "Taxi 12" in listing.text and "Ines Moreau" in listing.text
    filtered = browser.get("/devices?type=wearable")
    assert "Taxi 12" not in filtered.text

    page = browser.get(f"/devices/{device_id}")
    assert page.status_code == 200
    html = page.text
    assert f'data-telemetry data-device-id="{device_id}"' in html
    assert f"patron/{tenant.slug}/devices/{device_id}/events" in html
    assert "/static/devices.js" in html
    assert "Ines Moreau" in html
    assert "fault" in html  # the activity table lists event types
    # the JSON the live chart reads
    series = browser.get(f"/api/v1/devices/{device_id}/telemetry?metric=speed").json()["series"]["speed"]
    assert sum(point["count"] for point in series) == 20


def test_device_page_of_another_organisation_is_not_found(browser, make_tenant, seed, db):
    other = make_tenant("Globex", role="admin")
    customer_id = seed.customer(other)
    _, device_id = _device(db, other, customer_id)
    assert browser.get(f"/devices/{device_id}").status_code == 404


def test_dead_letters_page_lists_refused_events(browser, seed, db, tenant):
    customer_id = seed.customer(tenant)
    key, _ = _device(db, tenant, customer_id)
    result = _send(browser.client, key, [{"type": "bad type!"}, {"type": "ok", "props": []}])
    assert len(result["rejected"]) == 2
    page = browser.get("/devices/dead-letters")
    assert page.status_code == 200
    assert "type: required" in page.text and "props: must be a JSON object" in page.text
    assert "bad type!" in page.text
    assert "type: required" not in browser.get("/devices/dead-letters?source=mqtt").text


def test_rule_pages_create_test_edit_pause_and_delete(browser, seed, db, tenant, app):
    customer_id = seed.customer(tenant)
    key, device_id = _device(db, tenant, customer_id, name="Meter 7", type_="smart_meter")
    definition = {
        "when": {"event_types": ["fault"]},
        "actions": [{"type": "open_ticket", "subject": "Fault {props.code} on {device.name}"}],
    }
    bad = browser.post("/rules", {"name": "Broken", "definition": "{not json"})
    assert bad.status_code == 422 and "not valid JSON" in bad.text
    wrong = browser.post("/rules", {"name": "Wrong", "definition": orjson.dumps({"when": {}, "actions": [{"type": "explode"}]}).decode()})
    assert wrong.status_code == 422 and "definition" in wrong.text
    with session_scope(db) as session:
        assert session.query(Rule).count() == 0

    created = browser.post("/rules", {"name": "Meter fault", "description": "Proactive service",
                                      "definition": orjson.dumps(definition).decode()})
    assert created.status_code == 303
    rule_url = created.headers["location"]
    assert "Meter fault" in browser.get("/rules").text

    _send(browser.client, key, [{"id": "x1", "type": "fault", "props": {"code": "E7"}}])
    assert app.state.events.wait_processed(timeout=20)
    page = browser.get(rule_url)
    assert "Fault E7 on Meter 7" in page.text or "open_ticket" in page.text
    with session_scope(db) as session:
        assert session.query(RuleFiring).count() == 1

    tested = browser.post(rule_url + "/test", {"last": "100"})
    assert tested.status_code == 200 and 'data-testid="dry-run"' in tested.text
    assert "1</strong> firing in 1 events" in tested.text
    too_many = browser.post(rule_url + "/test", {"last": "0"})
    assert too_many.status_code == 422

    edited = browser.post(rule_url, {"name": "Meter fault (high)", "description": "",
                                     "definition": orjson.dumps({**definition, "cooldown_minutes": 5}).decode()})
    assert edited.status_code == 303
    assert "Meter fault (high)" in browser.get(rule_url).text
    assert browser.post(rule_url + "/toggle").status_code == 303
    assert "Paused" in browser.get(rule_url).text
    assert browser.post(rule_url + "/delete").status_code == 303
    assert browser.get(rule_url).status_code == 404


def test_rule_pages_need_permission(client, make_tenant):
    from tests.web.conftest import Browser, sign_in

    viewer = make_tenant("Acme", role="viewer")
    b = Browser(client, sign_in(client, viewer.email, viewer.password))
    assert b.get("/rules").status_code == 200
    assert b.post("/rules", {"name": "x", "definition": "{}"}).status_code == 403


def test_customer_page_has_a_devices_card_with_signals_and_a_live_chart(browser, seed, db, tenant, app):
    customer_id = seed.customer(tenant, first_name="Ines", last_name="Moreau")
    key, device_id = _device(db, tenant, customer_id, name="Ines's watch", type_="wearable")
    _send(browser.client, key, [{"id": "h1", "type": "telemetry", "props": {"heart_rate": 71}}])
    assert app.state.events.wait_processed(timeout=20)
    page = browser.get(f"/customers/{customer_id}")
    assert page.status_code == 200
    assert 'id="devices"' in page.text and "Ines&#39;s watch" in page.text
    assert f'data-device-id="{device_id}"' in page.text and "/static/devices.js" in page.text
    assert 'data-testid="signals"' in page.text
    # no devices: no chart, no script
    bare = browser.get(f"/customers/{seed.customer(tenant)}")
    assert "/static/devices.js" not in bare.text and "No devices" in bare.text
