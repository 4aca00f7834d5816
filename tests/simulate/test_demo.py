"""`patron demo`: seeds a realistic demo organisation once, through the CLI, on both backends."""

from __future__ import annotations

import math
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from patron.cli import app as cli_app
from patron.core.audit import Actor
from patron.core.cli_support import cli_sessionmaker
from patron.core.config import get_settings
from patron.core.db import make_engine, make_sessionmaker
from patron.core.migrate import upgrade
from patron.customers import service as customers_service
from patron.customers.models import ConsentRecord, Customer, Identity, Place
from patron.sales.models import Deal, PipelineStage
from patron.simulate import demo
from patron.simulate.clock import SimulatedClock
from patron.simulate.people import make_customers
from patron.tickets.models import STATUSES, Ticket

SMALL = "60"


@pytest.fixture
def run_demo(database, settings, tmp_path, monkeypatch):
    """``run_demo(*args)``: ``patron demo --customers 60 --no-serve *args`` against the test database."""
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PATRON_DATABASE_URL", database.url)

    def fresh() -> None:
        get_settings.cache_clear()
        if cli_sessionmaker.cache_info().currsize:
            cli_sessionmaker().kw["bind"].dispose()
        cli_sessionmaker.cache_clear()

    fresh()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, ["demo", "--customers", SMALL, "--no-serve", *args])

    yield run
    fresh()


def login(client) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token", data={"username": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def total(client, headers, path: str, **params) -> int:
    response = client.get(path, headers=headers, params={"limit": 1, **params})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_demo_seeds_a_realistic_organisation_once(client, run_demo):
    result = run_demo()
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000" in result.output
    assert demo.DEMO_EMAIL in result.output and demo.DEMO_PASSWORD in result.output

    headers = login(client)
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["organisation"]["slug"] == demo.DEMO_SLUG and me["role"] == "admin"
    roles = Counter(user["role"] for user in client.get("/api/v1/users", headers=headers).json())
    assert roles["owner"] == 1 and roles["manager"] == 2 and roles["agent"] == 6
    assert roles["admin"] == 1 and roles["analyst"] == 1 and roles["viewer"] == 1

    customers = total(client, headers, "/api/v1/customers")
    assert customers >= int(SMALL)

    for status in STATUSES:
        assert total(client, headers, "/api/v1/tickets", status=status) >= 1, status
    assert total(client, headers, "/api/v1/tickets", breached="true") >= 1
    tickets = client.get("/api/v1/tickets", headers=headers, params={"limit": 500}).json()["items"]
    assert any(t["escalated_to_id"] for t in tickets)
    closed = [t for t in tickets if t["status"] == "closed"]
    assert closed and all(1 <= t["satisfaction"] <= 5 for t in closed)

    pipelines = client.get("/api/v1/pipelines", headers=headers).json()
    assert len(pipelines) == 2
    for pipeline in pipelines:
        for stage in pipeline["stages"]:
            assert total(client, headers, "/api/v1/deals", stage_id=stage["id"]) >= 1, stage["name"]
    for status in ("new", "contacted", "qualified", "disqualified", "converted"):
        assert total(client, headers, "/api/v1/leads", status=status) >= 1, status
    assert total(client, headers, "/api/v1/tasks", overdue="true") >= 1
    assert total(client, headers, "/api/v1/tasks", done="true") >= 1
    assert total(client, headers, "/api/v1/interactions") >= int(SMALL)

    profile = client.get("/api/v1/customers", headers=headers, params={"limit": 1}).json()["items"][0]
    full = client.get(f"/api/v1/customers/{profile['id']}", headers=headers).json()
    assert full["consents"]["data_processing"] is True
    assert full["birth_year"] and full["income_band"] and full["lifestyle_tags"] is not None
    assert full["attributes"]["subscription_plan"] in ("free", "plus", "premium", "family")
    assert client.get(f"/api/v1/customers/{profile['id']}/places", headers=headers).json()
    history = client.get(f"/api/v1/customers/{profile['id']}/consents/history", headers=headers).json()
    assert history["total"] >= 1
    timeline = client.get(f"/api/v1/customers/{profile['id']}/timeline", headers=headers)
    assert timeline.status_code == 200 and timeline.json()["items"]

    assert total(client, headers, "/api/v1/orders") >= int(SMALL)
    assert total(client, headers, "/api/v1/orders", status="delivered") >= 1

    surveys = client.get("/api/v1/surveys", headers=headers).json()
    assert {s["template"] for s in surveys["items"]} == {"crm_success", "servqual", "nps"}
    servqual = next(s for s in surveys["items"] if s["template"] == "servqual")
    assert len(client.get(f"/api/v1/surveys/{servqual['id']}/waves", headers=headers).json()) == 2
    answered = sum(
        client.get(f"/api/v1/surveys/{s['id']}/summary", headers=headers).json()["responded"]
        for s in surveys["items"]
    )
    assert answered >= 10

    check_loyalty(client, headers)
    check_contests(client, headers)
    check_segments_and_campaigns(client, headers)

    again = run_demo()
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output
    assert total(client, headers, "/api/v1/customers") == customers


