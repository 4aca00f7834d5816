"""Deals: creation, the won/lost/reopen lifecycle, filters, the board and the customer timeline."""

from __future__ import annotations

from sqlalchemy import select

from patron.core.db import session_scope
from patron.customers.models import TimelineEntry
from tests.sales.helpers import default_pipeline, stage_ids


def timeline(db, customer_id: int) -> list[tuple[str, str]]:
    with session_scope(db) as session:
        rows = session.scalars(
            select(TimelineEntry).where(TimelineEntry.customer_id == customer_id).order_by(TimelineEntry.id)
        )
        return [(row.kind, row.summary) for row in rows]


def test_new_deal_starts_in_the_first_stage_of_the_default_pipeline(client, tenant):
    response = client.post(
        "/api/v1/deals", json={"title": "Smart meters for 40 flats"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    deal = response.json()
    pipeline = default_pipeline(client, tenant)
    assert deal["pipeline_id"] == pipeline["id"]
    assert deal["stage_id"] == stage_ids(pipeline)["Prospecting"]
    assert deal["status"] == "open" and deal["closed_at"] is None
    assert deal["currency"] == "EUR"
    assert deal["value"] == 0
    assert deal["owner_id"] == tenant.user_id
    assert client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).json() == deal


def test_deal_lifecycle_won_reopened_lost(client, tenant, db, make_customer):
    customer_id = make_customer(tenant)
    stages = stage_ids(default_pipeline(client, tenant))
    deal = client.post(
        "/api/v1/deals",
        json={
            "title": "Fleet tracker",
            "customer_id": customer_id,
            "value": "12000.50",
            "currency": "eur",
            "stage_id": stages["Proposal"],
            "expected_close": "2030-06-30",
        },
        headers=tenant.headers,
    ).json()
    assert deal["currency"] == "EUR" and deal["value"] == 12000.5 and deal["expected_close"] == "2030-06-30"
    url = f"/api/v1/deals/{deal['id']}/move"

    won = client.post(url, json={"stage_id": stages["Won"]}, headers=tenant.headers)
    assert won.status_code == 200, won.text
    assert won.json()["status"] == "won" and won.json()["closed_at"] is not None

    reopened = client.post(url, json={"stage_id": stages["Negotiation"]}, headers=tenant.headers).json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert reopened["stage_id"] == stages["Negotiation"]

    lost = client.post(
        url, json={"stage_id": stages["Lost"], "lost_reason": "Chose a competitor"}, headers=tenant.headers
    ).json()
    assert lost["status"] == "lost" and lost["closed_at"] is not None
    assert lost["lost_reason"] == "Chose a competitor"

    back = client.post(url, json={"stage_id": stages["Prospecting"]}, headers=tenant.headers).json()
    assert back["status"] == "open" and back["closed_at"] is None and back["lost_reason"] == ""

    assert [kind for kind, _summary in timeline(db, customer_id)] == [
        "deal.created",
        "deal.won",
        "deal.stage_changed",
        "deal.lost",
        "deal.stage_changed",
    ]
    summaries = [summary for _kind, summary in timeline(db, customer_id)]
    assert summaries[0] == "Deal 'Fleet tracker' opened in Proposal (12000.50 EUR)"
    assert summaries[1] == "Deal 'Fleet tracker' won (12000.50 EUR)"
    assert summaries[2] == "Deal 'Fleet tracker' reopened in Negotiation"
    assert summaries[3] == "Deal 'Fleet tracker' lost: Chose a competitor"


def test_moving_to_the_same_stage_changes_nothing(client, tenant, db, make_customer):
    customer_id = make_customer(tenant)
    stages = stage_ids(default_pipeline(client, tenant))
    deal = client.post(
        "/api/v1/deals", json={"title": "Same", "customer_id": customer_id}, headers=tenant.headers
    ).json()
    response = client.post(
        f"/api/v1/deals/{deal['id']}/move", json={"stage_id": stages["Prospecting"]}, headers=tenant.headers
    )
    assert response.status_code == 200
    assert response.json()["updated_at"] == deal["updated_at"]
    assert [kind for kind, _ in timeline(db, customer_id)] == ["deal.created"]


def test_deal_without_customer_writes_no_timeline(client, tenant, db, count_rows):
    stages = stage_ids(default_pipeline(client, tenant))
    deal = client.post("/api/v1/deals", json={"title": "Anonymous"}, headers=tenant.headers).json()
    client.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": stages["Won"]}, headers=tenant.headers)
    assert count_rows(TimelineEntry, org_id=tenant.org_id) == 0


def test_move_validations(client, tenant):
    stages = stage_ids(default_pipeline(client, tenant))
    other = client.post("/api/v1/pipelines", json={"name": "Other"}, headers=tenant.headers).json()
    deal = client.post("/api/v1/deals", json={"title": "Gateway"}, headers=tenant.headers).json()
    url = f"/api/v1/deals/{deal['id']}/move"
    wrong_pipeline = client.post(url, json={"stage_id": other["stages"][0]["id"]}, headers=tenant.headers)
    assert wrong_pipeline.status_code == 422
    assert wrong_pipeline.json()["field"] == "stage_id"
    missing = client.post(url, json={"stage_id": 987654}, headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.json()["field"] == "stage_id"
    reason_on_won = client.post(
        url, json={"stage_id": stages["Won"], "lost_reason": "n/a"}, headers=tenant.headers
    )
    assert reason_on_won.status_code == 422
    assert reason_on_won.json()["field"] == "lost_reason"
    assert (
        client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).json()["stage_id"]
        == stages["Prospecting"]
    )


def test_create_with_stage_of_another_pipeline_or_pipeline_only(client, tenant):
    stages = stage_ids(default_pipeline(client, tenant))
    other = client.post("/api/v1/pipelines", json={"name": "Other"}, headers=tenant.headers).json()
    mismatch = client.post(
        "/api/v1/deals",
        json={"title": "X", "pipeline_id": other["id"], "stage_id": stages["Proposal"]},
        headers=tenant.headers,
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["field"] == "stage_id"
    in_other = client.post(
        "/api/v1/deals", json={"title": "Y", "pipeline_id": other["id"]}, headers=tenant.headers
    )
    assert in_other.status_code == 201
    assert in_other.json()["stage_id"] == other["stages"][0]["id"]
    by_stage = client.post(
        "/api/v1/deals", json={"title": "Z", "stage_id": other["stages"][2]["id"]}, headers=tenant.headers
    )
    assert by_stage.json()["pipeline_id"] == other["id"]
    in_won = client.post(
        "/api/v1/deals", json={"title": "Signed", "stage_id": stages["Won"]}, headers=tenant.headers
    ).json()
    assert in_won["status"] == "won" and in_won["closed_at"] is not None


def test_update_deal(client, tenant, make_tenant, make_customer):
    colleague = make_tenant("Acme", role="agent")
    customer_id = make_customer(tenant)
    deal = client.post("/api/v1/deals", json={"title": "Wearables"}, headers=tenant.headers).json()
    response = client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={
            "title": "Wearables for staff",
            "value": 800,
            "currency": "usd",
            "owner_id": colleague.user_id,
            "customer_id": customer_id,
            "expected_close": "2031-01-15",
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["value"], body["currency"], body["owner_id"], body["customer_id"]) == (
        "Wearables for staff",
        800,
        "USD",
        colleague.user_id,
        customer_id,
    )
    cleared = client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"expected_close": None, "customer_id": None},
        headers=tenant.headers,
    ).json()
    assert cleared["expected_close"] is None and cleared["customer_id"] is None
    no_title = client.patch(f"/api/v1/deals/{deal['id']}", json={"title": None}, headers=tenant.headers)
    assert no_title.status_code == 422 and no_title.json()["field"] == "title"
    reason = client.patch(
        f"/api/v1/deals/{deal['id']}", json={"lost_reason": "Too dear"}, headers=tenant.headers
    )
    assert reason.status_code == 422 and reason.json()["field"] == "lost_reason"


