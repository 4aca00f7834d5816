"""Capture the web app's screenshots for the docs (docs/img/) with Debian's headless Chromium.

Seeds a small, demo-like organisation through the service functions into a temporary SQLite database,
serves the app on a free local port, signs in and photographs the customer 360° page, the pipeline
board, the live device page, a survey analysis report, a game's leaderboard and a drawn contest. ``--all`` also photographs every other main page
(handy when working on the CSS).

    .venv/bin/python scripts/screenshots.py            # writes docs/img/customer-360.png, pipeline.png,
                                                       # device-live.png, survey-report.png,
                                                       # segments-explorer.png
    .venv/bin/python scripts/screenshots.py --all --out /tmp/shots
"""

from __future__ import annotations

import argparse
import math
import socket
import tempfile
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from patron.accounts import service as accounts_service
from patron.app import create_app
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope, utcnow
from patron.customers import places as customer_places
from patron.customers import service as customers_service
from patron.interactions import service as interactions_service
from patron.sales import service as sales_service
from patron.tickets import service as tickets_service

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
EMAIL, PASSWORD = "dana@northwind.example", "northwind-demo"

PEOPLE = [
    # first, last, email, phone, birth year, gender, education, occupation, income, city, tags, lifestyle
    (
        "Maria",
        "Keller",
        "maria.keller@example.com",
        "+49 151 2345 6781",
        1986,
        "female",
        "master",
        "Architect",
        "upper_middle",
        "Berlin",
        ["vip", "commuter"],
        ["cyclist", "early riser"],
    ),
    (
        "Jonas",
        "Weber",
        "jonas.weber@example.com",
        "+49 160 555 0192",
        1992,
        "male",
        "bachelor",
        "Nurse",
        "middle",
        "Hamburg",
        ["night-shift"],
        ["night owl"],
    ),
    (
        "Aylin",
        "Demir",
        "aylin.demir@example.com",
        "+49 171 888 2231",
        1979,
        "female",
        "doctorate",
        "Surgeon",
        "high",
        "Munich",
        ["vip", "b2b"],
        ["frequent flyer"],
    ),
    (
        "Lukas",
        "Schmidt",
        "lukas.schmidt@example.com",
        "+49 152 111 7734",
        2001,
        "male",
        "secondary",
        "Student",
        "low",
        "Leipzig",
        ["student"],
        ["gamer", "cyclist"],
    ),
    (
        "Sofia",
        "Rossi",
        "sofia.rossi@example.com",
        "+49 176 404 1188",
        1995,
        "female",
        "bachelor",
        "Designer",
        "middle",
        "Berlin",
        ["commuter"],
        ["runner"],
    ),
    (
        "Noah",
        "Becker",
        "noah.becker@example.com",
        "+49 157 220 9910",
        1968,
        "male",
        "vocational",
        "Electrician",
        "lower_middle",
        "Cologne",
        ["b2b"],
        ["dog owner"],
    ),
    (
        "Emma",
        "Wagner",
        "emma.wagner@example.com",
        "+49 163 777 4455",
        1989,
        "female",
        "master",
        "Product manager",
        "upper_middle",
        "Frankfurt",
        ["vip"],
        ["traveller"],
    ),
    (
        "Ben",
        "Hoffmann",
        "ben.hoffmann@example.com",
        "+49 159 303 6622",
        1975,
        "male",
        "bachelor",
        "Teacher",
        "middle",
        "Stuttgart",
        [],
        ["parent"],
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(factory) -> dict:
    """A ride-hailing operator with staff, customers, places, consents, interactions, tickets and deals."""
    now = utcnow()
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="screenshots")
        org = accounts_service.create_organisation(
            session, name="Northwind Mobility", timezone="Europe/Berlin"
        )
        dana = accounts_service.create_user(
            session, org_id=org.id, email=EMAIL, password=PASSWORD, role="admin", full_name="Dana Whitfield"
        )
        sam = accounts_service.create_user(
            session,
            org_id=org.id,
            email="sam@northwind.example",
            password=PASSWORD,
            role="agent",
            full_name="Sam Okafor",
        )
        lena = accounts_service.create_user(
            session,
            org_id=org.id,
            email="lena@northwind.example",
            password=PASSWORD,
            role="manager",
            full_name="Lena Fischer",
        )
        session.info["actor"] = Actor(org_id=org.id, user_id=dana.id, label=dana.email)
        customers_service.create_attribute_definition(
            session, org_id=org.id, key="loyalty_tier", label="Loyalty tier", type="string"
        )
        customers_service.create_attribute_definition(
            session, org_id=org.id, key="rides_per_month", label="Rides per month", type="integer"
        )
        owners = [dana.id, sam.id, lena.id]
        customers = []
        for i, (first, last, email, phone, born, gender, edu, job, income, city, tags, life) in enumerate(
            PEOPLE
        ):
            customers.append(
                customers_service.create_customer(
                    session,
                    org_id=org.id,
                    actor_user_id=dana.id,
                    data={
                        "first_name": first,
                        "last_name": last,
                        "email": email,
                        "phone": phone,
                        "birth_year": born,
                        "gender": gender,
                        "education": edu,
                        "occupation": job,
                        "income_band": income,
                        "city": city,
                        "country": "DE",
                        "timezone": "Europe/Berlin",
                        "tags": tags,
                        "lifestyle_tags": life,
                        "owner_id": owners[i % 3],
                        "attributes": {
                            "loyalty_tier": ["gold", "silver", "bronze"][i % 3],
                            "rides_per_month": 30 - i * 3,
                        },
                    },
                )
            )
        maria = customers[0]
        for kind, value in (
            ("app_user", "nw-48213"),
            ("loyalty_card", "LC-0042-7781"),
            ("device", "phone-a1c9"),
        ):
            customers_service.create_identity(
                session, org_id=org.id, customer_id=maria.id, type=kind, value=value
            )
        for channel, granted in (
            ("email", True),
            ("sms", True),
            ("push", True),
            ("push", False),
            ("data_processing", True),
            ("phone", False),
        ):
            customers_service.do_record_consent(
                session,
                org_id=org.id,
                customer_id=maria.id,
                channel=channel,
                granted=granted,
                source="app",
                method="checkbox",
                actor_user_id=dana.id,
            )
        for label, lat, lon, address, visits in (
            ("Home", 52.5301, 13.4107, "Zionskirchstraße 12, 10119 Berlin", 42),
            ("Office", 52.5065, 13.3326, "Kurfürstendamm 21, 10719 Berlin", 31),
            ("Gym", 52.5145, 13.4521, "Warschauer Str. 70, 10243 Berlin", 9),
            ("Airport BER", 52.3667, 13.5033, "Willy-Brandt-Platz, 12529 Schönefeld", 4),
        ):
            place = customer_places.create_place(
                session,
                org_id=org.id,
                customer_id=maria.id,
                label=label,
                latitude=lat,
                longitude=lon,
                address=address,
            )
            for _ in range(visits):
                customer_places.do_record_visit(
                    session,
                    org_id=org.id,
                    customer_id=maria.id,
                    latitude=place.latitude,
                    longitude=place.longitude,
                )
        for days, kind, direction, subject, outcome in (
            (20, "call", "inbound", "Asked about the monthly ride pass", "pass explained"),
            (12, "email", "outbound", "Welcome to Northwind Gold", "opened"),
            (6, "chat", "inbound", "Driver could not find the pick-up point", "escalated to ticket"),
            (2, "meeting", "outbound", "Quarterly review of the company account", "proposal requested"),
        ):
            interactions_service.create_interaction(
                session,
                org_id=org.id,
                customer_id=maria.id,
                kind=kind,
                direction=direction,
                subject=subject,
                outcome=outcome,
                occurred_at=now - timedelta(days=days, hours=3),
                actor_user_id=sam.id,
            )
        for offset, customer, subject, kind, priority, assignee in (
            (
                timedelta(days=6),
                maria,
                "Driver could not find the pick-up point",
                "complaint",
                "high",
                sam.id,
            ),
            (
                timedelta(hours=5),
                maria,
                "Invoice for March shows two rides twice",
                "request",
                "normal",
                sam.id,
            ),
            (timedelta(hours=30), customers[1], "App crashes when adding a card", "incident", "urgent", None),
            (
                timedelta(hours=2),
                customers[2],
                "Company account: add three employees",
                "request",
                "low",
                lena.id,
            ),
            (
                timedelta(hours=3, minutes=10),
                customers[4],
                "Lost umbrella in the car",
                "question",
                "normal",
                dana.id,
            ),
        ):
            ticket = tickets_service.create_ticket(
                session,
                org_id=org.id,
                customer_id=customer.id,
                subject=subject,
                kind=kind,
                priority=priority,
                channel="app",
                assignee_id=assignee,
                actor_user_id=dana.id,
                now=now - offset,
            )
            if subject.startswith("Driver"):
                tickets_service.do_add_ticket_comment(
                    session,
                    ticket=ticket,
                    public=True,
                    author_id=sam.id,
                    now=now - offset + timedelta(minutes=40),
                    body="Sorry about that, Maria. We saved your building's side entrance as the pick-up point.",
                )
                tickets_service.do_change_ticket_status(
                    session,
                    ticket=ticket,
                    status="resolved",
                    actor_user_id=sam.id,
                    now=now - timedelta(days=5),
                )
                tickets_service.do_close_ticket(
                    session,
                    ticket=ticket,
                    satisfaction=5,
                    comment="Quick and kind.",
                    actor_user_id=sam.id,
                    now=now - timedelta(days=4),
                )
        pipeline = sales_service.ensure_default_pipeline(session, org_id=org.id)
        stages = {
            s.name: s for s in sales_service.list_stages(session, org_id=org.id, pipeline_id=pipeline.id)
        }
        for title, customer, stage, value, owner, close_in in (
            ("Company account — 40 riders", maria, "Proposal", 18000, dana.id, 21),
            ("Airport shuttle contract", customers[2], "Negotiation", 42000, lena.id, 10),
            ("Night-shift ride pass", customers[1], "Qualification", 2400, sam.id, 35),
            ("Student campus partnership", customers[3], "Prospecting", 9500, sam.id, 60),
            ("Design studio rides", customers[4], "Prospecting", 3200, dana.id, 45),
            ("Electricians' van pool", customers[5], "Qualification", 12800, lena.id, 30),
            ("Gold upgrade", customers[6], "Won", 1500, dana.id, -3),
            ("School trips autumn", customers[7], "Lost", 6000, sam.id, -10),
            ("Event transport, trade fair", customers[6], "Proposal", 7600, lena.id, 14),
        ):
            deal = sales_service.create_deal(
                session,
                org_id=org.id,
                actor_user_id=owner,
                data={
                    "title": title,
                    "customer_id": customer.id,
                    "value": Decimal(value),
                    "owner_id": owner,
                    "expected_close": date.today() + timedelta(days=close_in),
                },
            )
            if stages[stage].id != deal.stage_id:
                sales_service.do_move_deal(
                    session, org_id=org.id, deal_id=deal.id, stage_id=stages[stage].id, actor_user_id=owner
                )
        for title, customer, due_days, assignee in (
            ("Send the company-account proposal", maria, 2, dana.id),
            ("Call back about the duplicate invoice", maria, 0, sam.id),
            ("Prepare the airport shuttle pricing", customers[2], 5, dana.id),
            ("Check in with the campus office", customers[3], -1, dana.id),
        ):
            sales_service.create_task(
                session,
                org_id=org.id,
                actor_user_id=dana.id,
                data={
                    "title": title,
                    "customer_id": customer.id,
                    "assignee_id": assignee,
                    "due_at": now + timedelta(days=due_days, hours=2),
                },
            )
        accounts_service.notify_user(
            session,
            org_id=org.id,
            user_id=dana.id,
            kind="escalation",
            title="Ticket #3 breached its first-response target",
            link="/tickets",
        )
        return {"customer_id": maria.id, "org_id": org.id}


def seed_device(app, *, org_id: int, customer_id: int) -> int:
    """Maria's taxi with the last hour of telemetry (a drive, a stop, a short fault), sent through ingest."""
    from patron.devices import service as devices_service
    from patron.events.ingest import Credential

    with session_scope(app.state.sessionmaker) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        _, device = devices_service.create_device(
            session, org_id=org_id, type="vehicle", customer_id=customer_id, name="Taxi B-PT 412",
            model="Toyota Corolla Hybrid", firmware="4.2.1", serial="TX-412",
        )
        device_id = device.id
    now = utcnow()
    events = []
    for step in range(180):  # one reading every 20 seconds
        minute = step / 3
        moving = not 22 <= minute <= 31
        speed = 0.0 if not moving else 32 + 18 * math.sin(step / 7) + 6 * math.sin(step / 2.3)
        events.append({
            "id": f"shot-{step}",
            "type": "telemetry",
            "ts": (now - timedelta(seconds=20 * (180 - step))).isoformat(),
            "props": {
                "speed": round(max(speed, 0.0), 1),
                "battery": round(92 - step * 0.09, 1),
                "engine_temp": round(88 + (4 if moving else -6) + 2 * math.sin(step / 11), 1),
                "lat": round(52.52 + step * 0.0004, 5),
                "lon": round(13.40 + 0.01 * math.sin(step / 30), 5),
            },
        })
    events.append({"id": "shot-fault", "type": "fault", "ts": (now - timedelta(minutes=12)).isoformat(),
                   "props": {"code": "P0128", "message": "Coolant below thermostat temperature"}})
    app.state.events.ingest(events, credential=Credential(org_id=org_id, device_id=device_id), source="http")
    app.state.events.wait_processed(timeout=30)
    from patron.devices.models import Device

    deadline = time.monotonic() + 20  # the enrichment writes health and last seen a few seconds later
    while time.monotonic() < deadline:
        with session_scope(app.state.sessionmaker) as session:
            if session.get(Device, device_id).last_seen_at is not None:
                break
        time.sleep(0.5)
    return device_id


def seed_segments(app, *, org_id: int) -> dict:
    """Four groups of riders with planted purchase histories (frequent and recent, lapsed, big baskets now
    and then, new), an ML segmentation of them, and a rule segment refreshed a few times."""
    import random
    from decimal import Decimal

    from patron.orders import service as orders_service
    from patron.orders.bulk import PreparedLine, PreparedOrder
    from patron.orders.pricing import order_totals
    from patron.segments import ml as segments_ml
    from patron.segments import service as segments_service

    groups = {  # orders per rider, days ago, order value, items per order
        "commuter": ((10, 16), (1, 85), (18, 35), (1, 2)),
        "lapsed": ((1, 3), (240, 420), (15, 30), (1, 1)),
        "family": ((3, 5), (20, 150), (120, 220), (4, 7)),
        "newcomer": ((1, 1), (1, 14), (20, 40), (1, 2)),
    }
    rng = random.Random(11)
    now = utcnow()
    with session_scope(app.state.sessionmaker) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        orders = []
        for group, (count, days, value, items) in groups.items():
            for i in range(60):
                customer = customers_service.create_customer(
                    session, org_id=org_id, data={"first_name": f"Rider {group[:3].upper()}{i:02d}", "tags": [group]}
                )
                for _ in range(rng.randint(*count)):
                    quantity = rng.randint(*items)
                    total = Decimal(rng.uniform(*value)).quantize(Decimal("0.01"))
                    line = PreparedLine(product_id=None, sku="RIDE", name="Ride", quantity=quantity,
                                        unit_price=(total / quantity).quantize(Decimal("0.01")),
                                        discount=Decimal(0), line_total=total)
                    orders.append(PreparedOrder(customer_id=customer.id, channel="app", status="delivered",
                                                currency="EUR", ordered_at=now - timedelta(days=rng.uniform(*days)),
                                                totals=order_totals([(quantity, total)]), lines=[line]))
        orders_service.create_orders_bulk(session, org_id=org_id, orders=orders)
    settings = app.state.settings
    with session_scope(app.state.sessionmaker) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        run = segments_ml.run_ml_segmentation(session, org_id=org_id, settings=settings, k_range=(2, 7))
        segment = segments_service.create_segment(session, org_id=org_id, name="Lapsed riders",
                                                  definition={"all": [{"field": "feature.recency_days", "op": "gt",
                                                                       "value": 180}]})
        for days in (21, 14, 7, 0):
            segments_service.do_refresh_segment(session, segment=segment, settings=settings,
                                                now=now - timedelta(days=days))
        return {"run_id": run.id, "segment_id": segment.id}


def seed_survey(app, *, org_id: int, customer_id: int, n: int = 200) -> dict:
    """The CRM success survey with ``n`` simulated answers (the six components planted with different weights
    on success), a CB-SEM analysis of them, and one customer's personal link."""
    from patron.simulate.surveys import DEMO_PATHS, planted_answers
    from patron.surveys import service as surveys_service
    from patron.surveys.definition import parse_questionnaire
    from patron.surveys.templates import get_template

    q = parse_questionnaire(get_template("crm_success").questionnaire)
    with session_scope(app.state.sessionmaker) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        survey = surveys_service.create_survey(session, org_id=org_id, actor_id=None, name="Rider experience",
                                               template="crm_success")
        surveys_service.set_status(session, org_id=org_id, actor_id=None, survey_id=survey.id, status="open")
        for answers in planted_answers(q, n, seed=2024, paths=DEMO_PATHS):
            surveys_service.submit_response(session, org_id=org_id, actor_id=None, survey_id=survey.id,
                                            answers=answers)
        analysis = surveys_service.run_analysis(session, org_id=org_id, actor_id=None, survey_id=survey.id,
                                                method="cb-sem", name="Rider experience: what drives success")
        links = surveys_service.create_invites(session, org_id=org_id, actor_id=None, survey_id=survey.id,
                                               customer_ids=[customer_id])
        return {"survey_id": survey.id, "analysis_id": analysis.id, "link": links[0].path}


def seed_game(app, *, org_id: int) -> dict:
    """A step challenge this month: twelve riders in three teams with planted daily step counts; and a
    lottery among them, drawn."""
    import random

    from patron.contests import games as games_service
    from patron.contests import service as contests_service

    names = ["Amira Haddad", "Ben Carter", "Chloe Martin", "Diego Alvarez", "Elif Demir", "Finn Larsen",
             "Grace Liu", "Hugo Brandt", "Ines Moreau", "Jakob Novak", "Kira Sato", "Liam O'Brien"]  # fmt: skip
    now = utcnow()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(7)
    with session_scope(app.state.sessionmaker) as session:
        session.info["actor"] = Actor(org_id=org_id, label="screenshots")
        game = games_service.create_game(
            session, org_id=org_id, name=f"{now:%B} step challenge", source="manual", period="month",
            description="Steps from the wearable, submitted each evening; the top three win points.",
            starts_at=start, max_group_size=4,
            prizes=[{"rank": 1, "points": 1000}, {"rank": 2, "points": 500}, {"rank": 3, "points": 250}],
        )  # fmt: skip
        teams = [games_service.create_group(session, game=game, name=n) for n in ("Owls", "Foxes", "Herons")]
        lottery = contests_service.create_contest(
            session, org_id=org_id, name="Autumn lottery", opens_at=now - timedelta(days=20),
            closes_at=now + timedelta(days=10), description="Every rider who signs up by the end of the month.",
            prizes=[{"name": "A month of free rides", "points": 2000, "quantity": 1},
                    {"name": "Free ride", "points": 300, "quantity": 3}],
        )  # fmt: skip
        contests_service.do_open_contest(session, contest=lottery)
        days = max(1, (now - start).days)
        for index, name in enumerate(names):
            first, last = name.split(" ", 1)
            customer = customers_service.create_customer(session, org_id=org_id,
                                                         data={"first_name": first, "last_name": last})  # fmt: skip
            games_service.do_join_group(session, game=game, group=teams[index % 3], customer_id=customer.id)
            contests_service.do_enter(session, contest=lottery, customer_id=customer.id)
            daily = rng.randint(4000, 12000)
            for day in range(days):
                games_service.do_submit_score(session, game=game, customer_id=customer.id,
                                              points=max(500, int(rng.gauss(daily, 1500))),
                                              scored_at=start + timedelta(days=day, hours=20))  # fmt: skip
        contests_service.do_close_contest(session, contest=lottery)
        contests_service.do_draw(session, contest=lottery)
        return {"game_id": game.id, "contest_id": lottery.id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "img", help="Where to write the PNG files."
    )
    parser.add_argument("--all", action="store_true", help="Also photograph every other main page.")
    parser.add_argument("--width", type=int, default=1440, help="Browser window width in pixels.")
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
                page = browser.new_page(viewport={"width": args.width, "height": 900})
                page.goto(f"{base}/login")
                page.fill("#f-email", EMAIL)
                page.fill("#f-password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")
                device_id = seed_device(app, org_id=seeded["org_id"], customer_id=seeded["customer_id"])
                survey = seed_survey(app, org_id=seeded["org_id"], customer_id=seeded["customer_id"])
                contests = seed_game(app, org_id=seeded["org_id"])
                segments = seed_segments(app, org_id=seeded["org_id"])
                shots = {
                    "customer-360": f"/customers/{seeded['customer_id']}",
                    "pipeline": "/pipeline",
                    "device-live": f"/devices/{device_id}",
                    "survey-report": f"/surveys/analyses/{survey['analysis_id']}",
                    "game-leaderboard": f"/games/{contests['game_id']}",
                    "contest-draw": f"/contests/{contests['contest_id']}",
                    "segments-explorer": f"/segments/runs/{segments['run_id']}",
                }
                if args.all:
                    shots |= {
                        "dashboard": "/",
                        "customers": "/customers",
                        "tickets": "/tickets",
                        "ticket": "/tickets/1",
                        "tasks": "/tasks",
                        "activity": "/activity",
                        "users": "/admin/users",
                        "api-keys": "/admin/api-keys",
                        "audit": "/admin/audit",
                        "new-customer": "/customers/new",
                        "not-found": "/customers/999999",
                        "surveys": "/surveys",
                        "survey": f"/surveys/{survey['survey_id']}",
                        "survey-builder": f"/surveys/{survey['survey_id']}/edit",
                        "survey-analyze": f"/surveys/{survey['survey_id']}/analyze",
                        "segments": "/segments",
                        "segment": f"/segments/{segments['segment_id']}",
                        "segment-builder": f"/segments/{segments['segment_id']}/edit",
                    }
                for name, path in shots.items():
                    page.goto(base + path)
                    if page.locator("[data-telemetry]").count():
                        page.locator("[data-telemetry] figure").first.wait_for()
                    if page.locator("[data-live-events]").count():
                        page.locator("[data-live-events] tbody tr td code").first.wait_for()
                    if name == "survey-report":  # the head of the report: sample, path diagram, fit, quality
                        height = min(page.evaluate("document.documentElement.scrollHeight"), 2000)
                        page.screenshot(path=str(args.out / f"{name}.png"), full_page=True,
                                        clip={"x": 0, "y": 0, "width": args.width, "height": height})
                    else:
                        page.screenshot(path=str(args.out / f"{name}.png"), full_page=name != "pipeline")
                    print(f"wrote {args.out / f'{name}.png'}")
                if args.all:  # the public answer page, as a respondent sees it on a phone
                    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
                    phone.goto(base + survey["link"])
                    phone.screenshot(path=str(args.out / "survey-public.png"), full_page=False)
                    print(f"wrote {args.out / 'survey-public.png'}")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)


if __name__ == "__main__":
    main()
