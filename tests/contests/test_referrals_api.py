"""Referrals through the API: personal codes, a referral recorded with a code, qualified and rewarded when
the referred customer's first order is paid (through the orders hook), points to both sides once, the
refusals (self-referral, a second referral, the cap, a customer who ordered before), the ambassador board,
tenant isolation and roles."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from patron.contests.models import Referral
from patron.contests.referrals import CODE_ALPHABET

from .conftest import problem


def code_of(api, customer_id: int) -> str:
    return api.ok("post", f"/customers/{customer_id}/referral-code", 201)["code"]


def test_a_code_is_short_unambiguous_and_stable(api):
    customer = api.customer()
    problem(api.get(f"/customers/{customer}/referral-code"), 404, "customer_id")
    code = code_of(api, customer)
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{8}}", code)
    assert not set(code) & set("01OIL")
    assert (
        api.ok("post", f"/customers/{customer}/referral-code", 200)["code"] == code
    )  # the same on asking again
    assert api.ok("get", f"/customers/{customer}/referral-code")["code"] == code
    codes = {code_of(api, api.customer()) for _ in range(20)}
    assert len(codes) == 20 and code not in codes


def test_referral_is_rewarded_once_when_the_first_order_is_paid(api):
    api.product()
    ambassador, friend = api.customer(first_name="Amb"), api.customer(first_name="Friend")
    code = code_of(api, ambassador)
    # codes are read without regard to case, spaces or dashes
    typed = f"{code[:4].lower()}-{code[4:]}"
    referral = api.ok("post", "/referrals", 201, json={"code": typed, "customer_id": friend})
    assert referral == referral | {"referrer_id": ambassador, "referred_id": friend, "code": code,
                                   "status": "pending", "referrer_points": 0, "referred_points": 0}  # fmt: skip
    pending = api.order(friend, status="pending")
    assert api.ok("get", "/referrals")["items"][0]["status"] == "pending"
    paid = api.ok("patch", f"/orders/{pending['id']}", json={"status": "paid"})
    assert paid["status"] == "paid"
    rewarded = api.ok("get", "/referrals")["items"][0]
    assert rewarded == rewarded | {"status": "rewarded", "order_id": pending["id"], "referrer_points": 100,
                                   "referred_points": 50}  # fmt: skip
    assert rewarded["qualified_at"] and rewarded["rewarded_at"]
    assert (api.balance(ambassador), api.balance(friend)) == (100, 50)
    # further paid orders and status moves pay nothing more
    api.order(friend, status="paid")
    api.ok("patch", f"/orders/{pending['id']}", json={"status": "delivered"})
    assert (api.balance(ambassador), api.balance(friend)) == (100, 50)
    points = api.ok("get", f"/customers/{ambassador}/points")["items"]
    assert [(p["delta"], p["source"]) for p in points] == [(100, f"referral:{referral['id']}")]


def test_an_order_placed_as_paid_qualifies_too_with_the_programme_terms(api):
    api.product()
    api.ok(
        "put", "/referral-program", json={"referrer_points": 300, "referred_points": 0, "max_referrals": 5}
    )
    ambassador, friend = api.customer(), api.customer()
    api.ok("post", "/referrals", 201, json={"code": code_of(api, ambassador), "customer_id": friend})
    api.order(friend, status="delivered")
    assert (api.balance(ambassador), api.balance(friend)) == (300, 0)
    assert api.ok("get", "/referrals", params={"status": "rewarded"})["total"] == 1


def test_an_erased_side_never_blocks_the_order_and_staff_reward_later(api):
    api.product()
    ambassador, friend = api.customer(), api.customer()
    referral = api.ok(
        "post", "/referrals", 201, json={"code": code_of(api, ambassador), "customer_id": friend}
    )
    problem(api.post(f"/referrals/{referral['id']}/reward"), 409, "status")  # still pending
    api.ok("post", f"/customers/{ambassador}/erase")
    order = api.order(friend, status="paid")  # the order goes through although the referrer cannot be paid
    assert order["status"] == "paid"
    left = api.ok("get", "/referrals")["items"][0]
    assert (left["status"], left["order_id"], api.balance(friend)) == ("qualified", order["id"], 0)
    problem(api.post(f"/referrals/{referral['id']}/reward"), 409)  # the erased referrer still cannot be paid
    api.ok(
        "put", "/referral-program", json={"referrer_points": 0, "referred_points": 50, "max_referrals": 20}
    )
    rewarded = api.ok("post", f"/referrals/{referral['id']}/reward")
    assert (rewarded["status"], rewarded["referred_points"], api.balance(friend)) == ("rewarded", 50, 50)
    assert api.ok("post", f"/referrals/{referral['id']}/reward")["status"] == "rewarded"
    assert api.balance(friend) == 50


def test_refusals_write_nothing(api, db, tenant):
    api.product()
    ambassador = api.customer()
    code = code_of(api, ambassador)
    body = problem(api.post("/referrals", json={"code": code, "customer_id": ambassador}), 422, "code")
    assert body["code"] == "self_referral"
    returning = api.customer()
    api.order(returning, status="paid")
    assert problem(api.post("/referrals", json={"code": code, "customer_id": returning}), 409,
                   "customer_id")["code"] == "not_new"  # fmt: skip
    problem(api.post("/referrals", json={"code": "ZZZZZZZZ", "customer_id": returning}), 404, "code")
    problem(api.post("/referrals", json={"code": "", "customer_id": returning}), 422, "code")
    problem(api.post("/referrals", json={"code": code, "customer_id": 0}), 422, "customer_id")
    problem(api.put("/referral-program", json={"referrer_points": -1, "referred_points": 0, "max_referrals": 1}),
            422, "referrer_points")  # fmt: skip
    with db() as session:
        assert session.scalar(select(func.count(Referral.id)).where(Referral.org_id == tenant.org_id)) == 0
    friend = api.customer()
    api.ok("post", "/referrals", 201, json={"code": code, "customer_id": friend})
    second = code_of(api, api.customer())
    assert problem(api.post("/referrals", json={"code": second, "customer_id": friend}), 409,
                   "customer_id")["code"] == "already_referred"  # fmt: skip


def test_the_cap_per_referrer(api):
    api.ok(
        "put", "/referral-program", json={"referrer_points": 10, "referred_points": 10, "max_referrals": 2}
    )
    code = code_of(api, api.customer())
    for _ in range(2):
        api.ok("post", "/referrals", 201, json={"code": code, "customer_id": api.customer()})
    capped = problem(api.post("/referrals", json={"code": code, "customer_id": api.customer()}), 409, "code")
    assert capped["code"] == "referral_cap"


def test_ambassador_board(api):
    api.product()
    names = ("Top", "Second", "Third")
    ambassadors = [api.customer(first_name=name) for name in names]
    codes = [code_of(api, a) for a in ambassadors]
    # Top: 3 referrals, 2 paid; Second: 2 referrals, both paid; Third: 4 referrals, none paid
    plan = {0: (3, 2), 1: (2, 2), 2: (4, 0)}
    for index, (made, paying) in plan.items():
        for n in range(made):
            friend = api.customer()
            api.ok("post", "/referrals", 201, json={"code": codes[index], "customer_id": friend})
            if n < paying:
                api.order(friend, status="paid")
    board = api.ok("get", "/referrals/ambassadors")
    # rewarded first (Top and Second tie at 2; Top has more referrals), then Third
    assert [(b["rank"], b["name"], b["rewarded"], b["referrals"]) for b in board] == [
        (1, "Top", 2, 3), (2, "Second", 2, 2), (3, "Third", 0, 4)]  # fmt: skip


def test_other_tenants_and_roles(api, other_api, role_api):
    customer = api.customer()
    code = code_of(api, customer)
    problem(other_api.post(f"/customers/{customer}/referral-code"), 404, "customer_id")
    problem(other_api.get(f"/customers/{customer}/referral-code"), 404, "customer_id")
    stranger = other_api.customer()
    problem(other_api.post("/referrals", json={"code": code, "customer_id": stranger}), 404, "code")
    problem(api.post("/referrals", json={"code": code, "customer_id": stranger}), 404, "customer_id")
    assert other_api.ok("get", "/referrals")["total"] == 0
    viewer = role_api("viewer")
    assert viewer.ok("get", f"/customers/{customer}/referral-code")["code"] == code
    problem(viewer.post(f"/customers/{api.customer()}/referral-code"), 403)
    problem(viewer.post("/referrals", json={"code": code, "customer_id": api.customer()}), 403)
    problem(role_api("agent").put("/referral-program", json={"referrer_points": 1, "referred_points": 1,
                                                             "max_referrals": 1}), 403)  # fmt: skip
