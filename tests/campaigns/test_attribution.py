"""A/B attribution on planted conversions: 1,000 customers split by the hash into a hold-out and two
variants; orders are planted for an exact number of each group inside the window (and decoys outside
it), and the results must give exactly those counts, rates and uplifts. Plus cost per conversion, the
funnel on the in-app channel and the journey on the customer timeline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from patron.campaigns.models import CampaignRecipient
from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow
from patron.customers.models import ConsentRecord, Customer
from patron.notify.delivery import run_due
from patron.rules.models import Trigger

from .conftest import launch, results

N = 1000
#: share of each group that is planted a converting order: B converts better than A, the hold-out least
PLANTED = {"A": 0.10, "B": 0.25, "holdout": 0.05}


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


def _order(client, tenant, customer_id: int, product_id: int, at, *, status: str = "paid", quantity: int = 1):
    response = client.post("/api/v1/orders", headers=tenant.headers, json={
        "customer_id": customer_id, "channel": "app", "status": status, "ordered_at": at.isoformat(),
        "lines": [{"product_id": product_id, "quantity": quantity}]})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def test_results_recover_the_planted_conversions_per_variant_and_the_uplift(client, db, tenant, make_campaign,
                                                                           settings):  # fmt: skip
    _customers(db, tenant.org_id, N)
    product = client.post("/api/v1/products", headers=tenant.headers,
                          json={"sku": "MUG-1", "name": "Travel mug", "price": "12.00"}).json()  # fmt: skip
    campaign = make_campaign(
        tenant, channels=["in_app"], holdout_percent=20, costs={"in_app": "0.05"},
        conversion={"kind": "order", "window_hours": 72},
        variants=[{"name": "A", "subject": "Offer", "body": "Hi {{ first_name }}, 10% off."},
                  {"name": "B", "subject": "Offer", "body": "{{ first_name }}, your mug is waiting."}],
    )  # fmt: skip
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
    # the hash splits 20 % / 40 % / 40 %: each share within 4 binomial standard deviations
    for name, share in (("holdout", 0.2), ("A", 0.4), ("B", 0.4)):
        sd = (N * share * (1 - share)) ** 0.5
        assert abs(len(groups[name]) - N * share) < 4 * sd, (name, len(groups[name]))

    planted = {name: round(PLANTED[name] * len(members)) for name, members in groups.items()}
    for name, members in groups.items():
        for row in members[: planted[name]]:
            _order(client, tenant, row.customer_id, product["id"], row.assigned_at + timedelta(hours=2))
        # the first converter orders twice: one more conversion, still one converted customer
        _order(
            client, tenant, members[0].customer_id, product["id"], members[0].assigned_at + timedelta(hours=5)
        )
        # decoys that must not count: before the assignment, after the window, a cancelled order
        decoys = members[planted[name] : planted[name] + 3]
        _order(
            client, tenant, decoys[0].customer_id, product["id"], decoys[0].assigned_at - timedelta(hours=1)
        )
        _order(
            client, tenant, decoys[1].customer_id, product["id"], decoys[1].assigned_at + timedelta(hours=73)
        )
        _order(client, tenant, decoys[2].customer_id, product["id"], decoys[2].assigned_at + timedelta(hours=1),
               status="cancelled")  # fmt: skip

    found = results(client, tenant, campaign["id"])
    for name in ("A", "B", "holdout"):
        n = len(groups[name])
        assert found[name]["assigned"] == n
        assert found[name]["converted"] == planted[name], name
        assert found[name]["conversions"] == planted[name] + 1
        assert Decimal(found[name]["value"]) == Decimal("12.00") * (planted[name] + 1)
        assert found[name]["conversion_rate"] == planted[name] / n
    base = planted["holdout"] / len(groups["holdout"])
    for name in ("A", "B"):
        rate = planted[name] / len(groups[name])
        assert abs(found[name]["uplift"] - (rate - base)) < 1e-12
        assert abs(found[name]["relative_uplift"] - (rate / base - 1)) < 1e-12
        assert Decimal(found[name]["cost"]) == Decimal("0.05") * len(groups[name])
        assert Decimal(found[name]["cost_per_conversion"]) == (
            Decimal("0.05") * len(groups[name]) / planted[name]
        ).quantize(Decimal("0.0001"))
    assert found["B"]["uplift"] > found["A"]["uplift"] > 0
    assert found["holdout"]["messaged"] == 0 and found["holdout"]["uplift"] is None
    assert Decimal(found["_"]["cost_by_channel"]["in_app"]) == Decimal("0.05") * (
        len(groups["A"]) + len(groups["B"])
    )

    # looking again records nothing twice
    again = results(client, tenant, campaign["id"])
    assert [again[n]["conversions"] for n in ("A", "B", "holdout")] == [
        found[n]["conversions"] for n in ("A", "B", "holdout")
    ]


def test_funnel_and_the_journey_on_the_timeline(client, db, tenant, make_campaign, settings):
    ids = _customers(db, tenant.org_id, 6)
    product = client.post("/api/v1/products", headers=tenant.headers,
                          json={"sku": "CAP-1", "name": "Cap", "price": "9.00"}).json()  # fmt: skip
    campaign = make_campaign(tenant, channels=["in_app"],
                             variants=[{"name": "A", "subject": "New caps", "body": "Hi {{ first_name }}"}])  # fmt: skip
    launch(client, tenant, campaign["id"])
    assert run_due(db, settings) == {"delivered": 6}
    reader = ids[0]
    inbox = client.get(f"/api/v1/customers/{reader}/inbox", headers=tenant.headers).json()["items"]
    opened = client.post(f"/api/v1/customers/{reader}/inbox/{inbox[0]['id']}/read", headers=tenant.headers)
    assert opened.status_code == 200, opened.text
    _order(client, tenant, reader, product["id"], utcnow())

    found = results(client, tenant, campaign["id"])["A"]
    assert [
        found[k] for k in ("assigned", "messaged", "sent", "delivered", "opened", "clicked", "converted")
    ] == [6, 6, 6, 6, 1, 0, 1]
    timeline = client.get(f"/api/v1/customers/{reader}/timeline", headers=tenant.headers).json()
    kinds = [item["kind"] for item in timeline["items"] if item["kind"].startswith("campaign.")]
    assert kinds == ["campaign.converted", "campaign.opened", "campaign.sent"]


def test_visits_recorded_by_a_trigger_count_as_conversions(client, db, tenant, make_campaign):
    ids = _customers(db, tenant.org_id, 5)
    campaign = make_campaign(tenant, channels=["in_app"], conversion={"kind": "visit", "name": "shop_visit",
                                                                      "window_hours": 24})  # fmt: skip
    launch(client, tenant, campaign["id"])
    now = utcnow()
    with session_scope(db) as session:
        session.add_all([
            Trigger(org_id=tenant.org_id, name="shop_visit", customer_id=ids[0], created_at=now, data={}),
            Trigger(org_id=tenant.org_id, name="shop_visit", customer_id=ids[0], created_at=now, data={}),
            Trigger(org_id=tenant.org_id, name="shop_visit", customer_id=ids[1], created_at=now, data={}),
            # not visits of this campaign: another trigger, one before the send
            Trigger(org_id=tenant.org_id, name="app_opened", customer_id=ids[2], created_at=now, data={}),
            Trigger(org_id=tenant.org_id, name="shop_visit", customer_id=ids[3], created_at=now - timedelta(hours=2),
                    data={}),
        ])  # fmt: skip
    found = results(client, tenant, campaign["id"])["A"]
    assert (found["assigned"], found["converted"], found["conversions"]) == (5, 2, 3)
