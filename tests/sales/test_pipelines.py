"""Pipelines and stages: the lazily created default, configuration and its rules."""

from __future__ import annotations

from patron.sales.models import Pipeline, PipelineStage
from tests.sales.helpers import default_pipeline, stage_ids


def test_default_pipeline_is_created_once_with_the_standard_stages(client, tenant, count_rows):
    first = client.get("/api/v1/pipelines", headers=tenant.headers)
    assert first.status_code == 200, first.text
    second = client.get("/api/v1/pipelines", headers=tenant.headers)
    assert first.json() == second.json()
    [pipeline] = first.json()
    assert pipeline["is_default"] is True
    stages = [(s["name"], s["probability"], s["kind"], s["position"]) for s in pipeline["stages"]]
    assert stages == [
        ("Prospecting", 10, "open", 1),
        ("Qualification", 25, "open", 2),
        ("Proposal", 50, "open", 3),
        ("Negotiation", 75, "open", 4),
        ("Won", 100, "won", 5),
        ("Lost", 0, "lost", 6),
    ]
    assert count_rows(Pipeline, org_id=tenant.org_id) == 1
    assert count_rows(PipelineStage, org_id=tenant.org_id) == 6


def test_each_organisation_gets_its_own_default(client, tenant, other_tenant):
    ours = default_pipeline(client, tenant)
    theirs = default_pipeline(client, other_tenant)
    assert ours["id"] != theirs["id"]
    assert not set(stage_ids(ours).values()) & set(stage_ids(theirs).values())


