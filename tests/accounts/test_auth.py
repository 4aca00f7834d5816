from tests.conftest import TEST_PASSWORD


def test_token_login_and_me(client, tenant):
    response = client.post("/api/v1/auth/token", data={"username": tenant.email, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["email"] == tenant.email
    assert me.json()["organisation"]["slug"] == "acme"
    assert "audit.read" in me.json()["permissions"]


def test_wrong_password_is_401_problem(client, tenant):
    response = client.post("/api/v1/auth/token", data={"username": tenant.email, "password": "nope-nope"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "username"


def test_no_token_is_401(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
