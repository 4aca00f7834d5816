"""Catalogue and orders through the API: totals in Decimal, defaults, status moves, the timeline, bad input
naming the field, roles and tenant isolation."""

from __future__ import annotations

from decimal import Decimal

from tests.devices.support import problem


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def order_count(api) -> int:
    return api.get("/orders").json()["total"]


def test_three_at_19_99_less_5_00_is_54_97_as_an_order_or_a_line_discount(api):
    ann = api.customer(first_name="Ann")
    product = api.product("PASS-10", "19.99", name="10-ride pass")
    by_order = api.order(ann, [{"product_id": product["id"], "quantity": 3}], discount="5.00")
    assert money(by_order["subtotal"]) == Decimal("59.97")
    assert money(by_order["discount"]) == Decimal("5.00")
    assert money(by_order["total"]) == Decimal("54.97")
    assert by_order["item_count"] == 3 and by_order["currency"] == "EUR" and by_order["status"] == "pending"
    line = by_order["lines"][0]
    assert (line["sku"], line["name"], line["quantity"]) == ("PASS-10", "10-ride pass", 3)
    assert money(line["unit_price"]) == Decimal("19.99") and money(line["line_total"]) == Decimal("59.97")

    by_line = api.order(ann, [{"sku": "PASS-10", "quantity": 3, "discount": "5.00"}])
    assert money(by_line["lines"][0]["line_total"]) == Decimal("54.97")
    assert money(by_line["total"]) == Decimal("54.97") and money(by_line["discount"]) == 0
    assert by_line["number"] == by_order["number"] + 1

    # ten lines of 0.10 add up to exactly 1.00 (a float sum would not)
    cheap = api.product("STICKER", "0.10")
    tenth = api.order(ann, [{"product_id": cheap["id"], "quantity": 1}] * 10)
    assert money(tenth["total"]) == Decimal("1.00")

    summary = api.get(f"/customers/{ann}/orders").json()
    assert summary["count"] == 3 and summary["total"] == 3
    assert money(summary["spent"]) == Decimal("110.94")
    assert summary["first_order_at"] is not None and summary["last_order_at"] >= summary["first_order_at"]


def test_unit_price_given_overrides_the_catalogue_and_the_product_snapshot_stays(api):
    ann = api.customer(first_name="Ann")
    product = api.product("HUB", "129.00", name="Smart home hub")
    order = api.order(ann, [{"product_id": product["id"], "quantity": 2, "unit_price": "99.50"}])
    assert money(order["total"]) == Decimal("199.00")
    changed = api.patch(f"/products/{product['id']}", json={"name": "Hub v2", "price": "149.00", "sku": "HUB-2"})
    assert changed.status_code == 200, changed.text
    again = api.get(f"/orders/{order['id']}").json()
    assert again["lines"][0]["sku"] == "HUB" and again["lines"][0]["name"] == "Smart home hub"
    assert money(again["total"]) == Decimal("199.00")


def test_status_moves_follow_the_transitions_and_final_states_stay(api):
    ann = api.customer(first_name="Ann")
    product = api.product()
    order = api.order(ann, [{"product_id": product["id"], "quantity": 1}])
    for status in ("paid", "shipped", "delivered", "refunded"):
        response = api.patch(f"/orders/{order['id']}", json={"status": status})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    body = problem(api.patch(f"/orders/{order['id']}", json={"status": "paid"}), 422, "status")
    assert "refunded" in body["detail"] and "final" in body["detail"]
    assert api.get(f"/orders/{order['id']}").json()["status"] == "refunded"

    second = api.order(ann, [{"product_id": product["id"], "quantity": 1}])
    problem(api.patch(f"/orders/{second['id']}", json={"status": "refunded"}), 422, "status")  # pending -> refunded
    problem(api.patch(f"/orders/{second['id']}", json={"status": "lost"}), 422, "status")
    problem(api.patch(f"/orders/{second['id']}", json={"status": None}), 422, "status")
    assert api.get(f"/orders/{second['id']}").json()["status"] == "pending"

    summary = api.get(f"/customers/{ann}/orders").json()
    assert summary["count"] == 2 and money(summary["spent"]) == Decimal("19.99")  # the refunded one does not count


def test_orders_and_cancellations_go_on_the_timeline(api):
    ann = api.customer(first_name="Ann")
    product = api.product("PASS-10", "21.25")
    order = api.order(ann, [{"product_id": product["id"], "quantity": 2}], ordered_at="2024-05-01T10:00:00Z")
    assert api.patch(f"/orders/{order['id']}", json={"status": "cancelled"}).status_code == 200
    items = api.get(f"/customers/{ann}/timeline").json()["items"]
    placed = [i for i in items if i["kind"] == "order.placed"]
    cancelled = [i for i in items if i["kind"] == "order.cancelled"]
    assert [i["summary"] for i in placed] == [f"Order #{order['number']} · 2 items · €42.50"]
    assert placed[0]["occurred_at"].startswith("2024-05-01T10:00:00")
    assert placed[0]["ref_type"] == "order" and placed[0]["ref_id"] == order["id"]
    assert len(cancelled) == 1 and cancelled[0]["summary"].startswith(f"Order #{order['number']} cancelled")

    assert api.delete(f"/orders/{order['id']}").status_code == 204
    assert not [i for i in api.get(f"/customers/{ann}/timeline").json()["items"] if i["kind"].startswith("order.")]
    problem(api.get(f"/orders/{order['id']}"), 404, "order_id")


