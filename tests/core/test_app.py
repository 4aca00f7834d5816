"""Application-level behaviour: readiness, and an OpenAPI document that describes everything."""


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_lists_every_route_with_a_summary(client):
    spec = client.get("/api/v1/openapi.json").json()
    missing = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method, op in ops.items()
               if not op.get("summary")]
    assert missing == []


def test_openapi_describes_every_field(client):
    spec = client.get("/api/v1/openapi.json").json()
    undescribed = [f"{name}.{prop}" for name, schema in spec["components"]["schemas"].items()
                   for prop, body in schema.get("properties", {}).items() if not body.get("description")]
    assert undescribed == []
