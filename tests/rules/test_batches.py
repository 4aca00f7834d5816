"""Firings of one batch of events: all recorded in one transaction, each with the event that caused it
and the trigger it emitted, and one firing's failing action costs the others nothing."""

from __future__ import annotations

from sqlalchemy import select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers.models import Customer
from patron.rules import actions
from patron.rules.models import Rule, Trigger


def test_every_firing_of_a_batch_is_recorded_with_its_trigger(
    tenant, new_customer, new_device, send, make_rule, firings, db
):
    cars = [new_device(tenant.org_id, new_customer(tenant.org_id)) for _ in range(2)]
    speeding = make_rule(
        tenant,
        {
            "when": {"event_types": ["telemetry"]},
            "conditions": [{"field": "props.speed", "op": "gt", "value": 120}],
            "actions": [{"type": "emit_trigger", "name": "speeding", "data": {"speed": "{props.speed}"}}],
        },
    )
    quiet = make_rule(
        tenant,
        {
            "when": {"event_types": ["telemetry"]},
            "conditions": [{"field": "props.speed", "op": "lt", "value": 0}],
        },
    )
    for car in cars:  # each request is one batch: fast, slow, fast, fast
        send(
            car,
            *[
                {"id": f"{car.id}-{n}", "type": "telemetry", "props": {"speed": speed}}
                for n, speed in enumerate((130, 50, 140, 150))
            ],
        )
    recorded = firings(speeding["id"])
    assert sorted(f.event_id for f in recorded) == sorted(f"{car.id}-{n}" for car in cars for n in (0, 2, 3))
    assert firings(quiet["id"]) == []
    with db() as session:
        emitted = {t.firing_id: t for t in session.scalars(select(Trigger).where(Trigger.name == "speeding"))}
        rule = session.get(Rule, speeding["id"])
        assert rule.fire_count == 6 and rule.last_fired_at is not None
    for firing in recorded:
        trigger = emitted[firing.id]
        assert firing.actions == [
            {"type": "emit_trigger", "status": "emitted", "trigger_id": trigger.id, "name": "speeding"}
        ]
        assert trigger.data == {"speed": str(firing.event["props"]["speed"])}
        assert (trigger.customer_id, trigger.device_id) == (firing.customer_id, firing.device_id)
        assert firing.latency_ms is not None and firing.latency_ms >= 0


def test_a_failing_action_of_one_firing_does_not_lose_the_others(
    tenant, new_customer, new_device, send, make_rule, firings, triggers, monkeypatch
):
    unlucky, lucky = new_customer(tenant.org_id), new_customer(tenant.org_id)
    real = actions.tickets_service.create_ticket

    def create_ticket(session, **fields):
        if fields["customer_id"] == unlucky:
            raise RuntimeError("the ticket desk is away")
        return real(session, **fields)

    monkeypatch.setattr(actions.tickets_service, "create_ticket", create_ticket)
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["fault"]},
            "actions": [
                {"type": "open_ticket", "subject": "Fault {props.code}", "dedupe": False},
                {"type": "emit_trigger", "name": "fault_seen"},
            ],
        },
    )
    first, second = new_device(tenant.org_id, unlucky), new_device(tenant.org_id, lucky)
    send(
        first,
        {"id": "u1", "type": "fault", "props": {"code": "E1"}},
        {"id": "u2", "type": "fault", "props": {"code": "E2"}},
    )
    send(second, {"id": "l1", "type": "fault", "props": {"code": "E3"}})
    recorded = {f.event_id: f for f in firings(rule["id"])}
    assert sorted(recorded) == ["l1", "u1", "u2"]
    for event_id in ("u1", "u2"):
        ticket, trigger = recorded[event_id].actions
        assert ticket["status"] == "error" and "ticket desk is away" in ticket["error"]
        assert trigger["status"] == "emitted"
    assert [a["status"] for a in recorded["l1"].actions] == ["created", "emitted"]
    emitted = triggers(tenant.org_id, "fault_seen")
    assert sorted(t.firing_id for t in emitted) == sorted(f.id for f in recorded.values())


def test_a_tag_set_by_one_event_is_seen_by_the_next_in_the_same_batch(
    tenant, new_customer, new_device, send, make_rule, firings
):
    phone = new_device(tenant.org_id, new_customer(tenant.org_id), type="phone_app")
    make_rule(
        tenant, {"when": {"event_types": ["visit"]}, "actions": [{"type": "tag_customer", "tag": "regular"}]}
    )
    regulars = make_rule(
        tenant,
        {
            "when": {"event_types": ["visit"]},
            "conditions": [{"field": "customer.tags", "op": "contains", "value": "regular"}],
            "actions": [{"type": "emit_trigger", "name": "welcome_back"}],
        },
    )
    send(phone, {"id": "v1", "type": "visit"}, {"id": "v2", "type": "visit"})  # one batch
    assert [f.event_id for f in firings(regulars["id"])] == ["v2"]


def test_customers_gone_or_merged_are_looked_up_with_the_batch(
    tenant, new_customer, new_device, send, make_rule, firings, triggers, db
):
    kept, merged = new_customer(tenant.org_id), new_customer(tenant.org_id)
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        session.get(Customer, merged).merged_into_id = kept
    rule = make_rule(
        tenant,
        {"when": {"event_types": ["door"]}, "actions": [{"type": "emit_trigger", "name": "door_opened"}]},
    )
    for customer_id in (kept, merged):
        send(
            new_device(tenant.org_id, customer_id, type="smart_home_hub"),
            {"id": f"d{customer_id}", "type": "door"},
        )
    recorded = {f.event_id: f for f in firings(rule["id"])}
    assert recorded[f"d{kept}"].customer_id == kept
    assert recorded[f"d{merged}"].customer_id is None  # merged away: as if gone
    by_firing = {t.firing_id: t for t in triggers(tenant.org_id, "door_opened")}
    assert by_firing[recorded[f"d{kept}"].id].customer_id == kept
    assert by_firing[recorded[f"d{merged}"].id].customer_id is None
