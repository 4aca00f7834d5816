"""Sending: the geofence -> offer flow end to end over real ingest, rules and SMTP; consent; the same
trigger never sending twice; the cooldown; the budget stop; recurring campaigns across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from patron.campaigns.models import Campaign, CampaignRecipient
from patron.campaigns.schedule import next_occurrence
from patron.campaigns.sending import run_due_campaigns
from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow
from patron.notify.delivery import run_due
from patron.notify.models import Message
from patron.rules.models import Trigger

from .conftest import CAMPAIGNS, campaign_body, grant, launch

SHOP = {"lat": 52.52000, "lon": 13.40500}
FAR = {"lat": 52.53000, "lon": 13.42000}  # about 1.4 km away
NEAR = {"lat": 52.52030, "lon": 13.40520}  # about 36 m from the shop
# 0.001 degree of latitude north of NEAR: 6,371,008.8 m x pi/180 x 0.001 = 111.195 m
HOME = {"latitude": 52.52130, "longitude": 13.40520}

SHOP_RULE = {
    "when": {"event_types": ["location"]},
    "geofence": {"name": "Shop Mitte", "circle": {**SHOP, "radius_m": 100}, "on": "entered"},
    "actions": [{"type": "emit_trigger", "name": "entered_shop_s",
                 "data": {"shop": "Shop Mitte", "lat": "{props.lat}", "lon": "{props.lon}"}}],
}  # fmt: skip
OFFER = "{{ first_name }}, {{ shop }} is round the corner: {{ nearest_place.distance_m }} m from {{ nearest_place.label }}."


def location(position: dict) -> dict:
    return {"type": "location", "props": dict(position)}


def _job(db, now=None) -> int:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="job:campaigns")
        return run_due_campaigns(session, now=now)


def _rows(db, model, **where) -> list:
    with db() as session:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(session.scalars(query.order_by(model.id)))


def _with_only_the_wake_up(db, act, *, patience: float = 60) -> None:
    """Run ``act()`` with the scheduler started but its tick an hour away (only a wake-up can make the
    campaigns act), and wait until a recipient is written or ``patience`` seconds have passed."""
    import time

    from patron.jobs.scheduler import Scheduler

    scheduler = Scheduler(db, interval=3600).start()
    try:
        act()
        deadline = time.monotonic() + patience
        while not _rows(db, CampaignRecipient) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()


def test_entering_a_shops_geofence_sends_the_personalised_offer_once_on_the_consented_channel(
    client, db, tenant, make_customer, new_device, send, make_rule, make_campaign, smtp_server, mail_settings
):
    grace = make_customer(tenant, consents=("email",), email="grace@example.com", first_name="Grace")
    for place in ({"label": "Home", **HOME}, {"label": "Work", "latitude": 52.40, "longitude": 13.10}):
        assert (
            client.post(f"/api/v1/customers/{grace}/places", json=place, headers=tenant.headers).status_code
            == 201
        )
    alan = make_customer(tenant, consents=("email",), email="alan@example.com", first_name="Alan")
    grant(client, tenant, alan, "email", False)  # opted out
    grace_phone = new_device(tenant.org_id, grace, type="phone_app")
    alan_phone = new_device(tenant.org_id, alan, type="phone_app")
    make_rule(tenant, SHOP_RULE, name="shop S fence")
    campaign = make_campaign(tenant, kind="triggered", channels=["push", "email"],
                             trigger={"name": "entered_shop_s", "conditions": {"shop": "Shop Mitte"},
                                      "cooldown_hours": 24},
                             variants=[{"name": "A", "subject": "{{ shop }} has your offer", "body": OFFER}])  # fmt: skip
    assert launch(client, tenant, campaign["id"])["campaign"]["status"] == "running"

    send(grace_phone, location(FAR))
    send(grace_phone, location(NEAR))
    send(alan_phone, location(FAR), location(NEAR))
    assert _job(db) == 2
    assert run_due(db, mail_settings) == {"sent": 1}
    (mail,) = smtp_server.mails()
    assert smtp_server.received[0][0] == ["grace@example.com"]
    assert mail["Subject"] == "Shop Mitte has your offer"
    assert (
        "Grace, Shop Mitte is round the corner: 111 m from Home." in mail.get_body(("plain",)).get_content()
    )

    recipients = {r.customer_id: r for r in _rows(db, CampaignRecipient)}
    assert recipients[grace].channel == "email" and recipients[grace].message_id is not None
    assert recipients[alan].skipped == "no_consent" and recipients[alan].message_id is None
    triggers = _rows(db, Trigger, name="entered_shop_s")
    assert [t.consumed_by for t in triggers] == [f"campaign:{campaign['id']}"] * 2

    # the same trigger read again (its claim lost) sends nothing twice
    with session_scope(db) as session:
        session.execute(update(Trigger).values(consumed_at=None, consumed_by=None))
    assert _job(db) == 2
    assert run_due(db, mail_settings) == {}
    assert len(_rows(db, CampaignRecipient)) == 2 and len(_rows(db, Message)) == 1

    # leaving and coming back within the cooldown: a new trigger, no second offer
    send(grace_phone, location(FAR), location(NEAR))
    assert len(_rows(db, Trigger, name="entered_shop_s")) == 3
    assert _job(db) == 1
    assert run_due(db, mail_settings) == {}
    assert len(smtp_server.mails()) == 1


def test_a_trigger_for_another_shop_or_outside_the_audience_sends_nothing(
    client, db, tenant, make_customer, new_device, send, make_rule, make_campaign
):
    grace = make_customer(tenant, consents=("in_app",), first_name="Grace")
    phone = new_device(tenant.org_id, grace, type="phone_app")
    other_shop = {**SHOP_RULE, "actions": [{**SHOP_RULE["actions"][0], "data": {"shop": "Shop Pankow"}}]}
    make_rule(tenant, other_shop, name="shop P fence")
    campaign = make_campaign(tenant, kind="triggered", channels=["in_app"],
                             trigger={"name": "entered_shop_s", "conditions": {"shop": "Shop Mitte"}},
                             variants=[{"name": "A", "subject": "Hi", "body": "{{ shop }}"}])  # fmt: skip
    launch(client, tenant, campaign["id"])
    send(phone, location(FAR), location(NEAR))
    assert _job(db) == 1  # consumed, but its data do not match the campaign's conditions
    assert _rows(db, CampaignRecipient) == [] and _rows(db, Message) == []


def test_a_paused_triggered_campaign_leaves_triggers_for_later(
    client, db, tenant, make_customer, new_device, send, make_rule, make_campaign
):
    grace = make_customer(tenant, consents=("in_app",), first_name="Grace")
    phone = new_device(tenant.org_id, grace, type="phone_app")
    make_rule(tenant, SHOP_RULE)
    campaign = make_campaign(tenant, kind="triggered", channels=["in_app"], trigger={"name": "entered_shop_s"},
                             variants=[{"name": "A", "subject": "Hi", "body": "{{ shop }} says hi"}])  # fmt: skip
    launch(client, tenant, campaign["id"])
    assert (
        client.post(f"{CAMPAIGNS}/{campaign['id']}/pause", headers=tenant.headers).json()["status"]
        == "paused"
    )
    send(phone, location(FAR), location(NEAR))
    assert _job(db) == 0
    assert [t.consumed_at for t in _rows(db, Trigger)] == [None]
    launch(client, tenant, campaign["id"])
    assert _job(db) == 1
    (message,) = _rows(db, Message)
    assert message.body == "Shop Mitte says hi" and message.campaign_id == campaign["id"]


def test_the_budget_stops_the_campaign_before_it_is_exceeded(
    client, db, tenant, make_customer, make_campaign
):
    for _ in range(5):
        make_customer(tenant, consents=("email",))
    campaign = make_campaign(tenant, budget="0.30", costs={"email": "0.10"})
    launched = launch(client, tenant, campaign["id"])
    assert (launched["queued"], launched["skipped"]) == (3, {"budget": 2})
    assert launched["campaign"]["status"] == "paused" and launched["campaign"]["stop_reason"] == "budget"
    assert launched["campaign"]["spent"] == "0.3000"
    again = client.post(f"{CAMPAIGNS}/{campaign['id']}/launch", headers=tenant.headers)
    assert (again.status_code, again.json()["field"]) == (409, "budget")
    assert len(_rows(db, Message)) == 3
    found = client.get(f"{CAMPAIGNS}/{campaign['id']}/results", headers=tenant.headers).json()
    assert found["skipped"] == {"budget": 2} and found["spent"] == "0.3000"


BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


@pytest.mark.parametrize(("recurrence", "tz", "after", "expected"), [
    # Berlin leaves summer time on 2026-10-25 (UTC+2 -> UTC+1): 09:00 local moves from 07:00 to 08:00 UTC
    ({"every": "daily", "time": "09:00"}, BERLIN, "2026-10-24T07:00:00+00:00", "2026-10-25T08:00:00+00:00"),
    # and enters it on 2026-03-29 (UTC+1 -> UTC+2)
    ({"every": "daily", "time": "09:00"}, BERLIN, "2026-03-28T08:00:00+00:00", "2026-03-29T07:00:00+00:00"),
    # 02:30 does not exist that night in Berlin: sent at 03:30 CEST = 01:30 UTC
    ({"every": "daily", "time": "02:30"}, BERLIN, "2026-03-28T02:00:00+00:00", "2026-03-29T01:30:00+00:00"),
    # 02:30 exists twice on 2026-10-25: the first reading (CEST, 00:30 UTC)
    ({"every": "daily", "time": "02:30"}, BERLIN, "2026-10-24T12:00:00+00:00", "2026-10-25T00:30:00+00:00"),
    # New York leaves DST on Sunday 2026-11-01: Monday 18:00 is 22:00 UTC before and 23:00 UTC after
    ({"every": "weekly", "time": "18:00", "weekday": 0}, NEW_YORK, "2026-10-26T22:00:00+00:00",
     "2026-11-02T23:00:00+00:00"),
    ({"every": "monthly", "time": "08:15", "day": 28}, BERLIN, "2026-02-28T07:15:00+00:00",
     "2026-03-28T07:15:00+00:00"),
])  # fmt: skip
def test_next_occurrence_keeps_the_local_time_across_dst(recurrence, tz, after, expected):
    assert next_occurrence(recurrence, tz, datetime.fromisoformat(after)) == datetime.fromisoformat(expected)


def test_a_recurring_campaign_sends_each_occurrence_once(client, db, tenant, make_customer, make_campaign):
    make_customer(tenant, consents=("in_app",))
    make_customer(tenant, consents=("in_app",))
    campaign = make_campaign(tenant, kind="recurring", channels=["in_app"], timezone="Europe/Berlin",
                             recurrence={"every": "daily", "time": "09:00"},
                             variants=[{"name": "A", "subject": "Daily", "body": "Good morning {{ first_name }}"}])  # fmt: skip
    launched = launch(client, tenant, campaign["id"])["campaign"]
    first = datetime.fromisoformat(launched["next_run_at"].replace("Z", "+00:00"))
    local = first.astimezone(BERLIN)
    assert (local.hour, local.minute) == (9, 0) and utcnow() < first <= utcnow() + timedelta(days=1, hours=1)

    assert _job(db, now=first - timedelta(minutes=1)) == 0  # not yet due
    assert _job(db, now=first + timedelta(minutes=1)) == 1
    assert _job(db, now=first + timedelta(minutes=2)) == 0  # the next one is tomorrow
    recipients = _rows(db, CampaignRecipient)
    assert [r.occurrence for r in recipients] == [local.date().isoformat()] * 2
    with db() as session:
        stored = session.get(Campaign, campaign["id"])
        assert stored.next_run_at == next_occurrence({"every": "daily", "time": "09:00"}, BERLIN,
                                                     first + timedelta(minutes=1))  # fmt: skip
        assert stored.next_run_at - first in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
    assert _job(db, now=stored.next_run_at + timedelta(seconds=1)) == 1
    assert len(_rows(db, CampaignRecipient)) == 4
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 4


def test_a_scheduled_one_off_waits_for_its_time(client, db, tenant, make_customer, make_campaign):
    make_customer(tenant, consents=("in_app",))
    send_at = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    campaign = make_campaign(tenant, channels=["in_app"], send_at=send_at.isoformat())
    assert launch(client, tenant, campaign["id"])["campaign"]["status"] == "scheduled"
    assert _job(db) == 0 and _rows(db, Message) == []
    assert _job(db, now=send_at + timedelta(seconds=1)) == 1
    assert len(_rows(db, Message)) == 1
    assert client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=tenant.headers).json()["status"] == "done"
    assert send_at.tzinfo is UTC or send_at.utcoffset() == timedelta(0)


def test_no_purchase_for_60_days_is_evaluated_daily_once_per_lapse(
    client, db, tenant, make_customer, make_campaign
):
    product = client.post("/api/v1/products", headers=tenant.headers,
                          json={"sku": "PASS", "name": "Ride pass", "price": "5.00"}).json()  # fmt: skip
    now = utcnow()

    def order(customer_id: int, days_ago: float, status: str = "paid") -> None:
        body = {"customer_id": customer_id, "channel": "app", "status": status,
                "ordered_at": (now - timedelta(days=days_ago)).isoformat(),
                "lines": [{"product_id": product["id"], "quantity": 1}]}  # fmt: skip
        assert client.post("/api/v1/orders", json=body, headers=tenant.headers).status_code == 201

    lapsed = make_customer(tenant, consents=("in_app",), first_name="Lapsed")
    recent = make_customer(tenant, consents=("in_app",), first_name="Recent")
    make_customer(tenant, consents=("in_app",), first_name="Never")  # never ordered: not lapsed
    silent = make_customer(tenant, first_name="Silent")  # lapsed, but no consent
    order(lapsed, 200)
    order(lapsed, 70)
    order(lapsed, 5, status="cancelled")  # does not count as a purchase
    order(recent, 90)
    order(recent, 10)
    order(silent, 61)
    campaign = make_campaign(tenant, kind="triggered", channels=["in_app"],
                             trigger={"name": "no_purchase", "conditions": {"days": "60"}, "cooldown_hours": 24},
                             variants=[{"name": "A", "subject": "We miss you", "body": "{{ first_name }}, come back!"}])  # fmt: skip
    launch(client, tenant, campaign["id"])

    assert _job(db, now=now) == 1
    (message,) = _rows(db, Message)
    assert message.customer_id == lapsed and message.body == "Lapsed, come back!"
    skipped = {r.customer_id: r.skipped for r in _rows(db, CampaignRecipient)}
    assert skipped == {lapsed: None, silent: "no_consent"}
    assert _job(db, now=now + timedelta(hours=2)) == 0  # evaluated once a day
    _job(db, now=now + timedelta(days=2))  # the same lapse: nothing more
    assert len(_rows(db, Message)) == 1

    body = campaign_body(kind="triggered", trigger={"name": "no_purchase", "conditions": {"days": "soon"}})
    bad = client.post(CAMPAIGNS, json=body, headers=tenant.headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "trigger.conditions.days")


def test_a_new_trigger_wakes_the_campaigns_at_once_not_at_the_next_tick(
    client, db, tenant, make_customer, new_device, send, make_rule, make_campaign
):
    grace = make_customer(tenant, consents=("in_app",), first_name="Grace")
    phone = new_device(tenant.org_id, grace, type="phone_app")
    make_rule(tenant, SHOP_RULE)
    campaign = make_campaign(tenant, kind="triggered", channels=["in_app"], trigger={"name": "entered_shop_s"},
                             variants=[{"name": "A", "subject": "Hi", "body": "{{ shop }} says hi"}])  # fmt: skip
    launch(client, tenant, campaign["id"])
    _with_only_the_wake_up(db, lambda: send(phone, location(FAR), location(NEAR)))
    (recipient,) = _rows(db, CampaignRecipient)
    assert recipient.customer_id == grace and recipient.message_id is not None
    (trigger,) = _rows(db, Trigger)
    assert trigger.consumed_by == f"campaign:{campaign['id']}"


# A rule running in a separate ``patron ingest`` worker writes the trigger in its own process and commits it.
TRIGGER_WRITER = """
import sys
import patron.all_models  # noqa: F401 - every table the trigger's keys reach
from patron.core import wakeup
from patron.core.db import make_engine, make_sessionmaker
from patron.rules.models import Trigger

