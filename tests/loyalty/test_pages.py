"""The loyalty pages through the web app: the programme page and its forms (CSRF, errors next to the
field, nothing written on a bad form, read-only for a viewer), the customer's loyalty panel on the 360
page, and the customer's own page behind their personal link."""

from __future__ import annotations

from tests.web.conftest import sign_in


def post(client, path: str, csrf: str, **form):
    return client.post(path, data={"csrf_token": csrf, **form}, follow_redirects=False)


def test_programme_page_forms_write_and_show_errors_next_to_the_field(api, client, tenant):
    csrf = sign_in(client, tenant.email, tenant.password)
    page = client.get("/loyalty")
    assert page.status_code == 200 and 'href="/loyalty"' in page.text and "Earning off" in page.text
    saved = post(client, "/loyalty/settings", csrf, enabled="1", points_per_unit="2", expiry_months="24",
                 tier_basis="lifetime")  # fmt: skip
    assert saved.status_code == 303
    assert api.ok(api.get("/loyalty/programme"), 200) == {"enabled": True, "points_per_unit": 2.0,
                                                          "expiry_months": 24, "tier_basis": "lifetime"}  # fmt: skip
    assert post(client, "/loyalty/tiers", csrf, name="Gold", threshold="500", multiplier="2",
                benefits="Priority support").status_code == 303  # fmt: skip
    clash = post(client, "/loyalty/tiers", csrf, name="Platinum", threshold="500")
    assert clash.status_code == 422
    assert 'id="t-threshold-error"' in clash.text and "already starts at 500" in clash.text
    assert [t["name"] for t in api.ok(api.get("/loyalty/tiers"), 200)] == ["Gold"]
    bad_rule = post(
        client,
        "/loyalty/rules",
        csrf,
        kind="app_streak",
        name="Streak",
        points="10",
        streak_days="",
        min_amount="",
    )  # every field of the form, as a browser sends it
    assert bad_rule.status_code == 422 and 'id="r-days-error"' in bad_rule.text
    assert api.ok(api.get("/loyalty/earn-rules"), 200) == []
    assert (
        post(client, "/loyalty/rewards", csrf, name="Free ride", cost_points="300", stock="5").status_code
        == 303
    )
    assert (
        post(client, "/loyalty/campaigns", csrf, name="Spring", kind="percent", value="10").status_code == 303
    )
    campaign = api.ok(api.get("/loyalty/coupon-campaigns"), 200)[0]
    codes = post(client, f"/loyalty/campaigns/{campaign['id']}/codes", csrf, count="3")
    assert codes.status_code == 200 and codes.text.count("-") >= 6 and 'data-testid="new-codes"' in codes.text
    assert api.ok(api.get("/loyalty/coupon-campaigns"), 200)[0]["codes"] == 3
    assert post(client, "/loyalty/gifts", csrf, amount="25").status_code == 303
    assert (
        post(client, "/loyalty/promotions", csrf, name="Half", kind="percent", value="150").status_code == 422
    )
    assert (
        post(client, "/loyalty/promotions", csrf, name="Tenth", kind="percent", value="10").status_code == 303
    )
    page = client.get("/loyalty").text
    for shown in ("Gold", "Priority support", "Free ride", "Spring", "Tenth", "€25.00"):
        assert shown in page
    tenth = api.ok(api.get("/loyalty/promotions"), 200)[0]
    assert post(client, f"/loyalty/promotions/{tenth['id']}/active", csrf, active="0").status_code == 303
    assert api.ok(api.get("/loyalty/promotions"), 200)[0]["active"] is False
    assert "Switch on" in client.get("/loyalty").text
    assert post(client, f"/loyalty/coupons/{tenth['id']}/active", csrf, active="1").status_code == 404
    assert post(client, "/loyalty/promotions/999999/active", csrf, active="1").status_code == 404
    # a form without the CSRF token is refused and writes nothing
    assert client.post("/loyalty/tiers", data={"name": "Bronze", "threshold": "50"}).status_code == 403
    assert len(api.ok(api.get("/loyalty/tiers"), 200)) == 1


def test_a_viewer_sees_the_programme_but_cannot_change_it(api, client, make_tenant):
    api.ok(api.post("/loyalty/tiers", json={"name": "Silver", "threshold": 100}))
    viewer = make_tenant("Acme", role="viewer")
    csrf = sign_in(client, viewer.email, viewer.password)
    page = client.get("/loyalty")
    assert page.status_code == 200 and "Silver" in page.text and 'action="/loyalty/tiers"' not in page.text
    assert post(client, "/loyalty/tiers", csrf, name="Gold", threshold="500").status_code == 403
    assert post(client, "/loyalty/rules/1/active", csrf, active="0").status_code == 403


def test_customer_panel_and_the_customers_own_page(api, client, tenant, other_api):
    customer = api.customer(first_name="Ines")
    api.ok(api.post("/loyalty/tiers", json={"name": "Silver", "threshold": 100, "benefits": "Free delivery"}))
    api.ok(api.post("/loyalty/tiers", json={"name": "Gold", "threshold": 500}))
    api.ok(api.post(f"/customers/{customer}/points", json={"points": 180, "reason": "Welcome"}))
    api.ok(api.post(f"/customers/{customer}/points/redeem", json={"points": 30, "reason": "Coffee"}))
    made = api.ok(
        api.post("/loyalty/coupon-campaigns", json={"name": "Birthday", "kind": "amount", "value": "5"})
    )
    code = api.ok(
        api.post(f"/loyalty/coupon-campaigns/{made['id']}/codes", json={"customer_ids": [customer]})
    )
    sign_in(client, tenant.email, tenant.password)
    panel = (
        client.get(f"/customers/{customer}")
        .text.split('data-testid="loyalty-panel"', 1)[1]
        .split("</section>")[0]
    )
    # 180 earned - 30 spent = 150; Silver (100) -> Gold (500): 320 to go, (180 - 100) / 400 = 20 %
    assert "150" in panel and "Silver" in panel and "Gold in 320 points" in panel and 'value="20"' in panel
    assert code["codes"][0] in panel and "Coffee" in panel
    link = api.ok(api.post(f"/customers/{customer}/loyalty-link"))
    client.cookies.clear()
    own = client.get(link["url"])
    assert own.status_code == 200 and own.headers["cache-control"] == "no-store"
    assert 'data-testid="portal-balance">150<' in own.text and "Silver member" in own.text
    assert (
        "320 more points to Gold" in own.text and code["codes"][0] in own.text and "Free delivery" in own.text
    )
    assert 'data-testid="referral-code"' not in own.text  # no code issued yet
    referral = api.ok(api.post(f"/customers/{customer}/referral-code"))
    shown = client.get(link["url"]).text  # the contests section, filled in by the contests domain
    assert 'data-testid="portal-contests"' in shown
    assert f'data-testid="referral-code">{referral["code"]}<' in shown
    assert client.get(link["url"][:-2] + "xx").status_code == 404
    assert client.get("/loyalty/me/not-a-token").status_code == 404
    assert other_api.post(f"/customers/{customer}/loyalty-link").status_code == 404