def test_bad_input_names_the_field_and_writes_nothing(api, other_api):
    ann = api.customer(first_name="Ann")
    product = api.product()
    foreign = other_api.product("FOREIGN", "5.00")
    line = {"product_id": product["id"], "quantity": 1}
    cases = [
        ({"lines": [{"product_id": 999999, "quantity": 1}]}, 404, "lines.0.product_id"),
        ({"lines": [{"product_id": foreign["id"], "quantity": 1}]}, 404, "lines.0.product_id"),
        ({"lines": [line, {"sku": "NOPE", "quantity": 1}]}, 404, "lines.1.sku"),
        ({"lines": [{"product_id": product["id"], "quantity": -2}]}, 422, "lines.0.quantity"),
        ({"lines": [{"product_id": product["id"], "quantity": 0}]}, 422, "lines.0.quantity"),
        ({"lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "-1"}]}, 422, "lines.0.unit_price"),
        ({"lines": [{"product_id": product["id"], "quantity": 1, "discount": "25.00"}]}, 422, "lines.0.discount"),
        ({"lines": [line], "discount": "20.00"}, 422, "discount"),
        ({"lines": [line], "currency": "EURO"}, 422, "currency"),
        ({"lines": [line], "currency": "usd"}, 422, "lines.0.unit_price"),  # priced in EUR: needs a USD price
        ({"lines": [line], "channel": "fax"}, 422, "channel"),
        ({"lines": [line], "status": "lost"}, 422, "status"),
        ({"lines": [line], "ordered_at": "2024-05-01T10:00:00"}, 422, "ordered_at"),
        ({"lines": []}, 422, "lines"),
        ({"lines": [{"quantity": 1}]}, 422, "lines.0"),
        ({"lines": [line], "customer_id": 999999}, 404, "customer_id"),
    ]
    for changes, status, field in cases:
        body = {"customer_id": ann, "channel": "web", **changes}
        problem(api.post("/orders", json=body), status, field)
    assert order_count(api) == 0
    assert api.get(f"/customers/{ann}/timeline").json()["items"][0]["kind"] == "customer.created"

    usd = api.order(ann, [{**line, "unit_price": "21.00"}], currency="usd")
    assert usd["currency"] == "USD" and money(usd["total"]) == Decimal("21.00")
    taken = api.post("/orders", json={"customer_id": ann, "channel": "web", "lines": [line], "external_id": "X1"})
    assert taken.status_code == 201
    problem(api.post("/orders", json={"customer_id": ann, "channel": "web", "lines": [line], "external_id": "X1"}),
            409, "external_id")  # fmt: skip
    problem(api.post("/products", json={"sku": "PASS-10", "name": "Again", "price": "1.00"}), 409, "sku")
    problem(api.post("/products", json={"sku": "has space", "name": "X", "price": "1.00"}), 422, "sku")
    problem(api.post("/products", json={"sku": "OK", "name": "X", "price": "NaN"}), 422, "price")
    problem(api.post("/products", json={"sku": "OK", "name": "X", "price": "1", "category_id": 999}), 404,
            "category_id")  # fmt: skip


def test_catalogue_tree_and_a_product_on_orders_is_deactivated_not_deleted(api):
    services = api.post("/product-categories", json={"name": "Services"}).json()
    rides = api.post("/product-categories", json={"name": "Ride passes", "parent_id": services["id"]})
    assert rides.status_code == 201 and rides.json()["parent_id"] == services["id"]
    problem(api.post("/product-categories", json={"name": "Services"}), 409, "name")
    problem(api.post("/product-categories", json={"name": "X", "parent_id": 99999}), 404, "parent_id")
    names = [c["name"] for c in api.get("/product-categories").json()]
    assert names == ["Ride passes", "Services"]

    pass_ = api.product("PASS-10", "19.99", category_id=rides.json()["id"])
    spare = api.product("SPARE", "1.00")
    listing = api.get("/products", params={"category_id": rides.json()["id"]}).json()
    assert [p["sku"] for p in listing["items"]] == ["PASS-10"] and listing["total"] == 1
    api.order(api.customer(first_name="Ann"), [{"product_id": pass_["id"], "quantity": 1}])

    body = problem(api.delete(f"/products/{pass_['id']}"), 409, "product_id")
    assert "deactivate" in body["detail"]
    retired = api.patch(f"/products/{pass_['id']}", json={"active": False})
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert [p["sku"] for p in api.get("/products", params={"active": "true"}).json()["items"]] == ["SPARE"]
    assert api.delete(f"/products/{spare['id']}").status_code == 204
    problem(api.get(f"/products/{spare['id']}"), 404, "product_id")


def test_order_filters(api):
    ann, bob = api.customer(first_name="Ann"), api.customer(first_name="Bob")
    product = api.product()
    line = [{"product_id": product["id"], "quantity": 1}]
    api.order(ann, line, channel="app", ordered_at="2024-01-10T09:00:00Z")
    api.order(ann, line, channel="store", status="paid", ordered_at="2024-03-10T09:00:00Z")
    api.order(bob, line, channel="app", status="delivered", ordered_at="2024-05-10T09:00:00+02:00")

    def numbers(**params):
        body = api.get("/orders", params=params).json()
        assert body["total"] == len(body["items"])
        return [o["number"] for o in body["items"]]

    assert numbers() == [3, 2, 1]
    assert numbers(customer_id=ann) == [2, 1]
    assert numbers(channel="app") == [3, 1]
    assert numbers(status="paid") == [2]
    assert numbers(**{"from": "2024-02-01T00:00:00Z", "to": "2024-05-10T07:00:00Z"}) == [2]
    assert numbers(**{"from": "2024-02-01T00:00:00Z", "to": "2024-05-10T07:00:01Z"}) == [3, 2]
    problem(api.get("/orders", params={"status": "lost"}), 422, "status")
    problem(api.get("/orders", params={"from": "2024-02-01T00:00:00"}), 422, "from")
    problem(api.get("/orders", params={"from": "2024-03-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"}), 422, "from")


def test_roles(api, role_api):
    ann = api.customer(first_name="Ann")
    product = api.product()
    line = [{"product_id": product["id"], "quantity": 1}]
    viewer, agent = role_api("viewer"), role_api("agent")
    problem(viewer.post("/orders", json={"customer_id": ann, "channel": "web", "lines": line}), 403)
    assert order_count(api) == 0
    assert viewer.get("/orders").status_code == 200 and viewer.get("/products").status_code == 200
    order = agent.order(ann, line)
    assert agent.patch(f"/orders/{order['id']}", json={"status": "paid"}).status_code == 200
    problem(agent.delete(f"/orders/{order['id']}"), 403)
    problem(agent.post("/products", json={"sku": "A", "name": "A", "price": "1"}), 403)
    problem(agent.patch(f"/products/{product['id']}", json={"active": False}), 403)
    problem(agent.post("/product-categories", json={"name": "A"}), 403)
    problem(agent.import_csv("order_id,customer_id,ordered_at,sku\n"), 403)
    assert api.get(f"/products/{product['id']}").json()["active"] is True
    assert order_count(api) == 1


def test_another_organisations_records_are_not_found_and_stay_unchanged(api, other_api):
    ann = api.customer(first_name="Ann")
    product = api.product()
    category = api.post("/product-categories", json={"name": "Services"}).json()
    order = api.order(ann, [{"product_id": product["id"], "quantity": 1}])
    line = [{"sku": "PASS-10", "quantity": 1}]
    problem(other_api.get(f"/orders/{order['id']}"), 404, "order_id")
    problem(other_api.patch(f"/orders/{order['id']}", json={"status": "paid"}), 404, "order_id")
    problem(other_api.delete(f"/orders/{order['id']}"), 404, "order_id")
    problem(other_api.get(f"/customers/{ann}/orders"), 404, "customer_id")
    problem(other_api.post("/orders", json={"customer_id": ann, "channel": "web", "lines": line}), 404,
            "customer_id")  # fmt: skip
    problem(other_api.get(f"/products/{product['id']}"), 404, "product_id")
    problem(other_api.patch(f"/products/{product['id']}", json={"price": "0.01"}), 404, "product_id")
    problem(other_api.delete(f"/products/{product['id']}"), 404, "product_id")
    problem(other_api.post("/products", json={"sku": "X", "name": "X", "price": "1", "category_id": category["id"]}),
            404, "category_id")  # fmt: skip
    problem(other_api.post("/product-categories", json={"name": "Sub", "parent_id": category["id"]}), 404,
            "parent_id")  # fmt: skip
    csv = f"order_id,customer_id,ordered_at,sku\nE1,{ann},2024-05-01,PASS-10\n"
    problem(other_api.import_csv(csv), 422, "customer_id")
    assert other_api.get("/orders").json()["total"] == 0
    assert other_api.get("/products").json()["total"] == 0 and other_api.get("/product-categories").json() == []
    mine = api.get(f"/orders/{order['id']}").json()
    assert mine["status"] == "pending" and money(mine["total"]) == Decimal("19.99")
    assert money(api.get(f"/products/{product['id']}").json()["price"]) == Decimal("19.99")


def test_every_orders_field_in_the_openapi_document_is_described(client):
    spec = client.get("/api/v1/openapi.json").json()
    from patron.orders import schemas

    names = {name for name in dir(schemas) if isinstance(getattr(schemas, name), type)}
    missing = [
        f"{schema}.{field}"
        for schema, body in spec["components"]["schemas"].items()
        if schema in names
        for field, prop in body.get("properties", {}).items()
        if "description" not in prop
    ]
    assert missing == []
