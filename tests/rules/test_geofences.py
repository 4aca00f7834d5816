"""Geofence rules: entering a shop's area emits one offer trigger per visit; leaving fires `left`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from patron.rules.evaluator import Evaluator
from patron.rules.models import RuleState

SHOP = {"lat": 52.52000, "lon": 13.40500}
FAR = {"lat": 52.53000, "lon": 13.42000}  # about 1.4 km away
NEAR = {"lat": 52.52030, "lon": 13.40520}  # about 36 m from the shop
AT_DOOR = {"lat": 52.52010, "lon": 13.40490}

CIRCLE = {"name": "Shop Mitte", "circle": {**SHOP, "radius_m": 100}}
# a square of about 220 m around the shop
POLYGON = {
    "name": "Shop Mitte",
    "polygon": [[52.5190, 13.4035], [52.5190, 13.4065], [52.5210, 13.4065], [52.5210, 13.4035]],
}


def offer_rule(fence: dict, on: str = "entered") -> dict:
    return {
        "when": {"event_types": ["location", "trip.*"]},
        "geofence": {**fence, "on": on},
        "actions": [
            {
                "type": "emit_trigger",
                "name": "nearby_shop_offer",
                "data": {"shop": "S-17", "note": "{customer.name} near {geofence.name}"},
            }
        ],
    }


def location(position: dict) -> dict:
    return {"type": "location", "props": dict(position)}


@pytest.mark.parametrize("fence", [CIRCLE, POLYGON], ids=["circle", "polygon"])
def test_entering_emits_one_trigger_per_visit(
    fence, tenant, new_customer, new_device, send, make_rule, firings, triggers
):
    customer_id = new_customer(tenant.org_id, first_name="Grace", last_name="Hopper")
    phone = new_device(tenant.org_id, customer_id, type="phone_app", name="Grace's phone")
    entered = make_rule(tenant, offer_rule(fence), name="offer on entering")
    left = make_rule(tenant, {**offer_rule(fence, "left"), "actions": []}, name="left the shop")

    send(phone, location(FAR))
    assert triggers(tenant.org_id) == []
    send(phone, location(NEAR))
    (offer,) = triggers(tenant.org_id, "nearby_shop_offer")
    assert offer.customer_id == customer_id and offer.device_id == phone.id and offer.rule_id == entered["id"]
    assert offer.data == {"shop": "S-17", "note": "Grace Hopper near Shop Mitte", "geofence": "Shop Mitte"}
    assert offer.firing_id == firings(entered["id"])[0].id and offer.consumed_at is None

    send(phone, location(AT_DOOR), {"type": "trip.start", "props": dict(NEAR)}, {"type": "ping"})
    assert len(triggers(tenant.org_id, "nearby_shop_offer")) == 1  # still inside: no new offer
    assert firings(left["id"]) == []

    send(phone, location(FAR))
    assert len(triggers(tenant.org_id, "nearby_shop_offer")) == 1
    (gone,) = firings(left["id"])
    assert gone.reason.startswith("left geofence Shop Mitte")

    send(phone, {"type": "trip.end", "props": dict(AT_DOOR)})
    assert len(triggers(tenant.org_id, "nearby_shop_offer")) == 2  # a new visit
    assert [f.reason.split(" at ")[0] for f in firings(entered["id"])] == ["entered geofence Shop Mitte"] * 2


def test_inside_fires_on_each_position_inside(tenant, new_customer, new_device, send, make_rule, firings):
    phone = new_device(tenant.org_id, new_customer(tenant.org_id), type="phone_app")
    rule = make_rule(tenant, {**offer_rule(CIRCLE, "inside"), "actions": []})
    send(phone, location(NEAR), location(FAR), location(AT_DOOR), location(NEAR))
    assert len(firings(rule["id"])) == 3


def test_the_side_of_the_fence_survives_a_restart_of_the_engine(
    tenant, new_customer, new_device, send, make_rule, firings, engine, db
):
    phone = new_device(tenant.org_id, new_customer(tenant.org_id), type="phone_app")
    rule = make_rule(tenant, offer_rule(CIRCLE))
    send(phone, location(NEAR))
    with db() as session:
        state = session.scalar(select(RuleState).where(RuleState.rule_id == rule["id"]))
        assert state.subject == f"device:{phone.id}" and state.state["inside"] is True

    engine.evaluator = Evaluator(engine.facts)  # a restart forgets everything; sides are read back
    send(phone, location(AT_DOOR))
    assert len(firings(rule["id"])) == 1
    send(phone, location(FAR), location(NEAR))
    assert len(firings(rule["id"])) == 2


def test_each_device_has_its_own_side(tenant, new_customer, new_device, send, make_rule, firings):
    first = new_device(tenant.org_id, new_customer(tenant.org_id), type="phone_app")
    second = new_device(tenant.org_id, new_customer(tenant.org_id), type="phone_app")
    rule = make_rule(tenant, {**offer_rule(CIRCLE), "actions": []})
    send(first, location(NEAR))
    send(second, location(NEAR))
    send(first, location(AT_DOOR))
    assert sorted(f.device_id for f in firings(rule["id"])) == sorted([first.id, second.id])


def test_events_without_a_position_do_not_move_anyone(
    tenant, new_customer, new_device, send, make_rule, firings
):
    phone = new_device(tenant.org_id, new_customer(tenant.org_id), type="phone_app")
    rule = make_rule(tenant, {**offer_rule(CIRCLE, "left"), "actions": []})
    send(phone, location(NEAR), {"type": "location", "props": {"battery": 80}}, location(AT_DOOR))
    assert firings(rule["id"]) == []


def test_a_very_large_fence_and_a_fence_per_customer(
    tenant, new_customer, new_device, send, make_rule, firings
):
    customer_id = new_customer(tenant.org_id)
    phone, car = (new_device(tenant.org_id, customer_id, type=kind) for kind in ("phone_app", "vehicle"))
    country = make_rule(
        tenant,
        {
            "when": {"event_types": "*"},
            "geofence": {"name": "Germany-ish", "circle": {"lat": 51.0, "lon": 10.0, "radius_m": 500_000}},
        },
    )
    shop = make_rule(tenant, {"when": {"event_types": "*"}, "geofence": {**CIRCLE, "per": "customer"}})
    send(phone, location(NEAR))
    send(car, location(AT_DOOR))  # the same customer, already inside the shop's fence
    send(car, {"type": "location", "props": {"lat": 48.8566, "lon": 2.3522}})  # Paris
    assert [f.device_id for f in firings(country["id"])] == [phone.id, car.id]
    (entered,) = firings(shop["id"])
    assert entered.device_id == phone.id and entered.customer_id == customer_id