url, org_id, customer_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
engine = make_engine(url)
with make_sessionmaker(engine)() as session:
    session.add(Trigger(org_id=org_id, name="entered_shop_s", customer_id=customer_id, data={"shop": "Shop Mitte"}))
    wakeup.signal_after_commit(session, "triggers")
    session.commit()
engine.dispose()
"""


def test_a_trigger_committed_by_another_process_wakes_the_campaigns_at_once(
    client, db, settings, tenant, make_customer, make_campaign
):
    import subprocess
    import sys

    grace = make_customer(tenant, consents=("in_app",), first_name="Grace")
    campaign = make_campaign(tenant, kind="triggered", channels=["in_app"], trigger={"name": "entered_shop_s"},
                             variants=[{"name": "A", "subject": "Hi", "body": "{{ shop }} says hi"}])  # fmt: skip
    launch(client, tenant, campaign["id"])

    def write_in_another_process() -> None:
        writer = subprocess.run([sys.executable, "-c", TRIGGER_WRITER, settings.database_url, str(tenant.org_id),
                                 str(grace)], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert writer.returncode == 0, writer.stderr

    _with_only_the_wake_up(db, write_in_another_process)
    (recipient,) = _rows(db, CampaignRecipient)
    assert recipient.customer_id == grace and recipient.message_id is not None
    (message,) = _rows(db, Message)
    assert message.body == "Shop Mitte says hi"
