"""Rewards, coupons and gift certificates: redeeming through the API with every figure worked out by hand,
nothing half-written when refused, and simultaneous redemptions fired from parallel threads (real
concurrent transactions on PostgreSQL, the single writer on SQLite) of which exactly the right number pass."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.core.errors import Conflict
from patron.loyalty import coupons, gifts, rewards
from patron.loyalty.models import CouponUse, GiftCertificateEntry, RewardRedemption

CODE = re.compile(r"^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$")


def race(db, org_id: int, count: int, action: Callable) -> list[str]:
    """Run ``action(session)`` in ``count`` threads released together; "ok" or "refused" for each."""
    start = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        try:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=org_id, label="test")
                action(session)
            result = "ok"
        except Conflict:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


def earn(api, customer: int, points: int) -> None:
    api.ok(api.post(f"/customers/{customer}/points", json={"points": points}))


# --- rewards -----------------------------------------------------------------------------------------


def test_a_reward_takes_its_points_and_one_unit_or_nothing(api, db, role_api, other_api):
    customer = api.customer()
    earn(api, customer, 250)
    ride = api.ok(api.post("/loyalty/rewards", json={"name": "Free ride", "cost_points": 100, "stock": 2}))
    taken = api.ok(api.post(f"/customers/{customer}/rewards", json={"reward_id": ride["id"]}))
    assert taken["points"] == 100 and api.balance(customer) == 150
    assert api.ok(api.get("/loyalty/rewards"), 200)[0]["stock"] == 1
    api.ok(api.post(f"/customers/{customer}/rewards", json={"reward_id": ride["id"]}))
    assert api.balance(customer) == 50
    empty = api.post(f"/customers/{customer}/rewards", json={"reward_id": ride["id"]})  # stock 0
    assert empty.status_code == 409 and empty.json()["code"] == "out_of_stock"
    api.ok(api.patch(f"/loyalty/rewards/{ride['id']}", json={"stock": 5}), 200)
    short = api.post(f"/customers/{customer}/rewards", json={"reward_id": ride["id"]})  # 50 points < 100
    assert short.status_code == 409 and short.json()["field"] == "points"
    assert api.ok(api.get("/loyalty/rewards"), 200)[0]["stock"] == 5  # the unit was not taken
    assert api.balance(customer) == 50 and len(api.ok(api.get(f"/customers/{customer}/rewards"), 200)) == 2
    assert api.post("/loyalty/rewards", json={"name": "X", "cost_points": 0}).status_code == 422
    assert api.post("/loyalty/rewards", json={"name": "X", "cost_points": 5, "stock": -1}).status_code == 422
    assert role_api("agent").post("/loyalty/rewards", json={"name": "X", "cost_points": 5}).status_code == 403
    assert (
        role_api("viewer").post(f"/customers/{customer}/rewards", json={"reward_id": ride["id"]}).status_code
        == 403
    )
    assert other_api.post(f"/customers/{customer}/rewards", json={"reward_id": ride["id"]}).status_code == 404
    stranger = other_api.customer()
    assert other_api.post(f"/customers/{stranger}/rewards", json={"reward_id": ride["id"]}).status_code == 404


def test_parallel_redemptions_of_the_last_units_never_oversell(api, db):
    """Six customers with enough points race for a reward with 2 units left: exactly two get it."""
    org_id = api.tenant.org_id
    customers = [api.customer(first_name=f"C{i}") for i in range(6)]
    for customer in customers:
        earn(api, customer, 100)
    reward = api.ok(api.post("/loyalty/rewards", json={"name": "Helmet", "cost_points": 60, "stock": 2}))
    queue = list(customers)
    lock = threading.Lock()

    def take(session) -> None:
        with lock:
            customer = queue.pop()
        rewards.do_redeem_reward(session, org_id=org_id, reward_id=reward["id"], customer_id=customer)

    assert race(db, org_id, 6, take) == ["ok"] * 2 + ["refused"] * 4
    assert api.ok(api.get("/loyalty/rewards"), 200)[0]["stock"] == 0
    assert sorted(api.balance(c) for c in customers) == [40, 40, 100, 100, 100, 100]
    with db() as session:
        assert session.scalar(select(func.count(RewardRedemption.id))) == 2


# --- coupons -----------------------------------------------------------------------------------------


def campaign(api, **fields) -> dict:
    body = {"name": "Welcome", "kind": "amount", "value": "5.00"} | fields
    return api.ok(api.post("/loyalty/coupon-campaigns", json=body))


def test_codes_are_unique_unguessable_and_used_once(api, role_api, other_api):
    made = campaign(api)
    codes = api.ok(api.post(f"/loyalty/coupon-campaigns/{made['id']}/codes", json={"count": 500}))["codes"]
    assert len(codes) == len(set(codes)) == 500 and all(CODE.match(code) for code in codes)
    listed = api.ok(api.get(f"/loyalty/coupon-campaigns/{made['id']}/codes", params={"limit": 500}), 200)
    assert listed["total"] == 500
    customer = api.customer()
    use = api.ok(api.post("/loyalty/coupons/redeem", json={"code": codes[0].replace("-", "").lower(),
                                                           "customer_id": customer, "order_value": "3.20"}))  # fmt: skip
    assert use["discount"] == 3.20  # 5.00 off, never more than the order
    again = api.post(
        "/loyalty/coupons/redeem", json={"code": codes[0], "customer_id": customer, "order_value": "30"}
    )
    assert again.status_code == 409 and again.json()["code"] == "coupon_used"
    over = api.post(
        "/loyalty/coupons/redeem", json={"code": codes[1], "customer_id": customer, "order_value": "30"}
    )
    assert over.status_code == 409 and over.json()["code"] == "coupon_limit"  # one per customer
    assert api.ok(api.get("/loyalty/coupon-campaigns"), 200)[0] | {"id": 0, "starts_at": None} == {
        "id": 0, "name": "Welcome", "kind": "amount", "value": 5.0, "currency": "EUR", "min_order_value": 0.0,
        "starts_at": None, "expires_at": None, "per_customer_limit": 1, "active": True, "codes": 500, "redeemed": 1,
    }  # fmt: skip
    assert other_api.post("/loyalty/coupons/redeem", json={"code": codes[2], "customer_id": other_api.customer(),
                                                           "order_value": "30"}).status_code == 404  # fmt: skip
    assert other_api.get(f"/loyalty/coupon-campaigns/{made['id']}/codes").status_code == 404
    assert role_api("viewer").post("/loyalty/coupons/redeem", json={"code": codes[2], "customer_id": customer,
                                                                    "order_value": "30"}).status_code == 403  # fmt: skip
    assert (
        role_api("agent").post(f"/loyalty/coupon-campaigns/{made['id']}/codes", json={"count": 1}).status_code
        == 403
    )


def test_personal_codes_expiry_minimum_and_bad_campaigns(api):
    ada, bo = api.customer(), api.customer(first_name="Bo")
    past = datetime.now(UTC) - timedelta(days=1)
    personal = campaign(api, kind="percent", value="12.5", min_order_value="20.00", per_customer_limit=2)
    codes = api.ok(
        api.post(f"/loyalty/coupon-campaigns/{personal['id']}/codes", json={"customer_ids": [ada, bo]})
    )
    ada_code, bo_code = codes["codes"]
    mine = {c["code"] for c in api.ok(api.get(f"/customers/{ada}/coupons"), 200)}
    assert len(mine) == 1 and mine <= {ada_code, bo_code}
    ada_code = mine.pop()
    bo_code = codes["codes"][0] if codes["codes"][1] == ada_code else codes["codes"][1]
    wrong = api.post(
        "/loyalty/coupons/redeem", json={"code": bo_code, "customer_id": ada, "order_value": "40"}
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "coupon_code"
    small = api.post(
        "/loyalty/coupons/redeem", json={"code": ada_code, "customer_id": ada, "order_value": "19.99"}
    )
    assert small.status_code == 422
    # 12.5 % of 33.33 = 4.16625 -> 4.17
    assert api.ok(api.post("/loyalty/coupons/redeem", json={"code": ada_code, "customer_id": ada,
                                                            "order_value": "33.33"}))["discount"] == 4.17  # fmt: skip
    ended = campaign(
        api, name="Old", starts_at=(past - timedelta(days=9)).isoformat(), expires_at=past.isoformat()
    )
    old = api.ok(api.post(f"/loyalty/coupon-campaigns/{ended['id']}/codes", json={"count": 1}))["codes"][0]
    expired = api.post("/loyalty/coupons/redeem", json={"code": old, "customer_id": ada, "order_value": "40"})
    assert expired.status_code == 409 and expired.json()["code"] == "coupon_expired"
    for body, field in (({"kind": "percent", "value": "120"}, "value"), ({"value": "0"}, "value"),
                        ({"per_customer_limit": 0}, "per_customer_limit"), ({"kind": "free"}, "kind"),
                        ({"starts_at": "2026-05-01T00:00:00Z", "expires_at": "2026-04-01T00:00:00Z"}, "expires_at")):  # fmt: skip
        response = api.post(
            "/loyalty/coupon-campaigns", json={"name": "Bad", "kind": "amount", "value": "5"} | body
        )
        assert response.status_code == 422 and field in response.text, (body, response.text)
    assert len(api.ok(api.get("/loyalty/coupon-campaigns"), 200)) == 2  # the bad ones wrote nothing
    none = api.post(f"/loyalty/coupon-campaigns/{ended['id']}/codes", json={"count": 0})
    assert none.status_code == 422 and "count" in none.text
    # ending a campaign stops its unused codes; resuming makes them work again
    fresh = campaign(api, name="Summer")
    summer = api.ok(api.post(f"/loyalty/coupon-campaigns/{fresh['id']}/codes", json={"count": 1}))["codes"][0]
    assert (
        api.ok(api.patch(f"/loyalty/coupon-campaigns/{fresh['id']}", json={"active": False}), 200)["active"]
        is False
    )
    stopped = api.post(
        "/loyalty/coupons/redeem", json={"code": summer, "customer_id": bo, "order_value": "40"}
    )
    assert stopped.status_code == 409 and stopped.json()["code"] == "coupon_inactive"
    api.ok(api.patch(f"/loyalty/coupon-campaigns/{fresh['id']}", json={"active": True}), 200)
    api.ok(api.post("/loyalty/coupons/redeem", json={"code": summer, "customer_id": bo, "order_value": "40"}))


def test_parallel_redemptions_of_one_code_never_both_succeed(api, db):
    """Eight transactions at once use the same code: exactly one passes, one use is recorded."""
    org_id = api.tenant.org_id
    made = campaign(api, per_customer_limit=10)
    code = api.ok(api.post(f"/loyalty/coupon-campaigns/{made['id']}/codes", json={"count": 1}))["codes"][0]
    customer = api.customer()

    def use(session) -> None:
        coupons.do_redeem_coupon(session, org_id=org_id, code=code, customer_id=customer,
                                 order_value=Decimal("50.00"), currency="EUR")  # fmt: skip

    assert race(db, org_id, 8, use) == ["ok"] + ["refused"] * 7
    with db() as session:
        assert session.scalar(select(func.count(CouponUse.id))) == 1


def test_parallel_redemptions_of_different_codes_respect_the_customer_limit(api, db):
    """A limit of 2 per customer, six different codes of the campaign used at once: exactly two pass."""
    org_id = api.tenant.org_id
    made = campaign(api, per_customer_limit=2)
    codes = api.ok(api.post(f"/loyalty/coupon-campaigns/{made['id']}/codes", json={"count": 6}))["codes"]
    customer = api.customer()
    lock = threading.Lock()

    def use(session) -> None:
        with lock:
            code = codes.pop()
        coupons.do_redeem_coupon(session, org_id=org_id, code=code, customer_id=customer,
                                 order_value=Decimal("50.00"), currency="EUR")  # fmt: skip

    assert race(db, org_id, 6, use) == ["ok"] * 2 + ["refused"] * 4
    with db() as session:
        assert sorted(session.scalars(select(CouponUse.sequence))) == [1, 2]


# --- gift certificates -------------------------------------------------------------------------------


def test_gift_certificates_are_spent_in_parts_and_never_below_zero(api, role_api, other_api):
    customer = api.customer()
    issued = api.ok(api.post("/loyalty/gift-certificates", json={"amount": "50.00", "customer_id": customer}))
    assert CODE.match(issued["code"]) and issued["balance"] == 50.0
    code = issued["code"]
    spent = api.ok(api.post("/loyalty/gift-certificates/spend", json={"code": code, "amount": "19.99",
                                                                      "reference": "order:1"}))  # fmt: skip
    assert spent["balance_after"] == 30.01  # 50.00 - 19.99
    refused = api.post("/loyalty/gift-certificates/spend", json={"code": code, "amount": "30.02"})
    assert refused.status_code == 409 and refused.json()["field"] == "amount"
    api.ok(
        api.post("/loyalty/gift-certificates/spend", json={"code": code, "amount": "30.01"})
    )  # to the cent
    looked_up = api.ok(api.post("/loyalty/gift-certificates/balance", json={"code": code.lower()}), 200)
    assert looked_up["balance"] == 0.0 and looked_up["initial_amount"] == 50.0
    statement = api.ok(api.get(f"/loyalty/gift-certificates/{issued['id']}/entries"), 200)
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in statement] == [
        ("issue", 50.0, 50.0), ("spend", -19.99, 30.01), ("spend", -30.01, 0.0)]  # fmt: skip
    assert [g["code"] for g in api.ok(api.get(f"/customers/{customer}/gift-certificates"), 200)] == [code]
    for body, field in (({"amount": "0"}, "amount"), ({"amount": "100000.01"}, "amount"),
                        ({"amount": "10", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
                        ({"amount": "10", "currency": "euro"}, "currency")):  # fmt: skip
        response = api.post("/loyalty/gift-certificates", json=body)
        assert response.status_code == 422 and field in response.text, (body, response.text)
    assert len(api.ok(api.get("/loyalty/gift-certificates"), 200)) == 1
    assert other_api.post("/loyalty/gift-certificates/balance", json={"code": code}).status_code == 404
    assert (
        other_api.post("/loyalty/gift-certificates/spend", json={"code": code, "amount": "1"}).status_code
        == 404
    )
    assert role_api("agent").post("/loyalty/gift-certificates", json={"amount": "10"}).status_code == 403
    assert (
        role_api("viewer")
        .post("/loyalty/gift-certificates/spend", json={"code": code, "amount": "1"})
        .status_code
        == 403
    )


def test_an_expired_certificate_cannot_be_spent(api, db):
    issued = api.ok(api.post("/loyalty/gift-certificates", json={
        "amount": "20.00", "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()}))  # fmt: skip
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=api.tenant.org_id, label="test")
        try:
            gifts.do_spend_certificate(session, org_id=api.tenant.org_id, code=issued["code"], amount=Decimal("5"),
                                       now=datetime.now(UTC) + timedelta(days=31))  # fmt: skip
            raise AssertionError("an expired certificate was spent")
        except Conflict as exc:
            assert exc.code == "certificate_expired"
    assert (
        api.ok(api.post("/loyalty/gift-certificates/balance", json={"code": issued["code"]}), 200)["balance"]
        == 20.0
    )


def test_parallel_spends_of_one_certificate_never_overdraw_it(api, db):
    """Eight spends of 15.00 at once from 50.00: exactly three pass and 5.00 is left."""
    org_id = api.tenant.org_id
    code = api.ok(api.post("/loyalty/gift-certificates", json={"amount": "50.00"}))["code"]

    def spend(session) -> None:
        gifts.do_spend_certificate(session, org_id=org_id, code=code, amount=Decimal("15.00"))

    assert race(db, org_id, 8, spend) == ["ok"] * 3 + ["refused"] * 5
    assert api.ok(api.post("/loyalty/gift-certificates/balance", json={"code": code}), 200)["balance"] == 5.0
    with db() as session:
        assert session.scalar(select(func.count(GiftCertificateEntry.id))) == 4


def test_merge_moves_coupons_and_certificates_and_the_export_lists_them(api, db):
    survivor, duplicate = api.customer(), api.customer(first_name="Ann", last_name="Dup")
    made = campaign(api, per_customer_limit=3)
    codes = api.ok(api.post(f"/loyalty/coupon-campaigns/{made['id']}/codes", json={"count": 2}))["codes"]
    for customer, code in ((survivor, codes[0]), (duplicate, codes[1])):
        api.ok(
            api.post(
                "/loyalty/coupons/redeem", json={"code": code, "customer_id": customer, "order_value": "9"}
            )
        )
    gift = api.ok(api.post("/loyalty/gift-certificates", json={"amount": "25.00", "customer_id": duplicate}))
    api.ok(api.post(f"/customers/{survivor}/merge", json={"duplicate_id": duplicate}), 200)
    assert [g["id"] for g in api.ok(api.get(f"/customers/{survivor}/gift-certificates"), 200)] == [gift["id"]]
    with db() as session:
        uses = session.execute(select(CouponUse.customer_id, CouponUse.sequence).order_by(CouponUse.id)).all()
    assert [tuple(u) for u in uses] == [(survivor, 1), (survivor, 2)]  # renumbered after the survivor's own
    exported = api.ok(api.get(f"/customers/{survivor}/privacy-export"), 200)["related"]["loyalty"]
    assert [g["code"] for g in exported["gift_certificates"]] == [gift["code"]]
    assert [u["discount"] for u in exported["coupon_uses"]] == ["5.00", "5.00"]
    link = api.ok(api.post(f"/customers/{survivor}/loyalty-link"))
    assert api.client.get(link["url"]).status_code == 200
    api.ok(api.post(f"/customers/{survivor}/erase"), 200)
    assert api.client.get(link["url"]).status_code == 404  # the personal page stops working at once
