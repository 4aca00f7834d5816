"""Birthday campaigns: sent by the campaign job to the audience's customers whose birthday is today in their
own time zone (or the organisation's), on 28 February for those born on 29 February in other years, a
given number of days ahead, once a year however often the job runs, never to a customer who opted out;
and the trigger's conditions checked when the campaign is saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from patron.accounts.models import Organisation
from patron.campaigns.birthday import birthday_in
from patron.campaigns.models import Campaign, CampaignRecipient
from patron.campaigns.sending import run_due_campaigns
from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.notify.models import Message

from .conftest import CAMPAIGNS, campaign_body, grant, launch

#: 11:30 UTC on 14 March 2026: already 15 March in Auckland (UTC+13) and on Kiritimati (UTC+14), still early
#: on 14 March in Honolulu (UTC-10), 04:30 on 14 March in Los Angeles (UTC-7)
NOW = datetime(2026, 3, 14, 11, 30, tzinfo=UTC)
WISH = {"name": "A", "subject": "Happy birthday", "body": "Happy birthday, {{ first_name }}!"}


def _customer(client, tenant, name: str, born: str | None, *, timezone: str | None = None, consent: bool = True,
              tags: tuple[str, ...] = ("club",), birth_year: int | None = None) -> int:  # fmt: skip
    body: dict = {"first_name": name, "tags": list(tags)}
    if born is not None:
        body["birth_date"] = born
    if timezone is not None:
        body["timezone"] = timezone
    if birth_year is not None:
        body["birth_year"] = birth_year
    response = client.post("/api/v1/customers", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    customer_id = response.json()["id"]
    if consent:
        grant(client, tenant, customer_id, "in_app", True)
    return customer_id


def _job(db, now: datetime) -> int:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="job:campaigns")
        return run_due_campaigns(session, now=now)


def _sent(db) -> dict[int, list[str]]:
    """``{customer id: [message bodies]}`` of the queued messages."""
    found: dict[int, list[str]] = {}
    with db() as session:
        for message in session.scalars(select(Message).order_by(Message.id)):
            found.setdefault(message.customer_id, []).append(message.body)
    return found


def _recipients(db) -> list[tuple[int, str, str | None]]:
    with db() as session:
        return [(r.customer_id, r.occurrence, r.skipped) for r in session.scalars(
            select(CampaignRecipient).order_by(CampaignRecipient.customer_id, CampaignRecipient.occurrence))]  # fmt: skip


def _birthday_campaign(make_campaign, tenant, *, days_before=None, variants=None) -> dict:
    trigger: dict = {"name": "birthday"}
    if days_before is not None:
        trigger["conditions"] = {"days_before": days_before}
    return make_campaign(tenant, kind="triggered", channels=["in_app"], trigger=trigger,
                         audience={"kind": "filter", "filter": {"tags": ["club"]}}, variants=variants or [WISH])  # fmt: skip


def test_sent_on_the_local_birthday_once_a_year_and_never_to_who_opted_out(client, db, tenant, make_campaign):
    today = _customer(client, tenant, "Today", "1990-03-14", timezone="UTC")
    tomorrow = _customer(client, tenant, "Tomorrow", "1991-03-15", timezone="UTC")
    _customer(client, tenant, "Yesterday", "1992-03-13", timezone="UTC")
    auckland = _customer(client, tenant, "Aroha", "1993-03-15", timezone="Pacific/Auckland")
    honolulu = _customer(client, tenant, "Kai", "1994-03-14", timezone="Pacific/Honolulu")
    _customer(client, tenant, "Luis", "1994-03-13", timezone="America/Los_Angeles")  # 14 March there already
    org_zone = _customer(client, tenant, "Tebano", "1980-03-15")  # no zone of their own: the organisation's
    opted_out = _customer(client, tenant, "Otto", "1990-03-14", timezone="UTC")
    grant(client, tenant, opted_out, "in_app", False)
    _customer(client, tenant, "Outsider", "1990-03-14", timezone="UTC", tags=())  # not in the audience
    _customer(client, tenant, "Yearonly", None, birth_year=1990)  # no birth date
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        session.execute(update(Organisation).where(Organisation.id == tenant.org_id)
                        .values(timezone="Pacific/Kiritimati"))  # fmt: skip
    campaign = _birthday_campaign(make_campaign, tenant)
    assert campaign["trigger"]["conditions"] == {"days_before": "0"}
    assert launch(client, tenant, campaign["id"])["campaign"]["status"] == "running"

    _job(db, NOW)
    sent = _sent(db)
    assert sent == {today: ["Happy birthday, Today!"], auckland: ["Happy birthday, Aroha!"],
                    honolulu: ["Happy birthday, Kai!"], org_zone: ["Happy birthday, Tebano!"]}  # fmt: skip
    assert _recipients(db) == sorted([(today, "birthday:2026", None), (auckland, "birthday:2026", None),
                                      (honolulu, "birthday:2026", None), (org_zone, "birthday:2026", None),
                                      (opted_out, "birthday:2026", "no_consent")])  # fmt: skip

    _job(db, NOW + timedelta(hours=2))  # the same day again: still one message each
    assert _sent(db) == sent
    _job(db, NOW + timedelta(minutes=30))  # within the hour: not even looked at
    assert _sent(db) == sent

    _job(db, NOW + timedelta(days=1, hours=2))  # 15 March in UTC as well: Tomorrow's turn, nobody twice
    assert _sent(db) == sent | {tomorrow: ["Happy birthday, Tomorrow!"]}

    _job(db, NOW + timedelta(days=365))  # a year on: the birthday comes round again
    assert _sent(db)[today] == ["Happy birthday, Today!", "Happy birthday, Today!"]
    assert (today, "birthday:2027", None) in _recipients(db)


def test_29_february_is_celebrated_on_28_february_in_other_years(client, db, tenant, make_campaign):
    leap = _customer(client, tenant, "Leap", "2000-02-29", timezone="UTC")
    eve = _customer(client, tenant, "Eve", "2001-02-28", timezone="UTC")
    _customer(client, tenant, "March", "2002-03-01", timezone="UTC")
    campaign = _birthday_campaign(make_campaign, tenant)
    launch(client, tenant, campaign["id"])

    _job(db, datetime(2027, 2, 28, 9, 0, tzinfo=UTC))
    assert set(_sent(db)) == {leap, eve}
    _job(db, datetime(2028, 2, 28, 9, 0, tzinfo=UTC))  # a leap year: 29 February is there
    assert {c: len(b) for c, b in _sent(db).items()} == {leap: 1, eve: 2}
    _job(db, datetime(2028, 2, 29, 9, 0, tzinfo=UTC))
    assert {c: len(b) for c, b in _sent(db).items()} == {leap: 2, eve: 2}
    assert sorted(o for c, o, _ in _recipients(db) if c == leap) == ["birthday:2027", "birthday:2028"]

    assert birthday_in(2027, datetime(2000, 2, 29).date()).isoformat() == "2027-02-28"
    assert birthday_in(2028, datetime(2000, 2, 29).date()).isoformat() == "2028-02-29"


def test_days_before_sends_ahead_with_the_birthday_in_the_template(client, db, tenant, make_campaign):
    soon = _customer(client, tenant, "Soon", "1985-03-17", timezone="UTC")
    _customer(client, tenant, "Today", "1985-03-14", timezone="UTC")
    campaign = _birthday_campaign(make_campaign, tenant, days_before=3, variants=[
        {"name": "A", "subject": "Soon", "body": "{{ first_name }}, see you on {{ trigger.birthday | default('your day') }}."}])  # fmt: skip
    assert campaign["trigger"]["conditions"] == {"days_before": "3"}
    launch(client, tenant, campaign["id"])
    _job(db, NOW)
    assert _sent(db) == {soon: ["Soon, see you on 2026-03-17."]}


@pytest.mark.parametrize(("conditions", "field"), [
    ({"days_before": "31"}, "trigger.conditions.days_before"),
    ({"days_before": 31}, "trigger.conditions.days_before"),
    ({"days_before": "-1"}, "trigger.conditions.days_before"),
    ({"days_before": "soon"}, "trigger.conditions.days_before"),
    ({"days_before": "2", "shop": "Mitte"}, "trigger.conditions.shop"),
])  # fmt: skip
def test_bad_birthday_conditions_are_refused_naming_the_field(client, db, tenant, conditions, field):
    body = campaign_body(kind="triggered", trigger={"name": "birthday", "conditions": conditions})
    response = client.post(CAMPAIGNS, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    with db() as session:
        assert session.scalar(select(func.count(Campaign.id))) == 0


def test_the_builder_saves_a_birthday_campaign_with_its_days_ahead(browser, db):
    form = {"name": "Birthday wishes", "kind": "triggered", "channels": ["in_app"], "audience.kind": "all",
            "holdout_percent": "0", "trigger.name": "birthday", "trigger.days_before": "2", "trigger.shop": "",
            "trigger.cooldown_hours": "24", "conversion.kind": "order", "conversion.window_hours": "72",
            "variants[0].name": "A", "variants[0].subject": "Happy birthday",
            "variants[0].body": "Happy birthday, {{ first_name }}!"}  # fmt: skip
    refused = browser.post("/campaigns/new", form | {"trigger.days_before": "45"})
    assert refused.status_code == 422 and "at most 30" in refused.text
    saved = browser.post("/campaigns/new", form)
    assert saved.status_code == 303, saved.text
    with db() as session:
        stored = session.scalar(select(Campaign).where(Campaign.name == "Birthday wishes"))
        assert stored.trigger["conditions"] == {"days_before": "2"}
    page = browser.get(saved.headers["location"])
    assert page.status_code == 200 and "2 days ahead" in page.text
