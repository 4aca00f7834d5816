"""Quiet hours and frequency caps for marketing messages: set through the API, checked when a message is
sent (in the customer's own time zone), never applied to service messages, and an e-mail held through
the night reaches the real SMTP server in the morning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from patron.notify.delivery import run_due
from patron.notify.fatigue import quiet_until
from patron.notify.models import ChannelPolicy

from .conftest import message, send

# the moments the deliveries "happen" must come after the messages were queued (now): next year's winter
NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def mail_settings(settings, smtp_server):
    return settings.model_copy(update={"smtp_url": smtp_server.url, "public_url": "https://crm.example",
                                       "mail_from": "Shop <news@shop.example>"})  # fmt: skip


def _policy(client, tenant, channel, **fields):
    body = {"quiet_start": None, "quiet_end": None, "daily_cap": None, "weekly_cap": None} | fields
    return client.put(f"/api/v1/channel-policies/{channel}", json=body, headers=tenant.headers)


def _set_timezone(client, tenant, customer_id, tz):
    response = client.patch(f"/api/v1/customers/{customer_id}", json={"timezone": tz}, headers=tenant.headers)
    assert response.status_code == 200, response.text


# --- the policy API ------------------------------------------------------------------------------------


def test_policies_are_set_read_back_and_validated_field_by_field(client, tenant, other_tenant):
    response = _policy(client, tenant, "email", quiet_start="21:00", quiet_end="08:00", daily_cap=1, weekly_cap=3)
    assert response.status_code == 200, response.text
    assert response.json() | {"updated_at": None} == {
        "channel": "email", "quiet_start": "21:00", "quiet_end": "08:00", "daily_cap": 1, "weekly_cap": 3,
        "updated_at": None,
    }  # fmt: skip
    listed = client.get("/api/v1/channel-policies", headers=tenant.headers).json()
    assert [p["channel"] for p in listed] == ["email"]
    assert client.get("/api/v1/channel-policies", headers=other_tenant.headers).json() == []  # not theirs

    for fields, field in (
        ({"quiet_start": "25:00", "quiet_end": "08:00"}, "quiet_start"),
        ({"quiet_start": "21:00"}, "quiet_end"),
        ({"quiet_start": "08:00", "quiet_end": "08:00"}, "quiet_end"),
        ({"daily_cap": -1}, "daily_cap"),
        ({"daily_cap": 5, "weekly_cap": 2}, "weekly_cap"),
    ):
        response = _policy(client, tenant, "email", **fields)
        assert response.status_code == 422, fields
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text, (fields, response.text)
    assert _policy(client, tenant, "fax").status_code == 422
    # nothing half-written: the policy is still the first one
    assert client.get("/api/v1/channel-policies", headers=tenant.headers).json()[0]["daily_cap"] == 1


def test_a_viewer_cannot_change_a_policy(client, make_tenant):
    viewer = make_tenant("Acme", role="viewer")
    response = client.put("/api/v1/channel-policies/email", headers=viewer.headers,
                          json={"quiet_start": None, "quiet_end": None, "daily_cap": 0, "weekly_cap": None})
    assert response.status_code == 403


# --- quiet hours ---------------------------------------------------------------------------------------


def test_quiet_hours_window_in_the_customers_zone():
    policy = ChannelPolicy(channel="email", quiet_start="21:00", quiet_end="08:00")
    berlin = ZoneInfo("Europe/Berlin")
    # 22:30 UTC in January is 23:30 in Berlin: quiet until 08:00 Berlin = 07:00 UTC the next day
    assert quiet_until(policy, berlin, datetime(2026, 1, 15, 22, 30, tzinfo=UTC)) == datetime(
        2026, 1, 16, 7, 0, tzinfo=UTC
    )
    # 03:00 Berlin (02:00 UTC): the same night, ends the same day
    assert quiet_until(policy, berlin, datetime(2026, 1, 16, 2, 0, tzinfo=UTC)) == datetime(
        2026, 1, 16, 7, 0, tzinfo=UTC
    )
    # in summer Berlin is UTC+2: 08:00 there is 06:00 UTC
    assert quiet_until(policy, berlin, datetime(2026, 7, 1, 23, 0, tzinfo=UTC)) == datetime(
        2026, 7, 2, 6, 0, tzinfo=UTC
    )
    assert quiet_until(policy, berlin, datetime(2026, 1, 15, 12, 0, tzinfo=UTC)) is None
    lunch = ChannelPolicy(channel="sms", quiet_start="12:00", quiet_end="13:30")  # a window within one day
    assert quiet_until(lunch, ZoneInfo("UTC"), datetime(2026, 1, 15, 12, 45, tzinfo=UTC)) == datetime(
        2026, 1, 15, 13, 30, tzinfo=UTC
    )
    assert quiet_until(lunch, ZoneInfo("UTC"), datetime(2026, 1, 15, 13, 30, tzinfo=UTC)) is None


def test_a_marketing_mail_waits_for_the_morning_in_the_customers_zone_and_then_arrives(
    client, db, tenant, make_customer, smtp_server, mail_settings
):
    assert _policy(client, tenant, "email", quiet_start="21:00", quiet_end="08:00").status_code == 200
    berliner = make_customer(tenant, consents=("email",), email="night@example.com")
    _set_timezone(client, tenant, berliner, "Europe/Berlin")
    new_yorker = make_customer(tenant, consents=("email",), email="evening@example.com")
    _set_timezone(client, tenant, new_yorker, "America/New_York")
    night = datetime(NEXT_YEAR, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, 17:30 in New York

    offer = send(client, tenant, berliner, "email", subject="Offer", body="20% off", purpose="marketing").json()
    receipt = send(client, tenant, berliner, "email", subject="Receipt", body="Thanks", purpose="service").json()
    evening = send(client, tenant, new_yorker, "email", subject="Offer", body="20% off", purpose="marketing").json()
    assert run_due(db, mail_settings, now=night) == {"queued": 1, "sent": 2}
    assert sorted(recipients[0] for recipients, *_ in smtp_server.received) == [
        "evening@example.com", "night@example.com"
    ]  # the receipt to Berlin and the offer to New York
    assert [m["Subject"] for m in smtp_server.mails()].count("Offer") == 1  # only New York's

    held = message(client, tenant, offer["id"])
    assert held["status"] == "queued" and held["attempts"] == 0
    assert held["next_attempt_at"].startswith(f"{NEXT_YEAR}-01-16T07:00:00")
    assert held["history"][-1]["detail"] == "held: quiet hours until 08:00 Europe/Berlin"
    assert message(client, tenant, receipt["id"])["status"] == "sent"
    assert message(client, tenant, evening["id"])["status"] == "sent"

    assert run_due(db, mail_settings, now=night + timedelta(hours=4)) == {}  # not due in the night
    assert run_due(db, mail_settings, now=datetime(NEXT_YEAR, 1, 16, 7, 0, 1, tzinfo=UTC)) == {"sent": 1}
    assert [m["Subject"] for m in smtp_server.mails()].count("Offer") == 2
    assert message(client, tenant, offer["id"])["attempts"] == 1


# --- frequency caps ------------------------------------------------------------------------------------


def test_daily_and_weekly_caps_suppress_marketing_but_not_service_messages(client, db, tenant, make_customer,
                                                                          settings):  # fmt: skip
    assert _policy(client, tenant, "in_app", daily_cap=2, weekly_cap=3).status_code == 200
    customer = make_customer(tenant, consents=("in_app",))
    other = make_customer(tenant, consents=("in_app",))
    monday = datetime(NEXT_YEAR, 3, 2, 10, 0, tzinfo=UTC)

    def offer(who=customer):
        return send(client, tenant, who, "in_app", body="An offer", purpose="marketing").json()["id"]

    first, second, third = offer(), offer(), offer()
    service = send(client, tenant, customer, "in_app", body="Your ticket was answered").json()["id"]
    for_other = offer(other)
    assert run_due(db, settings, now=monday) == {"delivered": 4, "suppressed": 1}
    statuses = {i: message(client, tenant, i) for i in (first, second, third, service, for_other)}
    assert [statuses[i]["status"] for i in (first, second, service, for_other)] == ["delivered"] * 4
    assert statuses[third]["status"] == "suppressed" and statuses[third]["reason"] == "daily_cap"

    tuesday = monday + timedelta(days=1, minutes=1)  # the daily window has moved on, the weekly one has not
    fourth, fifth = offer(), offer()
    assert run_due(db, settings, now=tuesday) == {"delivered": 1, "suppressed": 1}
    assert message(client, tenant, fourth)["status"] == "delivered"
    assert message(client, tenant, fifth)["reason"] == "weekly_cap"

    next_week = monday + timedelta(days=7, minutes=2)
    sixth = offer()
    assert run_due(db, settings, now=next_week) == {"delivered": 1}
    assert message(client, tenant, sixth)["status"] == "delivered"


def test_without_a_policy_nothing_is_held_or_capped(client, db, tenant, make_customer, settings):
    customer = make_customer(tenant, consents=("in_app",))
    ids = [send(client, tenant, customer, "in_app", body="Offer", purpose="marketing").json()["id"] for _ in range(5)]
    assert run_due(db, settings, now=datetime(NEXT_YEAR, 1, 15, 3, 0, tzinfo=UTC)) == {"delivered": 5}
    assert {message(client, tenant, i)["status"] for i in ids} == {"delivered"}
