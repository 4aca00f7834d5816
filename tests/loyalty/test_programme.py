"""The programme: points earned on paid orders (with tier multipliers and bonus rules) and taken back on
refunds, tiers moving up and down with their history, points expiring oldest-first, app streaks from
the enrichment counters, referrals. Every figure is worked out by hand in a comment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.events.models import CustomerSignals
from patron.jobs import scheduler
from patron.loyalty import earning, programme
from patron.loyalty import service as points_service
from patron.loyalty.models import PointsEntry
from tests.surveys.conftest import DEFINITION, GOOD_ANSWERS


def tiers(api) -> None:
    api.ok(api.post("/loyalty/tiers", json={"name": "Silver", "threshold": 100, "multiplier": "1.5",
                                            "benefits": "Free delivery"}))  # fmt: skip
    api.ok(api.post("/loyalty/tiers", json={"name": "Gold", "threshold": 500, "multiplier": "2"}))


def test_paid_orders_earn_points_with_the_tier_multiplier_and_refunds_take_them_back(api):
    api.programme(enabled=True, points_per_unit="1")
    tiers(api)
    api.ok(api.post("/loyalty/earn-rules", json={"kind": "purchase_bonus", "name": "Big basket", "points": 50,
                                                 "min_amount": "200.00"}))  # fmt: skip
    customer = api.customer()
    item = api.product("RIDE", "1.00")["id"]

    def buy(amount: str, status: str = "paid") -> dict:
        return api.ok(
            api.order(customer, [{"product_id": item, "quantity": 1, "unit_price": amount}], status=status)
        )

    pending = buy("80.00", status="pending")
    assert api.balance(customer) == 0  # not paid yet
    api.ok(api.patch(f"/orders/{pending['id']}", json={"status": "paid"}), 200)
    assert api.balance(customer) == 80  # floor(80.00 x 1)
    api.ok(api.patch(f"/orders/{pending['id']}", json={"status": "shipped"}), 200)
    assert api.balance(customer) == 80  # once per order
    buy("45.50")  # floor(45.50) = 45 -> 125 qualifying: Silver from here on
    assert api.ok(api.get(f"/customers/{customer}/tier"), 200)["tier"]["name"] == "Silver"
    buy("100.00")  # 100 x 1.5 = 150 -> 275
    big = buy("200.00")  # 200 x 1.5 = 300, + 50 bonus = 350 -> 625: Gold
    status = api.ok(api.get(f"/customers/{customer}/tier"), 200)
    assert (status["tier"]["name"], status["qualifying_points"], status["next_tier"]) == ("Gold", 625, None)
    assert api.points(customer)["items"][0]["reason"] == "Order #4 (+ Big basket)"
    api.ok(api.patch(f"/orders/{big['id']}", json={"status": "refunded"}), 200)  # 350 back: 275, Silver again
    status = api.ok(api.get(f"/customers/{customer}/tier"), 200)
    # Silver 100 -> Gold 500: 275 is (275 - 100) / 400 = 43 % of the way, 225 points short
    assert (status["tier"]["name"], status["qualifying_points"], status["points_to_next"],
            status["progress_percent"]) == ("Silver", 275, 225, 43)  # fmt: skip
    assert [(h["from_tier"], h["to_tier"], h["direction"], h["qualifying_points"]) for h in status["history"]] == [
        ("Gold", "Silver", "down", 275), ("Silver", "Gold", "up", 625), (None, "Silver", "up", 125)]  # fmt: skip
    account = api.points(customer)
    assert account["balance"] == 80 + 45 + 150 + 350 - 350 == 275
    assert account["items"][0]["kind"] == "reverse" and account["items"][0]["delta"] == -350


def test_a_switched_off_programme_gives_nothing_and_cancelling_spent_points_reverses_what_is_left(api):
    customer = api.customer()
    item = api.product("RIDE", "10.00")["id"]
    api.ok(api.order(customer, [{"product_id": item, "quantity": 3}], status="paid"))
    assert api.balance(customer) == 0  # the programme is off by default
    api.programme(enabled=True, points_per_unit="2.5")
    order = api.ok(api.order(customer, [{"product_id": item, "quantity": 3}], status="paid"))
    assert api.balance(customer) == 75  # 30.00 x 2.5
    api.ok(api.post(f"/customers/{customer}/points/redeem", json={"points": 60}))
    api.ok(api.patch(f"/orders/{order['id']}", json={"status": "cancelled"}), 200)
    assert api.balance(customer) == 0  # 75 earned, 60 spent: only 15 could be taken back
    # an order in another currency earns nothing: the rate is per unit of the organisation's currency
    api.ok(api.order(customer, [{"product_id": item, "quantity": 1, "unit_price": "5000"}], currency="JPY",
                     status="paid"))  # fmt: skip
    assert api.balance(customer) == 0


def test_points_expire_oldest_first_with_redemptions_in_between(api, db, run_job):
    api.programme(expiry_months=12)
    customer = api.customer()
    org_id = api.tenant.org_id

    def change(kind: str, points: int, at: datetime) -> None:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            points_service.change_points(
                session, org_id=org_id, customer_id=customer, kind=kind, points=points, at=at
            )

    def day(y: int, m: int, d: int) -> datetime:
        return datetime(y, m, d, 12, tzinfo=UTC)

    change("earn", 100, day(2025, 1, 10))  # lot A, expires 2026-01-10
    change("earn", 50, day(2025, 3, 1))  # lot B, expires 2026-03-01
    change("redeem", 120, day(2025, 4, 1))  # A 100 -> 0, B 50 -> 30
    change("earn", 80, day(2025, 6, 1))  # lot C, expires 2026-06-01
    change("redeem", 20, day(2025, 12, 1))  # B 30 -> 10
    assert api.balance(customer) == 90
    assert run_job(earning.expire_points, now=day(2026, 2, 1)) == 0  # A is past its date but fully spent
    assert run_job(earning.expire_points, now=day(2026, 3, 2)) == 10  # B's last 10
    assert run_job(earning.expire_points, now=day(2026, 3, 3)) == 0  # never twice
    assert api.balance(customer) == 80
    change("redeem", 30, day(2026, 4, 1))  # C 80 -> 50
    assert run_job(earning.expire_points, now=day(2026, 6, 2)) == 50
    account = api.points(customer)
    assert account["balance"] == 0
    assert [(e["kind"], e["delta"]) for e in account["items"][:2]] == [("expire", -50), ("redeem", -30)]
    with db() as session:
        assert (
            session.scalar(select(func.sum(PointsEntry.delta)).where(PointsEntry.customer_id == customer))
            == 0
        )


def test_tiers_fall_when_old_earnings_leave_the_twelve_month_window(api, db, run_job):
    tiers(api)
    customer = api.customer()
    org_id = api.tenant.org_id
    now = datetime.now(UTC)
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        points_service.change_points(session, org_id=org_id, customer_id=customer, kind="earn", points=150,
                                     at=now - timedelta(days=400))  # fmt: skip
        points_service.change_points(session, org_id=org_id, customer_id=customer, kind="earn", points=60,
                                     at=now - timedelta(days=200))  # fmt: skip
    assert (
        api.ok(api.get(f"/customers/{customer}/tier"), 200)["tier"]["name"] == "Silver"
    )  # decided back then
    assert run_job(programme.reevaluate_tiers, now=now) == 1  # only 60 in the last 12 months
    status = api.ok(api.get(f"/customers/{customer}/tier"), 200)
    assert (
        status["tier"] is None
        and status["qualifying_points"] == 60
        and status["history"][0]["direction"] == "down"
    )
    api.programme(tier_basis="lifetime")  # 150 + 60 = 210 over the whole history
    with session_scope(db) as session:
        programme.evaluate_tier(session, org_id=org_id, customer_id=customer)
    assert api.ok(api.get(f"/customers/{customer}/tier"), 200)["tier"]["name"] == "Silver"


def test_app_streaks_from_the_enrichment_counters(api, db, run_job):
    api.ok(api.post("/loyalty/earn-rules", json={"kind": "app_streak", "name": "Three days", "points": 20,
                                                 "streak_days": 3}))  # fmt: skip
    customer = api.customer()
    org_id = api.tenant.org_id

    def seen(day: datetime) -> None:
        with session_scope(db) as session:
            row = session.get(CustomerSignals, customer)
            if row is None:
                session.add(CustomerSignals(org_id=org_id, customer_id=customer, last_seen_at=day))
            else:
                row.last_seen_at = day

    first = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for offset in range(3):  # three days in a row: the third earns the 20 points
        seen(first + timedelta(days=offset))
        run_job(earning.track_app_streaks, now=first + timedelta(days=offset, hours=12))
        run_job(
            earning.track_app_streaks, now=first + timedelta(days=offset, hours=13)
        )  # twice a day: no harm
    assert api.balance(customer) == 20
    run_job(
        earning.track_app_streaks, now=first + timedelta(days=3, hours=12)
    )  # day 4 not seen: streak broken
    for offset in (4, 5):
        seen(first + timedelta(days=offset))
        run_job(earning.track_app_streaks, now=first + timedelta(days=offset, hours=12))
    assert api.balance(customer) == 20  # only two days in the new streak
    seen(first + timedelta(days=6))
    run_job(earning.track_app_streaks, now=first + timedelta(days=6, hours=12))
    assert api.balance(customer) == 40


def test_referral_and_survey_rules_give_points_once(api, db, other_api):
    api.ok(
        api.post("/loyalty/earn-rules", json={"kind": "referral", "name": "Bring a friend", "points": 100})
    )
    api.ok(api.post("/loyalty/earn-rules", json={"kind": "survey_answered", "name": "Thanks", "points": 15}))
    ambassador, friend = api.customer(), api.customer(first_name="Bo")
    given = api.ok(api.post(f"/customers/{ambassador}/referrals", json={"referred_customer_id": friend}))
    assert [(e["delta"], e["reason"]) for e in given] == [(100, "Referred a friend (Bring a friend)")]
    api.ok(api.post(f"/customers/{ambassador}/referrals", json={"referred_customer_id": friend}))
    assert api.balance(ambassador) == 100
    stranger = other_api.customer()
    assert (
        api.post(f"/customers/{ambassador}/referrals", json={"referred_customer_id": stranger}).status_code
        == 404
    )
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=api.tenant.org_id, label="test")
        for _ in range(2):
            earning.award_survey_answered(
                session, org_id=api.tenant.org_id, customer_id=friend, response_id=7
            )
    assert api.balance(friend) == 15


def test_answered_surveys_earn_the_rule_points_once_through_the_job(api, run_job):
    survey = api.ok(api.post("/surveys", json={"name": "Service check", "definition": DEFINITION}))
    api.ok(api.post(f"/surveys/{survey['id']}/status", json={"status": "open"}), 200)
    ada, bo = api.customer(), api.customer(first_name="Bo")
    api.ok(api.post(f"/surveys/{survey['id']}/responses", json={"answers": GOOD_ANSWERS, "customer_id": ada}))
    api.ok(api.post("/loyalty/earn-rules", json={"kind": "survey_answered", "name": "Thanks", "points": 25}))
    api.ok(api.post(f"/surveys/{survey['id']}/responses", json={"answers": GOOD_ANSWERS, "customer_id": ada}))
    api.ok(api.post(f"/surveys/{survey['id']}/responses", json={"answers": GOOD_ANSWERS, "customer_id": bo}))
    # an anonymous answer earns nobody anything
    api.ok(api.post(f"/surveys/{survey['id']}/responses", json={"answers": GOOD_ANSWERS}))
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert run_job(earning.award_surveys_answered, now=now) == 2  # the answer before the rule earns nothing
    assert run_job(earning.award_surveys_answered, now=now) == 0
    assert (api.balance(ada), api.balance(bo)) == (25, 25)


def test_settings_rules_and_tiers_are_checked_and_need_the_permission(api, role_api, other_api):
    for path, body, status, field in (
        ("/loyalty/tiers", {"name": "Gold", "threshold": 500, "multiplier": "20"}, 422, "multiplier"),
        ("/loyalty/tiers", {"name": "Gold", "threshold": 0}, 422, "threshold"),
        ("/loyalty/earn-rules", {"kind": "app_streak", "name": "Streak", "points": 5}, 422, "streak_days"),
        ("/loyalty/earn-rules", {"kind": "referral", "name": "R", "points": 5, "min_amount": "5"}, 422, "min_amount"),
        ("/loyalty/earn-rules", {"kind": "purchase_bonus", "name": "B", "points": 5}, 422, "min_amount"),
        ("/loyalty/earn-rules", {"kind": "birthday", "name": "B", "points": 5}, 422, "kind"),
    ):  # fmt: skip
        response = api.post(path, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field" if "field" in response.json() else "detail"] and field in response.text
    assert api.ok(api.get("/loyalty/tiers"), 200) == [] and api.ok(api.get("/loyalty/earn-rules"), 200) == []
    tiers(api)
    clash = api.post("/loyalty/tiers", json={"name": "Platinum", "threshold": 500})
    assert clash.status_code == 409 and clash.json()["field"] == "threshold"
    assert api.patch("/loyalty/programme", json={"tier_basis": "forever"}).status_code == 422
    assert api.patch("/loyalty/programme", json={"expiry_months": 0}).status_code == 422
    assert api.ok(api.get("/loyalty/programme"), 200) == {"enabled": False, "points_per_unit": 1.0,
                                                          "expiry_months": None, "tier_basis": "rolling_12m"}  # fmt: skip
    viewer, agent = role_api("viewer"), role_api("agent")
    assert viewer.patch("/loyalty/programme", json={"enabled": True}).status_code == 403
    assert agent.post("/loyalty/tiers", json={"name": "Bronze", "threshold": 10}).status_code == 403
    assert viewer.ok(viewer.get("/loyalty/tiers"), 200)[0]["name"] == "Silver"
    gold = api.ok(api.get("/loyalty/tiers"), 200)[1]["id"]
    assert other_api.patch(f"/loyalty/tiers/{gold}", json={"threshold": 5}).status_code == 404
    assert other_api.ok(other_api.get("/loyalty/tiers"), 200) == []
    customer = api.customer()
    assert other_api.get(f"/customers/{customer}/tier").status_code == 404


def test_the_scheduler_runs_the_loyalty_jobs(api, db):
    api.programme(expiry_months=1)
    customer = api.customer()
    org_id = api.tenant.org_id
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        points_service.change_points(session, org_id=org_id, customer_id=customer, kind="earn", points=40,
                                     at=datetime.now(UTC) - timedelta(days=40))  # fmt: skip
    results = scheduler.run_once(db)
    assert {name: results[name] for name in ("loyalty-expiry", "loyalty-tiers", "loyalty-app-streaks",
                                              "loyalty-surveys")} == {"loyalty-expiry": 40, "loyalty-tiers": 0,
                                                                      "loyalty-app-streaks": 0, "loyalty-surveys": 0}  # fmt: skip
    assert api.balance(customer) == 0
