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


def test_id_beyond_the_column_range_is_422_not_500(client, tenant):
    # PostgreSQL integers stop at 2**31-1; a larger id must be a clear client error on both backends.
    response = client.get(f"/api/v1/customers/{10**12}", headers=tenant.headers)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
