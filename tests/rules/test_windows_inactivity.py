"""Window rules (count, avg over the last minutes) and inactivity rules (silence from a device)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from patron.rules.engine import RuleProcessor
from patron.rules.models import RuleState


def at(base: datetime, minutes: float) -> str:
    return (base + timedelta(minutes=minutes)).isoformat()


def test_count_window_fires_at_the_threshold_and_not_before(
    tenant, new_customer, new_device, send, make_rule, firings
):
    taxi = new_device(tenant.org_id, new_customer(tenant.org_id))
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["harsh_brake"]},
            "window": {"minutes": 10, "agg": "count", "op": "gt", "value": 3},
            "actions": [{"type": "flag", "name": "risky_driving"}],
        },
    )
    base = datetime.now(UTC) - timedelta(minutes=30)
    send(taxi, {"type": "harsh_brake", "ts": at(base, 0)})
    send(taxi, {"type": "harsh_brake", "ts": at(base, 12)})  # the first has left the window
    send(taxi, {"type": "harsh_brake", "ts": at(base, 14)}, {"type": "telemetry", "ts": at(base, 15)})
    send(taxi, {"type": "harsh_brake", "ts": at(base, 16)})
    assert firings(rule["id"]) == []  # three in the last ten minutes: not more than three
    send(taxi, {"type": "harsh_brake", "ts": at(base, 18)})
    (firing,) = firings(rule["id"])
    assert firing.reason == "harsh_brake: events over 10 min per device = 4 (gt 3)"
    send(taxi, {"type": "harsh_brake", "ts": at(base, 19)})
    assert len(firings(rule["id"])) == 1  # still above: fires on crossing, not on every event
    # a quiet spell lets the count fall back; crossing again fires again
    send(taxi, *[{"type": "harsh_brake", "ts": at(base, 29 + i / 10)} for i in range(4)])
    assert len(firings(rule["id"])) == 2


def test_avg_window_per_device(tenant, new_customer, new_device, send, make_rule, firings):
    customer_id = new_customer(tenant.org_id)
    watch = new_device(tenant.org_id, customer_id, type="wearable")
    other = new_device(tenant.org_id, customer_id, type="wearable")
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["vitals"], "device_types": ["wearable"]},
            "window": {
                "minutes": 5,
                "agg": "avg",
                "prop": "heart_rate",
                "op": "gt",
                "value": 150,
                "min_events": 3,
            },
            "actions": [{"type": "tag_customer", "tag": "check-in"}],
        },
    )
    base = datetime.now(UTC) - timedelta(minutes=10)
    send(
        watch,
        {"type": "vitals", "ts": at(base, 0), "props": {"heart_rate": 190}},
        {"type": "vitals", "ts": at(base, 1), "props": {"heart_rate": 180}},
    )
    assert firings(rule["id"]) == []  # high, but fewer than min_events
    send(other, {"type": "vitals", "ts": at(base, 1.5), "props": {"heart_rate": 200}})
    assert firings(rule["id"]) == []  # another device: its own window
    send(
        watch,
        {"type": "vitals", "ts": at(base, 2), "props": {"heart_rate": "n/a"}},
        {"type": "vitals", "ts": at(base, 2.5), "props": {}},
    )
    assert firings(rule["id"]) == []  # no number: not in the average
    send(watch, {"type": "vitals", "ts": at(base, 3), "props": {"heart_rate": 80}})
    assert firings(rule["id"]) == []  # (190 + 180 + 80) / 3 = 150: not above
    send(watch, {"type": "vitals", "ts": at(base, 4), "props": {"heart_rate": 154}})
    (firing,) = firings(rule["id"])
    assert firing.device_id == watch.id
    assert "avg of props.heart_rate over 5 min per device = 151" in firing.reason
    assert firing.actions == [{"type": "tag_customer", "status": "tagged", "tag": "check-in"}]


def test_window_per_customer_counts_all_their_devices(
    tenant, new_customer, new_device, send, make_rule, firings
):
    customer_id = new_customer(tenant.org_id)
    devices = [new_device(tenant.org_id, customer_id, type="smart_home_hub") for _ in range(3)]
    rule = make_rule(
        tenant,
        {
            "when": {"event_types": ["alarm"]},
            "window": {"minutes": 60, "per": "customer", "op": "gte", "value": 3},
        },
    )
    for device in devices[:2]:
        send(device, {"type": "alarm"})
    assert firings(rule["id"]) == []
    send(devices[2], {"type": "alarm"})
    (firing,) = firings(rule["id"])
    assert firing.customer_id == customer_id


def test_a_window_is_warmed_from_the_store_when_a_rule_is_created(
    tenant, new_customer, new_device, send, make_rule, firings
):
    taxi = new_device(tenant.org_id, new_customer(tenant.org_id))
    send(taxi, {"type": "harsh_brake"}, {"type": "harsh_brake"})
    rule = make_rule(
        tenant, {"when": {"event_types": "harsh_brake"}, "window": {"minutes": 10, "op": "gte", "value": 3}}
    )
    send(taxi, {"type": "harsh_brake"})
    assert len(firings(rule["id"])) == 1  # the two stored before the rule existed count


SILENCE = {
    "when": {"device_types": ["smart_meter"]},
    "inactivity": {"minutes": 30},
    "actions": [{"type": "open_ticket", "subject": "{device.name} is silent", "priority": "normal"}],
}


def test_inactivity_fires_once_per_silence(
    app, tenant, new_customer, new_device, send, make_rule, firings, engine, db
):
    customer_id = new_customer(tenant.org_id)
    meter = new_device(tenant.org_id, customer_id, type="smart_meter", name="Meter 9")
    never_heard = new_device(tenant.org_id, customer_id, type="smart_meter")  # noqa: F841 - never reports
    taxi = new_device(tenant.org_id, customer_id, type="vehicle")
    rule = make_rule(tenant, SILENCE)
    send(meter, {"type": "reading", "props": {"kwh": 1.5}})
    send(taxi, {"type": "telemetry"})
    now = datetime.now(UTC)

    engine.tick(now + timedelta(minutes=29))
    assert firings(rule["id"]) == []
    engine.tick(now + timedelta(minutes=31))
    (firing,) = firings(rule["id"])
    assert firing.device_id == meter.id and firing.event_id is None and firing.event_type is None
    assert firing.reason.startswith(f"no event from device {meter.id} for 31 min")
    assert firing.actions[0]["status"] == "created"
    assert firing.latency_ms is None
    engine.tick(now + timedelta(minutes=45))
    engine.tick(now + timedelta(hours=5))
    assert len(firings(rule["id"])) == 1  # once per silence

    # a restarted engine remembers that this silence was reported
    fresh = RuleProcessor(app.state.events)
    fresh.tick(now + timedelta(hours=6))
    assert len(firings(rule["id"])) == 1
    with db() as session:
        state = session.scalar(
            select(RuleState).where(
                RuleState.rule_id == rule["id"], RuleState.subject == f"device:{meter.id}"
            )
        )
        assert state.state["silent_since"]

    send(meter, {"type": "reading"})  # heard again: re-armed
    heard = datetime.now(UTC)
    engine.tick(heard + timedelta(minutes=10))
    assert len(firings(rule["id"])) == 1
    engine.tick(heard + timedelta(minutes=40))
    assert len(firings(rule["id"])) == 2
    assert [f.actions[0]["status"] for f in firings(rule["id"])] == ["created", "deduplicated"]


def test_rules_reading_the_same_events_share_one_window(
    tenant, new_customer, new_device, send, make_rule, firings
):
    taxi = new_device(tenant.org_id, new_customer(tenant.org_id))

    def rule(threshold: int) -> dict:
        return make_rule(
            tenant,
            {
                "when": {"event_types": ["harsh_brake"]},
                "window": {"minutes": 30, "op": "gte", "value": threshold},
            },
        )

    two, three = rule(2), rule(3)
    send(taxi, {"type": "harsh_brake"})
    send(taxi, {"type": "harsh_brake"})
    send(taxi, {"type": "harsh_brake"})
    assert (len(firings(two["id"])), len(firings(three["id"]))) == (1, 1)
    assert firings(three["id"])[0].reason.endswith("= 3 (gte 3)")
    four = rule(4)  # joins the window already filled: its events are not counted twice
    send(taxi, {"type": "harsh_brake"})
    assert (len(firings(two["id"])), len(firings(three["id"])), len(firings(four["id"]))) == (1, 1, 1)
    assert firings(four["id"])[0].reason.endswith("= 4 (gte 4)")
