"""The rules API: CRUD, strict definitions (422 naming the path, nothing written), the rule test
endpoint, firings and triggers, permissions and tenant isolation."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from patron.rules.models import Rule, RuleFiring, Trigger
from patron.tickets.models import Ticket

RULES = "/api/v1/rules"
FAULT = {
    "when": {"event_types": ["fault"]},
    "conditions": [{"field": "props.code", "op": "in", "value": ["E42", "E51"]}],
    "actions": [{"type": "open_ticket", "subject": "Fault {props.code}"}],
}


def count(db, model) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_create_read_update_list_delete(client, tenant, db):
    response = client.post(
        RULES,
        headers=tenant.headers,
        json={"name": "  Meter faults ", "description": "Proactive service", "definition": FAULT},
    )
    assert response.status_code == 201, response.text
    rule = response.json()
    assert rule["name"] == "Meter faults" and rule["enabled"] is True and rule["definition"] == FAULT
    assert (
        rule["fire_count"] == 0 and rule["last_fired_at"] is None and rule["created_by_id"] == tenant.user_id
    )

    assert client.get(f"{RULES}/{rule['id']}", headers=tenant.headers).json() == rule
    as_text = client.post(
        RULES, headers=tenant.headers, json={"name": "Text", "definition": json.dumps(FAULT)}
    )
    assert as_text.status_code == 201 and as_text.json()["definition"] == FAULT

    listed = client.get(RULES, headers=tenant.headers).json()
    assert listed["total"] == 2 and [r["name"] for r in listed["items"]] == ["Meter faults", "Text"]
    changed = client.patch(
        f"{RULES}/{rule['id']}", headers=tenant.headers, json={"enabled": False, "description": "Paused"}
    ).json()
    assert (
        changed["enabled"] is False and changed["description"] == "Paused" and changed["definition"] == FAULT
    )
    assert client.get(RULES, params={"enabled": False}, headers=tenant.headers).json()["total"] == 1

    assert client.delete(f"{RULES}/{rule['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"{RULES}/{rule['id']}", headers=tenant.headers).status_code == 404
    assert count(db, Rule) == 1


#: definitions each wrong in one place, and the path the error must name
BAD_DEFINITIONS = [
    ([], "definition"),
    ("not json {", "definition"),
    ({}, "definition.when"),
    ({"when": {"event_types": ["fault"]}, "then": []}, "definition.then"),
    ({"when": {}}, "definition.when.event_types"),
    ({"when": {"event_types": ["bad type!"]}}, "definition.when.event_types[0]"),
    ({"when": {"event_types": "fault", "device_types": ["toaster"]}}, "definition.when.device_types[0]"),
    ({"when": {"event_types": "fault", "device_ids": [0]}}, "definition.when.device_ids[0]"),
    (
        {
            "when": {"event_types": "fault"},
            "conditions": [
                {"field": "props.code", "op": "eq", "value": "E1"},
                {"field": "props.code", "op": "like", "value": "E"},
            ],
        },
        "definition.conditions[1].op",
    ),
    (
        {"when": {"event_types": "fault"}, "conditions": [{"field": "colour", "op": "eq", "value": 1}]},
        "definition.conditions[0].field",
    ),
    (
        {
            "when": {"event_types": "fault"},
            "conditions": [{"field": "props.t", "op": "gt", "value": "hot"}],
        },
        "definition.conditions[0].value",
    ),
    (
        {
            "when": {"event_types": "fault"},
            "conditions": [{"field": "props.t", "op": "between", "value": [5, 1]}],
        },
        "definition.conditions[0].value",
    ),
    (
        {"when": {"event_types": "fault"}, "conditions": [{"field": "props.t", "op": "in", "value": []}]},
        "definition.conditions[0].value",
    ),
    (
        {"when": {"event_types": "fault"}, "conditions": [{"field": "props.t", "op": "eq"}]},
        "definition.conditions[0].value",
    ),
    (
        {
            "when": {"event_types": "fault"},
            "conditions": {"any": [{"all": [{"field": "consent.fax", "op": "eq", "value": True}]}]},
        },
        "definition.conditions.any[0].all[0].field",
    ),
    (
        {
            "when": {"event_types": "x"},
            "window": {"minutes": 10, "op": "gt", "value": 3, "agg": "median"},
        },
        "definition.window.agg",
    ),
    (
        {"when": {"event_types": "x"}, "window": {"minutes": 10, "op": "gt", "value": 3, "agg": "avg"}},
        "definition.window.prop",
    ),
    (
        {"when": {"event_types": "x"}, "window": {"minutes": 0, "op": "gt", "value": 3}},
        "definition.window.minutes",
    ),
    (
        {
            "when": {"event_types": "x"},
            "window": {"minutes": 5, "op": "gt", "value": 3},
            "inactivity": {"minutes": 5},
        },
        "definition.inactivity",
    ),
    ({"when": {}, "inactivity": {"minutes": 5, "per": "shop"}}, "definition.inactivity.per"),
    (
        {
            "when": {"event_types": "x"},
            "geofence": {"name": "S", "circle": {"lat": 95, "lon": 0, "radius_m": 5}},
        },
        "definition.geofence.circle.lat",
    ),
    (
        {"when": {"event_types": "x"}, "geofence": {"name": "S", "polygon": [[0, 0], [0, 1]]}},
        "definition.geofence.polygon",
    ),
    (
        {
            "when": {"event_types": "x"},
            "geofence": {"name": "S", "circle": {"lat": 1, "lon": 1, "radius_m": 5}, "on": "near"},
        },
        "definition.geofence.on",
    ),
    ({"when": {"event_types": "x"}, "cooldown_minutes": -1}, "definition.cooldown_minutes"),
    (
        {"when": {"event_types": "x"}, "actions": [{"type": "launch_rocket"}]},
        "definition.actions[0].type",
    ),
    (
        {
            "when": {"event_types": "x"},
            "actions": [{"type": "open_ticket", "subject": "x", "priority": "asap"}],
        },
        "definition.actions[0].priority",
    ),
    (
        {"when": {"event_types": "x"}, "actions": [{"type": "open_ticket"}]},
        "definition.actions[0].subject",
    ),
    (
        {
            "when": {"event_types": "x"},
            "actions": [
                {"type": "tag_customer", "tag": "ok"},
                {"type": "webhook", "url": "file:///etc/passwd"},
            ],
        },
        "definition.actions[1].url",
    ),
    (
        {"when": {"event_types": "x"}, "actions": [{"type": "emit_trigger", "name": "Bad Name"}]},
        "definition.actions[0].name",
    ),
    (
        {"when": {"event_types": "x"}, "actions": [{"type": "open_ticket", "subject": "{secret.key}"}]},
        "definition.actions[0].subject",
    ),
    (
        {"when": {"event_types": "x"}, "actions": [{"type": "notify", "user_id": 99999}]},
        "definition.actions[0].user_id",
    ),
]


def test_bad_definitions_are_refused_naming_the_path(client, tenant, db):
    for definition, path in BAD_DEFINITIONS:
        response = client.post(RULES, headers=tenant.headers, json={"name": "Bad", "definition": definition})
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["field"] == path, (definition, problem)
        assert problem["detail"].startswith(path)
    assert count(db, Rule) == 0


def test_bad_rule_fields_and_conflicts(client, tenant, db, make_rule):
    rule = make_rule(tenant, FAULT, name="Taken")
    cases = [
        ({"name": "", "definition": FAULT}, 422, "name"),
        ({"name": "x" * 121, "definition": FAULT}, 422, "name"),
        ({"name": "Ok", "definition": FAULT, "colour": "red"}, 422, "colour"),
        ({"name": "Ok"}, 422, "definition"),
        ({"name": "Taken", "definition": FAULT}, 409, "name"),
    ]
    for payload, status, field in cases:
        response = client.post(RULES, headers=tenant.headers, json=payload)
        assert response.status_code == status, (payload, response.text)
        assert response.json()["field"] == field
    before = client.get(f"{RULES}/{rule['id']}", headers=tenant.headers).json()
    for payload, status, field in [
        ({"name": None}, 422, "name"),
        (
            {"definition": {"when": {"event_types": "x"}, "cooldown_minutes": "soon"}},
            422,
            "definition.cooldown_minutes",
        ),
        ({"enabled": "maybe"}, 422, "enabled"),
    ]:
        response = client.patch(f"{RULES}/{rule['id']}", headers=tenant.headers, json=payload)
        assert response.status_code == status and response.json()["field"] == field, response.text
    other = make_rule(tenant, FAULT, name="Other")
    response = client.patch(f"{RULES}/{other['id']}", headers=tenant.headers, json={"name": "Taken"})
    assert response.status_code == 409
    assert client.get(f"{RULES}/{rule['id']}", headers=tenant.headers).json() == before
    assert count(db, Rule) == 2


def test_the_test_endpoint_replays_stored_events_without_acting(
    client, tenant, new_customer, new_device, send, make_rule, db
):
    customer_id = new_customer(tenant.org_id)
    meter = new_device(tenant.org_id, customer_id, type="smart_meter", name="Meter 3")
    send(meter, *[{"type": "fault", "props": {"code": code}} for code in ("E42", "E01", "E51", "E42")])
    send(meter, {"type": "reading", "props": {"lat": 52.5201, "lon": 13.4051}})

    response = client.post(f"{RULES}/test", headers=tenant.headers, json={"definition": FAULT, "last": 3})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["evaluated"] == 3 and result["would_fire_count"] == 2  # E51 and the last E42
    first = result["would_fire"][0]
    assert first["event"]["props"] == {"code": "E51"} and first["event"]["device_id"] == meter.id
    assert first["reason"] == 'fault event with props.code in ["E42","E51"]'
    assert first["actions"][0]["type"] == "open_ticket" and first["actions"][0]["subject"] == "Fault E51"

    fence = {
        "when": {"event_types": "*"},
        "geofence": {"name": "Shop", "circle": {"lat": 52.52, "lon": 13.405, "radius_m": 50}},
        "actions": [{"type": "emit_trigger", "name": "offer"}],
    }
    result = client.post(f"{RULES}/test", headers=tenant.headers, json={"definition": fence}).json()
    assert result["evaluated"] == 5 and result["would_fire_count"] == 1  # starts outside: entering counts

    rule = make_rule(tenant, FAULT, enabled=False)
    saved = client.post(f"{RULES}/{rule['id']}/test", headers=tenant.headers)
    assert saved.status_code == 200 and saved.json()["would_fire_count"] == 3
    silence = {"when": {}, "inactivity": {"minutes": 1}}
    result = client.post(f"{RULES}/test", headers=tenant.headers, json={"definition": silence}).json()
    assert result["would_fire_count"] == 0  # heard just now

    with db() as session:  # nothing was done or written
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert session.scalar(select(func.count()).select_from(RuleFiring)) == 0
        assert session.scalar(select(func.count()).select_from(Trigger)) == 0

    for payload, field in [
        ({"definition": FAULT, "last": 0}, "last"),
        ({"definition": FAULT, "last": 100_001}, "last"),
        ({"definition": {"when": {"event_types": "x"}, "window": {}}}, "definition.window.minutes"),
        ({"last": 5}, "definition"),
    ]:
        response = client.post(f"{RULES}/test", headers=tenant.headers, json=payload)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    response = client.post(f"{RULES}/{rule['id']}/test", headers=tenant.headers, json={"last": -1})
    assert response.status_code == 422 and response.json()["field"] == "last"


def test_firings_and_triggers(client, tenant, new_customer, new_device, send, make_rule):
    customer_id = new_customer(tenant.org_id)
    beacon = new_device(tenant.org_id, customer_id, type="beacon")
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["visit"]},
            "actions": [{"type": "emit_trigger", "name": "nearby_shop_offer", "data": {"shop": "S-1"}}],
        },
    )
    other = make_rule(tenant, {"when": {"event_types": ["visit"]}})
    send(beacon, {"type": "visit"}, {"type": "visit"})

    page = client.get(f"{RULES}/{rule['id']}/firings", params={"limit": 1}, headers=tenant.headers).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["rule_id"] == rule["id"]
    everything = client.get("/api/v1/rule-firings", headers=tenant.headers).json()
    assert everything["total"] == 4
    assert (
        client.get("/api/v1/rule-firings", params={"rule_id": other["id"]}, headers=tenant.headers).json()[
            "total"
        ]
        == 2
    )
    assert (
        client.get(
            "/api/v1/rule-firings", params={"customer_id": customer_id}, headers=tenant.headers
        ).json()["total"]
        == 4
    )
    assert (
        client.get(
            "/api/v1/rule-firings", params={"device_id": beacon.id + 1000}, headers=tenant.headers
        ).json()["total"]
        == 0
    )

    waiting = client.get(
        "/api/v1/triggers", params={"name": "nearby_shop_offer", "consumed": False}, headers=tenant.headers
    ).json()
    assert waiting["total"] == 2
    first = waiting["items"][0]
    assert first["data"] == {"shop": "S-1"} and first["customer_id"] == customer_id
    response = client.post(
        f"/api/v1/triggers/{first['id']}/consume", headers=tenant.headers, json={"by": "campaign:12"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["consumed_by"] == "campaign:12" and response.json()["consumed_at"] is not None
    again = client.post(f"/api/v1/triggers/{first['id']}/consume", headers=tenant.headers)
    assert again.status_code == 409 and again.json()["field"] == "trigger_id"
    assert (
        client.get("/api/v1/triggers", params={"consumed": True}, headers=tenant.headers).json()["total"] == 1
    )
    second = waiting["items"][1]
    response = client.post(f"/api/v1/triggers/{second['id']}/consume", headers=tenant.headers)
    assert response.json()["consumed_by"] == tenant.email
    bad = client.post(f"/api/v1/triggers/{second['id']}/consume", headers=tenant.headers, json={"by": ""})
    assert bad.status_code == 422

    # deleting the rule removes its firings; the triggers it emitted stay for the campaigns
    assert client.delete(f"{RULES}/{rule['id']}", headers=tenant.headers).status_code == 204
    assert client.get("/api/v1/rule-firings", headers=tenant.headers).json()["total"] == 2
    triggers = client.get("/api/v1/triggers", headers=tenant.headers).json()
    assert triggers["total"] == 2 and all(t["rule_id"] is None for t in triggers["items"])


def test_permissions(client, make_tenant, tenant, make_rule):
    viewer = make_tenant("Acme", role="viewer")
    rule = make_rule(tenant, FAULT)
    assert client.get(RULES, headers=viewer.headers).status_code == 200
    assert client.get(f"{RULES}/{rule['id']}/firings", headers=viewer.headers).status_code == 200
    assert client.get("/api/v1/triggers", headers=viewer.headers).status_code == 200
    for method, url, body in [
        ("post", RULES, {"name": "V", "definition": FAULT}),
        ("patch", f"{RULES}/{rule['id']}", {"enabled": False}),
        ("delete", f"{RULES}/{rule['id']}", None),
        ("post", f"{RULES}/test", {"definition": FAULT}),
        ("post", f"{RULES}/{rule['id']}/test", {}),
    ]:
        response = client.request(method, url, headers=viewer.headers, json=body)
        assert response.status_code == 403, (method, url, response.text)
    assert client.get(RULES).status_code == 401


def test_tenant_isolation(client, tenant, other_tenant, new_customer, new_device, send, make_rule, db):
    ours = make_rule(tenant, FAULT, name="Faults")
    theirs_device = new_device(other_tenant.org_id, new_customer(other_tenant.org_id), type="smart_meter")
    our_device = new_device(tenant.org_id, new_customer(tenant.org_id), type="smart_meter")
    send(theirs_device, {"type": "fault", "props": {"code": "E42"}})
    assert client.get(f"{RULES}/{ours['id']}/firings", headers=tenant.headers).json()["total"] == 0
    assert count(db, Ticket) == 0  # a rule of Acme never fires on Globex's events

    send(our_device, {"type": "fault", "props": {"code": "E42"}}, {"type": "visit"})
    assert client.get("/api/v1/rule-firings", headers=tenant.headers).json()["total"] == 1
    make_rule(
        tenant, {"when": {"event_types": ["visit"]}, "actions": [{"type": "emit_trigger", "name": "v"}]}
    )
    send(our_device, {"type": "visit"})
    trigger = client.get("/api/v1/triggers", headers=tenant.headers).json()["items"][0]

    other = other_tenant.headers
    assert client.get(RULES, headers=other).json()["total"] == 0
    assert client.get("/api/v1/rule-firings", headers=other).json()["total"] == 0
    assert client.get("/api/v1/triggers", headers=other).json()["total"] == 0
    for method, url, body in [
        ("get", f"{RULES}/{ours['id']}", None),
        ("patch", f"{RULES}/{ours['id']}", {"enabled": False}),
        ("delete", f"{RULES}/{ours['id']}", None),
        ("post", f"{RULES}/{ours['id']}/test", {}),
        ("get", f"{RULES}/{ours['id']}/firings", None),
        ("post", f"/api/v1/triggers/{trigger['id']}/consume", {}),
    ]:
        response = client.request(method, url, headers=other, json=body)
        assert response.status_code == 404, (method, url, response.text)
    assert client.get(f"{RULES}/{ours['id']}", headers=tenant.headers).json()["enabled"] is True
    assert (
        client.get("/api/v1/triggers", params={"consumed": False}, headers=tenant.headers).json()["total"]
        == 1
    )

    # a rule may not name another organisation's device; the test endpoint sees only one's own events
    response = client.post(
        RULES,
        headers=other,
        json={"name": "Spy", "definition": {"when": {"event_types": "*", "device_ids": [our_device.id]}}},
    )
    assert response.status_code == 422 and response.json()["field"] == "definition.when.device_ids[0]"
    result = client.post(
        f"{RULES}/test", headers=other, json={"definition": {"when": {"event_types": "*"}}}
    ).json()
    assert result["evaluated"] == 1 and result["would_fire_count"] == 1
    assert result["would_fire"][0]["event"]["device_id"] == theirs_device.id


def test_the_test_endpoint_finds_silences_between_stored_events(
    app, client, tenant, new_customer, new_device, send
):
    from datetime import UTC, datetime, timedelta

    meter = new_device(tenant.org_id, new_customer(tenant.org_id), type="smart_meter")
    start = datetime.now(UTC) - timedelta(hours=2)
    for minutes in (0, 10, 55, 60):  # a 45-minute gap, then silence since an hour ago
        app.state.events.clock = lambda minutes=minutes: start + timedelta(minutes=minutes)
        send(meter, {"type": "reading"})
    silence = {"when": {"device_types": ["smart_meter"]}, "inactivity": {"minutes": 30}}
    result = client.post(f"{RULES}/test", headers=tenant.headers, json={"definition": silence}).json()
    assert result["evaluated"] == 4 and result["would_fire_count"] == 2
    assert [item["event"]["device_id"] for item in result["would_fire"]] == [meter.id, meter.id]
    assert result["would_fire"][0]["reason"].startswith(f"no event from device {meter.id} for 45 min")
