"""The segment builder's live count in a real headless Chromium: the count follows each change of a condition
without a page load, and a condition the language refuses is marked on its row."""

from __future__ import annotations

import pytest

from tests.web.test_browser import _sign_in, live_app, page  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_live_count_follows_the_conditions(live_app, page):  # noqa: F811
    from playwright.sync_api import expect

    _sign_in(page, live_app)
    page.goto(live_app.base_url + "/segments/new")
    count = page.get_by_test_id("segment-count")
    expect(count).to_have_text("—")

    page.fill("#f-field-0", "created_at")
    # only the operators a date takes are offered
    expect(page.locator("#f-op-0 option:not([disabled])")).to_have_count(4)
    page.select_option("#f-op-0", "within_days")
    page.fill("#f-value-0", "1")
    expect(count).to_have_text("3")  # the three customers seeded a moment ago
    expect(page.locator("#segment-preview")).to_contain_text("Maria Keller")

    page.fill("#f-value-0", "0")  # created within the last 0 days: nobody
    expect(count).to_have_text("0")

    page.fill("#f-field-0", "shoe_size")
    expect(page.locator("[data-row] .live-error")).to_contain_text("unknown field")
    expect(count).to_have_text("—")
    assert page.url.endswith("/segments/new")  # all of it without leaving the page
    assert page.console_errors == []
