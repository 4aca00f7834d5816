"""Customer hooks: a merge moves a duplicate's campaign assignments to the survivor (keeping the
survivor's own where both were in the same send), the privacy export lists them, an erasure deletes them."""

from __future__ import annotations

from sqlalchemy import select

from patron.campaigns.models import CampaignRecipient

from .conftest import launch


def _assignments(db, customer_id: int) -> list[tuple[int, str]]:
    with db() as session:
        return sorted(session.execute(select(CampaignRecipient.campaign_id, CampaignRecipient.occurrence)
                                      .where(CampaignRecipient.customer_id == customer_id)).all())  # fmt: skip


def test_merge_export_and_erase(client, db, tenant, make_customer, make_campaign):
    survivor = make_customer(tenant, consents=("in_app",))
    duplicate = make_customer(tenant, consents=("in_app",))
    both = make_campaign(tenant, channels=["in_app"])
    launch(client, tenant, both["id"])
    client.patch(f"/api/v1/customers/{duplicate}", json={"tags": ["late"]}, headers=tenant.headers)
    only_duplicate = make_campaign(
        tenant, channels=["in_app"], audience={"kind": "filter", "filter": {"tags": ["late"]}}
    )
    launch(client, tenant, only_duplicate["id"])
    assert _assignments(db, duplicate) == [(both["id"], "once"), (only_duplicate["id"], "once")]

    merged = client.post(
        f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate}, headers=tenant.headers
    )
    assert merged.status_code == 200, merged.text
    assert _assignments(db, survivor) == [(both["id"], "once"), (only_duplicate["id"], "once")]
    assert _assignments(db, duplicate) == []

    exported = client.get(f"/api/v1/customers/{survivor}/privacy-export", headers=tenant.headers).json()
    rows = exported["related"]["campaigns"]["campaign_recipients"]
    assert sorted(r["campaign_id"] for r in rows) == sorted([both["id"], only_duplicate["id"]])

    assert client.post(f"/api/v1/customers/{survivor}/erase", headers=tenant.headers).status_code == 200
    assert _assignments(db, survivor) == []
