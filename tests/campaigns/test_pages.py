"""Campaign pages: the builder (CSRF, errors next to the field), a campaign's audience count and preview,
launching from the page, the results funnel and the calendar."""

from __future__ import annotations

from sqlalchemy import func, select

from patron.campaigns.models import Campaign
from tests.web.conftest import Browser, sign_in

from .conftest import launch

FORM = {
    "name": "Autumn", "kind": "one_off", "channels": ["email"], "audience.kind": "all", "holdout_percent": "20",
    "timezone": "Europe/Berlin", "conversion.kind": "order", "conversion.window_hours": "48", "cost": "0.02",
    "variants[0].name": "A", "variants[0].subject": "Hi {{ first_name }}", "variants[0].body": "Hello {{ first_name }}!",
    "variants[1].name": "B", "variants[1].subject": "Psst {{ first_name }}", "variants[1].body": "{{ first_name }}, look.",
}  # fmt: skip


def _campaigns(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Campaign))


def test_the_builder_saves_a_draft_and_its_page_counts_and_previews(browser, db, tenant, make_customer):
    make_customer(tenant, consents=("email",), first_name="Grace")
    make_customer(tenant, first_name="Alan")
    assert browser.get("/campaigns/new").status_code == 200
    response = browser.post("/campaigns/new", FORM)
    assert response.status_code == 303, response.text
    page = browser.get(response.headers["location"])
    assert page.status_code == 200
    assert (
        'data-testid="audience-total">2<' in page.text and 'data-testid="audience-reachable">1<' in page.text
    )
    assert "Hello Grace!" in page.text or "Grace, look." in page.text
    campaign_id = int(response.headers["location"].rsplit("/", 1)[1])
    with db() as session:
        stored = session.get(Campaign, campaign_id)
        assert (stored.holdout_percent, stored.costs, stored.conversion["window_hours"]) == (
            20,
            {"email": "0.0200"},
            48,
        )


def test_a_template_escape_is_shown_next_to_its_field_and_nothing_is_saved(browser, db):
    response = browser.post("/campaigns/new", {**FORM, "variants[1].body": "{{ ''.__class__ }}"})
    assert response.status_code == 422
    assert 'id="variants[1].body-error"' in response.text and "unsafe" in response.text
    assert _campaigns(db) == 0


def test_the_builder_refuses_a_form_without_its_csrf_token(browser, db):
    assert browser.post("/campaigns/new", FORM, csrf=None).status_code == 403
    assert _campaigns(db) == 0


def test_launch_from_the_page_and_read_the_results_funnel(
    client, browser, db, tenant, make_customer, make_campaign
):
    for _ in range(4):
        make_customer(tenant, consents=("in_app",))
    campaign = make_campaign(tenant, channels=["in_app"], holdout_percent=25)
    response = browser.post(f"/campaigns/{campaign['id']}/launch", {})
    assert response.status_code == 303
    with db() as session:
        assert session.get(Campaign, campaign["id"]).status == "done"
    page = browser.get(f"/campaigns/{campaign['id']}/results")
    assert page.status_code == 200 and 'data-testid="funnel"' in page.text and "holdout" in page.text
    again = browser.post(f"/campaigns/{campaign['id']}/launch", {})
    assert again.status_code == 303  # refused with a message, nothing more sent


def test_the_calendar_shows_each_weekly_send_of_the_month(client, browser, tenant, make_campaign):
    campaign = make_campaign(tenant, name="Monday news", kind="recurring", timezone="Europe/Berlin",
                             recurrence={"every": "weekly", "time": "08:30", "weekday": 0})  # fmt: skip
    launch(client, tenant, campaign["id"])
    page = browser.get("/campaigns/calendar?month=2027-02")
    assert page.status_code == 200
    # February 2027 has four Mondays: the 1st, 8th, 15th and 22nd
    assert page.text.count("08:30 Monday news") == 4


def test_a_viewer_sees_campaigns_but_not_the_builder(client, make_tenant, make_campaign, tenant):
    make_campaign(tenant, name="Visible")
    viewer = make_tenant("Acme", role="viewer")
    seen = Browser(client, sign_in(client, viewer.email, viewer.password))
    listing = seen.get("/campaigns")
    assert listing.status_code == 200 and "Visible" in listing.text and "/campaigns/new" not in listing.text
    assert seen.get("/campaigns/new").status_code == 403