def get(client, headers, path: str, **params):
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def check_loyalty(client, headers) -> None:
    """The programme, its offers, and every customer's points: the balance is the sum of the ledger, each
    order's earning is its total in EUR times the tier multiplier (1 to 1.5) plus at most the 25-point
    bonus, and the tier is the highest whose threshold the last 12 months' points reach."""
    programme = get(client, headers, "/api/v1/loyalty/programme")
    assert (
        programme["enabled"]
        and Decimal(str(programme["points_per_unit"])) == 1
        and programme["expiry_months"] == 24
    )
    tiers = get(client, headers, "/api/v1/loyalty/tiers")
    assert [tier["name"] for tier in tiers] == ["Silver", "Gold", "Platinum"]
    assert all(tier["benefits"] for tier in tiers)
    rules = get(client, headers, "/api/v1/loyalty/earn-rules")
    assert {rule["kind"] for rule in rules} == {"purchase_bonus", "survey_answered", "app_streak"}
    rewards = get(client, headers, "/api/v1/loyalty/rewards")
    assert len(rewards) == 4 and sum(reward["stock"] is not None for reward in rewards) == 3
    promotions = get(client, headers, "/api/v1/loyalty/promotions")
    assert sorted(promotion["kind"] for promotion in promotions) == ["percent", "three_for_two"]
    (campaign,) = get(client, headers, "/api/v1/loyalty/coupon-campaigns")
    assert campaign["codes"] >= 1 and campaign["kind"] == "amount"
    certificates = get(client, headers, "/api/v1/loyalty/gift-certificates")
    assert sorted(Decimal(str(c["balance"])) for c in certificates) == [
        Decimal("25.00"),
        Decimal("31.60"),
    ]  # 50 - 18.40

    customers = get(client, headers, "/api/v1/customers", limit=500)["items"]
    members = 0
    kinds = Counter()
    for customer in customers:
        account = get(client, headers, f"/api/v1/customers/{customer['id']}/points", limit=500)
        if not account["total"]:
            continue
        members += 1
        assert account["total"] == len(account["items"])
        assert account["balance"] == sum(entry["delta"] for entry in account["items"]) >= 0
        kinds.update(entry["kind"] for entry in account["items"])
        orders = get(client, headers, "/api/v1/orders", customer_id=customer["id"], limit=500)["items"]
        totals = {f"order:{order['id']}": Decimal(str(order["total"])) for order in orders}
        for entry in account["items"]:
            if entry["kind"] == "earn" and (entry["source"] or "").startswith("order:"):
                total = totals[entry["source"]]
                assert math.floor(total) <= entry["delta"] <= math.floor(total * Decimal("1.5")) + 25, entry
        status = get(client, headers, f"/api/v1/customers/{customer['id']}/tier")
        reached = [tier["name"] for tier in tiers if tier["threshold"] <= status["qualifying_points"]]
        assert (status["tier"] or {}).get("name") == (reached[-1] if reached else None)
    assert members > len(customers) // 2
    assert kinds["earn"] > members and kinds["redeem"] >= 1


