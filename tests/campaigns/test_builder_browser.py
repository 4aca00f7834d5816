"""The builder's live audience count in real Chromium: typing a tag filter asks the count API and shows
the total and the reachable customers, and they change as the filter does."""

from __future__ import annotations

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from tests.web.test_browser import _sign_in, live_app, page  # noqa: F401

pytestmark = pytest.mark.browser

#: customers tagged ``harbour`` (with or without an e-mail consent) and ``harbour, de``
PLANTED = [("Ines", ["harbour"], True), ("Omar", ["harbour"], True), ("Lea", ["harbour"], False),
           ("Tom", ["harbour", "dockside"], True)]  # fmt: skip


def _plant(running) -> None:
    with session_scope(running.factory) as session:
        session.info["actor"] = Actor(org_id=running.org_id, label="browser-test")
        for first, tags, consented in PLANTED:
            customer = customers_service.create_customer(session, org_id=running.org_id, data={
                "first_name": first, "last_name": "Builder", "email": f"{first.lower()}@harbour.example",
                "tags": tags})  # fmt: skip
            if consented:
                customers_service.do_record_consent(session, org_id=running.org_id, customer_id=customer.id,
                                                    channel="email", granted=True, source="web_form")  # fmt: skip


def test_typing_a_filter_in_the_builder_updates_the_audience_count(live_app, page):  # noqa: F811
    from playwright.sync_api import expect

    _plant(live_app)
    _sign_in(page, live_app)
    page.goto(live_app.base_url + "/campaigns/new")
    live = page.get_by_test_id("audience-live")
    expect(live).to_have_attribute("data-total", "7")  # everyone: the three seeded customers and four planted
    page.select_option("select[name='audience.kind']", "filter")
    page.locator("input[name='audience.filter.tags']").press_sequentially("harbour")
    expect(live).to_have_text("4 in the audience, 3 reachable on the chosen channels.")
    page.locator("input[name='audience.filter.tags']").press_sequentially(", dockside")
    expect(live).to_have_text("1 in the audience, 1 reachable on the chosen channels.")
    page.locator("input[name='channels'][value='email']").uncheck()
    expect(live).to_have_text("Choose at least one channel to count who can be reached.")
    assert page.console_errors == []
