"""Tenant isolation: another organisation's pipelines, stages, deals, leads and tasks answer 404."""

from __future__ import annotations

from tests.sales.helpers import default_pipeline, stage_ids


def arrange_other(client, other_tenant) -> dict:
    pipeline = default_pipeline(client, other_tenant)
    stages = stage_ids(pipeline)
    deal = client.post(
        "/api/v1/deals", json={"title": "Globex deal", "value": 99}, headers=other_tenant.headers
    )
    lead = client.post("/api/v1/leads", json={"company": "Globex lead"}, headers=other_tenant.headers)
    task = client.post("/api/v1/tasks", json={"title": "Globex task"}, headers=other_tenant.headers)
    for response in (deal, lead, task):
        assert response.status_code == 201, response.text
    return {
        "pipeline": pipeline,
        "stages": stages,
        "deal": deal.json(),
        "lead": lead.json(),
        "task": task.json(),
    }


def test_another_organisations_records_are_not_found(client, tenant, other_tenant):
    theirs = arrange_other(client, other_tenant)
    deal, lead, task, pipeline = theirs["deal"], theirs["lead"], theirs["task"], theirs["pipeline"]
    stage = theirs["stages"]["Proposal"]
    attempts = [
        ("get", f"/api/v1/deals/{deal['id']}", None),
        ("patch", f"/api/v1/deals/{deal['id']}", {"title": "Mine now"}),
        ("delete", f"/api/v1/deals/{deal['id']}", None),
        ("post", f"/api/v1/deals/{deal['id']}/move", {"stage_id": stage}),
        ("get", f"/api/v1/leads/{lead['id']}", None),
        ("patch", f"/api/v1/leads/{lead['id']}", {"company": "Mine now"}),
        ("delete", f"/api/v1/leads/{lead['id']}", None),
        ("post", f"/api/v1/leads/{lead['id']}/convert", {}),
        ("get", f"/api/v1/tasks/{task['id']}", None),
        ("patch", f"/api/v1/tasks/{task['id']}", {"title": "Mine now"}),
        ("delete", f"/api/v1/tasks/{task['id']}", None),
        ("post", f"/api/v1/tasks/{task['id']}/complete", None),
        ("get", f"/api/v1/pipelines/{pipeline['id']}/board", None),
        ("patch", f"/api/v1/pipelines/{pipeline['id']}", {"name": "Mine now"}),
        ("delete", f"/api/v1/pipelines/{pipeline['id']}", None),
        ("post", f"/api/v1/pipelines/{pipeline['id']}/stages", {"name": "Sneaky"}),
        (
            "post",
            f"/api/v1/pipelines/{pipeline['id']}/stages/order",
            {"stage_ids": [s["id"] for s in pipeline["stages"]]},
        ),
        ("patch", f"/api/v1/stages/{stage}", {"name": "Mine now"}),
        ("delete", f"/api/v1/stages/{stage}", None),
    ]
    for method, url, body in attempts:
        kwargs = {"headers": tenant.headers}
        if body is not None:
            kwargs["json"] = body
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")

    # nothing changed on their side
    assert client.get(f"/api/v1/deals/{deal['id']}", headers=other_tenant.headers).json() == deal
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=other_tenant.headers).json() == lead
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=other_tenant.headers).json()["done"] is False
    assert default_pipeline(client, other_tenant) == pipeline


def test_lists_and_boards_show_only_own_records(client, tenant, other_tenant):
    arrange_other(client, other_tenant)
    for url in ("/api/v1/deals", "/api/v1/leads", "/api/v1/tasks"):
        body = client.get(url, headers=tenant.headers).json()
        assert (body["items"], body["total"]) == ([], 0), url
    ours = default_pipeline(client, tenant)
    assert [p["id"] for p in client.get("/api/v1/pipelines", headers=tenant.headers).json()] == [ours["id"]]
    board = client.get(f"/api/v1/pipelines/{ours['id']}/board", headers=tenant.headers).json()
    assert board["totals"]["open_count"] == 0 and board["totals"]["open_value"] == 0
    rows = client.get("/api/v1/activity", headers=tenant.headers).json()["items"]
    assert [r["user_id"] for r in rows] == [tenant.user_id]


def test_own_deal_cannot_use_another_organisations_stage_or_pipeline(client, tenant, other_tenant):
    theirs = arrange_other(client, other_tenant)
    deal = client.post("/api/v1/deals", json={"title": "Ours"}, headers=tenant.headers).json()
    move = client.post(
        f"/api/v1/deals/{deal['id']}/move", json={"stage_id": theirs["stages"]["Won"]}, headers=tenant.headers
    )
    assert move.status_code == 404 and move.json()["field"] == "stage_id"
    assert client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).json()["status"] == "open"
    for body, field in (
        ({"stage_id": theirs["stages"]["Won"]}, "stage_id"),
        ({"pipeline_id": theirs["pipeline"]["id"]}, "pipeline_id"),
    ):
        response = client.post("/api/v1/deals", json={"title": "X", **body}, headers=tenant.headers)
        assert response.status_code == 404 and response.json()["field"] == field
    lead = client.post("/api/v1/leads", json={"company": "Ours"}, headers=tenant.headers).json()
    convert = client.post(
        f"/api/v1/leads/{lead['id']}/convert",
        json={"deal": {"title": "X", "pipeline_id": theirs["pipeline"]["id"]}},
        headers=tenant.headers,
    )
    assert convert.status_code == 404 and convert.json()["field"] == "deal.pipeline_id"
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers).json()["status"] == "new"


def test_deleting_a_stage_into_another_organisations_stage_is_not_found(client, tenant, other_tenant):
    theirs = arrange_other(client, other_tenant)
    ours = stage_ids(default_pipeline(client, tenant))
    deal = client.post(
        "/api/v1/deals", json={"title": "Ours", "stage_id": ours["Proposal"]}, headers=tenant.headers
    ).json()
    response = client.delete(
        f"/api/v1/stages/{ours['Proposal']}",
        params={"move_to_stage_id": theirs["stages"]["Proposal"]},
        headers=tenant.headers,
    )
    assert response.status_code == 404 and response.json()["field"] == "move_to_stage_id"
    assert (
        client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).json()["stage_id"]
        == ours["Proposal"]
    )
    assert "Proposal" in stage_ids(default_pipeline(client, tenant))
