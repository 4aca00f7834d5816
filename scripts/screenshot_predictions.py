"""Photograph the predictions panel of a customer page for the docs (docs/img/customer-predictions.png).

Seeds the demo organisation (``patron.simulate.demo``) into a temporary SQLite database, runs the
predictive models over it, serves the app on a free local port and photographs the panel of a customer
who has orders and messages, with Debian's headless Chromium.

    .venv/bin/python scripts/screenshot_predictions.py [--customers 400] [--out docs/img]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from screenshots import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port
from sqlalchemy import select

from patron.app import create_app
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope
from patron.predictions import service as predictions_service
from patron.predictions.models import CustomerPrediction
from patron.simulate.demo import seed_demo

EMAIL, PASSWORD = "demo@patron.example", "patron-demo"


def pick_customer(factory, org_id: int) -> int:
    """A customer with a churn risk in the middle, a falling or rising sentiment and recommendations."""
    with factory() as session:
        rows = session.scalars(
            select(CustomerPrediction).where(
                CustomerPrediction.org_id == org_id,
                CustomerPrediction.churn_risk.between(0.3, 0.7),
                CustomerPrediction.sentiment_trend.in_(("falling", "rising")),
                CustomerPrediction.clv.is_not(None),
            )
        ).all()
    chosen = max(rows, key=lambda p: (len(p.sentiment_history or []), p.clv or 0))
    return chosen.customer_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400, help="Demo customers to seed.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="Where to write the PNG.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), scheduler=False))
        factory = app.state.sessionmaker
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("the app did not start")
            time.sleep(0.05)
        try:
            summary = seed_demo(factory, customers=args.customers)
            with session_scope(factory) as session:
                session.info["actor"] = Actor(org_id=summary.org_id, label="screenshots")
                predictions_service.run_predictions(session, org_id=summary.org_id)
            customer_id = pick_customer(factory, summary.org_id)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{base}/login")
                page.fill("#f-email", EMAIL)
                page.fill("#f-password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")
                page.goto(f"{base}/customers/{customer_id}")
                path = args.out / "customer-predictions.png"
                page.locator("#predictions").screenshot(path=str(path))
                print(f"wrote {path}")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)


if __name__ == "__main__":
    main()
