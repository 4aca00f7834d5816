"""Admin pages: users and roles, API keys (shown once), the audit log."""

from __future__ import annotations

import re

from patron.accounts import service as accounts_service
from tests.conftest import TEST_PASSWORD
from tests.web.conftest import Browser, sign_in


def _user(read, tenant, email):
    return read(lambda s: accounts_service.get_user_by_email(s, email=email))


def test_create_a_user_change_the_role_and_deactivate(browser, tenant, read, client):
    response = browser.post(
        "/admin/users",
        {
            "email": "sam@acme.example",
            "full_name": "Sam Okafor",
            "role": "agent",
            "password": "long enough password",
        },
    )
    assert response.status_code == 303
    assert "Created sam@acme.example as agent." in browser.get("/admin/users").text
    sam = _user(read, tenant, "sam@acme.example")
    assert (sam.org_id, sam.role, sam.is_active) == (tenant.org_id, "agent", True)
    assert browser.post(f"/admin/users/{sam.id}/role", {"role": "manager"}).status_code == 303
    assert _user(read, tenant, "sam@acme.example").role == "manager"
    assert browser.post(f"/admin/users/{sam.id}/active", {"active": "0"}).status_code == 303
    assert not _user(read, tenant, "sam@acme.example").is_active
    assert "Deactivated" in browser.get("/admin/users").text


def test_user_form_errors_are_shown_next_to_the_fields(browser, tenant, read):
    short = browser.post("/admin/users", {"email": "x@acme.example", "role": "agent", "password": "short"})
    assert short.status_code == 422
    assert 'id="password-error"' in short.text and "at least 8 characters" in short.text
    taken = browser.post(
        "/admin/users", {"email": tenant.email, "role": "agent", "password": "long enough pw"}
    )
    assert taken.status_code == 422 and 'id="email-error"' in taken.text
    assert _user(read, tenant, "x@acme.example") is None


def test_an_admin_cannot_hand_out_the_owner_role(browser, tenant, read):
    response = browser.post(
        "/admin/users", {"email": "boss@acme.example", "role": "owner", "password": "long enough pw"}
    )
    assert response.status_code == 422
    assert _user(read, tenant, "boss@acme.example") is None


def test_you_cannot_deactivate_yourself(browser, tenant, read):
    response = browser.post(f"/admin/users/{tenant.user_id}/active", {"active": "0"})
    assert response.status_code == 303
    assert "You cannot deactivate yourself." in browser.get("/admin/users").text
    assert _user(read, tenant, tenant.email).is_active


def test_another_organisations_user_is_not_found(browser, other_tenant, read):
    assert browser.post(f"/admin/users/{other_tenant.user_id}/role", {"role": "viewer"}).status_code == 404
    assert browser.post(f"/admin/users/{other_tenant.user_id}/active", {"active": "0"}).status_code == 404
    them = _user(read, other_tenant, other_tenant.email)
    assert (them.role, them.is_active) == ("admin", True)


def test_an_api_key_is_shown_once_and_can_be_revoked(browser, tenant, client, read):
    response = browser.post("/admin/api-keys", {"name": "Billing sync", "role": "analyst"})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    secret = re.search(r'data-testid="new-key">([^<]+)<', response.text).group(1)
    assert secret.startswith("pak_")
    listing = browser.get("/admin/api-keys").text
    assert "Billing sync" in listing and secret not in listing
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})  # the key, not the cookie
    assert me.status_code == 200 and me.json()["role"] == "analyst"
    key_id = read(lambda s: accounts_service.list_api_keys(s, org_id=tenant.org_id)[0].id)
    assert browser.post(f"/admin/api-keys/{key_id}/revoke").status_code == 303
    assert "Revoked" in browser.get("/admin/api-keys").text
    client.cookies.clear()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_an_api_key_needs_a_name(browser, tenant, read):
    response = browser.post("/admin/api-keys", {"name": "", "role": "agent"})
    assert response.status_code == 422 and 'id="name-error"' in response.text
    assert read(lambda s: accounts_service.list_api_keys(s, org_id=tenant.org_id)) == []


def test_the_audit_log_pages_and_filters(browser, tenant, seed):
    for i in range(52):
        seed.customer(tenant, first_name=f"Audited{i}")
    first = browser.get("/admin/audit?entity=customers").text
    assert "1–50 of 52 entries" in first and 'rel="next"' in first
    second = browser.get("/admin/audit?entity=customers&offset=50").text
    assert "51–52 of 52 entries" in second and 'rel="prev"' in second
    assert "Nothing in the audit log matches." in browser.get("/admin/audit?entity=nothing-here").text


def test_a_manager_has_no_admin_pages(client, make_tenant):
    manager = make_tenant("Acme", role="manager")
    browser = Browser(client, sign_in(client, manager.email, TEST_PASSWORD))
    for path in ("/admin/users", "/admin/api-keys", "/admin/audit"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "You can&#39;t do that" in response.text or "You can't do that" in response.text
    assert browser.post("/admin/api-keys", {"name": "x", "role": "viewer"}).status_code == 403


def test_channel_policies_are_set_on_the_channels_page_and_errors_shown_next_to_the_field(browser, tenant, client):
    page = browser.get("/admin/channels")
    assert page.status_code == 200
    assert page.text.count("No limits") == 5  # every channel, none limited yet
    saved = browser.post("/admin/channels/push",
                         {"quiet_start": "21:00", "quiet_end": "08:00", "daily_cap": "1", "weekly_cap": ""})
    assert saved.status_code == 303
    page = browser.get("/admin/channels").text
    assert "Web Push: policy saved." in page and "Quiet 21:00–08:00" in page and "1 a day" in page
    api = client.get("/api/v1/channel-policies", headers=tenant.headers).json()
    assert [(p["channel"], p["quiet_start"], p["daily_cap"], p["weekly_cap"]) for p in api] == [
        ("push", "21:00", 1, None)
    ]
    wrong = browser.post("/admin/channels/push", {"quiet_start": "21:00", "quiet_end": "", "daily_cap": "-2"})
    assert wrong.status_code == 422
    assert 'id="push-daily_cap-error"' in wrong.text and "at least 0" in wrong.text
    assert wrong.text.count('id="f-push-daily_cap"') == 1 and 'id="f-email-daily_cap"' in wrong.text  # unique ids
    half = browser.post("/admin/channels/push", {"quiet_start": "21:00", "quiet_end": ""})
    assert half.status_code == 422 and "both quiet_start and quiet_end" in half.text
    # nothing half-written: the saved policy stands
    assert client.get("/api/v1/channel-policies", headers=tenant.headers).json()[0]["daily_cap"] == 1
