"""Signing in and out of the web app, the session cookie, CSRF protection and login redirects."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from patron.accounts.deps import SESSION_COOKIE
from patron.app import create_app
from patron.customers import service as customers_service
from tests.web.conftest import login_token, sign_in

MAIN_PAGES = [
    "/",
    "/customers",
    "/customers/new",
    "/tickets",
    "/pipeline",
    "/tasks",
    "/activity",
    "/notifications",
    "/admin/users",
    "/admin/api-keys",
    "/admin/audit",
]


def _cookie_header(response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie set")


def test_login_sets_an_httponly_samesite_session_cookie(client, tenant):
    response = client.post(
        "/login",
        data={
            "email": tenant.email,
            "password": tenant.password,
            "csrf_token": login_token(client),
            "next": "/tickets",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/tickets"
    cookie = _cookie_header(response, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie
    assert client.get("/tickets").status_code == 200


def test_the_session_cookie_is_secure_when_configured(settings, tenant):
    app = create_app(settings.model_copy(update={"secure_cookies": True}))
    with TestClient(app, base_url="https://testserver") as secure_client:
        response = secure_client.post(
            "/login",
            data={
                "email": tenant.email,
                "password": tenant.password,
                "csrf_token": login_token(secure_client),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "; secure" in _cookie_header(response, SESSION_COOKIE).lower()


def test_a_wrong_password_shows_the_form_again_without_a_session(client, tenant):
    response = client.post(
        "/login",
        data={"email": tenant.email, "password": "not-the-password", "csrf_token": login_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.text
    assert tenant.email in response.text  # the e-mail is kept in the form
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_own_token(client, tenant):
    login_token(client)
    response = client.post(
        "/login",
        data={"email": tenant.email, "password": tenant.password, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "expired" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_login_only_follows_local_next_paths(client, tenant, target):
    response = client.post(
        "/login",
        data={
            "email": tenant.email,
            "password": tenant.password,
            "csrf_token": login_token(client),
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("path", MAIN_PAGES + ["/customers/1", "/tickets/1"])
def test_pages_redirect_to_login_when_signed_out(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/login" if path == "/" else location.startswith("/login?next=")


def test_the_login_page_takes_you_back_after_signing_in(client, tenant):
    wanted = client.get("/customers?q=maria", follow_redirects=False).headers["location"]
    page = client.get(wanted)
    assert 'name="next" value="/customers?q=maria"' in page.text
    response = client.post(
        "/login",
        data={
            "email": tenant.email,
            "password": tenant.password,
            "csrf_token": login_token(client),
            "next": "/customers?q=maria",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/customers?q=maria"


def test_a_signed_out_form_post_goes_to_login_and_writes_nothing(client, tenant, read):
    response = client.post(
        "/customers/new", data={"first_name": "Eve", "csrf_token": "x"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert read(lambda s: customers_service.count_customers(s, org_id=tenant.org_id)) == 0


def test_logout_revokes_the_session_on_the_server(client, tenant):
    csrf = sign_in(client, tenant.email, tenant.password)
    secret = client.cookies.get(SESSION_COOKIE)
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, secret)  # a stolen copy of the cookie no longer works
    assert client.get("/customers", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token(client, tenant):
    sign_in(client, tenant.email, tenant.password)
    response = client.post("/logout", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/customers", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("token", [None, "", "csrf_wrong-token"])
def test_a_form_without_the_right_csrf_token_is_refused_and_writes_nothing(browser, tenant, read, token):
    response = browser.post("/customers/new", {"first_name": "Eve", "last_name": "Forged"}, csrf=token)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "did not come from Patron" in response.text
    assert read(lambda s: customers_service.count_customers(s, org_id=tenant.org_id)) == 0


def test_a_ticket_form_without_csrf_writes_nothing(browser, tenant, seed, read):
    from patron.tickets import service as tickets_service

    customer_id = seed.customer(tenant)
    response = browser.post(
        f"/customers/{customer_id}/tickets",
        {"subject": "Forged", "kind": "request", "priority": "low"},
        csrf=None,
    )
    assert response.status_code == 403
    count = read(lambda s: tickets_service.list_tickets(s, org_id=tenant.org_id)[1])
    assert count == 0


def test_api_calls_with_the_session_cookie_need_the_csrf_header(browser, tenant, seed, read):
    from patron.sales import service as sales_service

    deal_id = seed.deal(tenant)
    target = read(
        lambda s: [
            st.id
            for st in sales_service.list_stages(
                s,
                org_id=tenant.org_id,
                pipeline_id=sales_service.get_default_pipeline(s, org_id=tenant.org_id).id,
            )
        ][2]
    )
    refused = browser.client.post(f"/api/v1/deals/{deal_id}/move", json={"stage_id": target})
    assert refused.status_code == 403
    moved = browser.client.post(
        f"/api/v1/deals/{deal_id}/move", json={"stage_id": target}, headers={"X-CSRF-Token": browser.csrf}
    )
    assert moved.status_code == 200, moved.text
    assert (
        read(lambda s: sales_service.get_deal_or_raise(s, org_id=tenant.org_id, deal_id=deal_id).stage_id)
        == target
    )
