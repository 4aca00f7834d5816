"""Every error is application/problem+json naming what is wrong."""


def test_malformed_json_is_400_problem(client, tenant):
    response = client.post("/api/v1/users", content=b'{"email": ', headers={**tenant.headers,
                                                                          "content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "malformed_json"


def test_wrong_type_names_the_field(client, tenant):
    response = client.post("/api/v1/users", json={"email": "a@b.example", "password": 12345678901, "role": "agent"},
                           headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "password"


def test_unknown_field_is_rejected(client, tenant):
    response = client.post("/api/v1/users", json={"email": "a@b.example", "password": "long enough", "admin": True},
                           headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "admin"


def test_oversize_body_is_413(client, tenant):
    response = client.post("/api/v1/users", content=b"x" * (3 * 1024 * 1024),
                           headers={**tenant.headers, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["field"] == "body"


def test_unknown_route_is_404_problem(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