def test_owner_and_customer_must_belong_to_the_organisation(
    client, tenant, other_tenant, make_customer, count_rows
):
    from patron.sales.models import Deal

    foreign_customer = make_customer(other_tenant)
    response = client.post(
        "/api/v1/deals", json={"title": "X", "customer_id": foreign_customer}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert response.json()["field"] == "customer_id"
    response = client.post(
        "/api/v1/deals", json={"title": "X", "owner_id": other_tenant.user_id}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert response.json()["field"] == "owner_id"
    assert count_rows(Deal, org_id=tenant.org_id) == 0


def test_list_filters(client, tenant, make_tenant, make_customer):
    colleague = make_tenant("Acme", role="manager")
    customer_id = make_customer(tenant)
    stages = stage_ids(default_pipeline(client, tenant))
    other = client.post("/api/v1/pipelines", json={"name": "Other"}, headers=tenant.headers).json()

    def deal(title: str, **fields) -> int:
        response = client.post("/api/v1/deals", json={"title": title, **fields}, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    a = deal("Solar monitoring", stage_id=stages["Proposal"], customer_id=customer_id)
    b = deal("Heat pumps 100%", stage_id=stages["Won"], owner_id=colleague.user_id)
    c = deal("Solar storage", pipeline_id=other["id"])
    d = deal("EV chargers", stage_id=stages["Lost"])

    def ids(**params) -> list[int]:
        response = client.get("/api/v1/deals", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == len(response.json()["items"])
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [d, c, b, a]
    assert ids(pipeline_id=other["id"]) == [c]
    assert ids(stage_id=stages["Proposal"]) == [a]
    assert ids(status="won") == [b]
    assert ids(status="lost") == [d]
    assert ids(status="open") == [c, a]
    assert ids(owner_id=colleague.user_id) == [b]
    assert ids(customer_id=customer_id) == [a]
    assert ids(q="solar") == [c, a]
    assert ids(q="100%") == [b]
    assert ids(q="%") == [b]
    page = client.get("/api/v1/deals", params={"limit": 2, "offset": 1}, headers=tenant.headers).json()
    assert [i["id"] for i in page["items"]] == [c, b]
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert client.get("/api/v1/deals", params={"status": "maybe"}, headers=tenant.headers).status_code == 422


def test_board_totals(client, tenant):
    pipeline = default_pipeline(client, tenant)
    stages = stage_ids(pipeline)

    def deal(
        title: str, stage: str, value: str, currency: str = "EUR", expected_close: str | None = None
    ) -> int:
        body = {"title": title, "stage_id": stages[stage], "value": value, "currency": currency}
        if expected_close:
            body["expected_close"] = expected_close
        response = client.post("/api/v1/deals", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    a = deal("A", "Prospecting", "1000.00", expected_close="2030-03-01")
    b = deal("B", "Prospecting", "2500.50", expected_close="2030-01-01")
    deal("C", "Qualification", "1234.56")
    deal("D", "Proposal", "999.99")
    deal("E", "Negotiation", "4000")
    deal("F", "Negotiation", "750", currency="USD")
    deal("G", "Won", "5000")
    deal("H", "Lost", "300")

    response = client.get(f"/api/v1/pipelines/{pipeline['id']}/board", headers=tenant.headers)
    assert response.status_code == 200, response.text
    board = response.json()
    assert board["currency"] == "EUR" and board["pipeline_name"] == "Sales"
    by_name = {stage["name"]: stage for stage in board["stages"]}
    assert [s["name"] for s in board["stages"]] == list(stages)
    # Prospecting: 1000.00 + 2500.50 = 3500.50; x 10 % = 350.05
    assert (
        by_name["Prospecting"]["count"],
        by_name["Prospecting"]["total_value"],
        by_name["Prospecting"]["weighted_value"],
    ) == (2, 3500.50, 350.05)
    # soonest expected close first
    assert [d["id"] for d in by_name["Prospecting"]["deals"]] == [b, a]
    # Qualification: 1234.56 x 25 % = 308.64
    assert (by_name["Qualification"]["total_value"], by_name["Qualification"]["weighted_value"]) == (
        1234.56,
        308.64,
    )
    # Proposal: 999.99 x 50 % = 499.995, rounded half up to 500.00
    assert by_name["Proposal"]["weighted_value"] == 500.00
    # Negotiation: 4000 EUR x 75 % = 3000; the USD deal is counted but reported apart
    negotiation = by_name["Negotiation"]
    assert (negotiation["count"], negotiation["total_value"], negotiation["weighted_value"]) == (
        2,
        4000,
        3000,
    )
    assert negotiation["other_currencies"] == [
        {"currency": "USD", "count": 1, "total_value": 750, "weighted_value": 562.5}
    ]
    assert len(negotiation["deals"]) == 2
    assert (by_name["Won"]["total_value"], by_name["Won"]["weighted_value"]) == (5000, 5000)
    assert (by_name["Lost"]["total_value"], by_name["Lost"]["weighted_value"]) == (300, 0)
    # open value: 1000 + 2500.50 + 1234.56 + 999.99 + 4000 = 9735.05
    # forecast:   350.05 + 308.64 + 500.00 + 3000.00 = 4158.69
    assert board["totals"] == {
        "open_count": 5,
        "open_value": 9735.05,
        "weighted_value": 4158.69,
        "won_count": 1,
        "won_value": 5000,
        "lost_count": 1,
        "lost_value": 300,
    }

    capped = client.get(
        f"/api/v1/pipelines/{pipeline['id']}/board", params={"limit_per_stage": 1}, headers=tenant.headers
    ).json()
    prospecting = next(s for s in capped["stages"] if s["name"] == "Prospecting")
    assert prospecting["count"] == 2 and [d["id"] for d in prospecting["deals"]] == [b]


def test_board_for_one_owner(client, tenant, make_tenant):
    colleague = make_tenant("Acme", role="agent")
    pipeline = default_pipeline(client, tenant)
    client.post("/api/v1/deals", json={"title": "Mine", "value": 100}, headers=tenant.headers)
    client.post("/api/v1/deals", json={"title": "Theirs", "value": 40}, headers=colleague.headers)
    board = client.get(
        f"/api/v1/pipelines/{pipeline['id']}/board",
        params={"owner_id": colleague.user_id},
        headers=tenant.headers,
    ).json()
    assert board["totals"]["open_value"] == 40 and board["totals"]["open_count"] == 1
    # weighted: 40 x 10 % = 4
    assert board["totals"]["weighted_value"] == 4


def test_viewers_read_but_do_not_write_deals(client, tenant, make_tenant):
    viewer = make_tenant("Acme", role="viewer")
    agent = make_tenant("Acme", role="agent")
    deal = client.post("/api/v1/deals", json={"title": "Read me"}, headers=agent.headers).json()
    assert client.get(f"/api/v1/deals/{deal['id']}", headers=viewer.headers).status_code == 200
    assert client.post("/api/v1/deals", json={"title": "No"}, headers=viewer.headers).status_code == 403
    assert (
        client.patch(f"/api/v1/deals/{deal['id']}", json={"title": "No"}, headers=viewer.headers).status_code
        == 403
    )
    # agents write but do not delete
    assert client.delete(f"/api/v1/deals/{deal['id']}", headers=agent.headers).status_code == 403
    assert client.delete(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).status_code == 404
