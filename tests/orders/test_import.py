"""CSV import of orders through the API and the CLI: grouping rows into orders, matching customers and
products, all-or-nothing on a bad row, idempotence on order_id, and bulk timeline entries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.devices.support import problem

HEADER = "order_id,customer_email,ordered_at,status,channel,sku,quantity,unit_price,discount,order_discount\n"


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@pytest.fixture
def shop(api):
    ann = api.customer(first_name="Ann", email="ann@example.com")
    bob = api.customer(first_name="Bob", email="bob@example.com")
    api.product("PASS-10", "19.99")
    api.product("HUB", "129.00")
    return ann, bob


def test_rows_are_grouped_into_orders_and_a_second_import_adds_nothing(api, shop):
    ann, bob = shop
    text = HEADER + (
        "W-1,ann@example.com,2024-05-01 10:00,delivered,web,PASS-10,3,,,5.00\n"
        "W-2,bob@example.com,2024-05-02T09:30:00Z,paid,app,HUB,1,99.00,,\n"
        "W-1,ann@example.com,2024-05-01 10:00,delivered,web,HUB,1,,10.00,5.00\n"
        "\n"
        "W-3,ANN@example.com,2024-06-01,cancelled,store,PASS-10,1,,,\n"
    )
    response = api.import_csv(text)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["orders_created"], report["lines_created"], report["orders_skipped"]) == (4, 3, 4, 0)
    assert report["rows_per_second"] > 0

    anns = api.get(f"/customers/{ann}/orders").json()
    assert anns["count"] == 2
    w1 = next(o for o in anns["items"] if o["external_id"] == "W-1")
    detail = api.get(f"/orders/{w1['id']}").json()
    assert [(line["sku"], line["quantity"]) for line in detail["lines"]] == [("PASS-10", 3), ("HUB", 1)]
    # 3 x 19.99 + (129.00 - 10.00) - 5.00
    assert money(detail["subtotal"]) == Decimal("178.97") and money(detail["total"]) == Decimal("173.97")
    assert detail["ordered_at"].startswith("2024-05-01T10:00:00")  # read in the organisation's zone, UTC
    assert money(anns["spent"]) == Decimal("173.97")  # W-3 was cancelled
    bobs = api.get(f"/orders?customer_id={bob}").json()["items"]
    assert [(o["external_id"], o["channel"], o["status"], money(o["total"])) for o in bobs] == [
        ("W-2", "app", "paid", Decimal("99.00"))
    ]

    kinds = [i["kind"] for i in api.get(f"/customers/{ann}/timeline").json()["items"]]
    assert kinds.count("order.placed") == 2 and kinds.count("order.cancelled") == 1

    again = api.import_csv(text).json()
    assert (again["orders_created"], again["lines_created"], again["orders_skipped"]) == (0, 0, 3)
    assert api.get("/orders").json()["total"] == 3


def test_one_bad_row_and_nothing_is_imported(api, shop):
    good = "G-1,ann@example.com,2024-05-01,delivered,web,PASS-10,1,,,\n"
    cases = [
        ("G-2,ann@example.com,2024-05-01,delivered,web,NOPE,1,,,\n", 3, "sku"),
        ("G-2,ann@example.com,2024-05-01,delivered,web,PASS-10,-1,,,\n", 3, "quantity"),
        ("G-2,ann@example.com,2024-05-01,delivered,web,PASS-10,two,,,\n", 3, "quantity"),
        ("G-2,ann@example.com,2024-05-01,delivered,web,PASS-10,1,abc,,\n", 3, "unit_price"),
        ("G-2,ann@example.com,2024-05-01,delivered,web,PASS-10,1,,50.00,\n", 3, "discount"),
        ("G-2,nobody@example.com,2024-05-01,delivered,web,PASS-10,1,,,\n", 3, "customer_email"),
        ("G-2,ann@example.com,yesterday,delivered,web,PASS-10,1,,,\n", 3, "ordered_at"),
        ("G-2,ann@example.com,2024-05-01,lost,web,PASS-10,1,,,\n", 3, "status"),
        ("G-2,ann@example.com,2024-05-01,delivered,fax,PASS-10,1,,,\n", 3, "channel"),
        ("G-1,bob@example.com,2024-05-01,delivered,web,PASS-10,1,,,\n", 3, "customer_id"),
        (",ann@example.com,2024-05-01,delivered,web,PASS-10,1,,,\n", 3, "order_id"),
    ]
    for bad, row, field in cases:
        body = problem(api.import_csv(HEADER + good + bad), 422, field)
        assert body["detail"].startswith(f"Row {row}: {field}"), body
        assert "Nothing was imported" in body["detail"]
        assert body["errors"][0]["row"] == row
    assert api.get("/orders").json()["total"] == 0
    problem(api.import_csv("order_id,customer_email,sku\nA,ann@example.com,PASS-10\n"), 422, "ordered_at")
    dry = api.import_csv(HEADER + good, dry_run=True).json()
    assert dry["orders_created"] == 1 and dry["dry_run"] is True
    assert api.get("/orders").json()["total"] == 0


def test_unknown_skus_become_products_when_asked(api, shop):
    text = HEADER + (
        "N-1,ann@example.com,2024-05-01,delivered,web,NEW-1,2,5.50,,\n"
        "N-2,bob@example.com,2024-05-02,delivered,web,NEW-1,1,,,\n"
    )
    body = problem(api.import_csv(text), 422, "sku")
    assert "NEW-1" in body["detail"] and "create_products" in body["detail"]
    report = api.import_csv(text, create_products=True).json()
    assert report["products_created"] == 1 and report["orders_created"] == 2
    product = api.get("/products", params={"q": "NEW-1"}).json()["items"][0]
    assert money(product["price"]) == Decimal("5.50")
    totals = sorted(money(o["total"]) for o in api.get("/orders").json()["items"])
    assert totals == [Decimal("5.50"), Decimal("11.00")]
    lines = api.get(f"/orders/{api.get('/orders').json()['items'][0]['id']}").json()["lines"]
    assert lines[0]["product_id"] == product["id"]




def test_the_cli_imports_prints_counts_and_speed_and_fails_in_one_line(api, shop, cli, tenant, tmp_path):
    lines = [HEADER.strip()]
    for number in range(300):
        email = "ann@example.com" if number % 2 else "bob@example.com"
        lines += [f"C-{number},{email},2024-05-01,delivered,web,PASS-10,1,,,",
                  f"C-{number},{email},2024-05-01,delivered,web,HUB,2,,,"]  # fmt: skip
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("orders", "import", path, "--org", tenant.slug)
    assert result.exit_code == 0, result.output
    assert "600 rows - created 300 orders with 600 lines, skipped 0 already imported" in result.output
    assert "rows/s" in result.output
    assert api.get("/orders").json()["total"] == 300
    again = cli("orders", "import", path, "--org", tenant.slug)
    assert "created 0 orders with 0 lines, skipped 300 already imported" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "B-1,ann@example.com,2024-05-01,delivered,web,NOPE,1,,,\n", encoding="utf-8")
    failed = cli("orders", "import", bad, "--org", tenant.slug)
    assert failed.exit_code == 1
    assert failed.output.strip().startswith("Error: Row 2: sku: no product with SKU 'NOPE'")
    assert "Traceback" not in failed.output and len(failed.output.strip().splitlines()) == 1
    assert api.get("/orders").json()["total"] == 300
