"""Small request helpers shared by the sales tests."""

from __future__ import annotations


def default_pipeline(client, tenant) -> dict:
    response = client.get("/api/v1/pipelines", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return next(p for p in response.json() if p["is_default"])


def stage_ids(pipeline: dict) -> dict[str, int]:
    return {stage["name"]: stage["id"] for stage in pipeline["stages"]}
