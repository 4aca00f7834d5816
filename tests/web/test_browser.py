"""The web app in a real headless Chromium (Debian's package), driven by Playwright.

The app runs under uvicorn in a background thread on a free local port with its own SQLite database.
Without /usr/bin/chromium the tests are skipped with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn

from patron.accounts import service as accounts_service
from patron.app import create_app
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.sales import service as sales_service
from patron.tickets import service as tickets_service

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EMAIL, PASSWORD = "dana@northwind.example", "browser-test-pw"
TIMEOUT_MS = 20_000
#: loading a page: the app and the browser share two cores with the other test worker
NAVIGATION_TIMEOUT_MS = 60_000


@dataclass
class LiveApp:
    base_url: str
    org_id: int
    factory: object
    maria_id: int
    deal_id: int


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` under uvicorn in a background thread on a port the kernel picks (no race for a port
    found free beforehand); yields its base URL once the app has started."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="live-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _thread_stacks() -> str:
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return "\n".join(f"--- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame))
                     for ident, frame in sys._current_frames().items())  # fmt: skip


def goto(page, url: str):
    """``page.goto`` with the navigation timeout; when the page does not load, the failure shows what each
    thread of this process (the app's among them) was doing."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.goto(url, timeout=NAVIGATION_TIMEOUT_MS)
    except PlaywrightTimeout as exc:
        pytest.fail(f"{url} did not load: {exc}\nthreads of the test process:\n{_thread_stacks()}", pytrace=False)


def _seed(factory) -> dict:
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="browser-test")
        org = accounts_service.create_organisation(session, name="Northwind")
        admin = accounts_service.create_user(
            session, org_id=org.id, email=EMAIL, password=PASSWORD, role="admin", full_name="Dana Whitfield"
        )
        session.info["actor"] = Actor(org_id=org.id, user_id=admin.id, label=admin.email)
        ids = {}
        for first, last, email in (
            ("Maria", "Keller", "maria@example.com"),
            ("Jonas", "Weber", "jonas@example.com"),
            ("Aylin", "Demir", "aylin@example.com"),
        ):
            customer = customers_service.create_customer(
                session,
                org_id=org.id,
                actor_user_id=admin.id,
                data={"first_name": first, "last_name": last, "email": email},
            )
            ids[first] = customer.id
        deal = sales_service.create_deal(
            session,
            org_id=org.id,
            actor_user_id=admin.id,
            data={"title": "Company account", "customer_id": ids["Maria"], "value": Decimal(18000)},
        )
        return {"org_id": org.id, "maria_id": ids["Maria"], "deal_id": deal.id}


@pytest.fixture(scope="module")
def live_app(tmp_path_factory) -> Iterator[LiveApp]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("browser"), scheduler=False))
    with serve(app) as base_url:
        seeded = _seed(app.state.sessionmaker)
        yield LiveApp(base_url, seeded["org_id"], app.state.sessionmaker, seeded["maria_id"], seeded["deal_id"])


@pytest.fixture
def page(live_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.console_errors = errors
        yield page
        browser.close()


def _sign_in(page, live_app: LiveApp) -> None:
    goto(page, live_app.base_url + "/")
    assert page.url.startswith(live_app.base_url + "/login")
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(live_app.base_url + "/")


def test_sign_in_find_a_customer_and_open_a_ticket_from_the_360_page(live_app, page):
    from playwright.sync_api import expect

    _sign_in(page, live_app)
    expect(page.locator("h1")).to_contain_text("Good to see you, Dana")

    # search from the top bar
    page.fill("header input[name=q]", "Keller")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/customers?q=Keller")
    results = page.locator("[data-testid=customer-results]")
    expect(results).to_contain_text("Maria Keller")
    expect(results).not_to_contain_text("Jonas Weber")

    # the 360 page
    results.get_by_role("link", name="Maria Keller").click()
    page.wait_for_url(f"**/customers/{live_app.maria_id}")
    expect(page.get_by_test_id("customer-name")).to_have_text("Maria Keller")
    expect(page.locator("#consents")).to_contain_text("E-mail")
    expect(page.get_by_test_id("timeline")).to_contain_text("Customer created: Maria Keller")

    # open a ticket from it
    page.click("#new-ticket summary")
    form = page.get_by_test_id("ticket-form")
    form.locator("#f-subject").fill("Driver could not find the pick-up point")
    form.locator("#f-priority").select_option("high")
    form.locator("#f-kind").select_option("complaint")
    form.locator("#f-description").fill("Waited ten minutes at the wrong entrance.")
    form.get_by_role("button", name="Create ticket").click()
    page.wait_for_url(f"**/customers/{live_app.maria_id}#tickets")
    expect(page.locator("[data-flash]")).to_contain_text("opened and acknowledged")
    expect(page.get_by_test_id("customer-tickets")).to_contain_text("Driver could not find the pick-up point")
    expect(page.get_by_test_id("timeline")).to_contain_text("Complaint #1 opened")

    # and it is in the queue, with its SLA clock running
    page.get_by_role("link", name="Tickets", exact=True).click()
    page.wait_for_url("**/tickets")
    queue = page.get_by_test_id("ticket-queue")
    expect(queue).to_contain_text("Driver could not find the pick-up point")
    expect(queue.locator("[data-sla]").first).to_have_attribute("data-sla", "ok")

    with session_scope(live_app.factory) as session:
        tickets, total = tickets_service.list_tickets(session, org_id=live_app.org_id)
        assert total == 1
        assert (tickets[0].priority, tickets[0].kind, tickets[0].acknowledged_at is not None) == (
            "high",
            "complaint",
            True,
        )
    assert page.console_errors == []


def test_drag_a_deal_to_another_stage(live_app, page):
    from playwright.sync_api import expect

    _sign_in(page, live_app)
    goto(page, live_app.base_url + "/pipeline")
    card = page.get_by_test_id(f"deal-{live_app.deal_id}")
    target = page.locator("[data-stage-name=Proposal] .stage-cards")
    expect(card).to_be_visible()
    card.drag_to(target)
    expect(page.locator("[data-board-status]")).to_contain_text("to Proposal")
    expect(page.locator("[data-stage-name=Proposal]")).to_contain_text("Company account")
    expect(page.locator("[data-stage-name=Proposal] [data-show=total]")).to_have_text("€18,000")

    page.reload()  # the move was saved on the server (fetch with the session cookie and the CSRF header)
    expect(page.locator("[data-stage-name=Proposal]")).to_contain_text("Company account")
    with session_scope(live_app.factory) as session:
        deal = sales_service.get_deal_or_raise(session, org_id=live_app.org_id, deal_id=live_app.deal_id)
        stage = sales_service.get_stage_or_raise(session, org_id=live_app.org_id, stage_id=deal.stage_id)
        assert stage.name == "Proposal"
    assert page.console_errors == []