def check_contests(client, headers) -> None:
    """Referrals rewarded on the first paid order, a drawn lottery that verifies, an open contest with
    entries, and a game with teams and scores."""
    program = get(client, headers, "/api/v1/referral-program")
    assert (program["referrer_points"], program["referred_points"]) == (200, 100)
    referrals = get(client, headers, "/api/v1/referrals", limit=500)["items"]
    rewarded = [referral for referral in referrals if referral["status"] == "rewarded"]
    assert referrals and rewarded
    for referral in rewarded:
        order = get(client, headers, f"/api/v1/orders/{referral['order_id']}")
        assert order["customer_id"] == referral["referred_id"] and order["status"] == "paid"
        ledger = get(client, headers, f"/api/v1/customers/{referral['referrer_id']}/points", limit=500)[
            "items"
        ]
        assert any(e["source"] == f"referral:{referral['id']}" and e["delta"] == 200 for e in ledger)

    contests = {c["status"]: c for c in get(client, headers, "/api/v1/contests")["items"]}
    assert set(contests) == {"drawn", "open"}
    drawn = contests["drawn"]
    draw = get(client, headers, f"/api/v1/contests/{drawn['id']}/draw")
    assert draw["prizes"] == 4 and len(draw["winners"]) == min(4, len(draw["entries"])) >= 1
    verification = get(client, headers, f"/api/v1/contests/{drawn['id']}/draw/verify")
    assert verification["ok"] and verification["winners_match"]
    assert get(client, headers, f"/api/v1/contests/{contests['open']['id']}/entries")["total"] >= 1

    games = {game["source"]: game for game in get(client, headers, "/api/v1/games")["items"]}
    assert set(games) == {"manual", "orders"}
    challenge = games["manual"]
    groups = get(client, headers, f"/api/v1/games/{challenge['id']}/groups")
    assert len(groups) == 4 and all(
        1 <= len(group["members"]) <= challenge["max_group_size"] for group in groups
    )
    year, week, _day = (datetime.now(UTC) - timedelta(days=7)).isocalendar()
    board = get(client, headers, f"/api/v1/games/{challenge['id']}/leaderboard", period=f"{year}-W{week:02d}")
    assert board["customers"] and len(board["groups"]) == 4
    winner = board["customers"][0]  # last week is closed: its winner has the first prize's points
    ledger = get(client, headers, f"/api/v1/customers/{winner['id']}/points", limit=500)["items"]
    assert any(e["source"] == f"game:{challenge['id']}" and e["delta"] == 300 for e in ledger)
    scores = {standing["id"]: standing["score"] for standing in board["customers"]}
    for team in board["groups"]:  # a team scores what its members scored
        members = next(group["members"] for group in groups if group["id"] == team["id"])
        assert team["score"] == sum(scores.get(member, 0) for member in members)


