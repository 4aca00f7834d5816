"""Customer hooks: a merge moves the duplicate's orders, the privacy export lists orders with their lines,
and an erasure keeps the orders (financial records holding nothing personal)."""

from __future__ import annotations

from decimal import Decimal


def test_merge_moves_orders_to_the_kept_customer(api):
    kept, duplicate = api.customer(first_name="Ann"), api.customer(first_name="Anne")
    product = api.product()
    api.order(kept, [{"product_id": product["id"], "quantity": 1}])
    moved = api.order(duplicate, [{"product_id": product["id"], "quantity": 2}])
    response = api.post(f"/customers/{kept}/merge", json={"duplicate_id": duplicate})
    assert response.status_code == 200, response.text
    assert api.get(f"/orders/{moved['id']}").json()["customer_id"] == kept
    summary = api.get(f"/customers/{kept}/orders").json()
    assert summary["count"] == 2 and Decimal(str(summary["spent"])) == Decimal("59.97")


def test_privacy_export_lists_orders_with_lines_and_erasure_keeps_them(api):
    ann, bob = api.customer(first_name="Ann"), api.customer(first_name="Bob")
    product = api.product("PASS-10", "19.99")
    order = api.order(ann, [{"product_id": product["id"], "quantity": 3}], discount="5.00")
    api.order(bob, [{"product_id": product["id"], "quantity": 1}])

    response = api.get(f"/customers/{ann}/privacy-export")
    assert response.status_code == 200, response.text
    orders = response.json()["related"]["orders"]["orders"]
    assert [(o["id"], o["number"], o["total"]) for o in orders] == [(order["id"], order["number"], "54.97")]
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in orders[0]["lines"]] == [("PASS-10", 3, "19.99")]

    assert api.post(f"/customers/{ann}/erase").status_code == 200
    kept = api.get(f"/orders/{order['id']}").json()
    assert kept["customer_id"] == ann and Decimal(str(kept["total"])) == Decimal("54.97")
    assert api.get("/orders").json()["total"] == 2
