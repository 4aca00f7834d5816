"""Bad input gets a problem+json naming the field, and nothing is written."""

from __future__ import annotations

import pytest

from patron.sales.models import Deal, Lead, Pipeline, PipelineStage, Task
from tests.sales.helpers import default_pipeline

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize("url", ["/api/v1/deals", "/api/v1/leads", "/api/v1/tasks", "/api/v1/pipelines"])
def test_malformed_json_is_400(client, tenant, url):
    response = client.post(
        url,
        content=b'{"title": "unterminated',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    body = assert_problem(response, 400, "body")
    assert body["code"] == "malformed_json"


BAD_DEALS = [
    ({"title": "X", "value": -1}, "value"),
    ({"title": "X", "value": "10.005"}, "value"),
    ({"title": "X", "value": "1000000000000.00"}, "value"),
    ({"title": "X", "value": "NaN"}, "value"),
    ({"title": "X", "value": "lots"}, "value"),
    ({"title": "X", "currency": "EURO"}, "currency"),
    ({"title": "X", "currency": "E1R"}, "currency"),
    ({"title": "X", "currency": ""}, "currency"),
    ({"title": "x" * 201}, "title"),
    ({"title": "   "}, "title"),
    ({}, "title"),
    ({"title": "X", "colour": "red"}, "colour"),
    ({"title": "X", "stage_id": "first"}, "stage_id"),
    ({"title": "X", "expected_close": "next week"}, "expected_close"),
    ({"title": ["X"]}, "title"),
]


@pytest.mark.parametrize(("body", "field"), BAD_DEALS)
def test_bad_deal_input(client, tenant, count_rows, body, field):
    assert_problem(client.post("/api/v1/deals", json=body, headers=tenant.headers), 422, field)
    assert count_rows(Deal, org_id=tenant.org_id) == 0


def test_bad_deal_changes_and_moves_leave_the_deal_alone(client, tenant):
    deal = client.post("/api/v1/deals", json={"title": "Keep", "value": "5"}, headers=tenant.headers).json()
    url = f"/api/v1/deals/{deal['id']}"
    for body, field in (
        ({"value": -5}, "value"),
        ({"currency": "12"}, "currency"),
        ({"title": "y" * 201}, "title"),
        ({"status": "won"}, "status"),
        ({"stage_id": 1}, "stage_id"),
    ):
        assert_problem(client.patch(url, json=body, headers=tenant.headers), 422, field)
    assert_problem(client.post(f"{url}/move", json={}, headers=tenant.headers), 422, "stage_id")
    assert_problem(
        client.post(
            f"{url}/move",
            json={"stage_id": deal["stage_id"], "lost_reason": "z" * 301},
            headers=tenant.headers,
        ),
        422,
        "lost_reason",
    )
    assert client.get(url, headers=tenant.headers).json() == deal


BAD_LEADS = [
    ({"first_name": "A", "email": "not-an-address"}, "email"),
    ({"first_name": "A", "phone": "call me maybe"}, "phone"),
    ({"first_name": "a" * 101}, "first_name"),
    ({"company": "c" * 201}, "company"),
    ({"first_name": "A", "notes": "n" * 10_001}, "notes"),
    ({"first_name": "A", "status": "hot"}, "status"),
    ({"first_name": "A", "owner_id": 10**12}, "owner_id"),
    ({"first_name": "A", "budget": 5}, "budget"),
]


@pytest.mark.parametrize(("body", "field"), BAD_LEADS)
def test_bad_lead_input(client, tenant, count_rows, body, field):
    response = client.post("/api/v1/leads", json=body, headers=tenant.headers)
    assert_problem(response, 422, field)
    assert count_rows(Lead, org_id=tenant.org_id) == 0


BAD_TASKS = [
    ({"title": "T", "due_at": "2030-01-01T09:00:00"}, "due_at"),
    ({"title": "T", "remind_at": "tomorrow"}, "remind_at"),
    ({"title": "t" * 201}, "title"),
    ({"title": "T", "notes": "n" * 10_001}, "notes"),
    ({"title": "T", "done_at": "2030-01-01T09:00:00Z"}, "done_at"),
    ({"title": "T", "reminded_at": "2030-01-01T09:00:00Z"}, "reminded_at"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TASKS)
def test_bad_task_input(client, tenant, count_rows, body, field):
    assert_problem(client.post("/api/v1/tasks", json=body, headers=tenant.headers), 422, field)
    assert count_rows(Task, org_id=tenant.org_id) == 0


def test_bad_pipeline_and_stage_input(client, tenant, count_rows):
    pipeline = default_pipeline(client, tenant)
    too_many = [{"name": f"S{i}"} for i in range(29)] + [
        {"name": "W", "kind": "won", "probability": 100},
        {"name": "L", "kind": "lost"},
    ]
    for body, field in (
        ({"name": "p" * 121}, "name"),
        ({"name": ""}, "name"),
        ({"name": "P", "stages": [{"name": "A", "probability": 101}]}, "stages.0.probability"),
        ({"name": "P", "stages": [{"name": "A", "kind": "maybe"}]}, "stages.0.kind"),
        ({"name": "P", "stages": too_many}, "stages"),
    ):
        assert_problem(client.post("/api/v1/pipelines", json=body, headers=tenant.headers), 422, field)
    url = f"/api/v1/pipelines/{pipeline['id']}/stages"
    assert_problem(client.post(url, json={"name": "s" * 81}, headers=tenant.headers), 422, "name")
    assert_problem(
        client.post(url, json={"name": "S", "probability": -1}, headers=tenant.headers), 422, "probability"
    )
    assert_problem(
        client.post(url, json={"name": "S", "position": 0}, headers=tenant.headers), 422, "position"
    )
    assert_problem(
        client.post(f"{url}/order", json={"stage_ids": []}, headers=tenant.headers), 422, "stage_ids"
    )
    assert count_rows(Pipeline, org_id=tenant.org_id) == 1
    assert count_rows(PipelineStage, org_id=tenant.org_id) == 6


def test_bad_conversion_input(client, tenant, count_rows):
    lead = client.post("/api/v1/leads", json={"first_name": "Kim"}, headers=tenant.headers).json()
    url = f"/api/v1/leads/{lead['id']}/convert"
    assert_problem(
        client.post(url, json={"deal": {"title": "D", "value": -3}}, headers=tenant.headers),
        422,
        "deal.value",
    )
    assert_problem(client.post(url, json={"deal": {"value": 3}}, headers=tenant.headers), 422, "deal.title")
    assert_problem(client.post(url, json={"customer": 1}, headers=tenant.headers), 422, "customer")
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers).json()["status"] == "new"
    assert count_rows(Deal, org_id=tenant.org_id) == 0


def test_unknown_and_odd_ids(client, tenant):
    assert_problem(client.get("/api/v1/deals/abc", headers=tenant.headers), 422)
    for url in (
        "/api/v1/deals/987654",
        "/api/v1/leads/987654",
        "/api/v1/tasks/987654",
        "/api/v1/pipelines/987654/board",
    ):
        assert_problem(client.get(url, headers=tenant.headers), 404)
    # ids beyond 32 bits cannot exist: refused before any query
    assert_problem(client.get("/api/v1/deals/99999999999", headers=tenant.headers), 422, "deal_id")
    assert_problem(
        client.post("/api/v1/deals/0/move", json={"stage_id": 1}, headers=tenant.headers), 422, "deal_id"
    )
    assert_problem(
        client.post("/api/v1/deals", json={"title": "X", "customer_id": 10**12}, headers=tenant.headers),
        422,
        "customer_id",
    )
    assert_problem(
        client.post("/api/v1/tasks", json={"title": "X", "deal_id": 2**31}, headers=tenant.headers),
        422,
        "deal_id",
    )
    assert_problem(
        client.get("/api/v1/deals", params={"owner_id": 10**12}, headers=tenant.headers), 422, "owner_id"
    )
    assert_problem(client.get("/api/v1/deals", params={"q": "q" * 201}, headers=tenant.headers), 422, "q")
    assert_problem(client.get("/api/v1/tasks", params={"limit": 501}, headers=tenant.headers), 422, "limit")
