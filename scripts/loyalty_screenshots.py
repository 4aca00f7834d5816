"""Capture the loyalty programme's screenshots for docs/loyalty.md with Debian's headless Chromium.

Seeds an organisation with a programme (tiers, earn rules, rewards, a coupon campaign, promotions, a gift
certificate) and one customer with some history into a temporary SQLite database, serves the app on a free
local port and photographs the programme page and the customer's own loyalty page (on a phone).

    .venv/bin/python scripts/loyalty_screenshots.py     # writes docs/img/loyalty-programme.png,
                                                        # docs/img/loyalty-portal.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from patron.accounts import service as accounts_service
from patron.app import create_app
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope, utcnow
from patron.customers import service as customers_service
from patron.loyalty import coupons, gifts, portal, promotions, rewards
from patron.loyalty import programme as programme_service
from patron.loyalty import service as points_service
from patron.orders import service as orders_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EMAIL, PASSWORD = "lena@northwind.example", "northwind-demo"


def seed(factory) -> dict:
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="screenshots")
        org = accounts_service.create_organisation(session, name="Northwind Mobility")
        accounts_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role="admin",
                                     full_name="Lena Brandt")  # fmt: skip
        org_id = org.id
        programme_service.update_programme(session, org_id=org_id, changes={
            "enabled": True, "points_per_unit": Decimal("1"), "expiry_months": 24})  # fmt: skip
        programme_service.create_tier(session, org_id=org_id, name="Silver", threshold=500,
                                      multiplier=Decimal("1.25"), benefits="Free cancellation up to 5 minutes.")  # fmt: skip
        programme_service.create_tier(session, org_id=org_id, name="Gold", threshold=2000, multiplier=Decimal("1.5"),
                                      benefits="Priority pick-up and free cancellation at any time.")  # fmt: skip
        programme_service.create_rule(session, org_id=org_id, kind="survey_answered", name="Thanks for your view",
                                      points=25)  # fmt: skip
        programme_service.create_rule(session, org_id=org_id, kind="app_streak", name="Week streak", points=50,
                                      streak_days=7)  # fmt: skip
        programme_service.create_rule(
            session, org_id=org_id, kind="referral", name="Bring a friend", points=200
        )
        rewards.create_reward(
            session, org_id=org_id, name="Free ride (up to €15)", cost_points=600, stock=250
        )
        rewards.create_reward(session, org_id=org_id, name="Helmet", cost_points=2400, stock=12)
        rewards.create_reward(session, org_id=org_id, name="Coffee at partner cafés", cost_points=150)
        helmets = orders_service.create_category(session, org_id=org_id, name="Accessories")
        light = orders_service.create_product(session, org_id=org_id, sku="LIGHT", name="Bike light",
                                              price=Decimal("24.90"), category_id=helmets.id)  # fmt: skip
        promotions.create_promotion(session, org_id=org_id, name="3 for 2 on accessories", kind="three_for_two",
                                    category_ids=[helmets.id])  # fmt: skip
        promotions.create_promotion(session, org_id=org_id, name="Light with a 10-ride pass", kind="gift",
                                    gift_product_id=light.id, min_order_value=Decimal("50"))  # fmt: skip
        campaign = coupons.create_campaign(session, org_id=org_id, name="Welcome back", kind="percent",
                                           value=Decimal("15"), currency="EUR", min_order_value=Decimal("20"),
                                           expires_at=utcnow() + timedelta(days=60))  # fmt: skip
        customer = customers_service.create_customer(
            session, org_id=org_id, data={"first_name": "Maria", "last_name": "Keller"}
        )
        coupons.do_generate_codes(session, campaign=campaign, count=400)
        coupons.do_generate_codes(session, campaign=campaign, count=1, customer_ids=[customer.id])
        gifts.do_issue_certificate(session, org_id=org_id, amount=Decimal("50"), currency="EUR",
                                   customer_id=customer.id)  # fmt: skip
        now = utcnow()
        for days, points, reason in ((300, 420, "Order #1041"), (200, 380, "Order #1077"), (90, 250, "Order #1102"),
                                     (40, 200, "Referred a friend (Bring a friend)"), (10, 25, "Survey answered")):  # fmt: skip
            points_service.change_points(session, org_id=org_id, customer_id=customer.id, kind="earn", points=points,
                                         reason=reason, at=now - timedelta(days=days))  # fmt: skip
        points_service.change_points(session, org_id=org_id, customer_id=customer.id, kind="redeem", points=600,
                                     reason="Reward: Free ride (up to €15)", at=now - timedelta(days=5))  # fmt: skip
        token, _ = portal.create_link(session, org_id=org_id, customer_id=customer.id)
        return {"org_id": org_id, "customer_id": customer.id, "token": token}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "img", help="Where to write the PNG files."
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), scheduler=False))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise SystemExit("the app did not start")
            time.sleep(0.05)
        try:
            seeded = seed(app.state.sessionmaker)
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
                page.goto(f"{base}/loyalty")
                page.screenshot(path=str(args.out / "loyalty-programme.png"), full_page=True)
                print(f"wrote {args.out / 'loyalty-programme.png'}")
                phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
                phone.goto(f"{base}/loyalty/me/{seeded['token']}")
                phone.screenshot(path=str(args.out / "loyalty-portal.png"), full_page=True)
                print(f"wrote {args.out / 'loyalty-portal.png'}")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)


if __name__ == "__main__":
    main()