def check_segments_and_campaigns(client, headers) -> None:
    """Rule segments hold exactly the customers their rules describe (checked on the profiles), an ML
    run made its cluster segments, predictions exist, and the one-off campaign reached its segment,
    split into two variants and a hold-out."""
    segments = get(client, headers, "/api/v1/segments", limit=100)["items"]
    rules = {segment["name"]: segment for segment in segments if segment["kind"] == "rule"}
    assert set(rules) == {"Lapsed high spenders", "Berlin e-mail opt-ins", "VIPs at risk", "Young riders"}
    assert all(segment["refreshed_at"] for segment in rules.values())
    clusters = [segment for segment in segments if segment["kind"] == "ml"]
    run = get(client, headers, f"/api/v1/segments/ml-runs/{clusters[0]['run_id']}")
    assert 2 <= run["k"] <= 6 and len(clusters) == run["k"]

    def members(name: str) -> set[int]:
        page = get(client, headers, f"/api/v1/segments/{rules[name]['id']}/members", limit=500)
        return {item["customer_id"] for item in page["items"]}

    profiles = [
        get(client, headers, f"/api/v1/customers/{item['id']}")
        for item in get(client, headers, "/api/v1/customers", limit=500)["items"]
    ]
    berlin_email = {p["id"] for p in profiles if p["city"] == "Berlin" and p["consents"].get("email") is True}
    young_riders = {p["id"] for p in profiles if (p["birth_year"] or 0) >= 1995 and "rides" in p["tags"]}
    assert berlin_email and members("Berlin e-mail opt-ins") == berlin_email
    assert members("Young riders") == young_riders

    buyer = get(client, headers, "/api/v1/orders", limit=1)["items"][0]["customer_id"]
    prediction = get(client, headers, f"/api/v1/customers/{buyer}/predictions")
    assert prediction["p_alive"] is not None and 0 <= prediction["p_alive"] <= 1

    campaigns = {c["name"]: c for c in get(client, headers, "/api/v1/campaigns", limit=100)["items"]}
    offer, nearby = campaigns["Ride pass offer"], campaigns["Near KaDeWe: shop offer"]
    assert (offer["kind"], offer["status"], offer["holdout_percent"]) == ("one_off", "done", 10)
    assert (nearby["kind"], nearby["status"], nearby["trigger"]["name"]) == (
        "triggered",
        "running",
        "nearby_shop_offer",
    )
    results = get(client, headers, f"/api/v1/campaigns/{offer['id']}/results")
    groups = {group["group"]: group for group in results["groups"]}
    assert set(groups) == {"Discount", "Free rides", "holdout"}
    assert sum(group["assigned"] for group in groups.values()) == len(berlin_email)
    assert groups["holdout"]["messaged"] == 0
    assert all(group["converted"] <= group["assigned"] for group in groups.values())


def test_reset_seeds_the_same_data_again(client, run_demo, db):
    small = ("--seed", "7", "--customers", "25")  # the last --customers given wins
    assert run_demo(*small).exit_code == 0
    with db() as session:
        before = sorted(session.scalars(select(Customer.email).where(Customer.email.is_not(None))))
    result = run_demo(*small, "--reset")
    assert result.exit_code == 0, result.output
    assert "Seeded" in result.output
    with db() as session:
        after = sorted(session.scalars(select(Customer.email).where(Customer.email.is_not(None))))
    assert after == before
    login(client)


def test_a_failed_reset_keeps_the_old_demo_and_the_real_clock(db, monkeypatch):
    first = demo.seed_demo(db, customers=15, seed=1)
    with db() as session:
        before = session.scalars(select(Customer.email).where(Customer.org_id == first.org_id)).all()

    def broken(*_args, **_kwargs):
        raise RuntimeError("the service desk is on fire")

    monkeypatch.setattr(demo, "write_tickets", broken)
    with pytest.raises(RuntimeError, match="on fire"):
        demo.seed_demo(db, customers=15, seed=2, reset=True)

    with db() as session:
        after = session.scalars(select(Customer.email).where(Customer.org_id == first.org_id)).all()
    assert after == before
    swapped = [
        name
        for name, module in list(sys.modules.items())
        if name.startswith("patron.") and isinstance(getattr(module, "utcnow", None), SimulatedClock)
    ]
    assert swapped == []  # the services see the real clock again


def test_bad_option_is_one_readable_error_and_writes_nothing(client, run_demo):
    result = run_demo("--customers", "0")
    assert result.exit_code == 2
    assert "customers" in result.output
    response = client.post(
        "/api/v1/auth/token", data={"username": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}
    )
    assert response.status_code == 401