def test_create_pipeline_with_custom_stages_and_make_it_default(client, tenant):
    old_default = default_pipeline(client, tenant)
    body = {
        "name": "Renewals",
        "is_default": True,
        "stages": [
            {"name": "Due", "probability": 60},
            {"name": "Quoted", "probability": 80},
            {"name": "Renewed", "probability": 100, "kind": "won"},
            {"name": "Churned", "probability": 0, "kind": "lost"},
        ],
    }
    response = client.post("/api/v1/pipelines", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["is_default"] is True
    assert [(s["name"], s["position"]) for s in created["stages"]] == [
        ("Due", 1),
        ("Quoted", 2),
        ("Renewed", 3),
        ("Churned", 4),
    ]
    listed = client.get("/api/v1/pipelines", headers=tenant.headers).json()
    assert [p["id"] for p in listed] == [created["id"], old_default["id"]]
    assert [p["is_default"] for p in listed] == [True, False]


def test_first_pipeline_of_an_organisation_becomes_its_default(client, tenant):
    response = client.post("/api/v1/pipelines", json={"name": "Only"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert response.json()["is_default"] is True
    assert [p["name"] for p in client.get("/api/v1/pipelines", headers=tenant.headers).json()] == ["Only"]


def test_pipeline_without_stages_gets_the_standard_six(client, tenant):
    default_pipeline(client, tenant)
    response = client.post("/api/v1/pipelines", json={"name": "Partners"}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert [s["name"] for s in response.json()["stages"]] == [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Won",
        "Lost",
    ]
    assert response.json()["is_default"] is False


def test_stage_sets_must_have_exactly_one_won_and_one_lost(client, tenant, count_rows):
    default_pipeline(client, tenant)
    bad_sets = [
        [
            {"name": "A"},
            {"name": "W1", "kind": "won", "probability": 100},
            {"name": "W2", "kind": "won", "probability": 100},
            {"name": "L", "kind": "lost"},
        ],
        [{"name": "A"}, {"name": "W", "kind": "won", "probability": 100}],
        [{"name": "W", "kind": "won", "probability": 100}, {"name": "L", "kind": "lost"}],
        [{"name": "A"}, {"name": "W", "kind": "won", "probability": 90}, {"name": "L", "kind": "lost"}],
        [
            {"name": "A"},
            {"name": "a"},
            {"name": "W", "kind": "won", "probability": 100},
            {"name": "L", "kind": "lost"},
        ],
    ]
    for stages in bad_sets:
        response = client.post(
            "/api/v1/pipelines", json={"name": "Broken", "stages": stages}, headers=tenant.headers
        )
        assert response.status_code == 422, (stages, response.text)
        assert response.json()["field"] == "stages"
    assert count_rows(Pipeline, org_id=tenant.org_id) == 1
    assert count_rows(PipelineStage, org_id=tenant.org_id) == 6


def test_rename_pipeline_and_switch_default(client, tenant):
    default = default_pipeline(client, tenant)
    other = client.post("/api/v1/pipelines", json={"name": "Other"}, headers=tenant.headers).json()
    renamed = client.patch(
        f"/api/v1/pipelines/{other['id']}",
        json={"name": "Enterprise", "is_default": True},
        headers=tenant.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Enterprise" and renamed.json()["is_default"] is True
    assert default_pipeline(client, tenant)["id"] == other["id"]
    # the default cannot be unset directly, only replaced
    unset = client.patch(
        f"/api/v1/pipelines/{other['id']}", json={"is_default": False}, headers=tenant.headers
    )
    assert unset.status_code == 422
    assert default["id"] != other["id"]


def test_default_pipeline_and_pipeline_with_deals_cannot_be_deleted(client, tenant, count_rows):
    default = default_pipeline(client, tenant)
    response = client.delete(f"/api/v1/pipelines/{default['id']}", headers=tenant.headers)
    assert response.status_code == 409
    other = client.post("/api/v1/pipelines", json={"name": "Other"}, headers=tenant.headers).json()
    deal = client.post(
        "/api/v1/deals", json={"title": "Fleet", "pipeline_id": other["id"]}, headers=tenant.headers
    )
    assert deal.status_code == 201, deal.text
    response = client.delete(f"/api/v1/pipelines/{other['id']}", headers=tenant.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert client.delete(f"/api/v1/deals/{deal.json()['id']}", headers=tenant.headers).status_code == 204
    assert client.delete(f"/api/v1/pipelines/{other['id']}", headers=tenant.headers).status_code == 204
    assert count_rows(Pipeline, org_id=tenant.org_id) == 1
    assert count_rows(PipelineStage, org_id=tenant.org_id) == 6


def test_add_stage_goes_before_won_and_lost_or_at_a_position(client, tenant):
    pipeline = default_pipeline(client, tenant)
    response = client.post(
        f"/api/v1/pipelines/{pipeline['id']}/stages",
        json={"name": "Demo", "probability": 60},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["position"] == 5
    response = client.post(
        f"/api/v1/pipelines/{pipeline['id']}/stages",
        json={"name": "Lead in", "probability": 5, "position": 1},
        headers=tenant.headers,
    )
    assert response.status_code == 201
    names = [s["name"] for s in default_pipeline(client, tenant)["stages"]]
    assert names == [
        "Lead in",
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Demo",
        "Won",
        "Lost",
    ]
    positions = [s["position"] for s in default_pipeline(client, tenant)["stages"]]
    assert positions == list(range(1, 9))


def test_second_won_stage_and_duplicate_name_conflict(client, tenant):
    pipeline = default_pipeline(client, tenant)
    url = f"/api/v1/pipelines/{pipeline['id']}/stages"
    won = client.post(
        url, json={"name": "Won again", "probability": 100, "kind": "won"}, headers=tenant.headers
    )
    assert won.status_code == 409
    assert won.json()["field"] == "kind"
    dup = client.post(url, json={"name": "proposal"}, headers=tenant.headers)
    assert dup.status_code == 409
    assert dup.json()["field"] == "name"
    assert len(default_pipeline(client, tenant)["stages"]) == 6


def test_update_stage_name_and_probability(client, tenant):
    stages = stage_ids(default_pipeline(client, tenant))
    response = client.patch(
        f"/api/v1/stages/{stages['Proposal']}",
        json={"name": "Offer", "probability": 55},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Offer" and response.json()["probability"] == 55
    won = client.patch(f"/api/v1/stages/{stages['Won']}", json={"probability": 90}, headers=tenant.headers)
    assert won.status_code == 422
    assert won.json()["field"] == "probability"
    clash = client.patch(
        f"/api/v1/stages/{stages['Negotiation']}", json={"name": "Offer"}, headers=tenant.headers
    )
    assert clash.status_code == 409
    kind = client.patch(f"/api/v1/stages/{stages['Won']}", json={"kind": "open"}, headers=tenant.headers)
    assert kind.status_code == 422


def test_reorder_stages(client, tenant):
    pipeline = default_pipeline(client, tenant)
    ids = [s["id"] for s in pipeline["stages"]]
    new_order = [ids[1], ids[0], ids[3], ids[2], ids[4], ids[5]]
    response = client.post(
        f"/api/v1/pipelines/{pipeline['id']}/stages/order",
        json={"stage_ids": new_order},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert [s["id"] for s in response.json()] == new_order
    assert [s["id"] for s in default_pipeline(client, tenant)["stages"]] == new_order
    for bad in (new_order[:-1], new_order + [new_order[0]], new_order[:-1] + [999_999]):
        response = client.post(
            f"/api/v1/pipelines/{pipeline['id']}/stages/order",
            json={"stage_ids": bad},
            headers=tenant.headers,
        )
        assert response.status_code == 422
        assert response.json()["field"] == "stage_ids"
    assert [s["id"] for s in default_pipeline(client, tenant)["stages"]] == new_order


def test_delete_stage_rules(client, tenant, db):
    pipeline = default_pipeline(client, tenant)
    stages = stage_ids(pipeline)
    deal = client.post(
        "/api/v1/deals", json={"title": "Sensors", "stage_id": stages["Proposal"]}, headers=tenant.headers
    ).json()
    held = client.delete(f"/api/v1/stages/{stages['Proposal']}", headers=tenant.headers)
    assert held.status_code == 409
    assert held.json()["field"] == "move_to_stage_id"
    other = client.post("/api/v1/pipelines", json={"name": "Other"}, headers=tenant.headers).json()
    foreign_stage = other["stages"][0]["id"]
    wrong = client.delete(
        f"/api/v1/stages/{stages['Proposal']}?move_to_stage_id={foreign_stage}", headers=tenant.headers
    )
    assert wrong.status_code == 422
    for kind in ("Won", "Lost"):
        assert client.delete(f"/api/v1/stages/{stages[kind]}", headers=tenant.headers).status_code == 409
    moved = client.delete(
        f"/api/v1/stages/{stages['Proposal']}?move_to_stage_id={stages['Negotiation']}",
        headers=tenant.headers,
    )
    assert moved.status_code == 204
    assert (
        client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).json()["stage_id"]
        == stages["Negotiation"]
    )
    remaining = default_pipeline(client, tenant)["stages"]
    assert [s["name"] for s in remaining] == ["Prospecting", "Qualification", "Negotiation", "Won", "Lost"]
    assert [s["position"] for s in remaining] == [1, 2, 3, 4, 5]
    # an empty stage goes without more ado, but the last open stage stays
    assert client.delete(f"/api/v1/stages/{stages['Prospecting']}", headers=tenant.headers).status_code == 204
    assert (
        client.delete(f"/api/v1/stages/{stages['Qualification']}", headers=tenant.headers).status_code == 204
    )
    last = client.delete(
        f"/api/v1/stages/{stages['Negotiation']}?move_to_stage_id={stages['Won']}", headers=tenant.headers
    )
    assert last.status_code == 409


def test_deleting_a_stage_into_the_won_stage_closes_its_deals(client, tenant, db):
    stages = stage_ids(default_pipeline(client, tenant))
    deal = client.post(
        "/api/v1/deals",
        json={"title": "Meters", "stage_id": stages["Negotiation"], "value": "10"},
        headers=tenant.headers,
    ).json()
    response = client.delete(
        f"/api/v1/stages/{stages['Negotiation']}?move_to_stage_id={stages['Won']}", headers=tenant.headers
    )
    assert response.status_code == 204
    after = client.get(f"/api/v1/deals/{deal['id']}", headers=tenant.headers).json()
    assert after["status"] == "won" and after["closed_at"] is not None


def test_only_settings_managers_configure_pipelines(client, tenant, make_tenant):
    pipeline = default_pipeline(client, tenant)
    agent = make_tenant("Acme", role="agent")
    assert client.get("/api/v1/pipelines", headers=agent.headers).status_code == 200
    writes = [
        ("post", "/api/v1/pipelines", {"name": "Mine"}),
        ("patch", f"/api/v1/pipelines/{pipeline['id']}", {"name": "Mine"}),
        ("post", f"/api/v1/pipelines/{pipeline['id']}/stages", {"name": "Extra"}),
        ("patch", f"/api/v1/stages/{pipeline['stages'][0]['id']}", {"name": "Extra"}),
        (
            "post",
            f"/api/v1/pipelines/{pipeline['id']}/stages/order",
            {"stage_ids": [s["id"] for s in pipeline["stages"]]},
        ),
    ]
    for method, url, body in writes:
        response = getattr(client, method)(url, json=body, headers=agent.headers)
        assert response.status_code == 403, (url, response.text)
    assert (
        client.delete(f"/api/v1/stages/{pipeline['stages'][0]['id']}", headers=agent.headers).status_code
        == 403
    )
    assert default_pipeline(client, tenant) == pipeline
