"""Conditions on events and customers, cooldown, disabled rules, and what each action does."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from patron.accounts.models import Notification
from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers.models import CustomerTag
from patron.customers.normalise import days_to_birthday
from patron.events.models import CustomerSignals
from patron.interactions.models import Interaction


def tags_of(db, customer_id: int) -> list[str]:
    with db() as session:
        return sorted(session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id)))


def test_conditions_on_event_fields(tenant, new_customer, new_device, send, make_rule, firings):
    taxi = new_device(tenant.org_id, new_customer(tenant.org_id))
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["telemetry"]},
            "conditions": {
                "all": [
                    {"field": "props.speed", "op": "between", "value": [100, 250]},
                    {
                        "any": [
                            {"field": "props.road", "op": "eq", "value": "city"},
                            {"field": "props.engine.temp_c", "op": "gte", "value": 110},
                        ]
                    },
                    {"not": {"field": "props.test_drive", "op": "exists"}},
                    {"field": "props.driver", "op": "contains", "value": "Hopper"},
                ]
            },
        },
    )
    good = {"speed": 120, "road": "city", "driver": "G. Hopper"}
    events = [
        {"type": "telemetry", "props": good},  # fires
        {"type": "telemetry", "props": {**good, "speed": 90}},  # too slow
        {"type": "telemetry", "props": {**good, "road": "highway"}},  # neither any-branch
        {"type": "telemetry", "props": {**good, "road": "highway", "engine": {"temp_c": 115}}},  # fires
        {"type": "telemetry", "props": {**good, "test_drive": True}},  # not
        {"type": "telemetry", "props": {**good, "driver": "A. Lovelace"}},  # contains fails
        {"type": "telemetry", "props": {**good, "speed": "fast"}},  # not a number
        {"type": "position", "props": good},  # other type
    ]
    send(taxi, *events)
    recorded = firings(rule["id"])
    assert len(recorded) == 2
    assert recorded[1].event["props"]["engine"] == {"temp_c": 115}


def test_customer_attribute_tag_consent_and_signal_conditions(
    client, tenant, new_customer, new_device, send, make_rule, firings, db
):
    gold = new_customer(tenant.org_id, attributes={"tier": "gold"})
    silver = new_customer(tenant.org_id, attributes={"tier": "silver"})
    gold_no_consent = new_customer(tenant.org_id, attributes={"tier": "gold"})
    for customer_id in (gold, silver):
        response = client.post(
            f"/api/v1/customers/{customer_id}/consents",
            headers=tenant.headers,
            json={"channel": "push", "granted": True, "source": "app"},
        )
        assert response.status_code == 201, response.text
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        session.add(CustomerSignals(org_id=tenant.org_id, customer_id=gold, usage_trend="falling"))
        session.add(CustomerTag(org_id=tenant.org_id, customer_id=gold, tag="commuter"))
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["trip.end"]},
            "conditions": [
                {"field": "customer.attributes.tier", "op": "in", "value": ["gold", "platinum"]},
                {"field": "consent.push", "op": "eq", "value": True},
                {"field": "customer.tags", "op": "contains", "value": "commuter"},
                {"field": "signals.usage_trend", "op": "eq", "value": "falling"},
            ],
            "actions": [{"type": "tag_customer", "tag": "Win-Back"}],
        },
    )
    for customer_id in (gold, silver, gold_no_consent):
        send(new_device(tenant.org_id, customer_id), {"type": "trip.end"})
    (firing,) = firings(rule["id"])
    assert firing.customer_id == gold
    assert tags_of(db, gold) == ["commuter", "win-back"]

    # opting out is immediate: the next trip of the same customer no longer matches
    client.post(
        f"/api/v1/customers/{gold}/consents",
        headers=tenant.headers,
        json={"channel": "push", "granted": False, "source": "app"},
    )
    send(new_device(tenant.org_id, gold), {"type": "trip.end"})
    assert len(firings(rule["id"])) == 1


def test_birthday_conditions_count_on_the_customers_own_date(tenant, new_customer, new_device, send, make_rule, firings):
    """``customer.days_to_birthday`` on the date of the event in the customer's time zone; 29 February
    counts on the 28th in a year without it; no birth date, no match."""
    # the events happen at 2025-02-20 12:00 UTC (2025 has no 29 February)
    week = {
        "in 7 days": new_customer(tenant.org_id, birth_date=date(2000, 2, 27)),
        "leap day, 28 Feb this year: 8 days": new_customer(tenant.org_id, birth_date=date(1996, 2, 29)),
        "yesterday: 364 days": new_customer(tenant.org_id, birth_date=date(1990, 2, 19)),
        "no birth date": new_customer(tenant.org_id),
        # already 21 February in Kiritimati (UTC+14): the birthday is today there
        "today, locally": new_customer(
            tenant.org_id, birth_date=date(2001, 2, 21), timezone="Pacific/Kiritimati"
        ),
    }
    within_a_week = make_rule(
        tenant,
        {
            "when": {"event_types": ["app.open"]},
            "conditions": [{"field": "customer.days_to_birthday", "op": "lte", "value": 7}],
        },
    )
    leap = make_rule(
        tenant,
        {
            "when": {"event_types": ["app.open"]},
            "conditions": [
                {"field": "customer.birth_month", "op": "eq", "value": 2},
                {"field": "customer.birth_date", "op": "eq", "value": "1996-02-29"},
                {"field": "customer.days_to_birthday", "op": "eq", "value": 8},
            ],
        },
    )
    for customer_id in week.values():
        send(new_device(tenant.org_id, customer_id), {"type": "app.open", "ts": "2025-02-20T12:00:00Z"})
    fired = {firing.customer_id for firing in firings(within_a_week["id"])}
    assert fired == {week["in 7 days"], week["today, locally"]}
    assert [firing.customer_id for firing in firings(leap["id"])] == [week["leap day, 28 Feb this year: 8 days"]]


def test_days_to_birthday_across_the_year_end_and_leap_years():
    assert days_to_birthday(date(1990, 1, 2), date(2025, 12, 31)) == 2
    assert days_to_birthday(date(1990, 12, 31), date(2025, 12, 31)) == 0
    assert days_to_birthday(date(2000, 2, 29), date(2027, 3, 1)) == 365  # next: 29 February 2028
    assert days_to_birthday(date(2000, 2, 29), date(2028, 2, 28)) == 1
    assert days_to_birthday(date(2000, 3, 1), date(2028, 2, 28)) == 2


def test_cooldown_per_subject(tenant, new_customer, new_device, send, make_rule, firings):
    customer_id = new_customer(tenant.org_id)
    first = new_device(tenant.org_id, customer_id, type="beacon")
    second = new_device(tenant.org_id, customer_id, type="beacon")
    rule = make_rule(tenant, {"when": {"event_types": ["button"]}, "cooldown_minutes": 10})
    send(first, {"type": "button"}, {"type": "button"})
    send(first, {"type": "button"})
    send(second, {"type": "button"})
    assert sorted(f.device_id for f in firings(rule["id"])) == sorted([first.id, second.id])


def test_a_disabled_rule_does_not_fire_until_enabled(
    client, tenant, new_customer, new_device, send, make_rule, firings
):
    taxi = new_device(tenant.org_id, new_customer(tenant.org_id))
    rule = make_rule(tenant, {"when": {"event_types": ["sos"]}}, enabled=False)
    send(taxi, {"type": "sos"})
    assert firings(rule["id"]) == []
    response = client.patch(f"/api/v1/rules/{rule['id']}", json={"enabled": True}, headers=tenant.headers)
    assert response.status_code == 200 and response.json()["enabled"] is True
    send(taxi, {"type": "sos"})
    assert len(firings(rule["id"])) == 1
    client.patch(f"/api/v1/rules/{rule['id']}", json={"enabled": False}, headers=tenant.headers)
    send(taxi, {"type": "sos"})
    assert len(firings(rule["id"])) == 1


def test_a_changed_definition_applies_to_the_next_event(
    client, tenant, new_customer, new_device, send, make_rule, firings
):
    taxi = new_device(tenant.org_id, new_customer(tenant.org_id))
    rule = make_rule(tenant, {"when": {"event_types": ["sos"]}})
    response = client.patch(
        f"/api/v1/rules/{rule['id']}",
        headers=tenant.headers,
        json={"definition": {"when": {"event_types": ["panic.*"]}}},
    )
    assert response.status_code == 200, response.text
    send(taxi, {"type": "sos"}, {"type": "panic.button"})
    (firing,) = firings(rule["id"])
    assert firing.event_type == "panic.button"


def test_actions_tag_untag_flag_interaction_notify_and_trigger(
    tenant, new_customer, new_device, send, make_rule, firings, db
):
    customer_id = new_customer(tenant.org_id, first_name="Katherine", last_name="Johnson")
    with session_scope(db) as session:
        from patron.customers.models import Customer

        session.get(Customer, customer_id).owner_id = tenant.user_id
        session.add(CustomerTag(org_id=tenant.org_id, customer_id=customer_id, tag="new"))
    hub = new_device(tenant.org_id, customer_id, type="smart_home_hub", name="Hub")
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["leak"]},
            "actions": [
                {"type": "tag_customer", "tag": "Leak"},
                {"type": "untag_customer", "tag": "new"},
                {"type": "untag_customer", "tag": "never-had-it"},
                {"type": "flag", "name": "Water"},
                {
                    "type": "record_interaction",
                    "subject": "Leak at {device.name}",
                    "body": "{reason}; sensor {props.room}",
                },
                {"type": "notify", "to": "owner", "title": "Leak: {customer.name}"},
                {"type": "notify", "user_id": tenant.user_id, "body": "room {props.room}"},
                {
                    "type": "emit_trigger",
                    "name": "insurance_offer",
                    "data": {"room": "{props.room}", "level": 3},
                },
            ],
        },
        name="Leak",
    )
    send(hub, {"type": "leak", "props": {"room": "kitchen"}})
    (firing,) = firings(rule["id"])
    statuses = [(a["type"], a["status"]) for a in firing.actions]
    assert statuses == [
        ("tag_customer", "tagged"),
        ("untag_customer", "untagged"),
        ("untag_customer", "unchanged"),
        ("flag", "tagged"),
        ("record_interaction", "created"),
        ("notify", "notified"),
        ("notify", "notified"),
        ("emit_trigger", "emitted"),
    ]
    assert tags_of(db, customer_id) == ["flag:water", "leak"]
    with db() as session:
        interaction = session.get(Interaction, firing.actions[4]["interaction_id"])
        assert (interaction.kind, interaction.channel, interaction.direction) == (
            "note",
            "device",
            "internal",
        )
        assert interaction.subject == "Leak at Hub"
        assert interaction.body == "leak event; sensor kitchen"
        notes = session.scalars(
            select(Notification).where(Notification.user_id == tenant.user_id).order_by(Notification.id)
        ).all()
        assert [n.title for n in notes] == ["Leak: Katherine Johnson", "Leak: leak event"]
        assert notes[1].body == "room kitchen" and notes[0].link == f"/customers/{customer_id}"
    assert firing.actions[7]["name"] == "insurance_offer"


def test_customer_actions_without_a_customer_are_skipped(tenant, new_device, send, make_rule, firings):
    beacon = new_device(tenant.org_id, None, type="beacon")
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["visit"]},
            "actions": [
                {"type": "tag_customer", "tag": "x"},
                {"type": "record_interaction"},
                {"type": "notify", "to": "owner"},
                {"type": "emit_trigger", "name": "visit_seen"},
            ],
        },
    )
    send(beacon, {"type": "visit"})
    (firing,) = firings(rule["id"])
    assert [a["status"] for a in firing.actions] == ["skipped", "skipped", "skipped", "emitted"]
    assert firing.actions[0]["reason"] == "no customer"
