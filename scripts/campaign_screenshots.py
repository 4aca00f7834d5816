"""Capture the campaign pages for docs/engagement.md with Debian's headless Chromium.

Seeds an organisation with 600 customers (most consented to in-app messages), a product catalogue and
their orders, launches an A/B campaign with a hold-out that was sent four days ago, plants orders after
it (variant B converting best), and photographs the builder, a campaign's page with its audience count
and preview, the results funnel and the calendar.

    .venv/bin/python scripts/campaign_screenshots.py      # writes docs/img/campaign-*.png
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from patron.accounts import service as accounts_service
from patron.app import create_app
from patron.campaigns import sending
from patron.campaigns import service as campaigns_service
from patron.campaigns.models import CampaignRecipient
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope, utcnow
from patron.customers import service as customers_service
from patron.notify.delivery import run_due
from patron.orders import catalogue
from patron.orders import service as orders_service

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
EMAIL, PASSWORD = "dana@northwind.example", "northwind-demo"
FIRST = ("Maria", "Jonas", "Aylin", "Lukas", "Sofia", "Noah", "Mia", "Elias", "Lea", "Paul", "Emma", "Ben")
LAST = ("Keller", "Schmidt", "Yilmaz", "Weber", "Nguyen", "Fischer", "Wagner", "Becker", "Hoffmann")
#: planted share of each group that orders within the window
RATES = {"A": 0.12, "B": 0.21, "holdout": 0.06}


def seed(app, settings) -> dict:
    factory = app.state.sessionmaker
    rng = random.Random(7)
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="screenshots")
        org = accounts_service.create_organisation(
            session, name="Northwind Mobility", timezone="Europe/Berlin"
        )
        accounts_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role="admin",
                                     full_name="Dana Whitfield")  # fmt: skip
        category = catalogue.create_category(session, org_id=org.id, name="Accessories")
        products = [catalogue.create_product(session, org_id=org.id, sku=sku, name=name, price=price,
                                             category_id=category.id)
                    for sku, name, price in (("MUG", "Travel mug", "12.00"), ("CAP", "Rain cap", "19.00"),
                                             ("LIGHT", "Bike light", "24.00"))]  # fmt: skip
        customers = []
        for i in range(600):
            customer = customers_service.create_customer(session, org_id=org.id, data={
                "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST), "email": f"c{i}@example.com"})  # fmt: skip
            customers.append(customer.id)
            if rng.random() < 0.85:
                customers_service.do_record_consent(session, org_id=org.id, customer_id=customer.id,
                                                    channel="in_app", granted=True, source="app")  # fmt: skip
            if i % 3 == 0:
                orders_service.create_order(session, org_id=org.id, customer_id=customer.id, channel="app",
                                            status="paid", ordered_at=utcnow() - timedelta(days=40),
                                            lines=[orders_service.LineInput(quantity=1, product_id=rng.choice(products).id)])  # fmt: skip
        org_id, product_ids = org.id, [p.id for p in products]
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        campaign = campaigns_service.create_campaign(session, org_id=org_id, values={
            "name": "Autumn accessories", "kind": "one_off", "channels": ["in_app"], "audience": {"kind": "all"},
            "holdout_percent": 15, "costs": {"in_app": "0.01"}, "budget": "50",
            "conversion": {"kind": "order", "window_hours": 72},
            "variants": [
                {"name": "A", "subject": "Autumn is here", "body": "Hi {{ first_name }}, 10% off accessories this week."},
                {"name": "B", "subject": "{{ first_name }}, picked for you",
                 "body": "{{ first_name }}, you have {{ points }} points. Picked for you: "
                         "{{ recommended_products | join(', ') }}."},
            ],
        })  # fmt: skip
        sending.do_launch_campaign(session, campaign=campaign, now=utcnow() - timedelta(days=4))
        campaign_id = campaign.id
        variants = {v.id: v.name for v in campaigns_service.list_variants(session, campaign=campaign)}
    run_due(factory, settings)
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        for recipient in session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        ):
            group = "holdout" if recipient.holdout else variants[recipient.variant_id]
            if rng.random() < RATES[group]:
                orders_service.create_order(session, org_id=org_id, customer_id=recipient.customer_id, channel="app",
                                            status="paid", ordered_at=recipient.assigned_at + timedelta(hours=rng.randint(1, 60)),
                                            lines=[orders_service.LineInput(quantity=1, product_id=rng.choice(product_ids))])  # fmt: skip
        weekly = campaigns_service.create_campaign(session, org_id=org_id, values={
            "name": "Monday ride pass", "kind": "recurring", "channels": ["in_app"], "audience": {"kind": "all"},
            "timezone": "Europe/Berlin", "recurrence": {"every": "weekly", "time": "08:30", "weekday": 0},
            "variants": [{"name": "A", "subject": "Your week", "body": "Good morning {{ first_name }}!"}]})  # fmt: skip
        sending.do_launch_campaign(session, campaign=weekly)
        campaigns_service.create_campaign(session, org_id=org_id, values={
            "name": "Shop Mitte nearby offer", "kind": "triggered", "channels": ["push", "in_app"],
            "audience": {"kind": "all"}, "trigger": {"name": "entered_shop_mitte", "cooldown_hours": 168},
            "variants": [{"name": "A", "subject": "{{ shop }} is round the corner",
                          "body": "{{ first_name }}, show this at {{ shop }} for a free coffee."}]})  # fmt: skip
    return {"campaign_id": campaign_id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "img", help="Where to write the PNG files."
    )
    parser.add_argument("--width", type=int, default=1440, help="Browser window width in pixels.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), scheduler=False)
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise SystemExit("the app did not start")
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            seeded = seed(app, settings)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": args.width, "height": 900})
                page.goto(f"{base}/login")
                page.fill("#f-email", EMAIL)
                page.fill("#f-password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")
                next_month = (utcnow().replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
                shots = {
                    "campaign-builder": "/campaigns/new",
                    "campaign": f"/campaigns/{seeded['campaign_id']}",
                    "campaign-results": f"/campaigns/{seeded['campaign_id']}/results",
                    "campaign-calendar": f"/campaigns/calendar?month={next_month}",
                }
                for name, path in shots.items():
                    page.goto(base + path)
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                    print(f"wrote {args.out / f'{name}.png'}")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)


if __name__ == "__main__":
    main()
