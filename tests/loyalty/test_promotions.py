"""Promotions and coupons priced into orders placed through the API. Every total below is worked out by
hand in the comment above its assertion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def shop(api) -> dict:
    clothes, electronics = api.category("Clothes"), api.category("Electronics")
    return {
        "clothes": clothes, "electronics": electronics,
        "shirt_a": api.product("SHIRT-A", "30.00", category_id=clothes)["id"],
        "shirt_b": api.product("SHIRT-B", "20.00", category_id=clothes)["id"],
        "socks": api.product("SOCKS", "5.00", category_id=clothes)["id"],
        "charger": api.product("CHARGER", "49.90", category_id=electronics)["id"],
        "sticker": api.product("STICKER", "2.50")["id"],
    }  # fmt: skip


def promotion(api, **fields) -> dict:
    return api.ok(api.post("/loyalty/promotions", json=fields))


def line(product_id: int, quantity: int = 1) -> dict:
    return {"product_id": product_id, "quantity": quantity}


def money(order: dict) -> tuple[float, float, float]:
    return order["subtotal"], order["discount"], order["total"]


def test_three_for_two_gives_the_cheapest_of_every_three_units(api, shop):
    customer = api.customer()
    promotion(api, name="3 for 2 on clothes", kind="three_for_two", category_ids=[shop["clothes"]])
    # clothes units, dearest first: 30, 30, 20, 5, 5 -> the 3rd (20.00, shirt B) is free; 6th: none.
    # 2 x 30 + 20 + 2 x 5 + 49.90 = 139.90 - 20.00 = 119.90
    order = api.ok(api.order(customer, [line(shop["shirt_a"], 2), line(shop["shirt_b"]), line(shop["socks"], 2),
                                        line(shop["charger"])]))  # fmt: skip
    assert [ln["discount"] for ln in order["lines"]] == [0, 20.0, 0, 0]
    assert money(order) == (119.90, 0, 119.90)
    assert order["adjustments"] == [{"kind": "three_for_two", "name": "3 for 2 on clothes", "amount": 20.0,
                                     "promotion_id": order["adjustments"][0]["promotion_id"], "coupon_code": None}]  # fmt: skip
    # six units: 30, 30, 20, 5, 5, 5 -> 3rd (20.00) and 6th (5.00) free: 60 + 20 + 15 = 95 - 25 = 70.00
    order = api.ok(
        api.order(customer, [line(shop["shirt_a"], 2), line(shop["shirt_b"]), line(shop["socks"], 3)])
    )
    assert [ln["discount"] for ln in order["lines"]] == [0, 20.0, 5.0]
    assert money(order) == (70.0, 0, 70.0)


def test_only_the_best_exclusive_promotion_applies_and_stackable_ones_add_up(api, shop):
    customer = api.customer()
    percent = promotion(
        api, name="10% off electronics", kind="percent", value="10", category_ids=[shop["electronics"]]
    )
    per_unit = promotion(api, name="1 off socks", kind="amount", value="1.00", product_ids=[shop["socks"]])
    # exclusive: 10% of 49.90 = 4.99 against 4 x 1.00 = 4.00 -> only the 4.99; 49.90 + 20.00 - 4.99 = 64.91
    order = api.ok(api.order(customer, [line(shop["charger"]), line(shop["socks"], 4)]))
    assert [ln["discount"] for ln in order["lines"]] == [4.99, 0]
    assert money(order) == (64.91, 0, 64.91)
    # the per-unit promotion made stackable: both apply, 4.99 + 4.00 = 8.99 -> 69.90 - 8.99 = 60.91
    api.ok(api.patch(f"/loyalty/promotions/{per_unit['id']}", json={"stackable": True}), 200)
    order = api.ok(api.order(customer, [line(shop["charger"]), line(shop["socks"], 4)]))
    assert [ln["discount"] for ln in order["lines"]] == [4.99, 4.0]
    assert money(order) == (60.91, 0, 60.91)
    # 15% of 49.90 = 7.485 -> 7.49 (halves up, as a till rounds)
    api.ok(api.patch(f"/loyalty/promotions/{percent['id']}", json={"value": "15"}), 200)
    order = api.ok(api.order(customer, [line(shop["charger"])]))
    assert money(order) == (42.41, 0, 42.41)
    # an amount off larger than the unit price never takes a line below zero
    api.ok(api.patch(f"/loyalty/promotions/{per_unit['id']}", json={"value": "7.50"}), 200)
    order = api.ok(api.order(customer, [line(shop["socks"], 2)]))
    assert money(order) == (0, 0, 0)
    # an order placed with promotions off pays the list price
    order = api.ok(api.order(customer, [line(shop["charger"])], promotions=False))
    assert money(order) == (49.90, 0, 49.90)


def test_gift_with_purchase_adds_a_free_line_and_dates_bound_a_promotion(api, shop):
    customer = api.customer()
    promotion(api, name="Sticker with a charger", kind="gift", gift_product_id=shop["sticker"],
              category_ids=[shop["electronics"]], min_order_value="40.00")  # fmt: skip
    order = api.ok(api.order(customer, [line(shop["charger"])]))
    assert [(ln["sku"], ln["quantity"], ln["unit_price"], ln["discount"], ln["line_total"]) for ln in order["lines"]] == [
        ("CHARGER", 1, 49.90, 0, 49.90), ("STICKER", 1, 2.50, 2.50, 0)]  # fmt: skip
    assert money(order) == (49.90, 0, 49.90) and order["item_count"] == 2
    # nothing from electronics: no gift
    order = api.ok(api.order(customer, [line(shop["socks"], 3)]))
    assert len(order["lines"]) == 1
    # a promotion that ended yesterday, or starts tomorrow, does nothing today
    now = datetime.now(UTC)
    promotion(api, name="Past", kind="percent", value="50", ends_at=(now - timedelta(days=1)).isoformat(),
              starts_at=(now - timedelta(days=9)).isoformat())  # fmt: skip
    promotion(api, name="Future", kind="percent", value="50", starts_at=(now + timedelta(days=1)).isoformat())
    order = api.ok(api.order(customer, [line(shop["socks"], 3)]))
    assert money(order) == (15.0, 0, 15.0)


def test_a_coupon_code_takes_its_discount_once_after_the_promotions(api, shop, db):
    customer = api.customer()
    promotion(api, name="3 for 2", kind="three_for_two", category_ids=[shop["clothes"]])
    campaign = api.ok(api.post("/loyalty/coupon-campaigns", json={"name": "Spring", "kind": "percent", "value": "10",
                                                                  "min_order_value": "50.00"}))  # fmt: skip
    code = api.ok(api.post(f"/loyalty/coupon-campaigns/{campaign['id']}/codes", json={"count": 2}))["codes"][
        0
    ]
    # 2 x 30 + 20 = 80, shirt B free (3 for 2) -> 60.00; the coupon: 10% of 60.00 = 6.00 -> 54.00
    order = api.ok(
        api.order(customer, [line(shop["shirt_a"], 2), line(shop["shirt_b"])], coupon_code=code.lower())
    )
    assert money(order) == (60.0, 6.0, 54.0)
    assert order["adjustments"][-1] | {"promotion_id": None} == {"kind": "coupon", "name": "Spring", "amount": 6.0,
                                                                 "coupon_code": code, "promotion_id": None}  # fmt: skip
    # the same code again: 409, and no second order is written
    orders_before = api.ok(api.get("/orders"), 200)["total"]
    again = api.order(customer, [line(shop["shirt_a"], 2)], coupon_code=code)
    assert again.status_code == 409 and again.json()["field"] == "coupon_code"
    assert api.ok(api.get("/orders"), 200)["total"] == orders_before
    # below the campaign's minimum: 422 naming the field
    other = api.ok(api.post(f"/loyalty/coupon-campaigns/{campaign['id']}/codes", json={"count": 1}))["codes"][
        0
    ]
    small = api.order(customer, [line(shop["socks"])], coupon_code=other)
    assert small.status_code == 422 and small.json()["field"] == "coupon_code"
    assert api.order(customer, [line(shop["socks"])], coupon_code="NOPE-NOPE-NOPE").status_code == 404


def test_bad_promotions_are_refused_naming_the_field(api, shop, role_api, other_api):
    for body, status, field in (
        ({"name": "Half", "kind": "percent", "value": "150"}, 422, "value"),
        ({"name": "Gift", "kind": "gift"}, 422, "gift_product_id"),
        ({"name": "X", "kind": "amount", "value": "0"}, 422, "value"),
        ({"name": "X", "kind": "percent", "value": "5", "product_ids": [999999]}, 404, "product_ids"),
        ({"name": "X", "kind": "bogof"}, 422, "kind"),
        ({"name": "X", "kind": "percent", "value": "5", "starts_at": "2026-05-01T00:00:00Z",
          "ends_at": "2026-04-01T00:00:00Z"}, 422, "ends_at"),
    ):  # fmt: skip
        response = api.post("/loyalty/promotions", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
    assert api.ok(api.get("/loyalty/promotions"), 200) == []
    viewer = role_api("viewer")
    assert (
        viewer.post("/loyalty/promotions", json={"name": "X", "kind": "percent", "value": "5"}).status_code
        == 403
    )
    made = promotion(api, name="Five", kind="percent", value="5")
    assert other_api.patch(f"/loyalty/promotions/{made['id']}", json={"value": "50"}).status_code == 404
    assert other_api.ok(other_api.get("/loyalty/promotions"), 200) == []
    # another organisation's products cannot be put in scope
    foreign = other_api.product("FOREIGN", "1.00")["id"]
    assert api.post("/loyalty/promotions", json={"name": "X", "kind": "percent", "value": "5",
                                                 "product_ids": [foreign]}).status_code == 404  # fmt: skip
