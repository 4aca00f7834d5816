"""The orders pages and the Orders card of the customer 360 page, rendered through the web app."""

from __future__ import annotations

from tests.web.conftest import sign_in


def test_orders_list_detail_and_customer_card(api, client, tenant):
    ann = api.customer(first_name="Ines", last_name="Moreau")
    product = api.product("PASS-10", "19.99", name="10-ride pass")
    first = api.order(ann, [{"product_id": product["id"], "quantity": 3}], discount="5.00", channel="app")
    for _ in range(5):
        api.order(ann, [{"product_id": product["id"], "quantity": 1}], channel="store", status="paid")
    sign_in(client, tenant.email, tenant.password)

    listing = client.get("/orders")
    assert listing.status_code == 200
    assert 'href="/orders"' in listing.text and "Ines Moreau" in listing.text
    assert f'href="/orders/{first["id"]}"' in listing.text and "€54.97" in listing.text
    filtered = client.get("/orders?channel=app")
    assert f'href="/orders/{first["id"]}"' in filtered.text and filtered.text.count('class="row-link"') == 1
    assert client.get("/orders?status=refunded").text.count('class="row-link"') == 0

    detail = client.get(f"/orders/{first['id']}")
    assert detail.status_code == 200
    assert "10-ride pass" in detail.text and "€59.97" in detail.text and "€54.97" in detail.text

    page = client.get(f"/customers/{ann}")
    card = page.text.split('id="orders"', 1)[1].split("</section>", 1)[0]
    assert "<dt>Orders</dt><dd>6</dd>" in card
    assert "€154.92" in card  # 54.97 + 5 x 19.99
    assert card.count('class="row-link"') == 5 and "All 6 orders" in card


def test_another_organisations_order_is_not_found_on_the_pages(
    api, other_api, client, other_tenant
):
    ann = api.customer(first_name="Ann")
    order = api.order(ann, [{"product_id": api.product()["id"], "quantity": 1}])
    sign_in(client, other_tenant.email, other_tenant.password)
    assert client.get(f"/orders/{order['id']}").status_code == 404
    assert "Ann" not in client.get("/orders").text
