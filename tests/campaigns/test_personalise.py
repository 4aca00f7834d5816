"""Personalisation: recommended products fall back to the best sellers of the category the customer
bought most of (without what they already have), and the points balance comes from loyalty."""

from __future__ import annotations

from .conftest import CAMPAIGNS


def test_recommendations_are_the_best_sellers_of_the_customers_favourite_category(client, tenant, make_customer,
                                                                                 make_campaign):  # fmt: skip
    def post(path: str, body: dict) -> dict:
        response = client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()

    gear = post("/api/v1/product-categories", {"name": "Gear"})["id"]
    food = post("/api/v1/product-categories", {"name": "Food"})["id"]
    products = {name: post("/api/v1/products", {"sku": name.upper().replace(" ", "-"), "name": name, "price": "5.00",
                                                "category_id": category})["id"]
                for name, category in (("Helmet", gear), ("Gloves", gear), ("Light", gear), ("Lock", gear),
                                       ("Bell", gear), ("Coffee", food))}  # fmt: skip

    def buy(customer_id: int, name: str, quantity: int) -> None:
        post("/api/v1/orders", {"customer_id": customer_id, "channel": "app", "status": "paid",
                                "lines": [{"product_id": products[name], "quantity": quantity}]})  # fmt: skip

    ada = make_customer(tenant, consents=("in_app",), first_name="Ada")
    crowd = make_customer(tenant, first_name="Crowd")
    # planted sales of Gear: Gloves 9, Helmet 7 (2 of them Ada's), Light 5, Lock 3, Bell 1; Coffee 50
    for name, quantity in (
        ("Gloves", 9),
        ("Helmet", 5),
        ("Light", 5),
        ("Lock", 3),
        ("Bell", 1),
        ("Coffee", 50),
    ):
        buy(crowd, name, quantity)
    buy(ada, "Helmet", 2)  # Ada's favourite category is Gear (2 items) over Food (1)
    buy(ada, "Coffee", 1)
    assert client.post(
        f"/api/v1/customers/{ada}/points", json={"points": 40}, headers=tenant.headers
    ).is_success

    campaign = make_campaign(tenant, channels=["in_app"], audience={"kind": "filter", "filter": {"q": "Ada"}},
                             variants=[{"name": "A", "subject": "For you",
                                        "body": "{{ points }} points; {{ recommended_products | join(', ') }}"}])  # fmt: skip
    shown = client.post(f"{CAMPAIGNS}/{campaign['id']}/preview", json={}, headers=tenant.headers).json()
    assert [p["body"] for p in shown] == ["40 points; Gloves, Light, Lock"]

    nobody = make_customer(tenant, consents=("in_app",), first_name="Nobody")
    assert nobody
    campaign = make_campaign(tenant, channels=["in_app"], audience={"kind": "filter", "filter": {"q": "Nobody"}},
                             variants=[{"name": "A", "subject": "x", "body": "[{{ recommended_products | join(', ') }}]"}])  # fmt: skip
    shown = client.post(f"{CAMPAIGNS}/{campaign['id']}/preview", json={}, headers=tenant.headers).json()
    assert [p["body"] for p in shown] == ["[]"]