def test_help_reads_well():
    result = CliRunner().invoke(cli_app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--customers", "--seed", "--reset", "--no-serve", "--host", "--port"):
        assert option in result.output
    assert "demo organisation" in result.output
    assert "COMMAND" not in result.output  # one command, not a group with sub-commands


def _snapshot(url: str) -> dict:
    factory = make_sessionmaker(make_engine(url))
    with factory() as session:
        return {
            "customers": session.execute(
                select(
                    Customer.first_name,
                    Customer.last_name,
                    Customer.email,
                    Customer.birth_year,
                    Customer.income_band,
                    Customer.created_at,
                ).order_by(Customer.id)
            ).all(),
            "identities": session.execute(select(Identity.type, Identity.value).order_by(Identity.id)).all(),
            "consents": session.execute(
                select(ConsentRecord.channel, ConsentRecord.granted, ConsentRecord.recorded_at).order_by(
                    ConsentRecord.id
                )
            ).all(),
            "places": session.execute(
                select(Place.label, Place.latitude, Place.visit_count).order_by(Place.id)
            ).all(),
            "tickets": session.execute(
                select(
                    Ticket.number, Ticket.status, Ticket.priority, Ticket.created_at, Ticket.satisfaction
                ).order_by(Ticket.id)
            ).all(),
            "deals": session.execute(
                select(Deal.title, PipelineStage.name, Deal.value)
                .join(PipelineStage, PipelineStage.id == Deal.stage_id)
                .order_by(Deal.id)
            ).all(),
        }


def test_same_seed_and_anchor_give_the_same_data(tmp_path):
    anchor = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    snapshots = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / name}.db"
        engine = make_engine(url)
        upgrade(engine)
        summary = demo.seed_demo(make_sessionmaker(engine), customers=25, seed=3, anchor=anchor)
        engine.dispose()
        assert summary.created and summary.counts["customers"] == 25
        snapshots.append(_snapshot(url))
    assert snapshots[0] == snapshots[1]
    assert all(created <= anchor for *_, created in snapshots[0]["customers"])


def test_demographics_are_varied_and_correlated():
    anchor = datetime(2025, 1, 1, tzinfo=UTC)
    people = make_customers(random.Random(42), anchor, 2000)
    assert len({p.email for p in people if p.email}) == sum(1 for p in people if p.email)
    genders = Counter(p.gender for p in people)
    assert genders["female"] > 800 and genders["male"] > 800
    assert len({p.occupation for p in people}) > 30

    def share(group, tag):
        return sum(tag in p.lifestyle_tags for p in group) / max(1, len(group))

    young = [p for p in people if anchor.year - p.birth_year < 30]
    older = [p for p in people if anchor.year - p.birth_year >= 55]
    assert share(young, "tech-savvy") > share(older, "tech-savvy")
    graduates = [p for p in people if p.education in ("master", "doctorate")]
    basic = [p for p in people if p.education in ("primary", "secondary")]
    high = ("upper_middle", "high")
    assert sum(p.income_band in high for p in graduates) / len(graduates) > sum(
        p.income_band in high for p in basic
    ) / len(basic)
    for person in people:
        assert 52.3 < person.places[0].latitude < 52.7 and 13.0 < person.places[0].longitude < 13.8
        assert person.consents[0].channel == "data_processing" and person.consents[0].granted


def test_simulated_clock_drives_the_services_and_is_put_back(db, tenant):
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with db() as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        with SimulatedClock(moment).running(session):
            customer = customers_service.create_customer(
                session, org_id=tenant.org_id, data={"first_name": "Ada"}
            )
            during = customers_service.record_timeline(
                session, org_id=tenant.org_id, customer_id=customer.id, kind="note.added", summary="then"
            )
            session.flush()
        after = customers_service.record_timeline(
            session, org_id=tenant.org_id, customer_id=customer.id, kind="note.added", summary="now"
        )
        assert customer.created_at == moment and during.occurred_at == moment
        assert after.occurred_at > moment + timedelta(days=1)
        session.rollback()
