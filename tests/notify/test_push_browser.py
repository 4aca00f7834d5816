"""The push opt-in page in real Chromium: the page's script runs under the page's content security policy,
and "Don't allow" (or a browser that denies the permission) lands as a refusal in the consent ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from patron.app import create_app
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.notify import crypto
from patron.notify import service as notify_service
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, IN_CI, TIMEOUT_MS, goto, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path) -> Iterator[tuple[str, object, tuple[int, int], list[str]]]:
    """The app on a free port, an organisation with one customer, and two personal push links."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    keys = crypto.generate_vapid_keys()
    app = create_app(Settings(data_dir=tmp_path, scheduler=False, vapid_private_key=keys.private_key))
    with serve(app) as base_url:
        yield base_url, app.state.sessionmaker, *_seed(app.state.sessionmaker)


def _seed(factory) -> tuple[tuple[int, int], list[str]]:
    with session_scope(factory) as session:
        from patron.accounts import service as accounts_service

        session.info["actor"] = Actor(org_id=None, label="browser-test")
        org = accounts_service.create_organisation(session, name="Northwind")
        customer = customers_service.create_customer(session, org_id=org.id, data={"first_name": "Maria"})
        tokens = [notify_service.create_customer_link(session, org_id=org.id, customer_id=customer.id)[0]
                  for _ in range(2)]  # fmt: skip
        return (org.id, customer.id), tokens


def _ledger(factory, org_id: int, customer_id: int) -> list[tuple[str, bool, str]]:
    with session_scope(factory) as session:
        records, _ = customers_service.list_consent_history(session, org_id=org_id, customer_id=customer_id)
        return [(r.channel, r.granted, r.method) for r in records]


def test_dont_allow_and_a_denied_permission_are_recorded_as_refusals(live):
    from playwright.sync_api import expect, sync_playwright

    base, factory, (org_id, customer_id), (first, second) = live
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            response = goto(page, f"{base}/push/{first}")
            assert response is not None and response.status == 200
            expect(page.locator("h1")).to_contain_text("Hello Maria")
            page.get_by_test_id("push-refuse").click()
            expect(page.get_by_test_id("push-result")).to_have_text("Understood: we will not send you notifications.")
            assert _ledger(factory, org_id, customer_id) == [("push", False, "declined")]

            # "Allow" in a browser whose user denies the permission records a refusal too
            denied = browser.new_context()
            page2 = denied.new_page()
            page2.set_default_timeout(TIMEOUT_MS)
            page2.on("pageerror", lambda error: errors.append(str(error)))
            goto(page2, f"{base}/push/{second}")
            page2.evaluate("() => { Notification.requestPermission = async () => 'denied'; }")
            page2.get_by_test_id("push-allow").click()
            expect(page2.get_by_test_id("push-result")).to_have_text("Understood: we will not send you notifications.")
            assert _ledger(factory, org_id, customer_id) == [("push", False, "declined")] * 2
            assert errors == []
        finally:
            browser.close()
