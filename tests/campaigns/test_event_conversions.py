"""Conversions on app events: 200 customers split by the hash into a hold-out and two variants; app events
of the conversion's type are planted through the real ingest for an exact number of each group inside the
window, with decoys that must not count (another type, other props, before the assignment, after the
window, a customer outside the campaign, another organisation's event), and the results must give exactly
the planted counts and values. Plus the validation of an event conversion, and the builder and results
pages."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import func, select

from patron.campaigns import results as campaign_results
from patron.campaigns.models import Campaign, CampaignConversion, CampaignRecipient
from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers.models import ConsentRecord, Customer
from patron.events import runtime as events_runtime
from patron.events.store import EventBatch, micros
from tests.devices.support import accepted
from tests.devices.support import send as ingest

from .conftest import CAMPAIGNS, campaign_body, launch, results

N = 200
#: share of each group planted a converting app purchase: B converts best, the hold-out least
PLANTED = {"A": 0.15, "B": 0.30, "holdout": 0.10}
PRICE = Decimal("19.5")


def _customers(db, org_id: int, n: int) -> list[int]:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        rows = [Customer(org_id=org_id, first_name=f"C{i}", last_name="Test", email=f"c{i}@example.com")
                for i in range(n)]  # fmt: skip
        session.add_all(rows)
        session.flush()
        session.add_all([ConsentRecord(org_id=org_id, customer_id=c.id, channel="in_app", granted=True,
                                       source="web_form") for c in rows])  # fmt: skip
        return [c.id for c in rows]


def _ingest_key(client, tenant) -> str:
    response = client.post("/api/v1/ingest-keys", headers=tenant.headers, json={"name": "app backend"})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def _event(customer_id: int, at, *, type: str = "app_purchase", **props) -> dict:
    return {"id": f"ev-{uuid.uuid4().hex}", "type": type, "customer": customer_id,
            "ts": at.astimezone(UTC).isoformat(), "props": props}  # fmt: skip


def _conversions(db, campaign_id: int) -> int:
    with db() as session:
        return session.scalar(
            select(func.count(CampaignConversion.id)).where(CampaignConversion.campaign_id == campaign_id)
        )


def test_planted_app_events_give_exactly_the_planted_conversions_per_variant_and_for_the_holdout(
    client, app, db, tenant, other_tenant, make_campaign
):
    _customers(db, tenant.org_id, N)
    campaign = make_campaign(
        tenant, channels=["in_app"], holdout_percent=20, costs={"in_app": "0.05"},
        conversion={"kind": "event", "type": "app_purchase", "where": {"plan": "gold"}, "value_prop": "amount",
                    "window_hours": 72},
        variants=[{"name": "A", "subject": "Offer", "body": "Hi {{ first_name }}, gold is 10% off."},
                  {"name": "B", "subject": "Offer", "body": "{{ first_name }}, go gold today."}],
    )  # fmt: skip
    assert campaign["conversion"] == {"kind": "event", "type": "app_purchase", "where": {"plan": "gold"},
                                      "value_prop": "amount", "window_hours": 72}  # fmt: skip
    launched = launch(client, tenant, campaign["id"])
    assert launched["assigned"] == N and launched["queued"] + launched["held_out"] == N

    with session_scope(db) as session:  # the campaign went out four days ago
        for recipient in session.scalars(select(CampaignRecipient)):
            recipient.assigned_at -= timedelta(hours=100)
    with db() as session:
        rows = list(session.execute(select(CampaignRecipient.customer_id, CampaignRecipient.holdout,
                                           CampaignRecipient.variant_id, CampaignRecipient.assigned_at)
                                    .where(CampaignRecipient.campaign_id == campaign["id"])
                                    .order_by(CampaignRecipient.customer_id)))  # fmt: skip
    names = {v["id"]: v["name"] for v in campaign["variants"]}
    groups: dict[str, list] = {"A": [], "B": [], "holdout": []}
    for row in rows:
        groups["holdout" if row.holdout else names[row.variant_id]].append(row)
    for name, share in (("holdout", 0.2), ("A", 0.4), ("B", 0.4)):  # within 4 binomial standard deviations
        sd = (N * share * (1 - share)) ** 0.5
        assert abs(len(groups[name]) - N * share) < 4 * sd, (name, len(groups[name]))

    planted = {name: round(PLANTED[name] * len(members)) for name, members in groups.items()}
    assert all(planted[name] >= 2 and len(groups[name]) >= planted[name] + 5 for name in groups)
    events: list[dict] = []
    other_org: list = []
    for name, members in groups.items():
        for row in members[: planted[name]]:
            events.append(_event(row.customer_id, row.assigned_at + timedelta(hours=2), amount=19.5, plan="gold"))
        # the first converter buys again: one more conversion (worth its amount), still one converted customer
        first = members[0]
        events.append(_event(first.customer_id, first.assigned_at + timedelta(hours=5), amount="19.50", plan="gold"))
        decoys = members[planted[name] : planted[name] + 5]
        events += [
            _event(decoys[0].customer_id, decoys[0].assigned_at + timedelta(hours=1), type="app_open", plan="gold"),
            _event(decoys[1].customer_id, decoys[1].assigned_at + timedelta(hours=1), amount=5, plan="basic"),
            _event(decoys[2].customer_id, decoys[2].assigned_at - timedelta(hours=1), amount=5, plan="gold"),
            _event(decoys[3].customer_id, decoys[3].assigned_at + timedelta(hours=73), amount=5, plan="gold"),
        ]  # fmt: skip
        other_org.append(decoys[4])
    outsider = _customers(db, tenant.org_id, 1)[0]  # not in the campaign
    events.append(_event(outsider, rows[0].assigned_at + timedelta(hours=2), amount=5, plan="gold"))
    accepted(ingest(client, _ingest_key(client, tenant), events), len(events))
    # another organisation's event naming one of our recipients (as its own customer id) does not count
    batch = EventBatch()
    for decoy in other_org:
        moment = micros(decoy.assigned_at + timedelta(hours=2))
        props = {"amount": 5, "plan": "gold"}
        batch.add(org_id=other_tenant.org_id, id=f"other-{decoy.customer_id}", device_id=None,
                  customer_id=decoy.customer_id, type="app_purchase", ts=moment, received_at=moment, source="http",
                  lat=None, lon=None, props_json=orjson.dumps(props).decode(), props=props)  # fmt: skip
    assert app.state.events.store.append(batch).count == 3

    found = results(client, tenant, campaign["id"])
    for name in ("A", "B", "holdout"):
        n = len(groups[name])
        assert found[name]["assigned"] == n
        assert found[name]["converted"] == planted[name], name
        assert found[name]["conversions"] == planted[name] + 1
        assert Decimal(found[name]["value"]) == PRICE * (planted[name] + 1)
        assert found[name]["conversion_rate"] == planted[name] / n
    base = planted["holdout"] / len(groups["holdout"])
    for name in ("A", "B"):
        rate = planted[name] / len(groups[name])
        assert abs(found[name]["uplift"] - (rate - base)) < 1e-12
        assert Decimal(found[name]["cost_per_conversion"]) == (
            Decimal("0.05") * len(groups[name]) / planted[name]
        ).quantize(Decimal("0.0001"))
    assert found["B"]["uplift"] > found["A"]["uplift"] > 0
    assert found["holdout"]["messaged"] == 0 and found["holdout"]["uplift"] is None
    total = sum(planted.values()) + 3
    assert _conversions(db, campaign["id"]) == total
    with db() as session:
        kinds = set(session.scalars(select(CampaignConversion.kind).where(
            CampaignConversion.campaign_id == campaign["id"])))  # fmt: skip
        sources = set(session.scalars(select(CampaignConversion.source_id)))
    assert kinds == {"event"} and len(sources) == total and all(s.startswith("ev-") for s in sources)

    # attributing again (the results again, the campaign job's pass, a direct call) adds nothing
    again = results(client, tenant, campaign["id"])
    assert [again[n]["conversions"] for n in ("A", "B", "holdout")] == [planted[n] + 1 for n in ("A", "B", "holdout")]
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="job:campaigns")
        stored = session.get(Campaign, campaign["id"])
        assert events_runtime.store_serving(session) is app.state.events.store  # the job finds the server's store
        assert campaign_results.do_attribute(session, campaign=stored, store=app.state.events.store) == 0
        assert campaign_results.refresh_open_campaigns(session, now=stored.last_run_at + timedelta(hours=1)) == 0
    assert _conversions(db, campaign["id"]) == total

    # the conversion shows on the customer's timeline
    converter = groups["B"][0].customer_id
    timeline = client.get(f"/api/v1/customers/{converter}/timeline", headers=tenant.headers).json()["items"]
    assert sum(item["kind"] == "campaign.converted" for item in timeline) == 2


def test_an_event_without_the_value_prop_or_with_a_non_number_is_worth_nothing(client, app, db, tenant,
                                                                                make_campaign):  # fmt: skip
    ids = _customers(db, tenant.org_id, 3)
    campaign = make_campaign(tenant, channels=["in_app"], conversion={"kind": "event", "type": "subscribed",
                                                                      "value_prop": "price", "window_hours": 24})  # fmt: skip
    launch(client, tenant, campaign["id"])
    with session_scope(db) as session:  # sent an hour ago
        for recipient in session.scalars(select(CampaignRecipient)):
            recipient.assigned_at -= timedelta(hours=1)
    with db() as session:
        assigned = session.scalar(select(func.min(CampaignRecipient.assigned_at)))
    at = assigned + timedelta(minutes=5)
    events = [_event(ids[0], at, type="subscribed", price="12.25"), _event(ids[1], at, type="subscribed"),
              _event(ids[2], at, type="subscribed", price="a lot"), _event(ids[2], at, type="subscribed", price=True)]  # fmt: skip
    accepted(ingest(client, _ingest_key(client, tenant), events), 4)
    found = results(client, tenant, campaign["id"])["A"]
    assert (found["converted"], found["conversions"], Decimal(found["value"])) == (3, 4, Decimal("12.25"))


@pytest.mark.parametrize(("conversion", "field"), [
    ({"kind": "event"}, "conversion.type"),
    ({"kind": "event", "type": "has space"}, "conversion.type"),
    ({"kind": "event", "type": "x" * 65}, "conversion.type"),
    ({"kind": "event", "type": "app_purchase", "where": {"bad key!": "x"}}, "conversion.where"),
    ({"kind": "event", "type": "app_purchase", "where": {"plan": "x" * 201}}, "conversion.where.plan"),
    ({"kind": "event", "type": "app_purchase", "where": {"plan": None}}, "conversion.where.plan"),
    ({"kind": "event", "type": "app_purchase", "value_prop": "my amount"}, "conversion.value_prop"),
    ({"kind": "event", "type": "app_purchase", "window_hours": 0}, "conversion.window_hours"),
    ({"kind": "download"}, "conversion.kind"),
])  # fmt: skip
def test_a_bad_event_conversion_is_refused_naming_the_field(client, db, tenant, conversion, field):
    response = client.post(CAMPAIGNS, json=campaign_body(conversion=conversion), headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field, response.json()
    with db() as session:
        assert session.scalar(select(func.count(Campaign.id))) == 0


def test_the_builder_saves_an_event_conversion_and_the_pages_show_it(browser, db):
    page = browser.get("/campaigns/new")
    assert page.status_code == 200 and 'value="event"' in page.text and 'name="conversion.type"' in page.text
    form = {"name": "Gold upsell", "kind": "one_off", "channels": ["in_app"], "audience.kind": "all",
            "holdout_percent": "10", "variants[0].name": "A", "variants[0].subject": "Gold",
            "variants[0].body": "Hi {{ first_name }}", "conversion.kind": "event", "conversion.type": "app_purchase",
            "conversion.where": 'plan=gold, seats=3, trial=false, code="7"', "conversion.value_prop": "amount",
            "conversion.window_hours": "48"}  # fmt: skip
    saved = browser.post("/campaigns/new", form)
    assert saved.status_code == 303, saved.text
    with db() as session:
        stored = session.scalar(select(Campaign).where(Campaign.name == "Gold upsell"))
        assert stored.conversion == {"kind": "event", "type": "app_purchase", "window_hours": 48, "value_prop": "amount",
                                     "where": {"plan": "gold", "seats": 3, "trial": False, "code": "7"}}  # fmt: skip
    detail = browser.get(saved.headers["location"])
    assert detail.status_code == 200 and 'data-testid="conversion-type">app_purchase<' in detail.text
    shown = browser.get(f"/campaigns/{stored.id}/results")
    assert shown.status_code == 200 and "app_purchase" in shown.text

    refused = browser.post("/campaigns/new", form | {"name": "No type", "conversion.type": ""})
    assert refused.status_code == 422 and "Event type is required" in refused.text
    refused = browser.post("/campaigns/new", form | {"name": "Bad props", "conversion.where": "plan gold"})
    assert refused.status_code == 422 and "key=value" in refused.text
    refused = browser.post("/campaigns/new", form | {"name": "Bad type", "conversion.type": "two words"})
    assert refused.status_code == 422 and 'id="conversion.type-error"' in refused.text
    with db() as session:
        assert session.scalar(select(func.count(Campaign.id))) == 1
