"""Firings and triggers follow a customer through a merge, leave with an erasure, show in an export."""

from __future__ import annotations

from sqlalchemy import select

from patron.rules.models import RuleFiring, RuleState, Trigger

VISIT = {
    "when": {"event_types": ["visit"]},
    "geofence": {"name": "Shop", "circle": {"lat": 52.52, "lon": 13.405, "radius_m": 100}, "per": "customer"},
    "actions": [{"type": "emit_trigger", "name": "nearby_shop_offer", "data": {"seen": "{props.lat}"}}],
}
INSIDE = {"lat": 52.5201, "lon": 13.4051}


def rows(db, model, customer_id: int) -> list:
    with db() as session:
        return list(session.scalars(select(model).where(model.customer_id == customer_id)))


def test_merge_moves_firings_and_triggers_to_the_survivor(
    client, tenant, new_customer, new_device, send, make_rule, db
):
    survivor, duplicate = new_customer(tenant.org_id), new_customer(tenant.org_id)
    rule = make_rule(tenant, VISIT)
    send(new_device(tenant.org_id, duplicate, type="phone_app"), {"type": "visit", "props": INSIDE})
    response = client.post(
        f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["moved"]["rules"] == 2
    assert len(rows(db, RuleFiring, survivor)) == 1 and len(rows(db, Trigger, survivor)) == 1
    with db() as session:  # the duplicate's per-customer memory is gone with it
        assert session.scalars(select(RuleState.subject).where(RuleState.rule_id == rule["id"])).all() == []


def test_erase_blanks_snapshots_and_export_lists_them(
    client, tenant, new_customer, new_device, send, make_rule, db
):
    customer_id = new_customer(tenant.org_id)
    keep = new_customer(tenant.org_id)
    make_rule(tenant, VISIT)
    send(new_device(tenant.org_id, customer_id, type="phone_app"), {"type": "visit", "props": INSIDE})
    send(new_device(tenant.org_id, keep, type="phone_app"), {"type": "visit", "props": INSIDE})

    export = client.get(f"/api/v1/customers/{customer_id}/privacy-export", headers=tenant.headers).json()
    held = export["related"]["rules"]
    assert len(held["rule_firings"]) == 1 and held["rule_firings"][0]["event"]["props"] == INSIDE
    assert held["triggers"][0]["data"] == {"seen": "52.5201", "geofence": "Shop"}

    assert client.post(f"/api/v1/customers/{customer_id}/erase", headers=tenant.headers).status_code == 200
    (firing,) = rows(db, RuleFiring, customer_id)
    assert firing.event == {} and firing.reason == "" and firing.actions[0]["status"] == "emitted"
    assert rows(db, Trigger, customer_id)[0].data == {}
    (other,) = rows(db, RuleFiring, keep)  # another customer's records are untouched
    assert other.event["props"] == INSIDE
