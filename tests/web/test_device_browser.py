"""The live device page in real Chromium: the telemetry chart draws from the API and follows new events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.devices import service as devices_service
from tests.web.test_browser import _sign_in, live_app, page  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def _device(running) -> tuple[str, int]:
    with session_scope(running.factory) as session:
        session.info["actor"] = Actor(org_id=running.org_id, label="browser-test")
        key, device = devices_service.create_device(
            session, org_id=running.org_id, type="vehicle", customer_id=running.maria_id, name="Taxi 7"
        )
        return key, device.id


def _send(running, key: str, events: list[dict]) -> None:
    response = httpx.post(running.base_url + "/ingest/v1/events", json=events,
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200 and not response.json()["rejected"], response.text


def test_device_page_draws_live_telemetry_and_updates_it(page, live_app):  # noqa: F811
    key, device_id = _device(live_app)
    now = datetime.now(UTC)
    _send(live_app, key, [
        {"id": f"s{i}", "type": "telemetry", "ts": (now - timedelta(minutes=40 - i)).isoformat(),
         "props": {"speed": 30 + i, "battery": 80 - i}}
        for i in range(30)
    ])
    _sign_in(page, live_app)
    page.goto(f"{live_app.base_url}/devices/{device_id}")
    chart = page.locator('#telemetry figure[data-metric="speed"]')
    chart.wait_for()
    assert page.locator('#telemetry figure[data-metric="battery"]').count() == 1
    assert chart.locator("polyline.spark-line").count() == 1
    assert chart.locator(".spark-value").inner_text() == "59.0"
    page.locator("[data-live-events] tbody tr").first.wait_for()
    assert page.locator("[data-live-events] tbody tr").count() == 15

    # a new reading arrives: the chart follows within a refresh (5 s) without reloading the page
    _send(live_app, key, [{"id": "s-new", "type": "telemetry", "props": {"speed": 88, "battery": 40}}])
    page.wait_for_function(
        "() => document.querySelector('#telemetry figure[data-metric=\"speed\"] .spark-value')"
        ".textContent !== '59.0'",
        timeout=20_000,
    )
    assert page.locator("[data-live-events] tbody tr").first.inner_text().find("telemetry") >= 0
    assert page.console_errors == []

    # the same chart on the customer's page
    page.goto(f"{live_app.base_url}/customers/{live_app.maria_id}")
    page.locator('#customer-telemetry figure[data-metric="speed"]').wait_for()
    assert page.console_errors == []
