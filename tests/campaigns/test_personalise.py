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


def test_recommendations_for_a_chunk_are_the_same_names_as_one_by_one(client, db, tenant, other_tenant,
                                                                      make_customer):  # fmt: skip
    from sqlalchemy import update

    from patron.campaigns import personalise
    from patron.orders import insights
    from patron.orders.models import Order, Product
    from patron.predictions import service as predictions_service
    from patron.predictions.models import CustomerPrediction

    def post(path: str, body: dict) -> dict:
        response = client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()

    gear = post("/api/v1/product-categories", {"name": "Gear"})["id"]
    food = post("/api/v1/product-categories", {"name": "Food"})["id"]
    products = {name: post("/api/v1/products", {"sku": name.upper(), "name": name, "price": "5.00",
                                                "category_id": category})["id"]
                for name, category in (("Helmet", gear), ("Gloves", gear), ("Light", gear), ("Lock", gear),
                                       ("Bell", gear), ("Horn", gear), ("Coffee", food), ("Tea", food))}  # fmt: skip

    def buy(customer_id: int, *lines: tuple[str, int]) -> int:
        return post("/api/v1/orders", {"customer_id": customer_id, "channel": "app", "status": "paid",
                                       "lines": [{"product_id": products[n], "quantity": q} for n, q in lines]})["id"]  # fmt: skip

    crowd = make_customer(tenant, first_name="Crowd")
    buy(crowd, ("Gloves", 9), ("Helmet", 5), ("Light", 5), ("Lock", 3), ("Bell", 1), ("Horn", 20),
        ("Coffee", 50), ("Tea", 4))  # fmt: skip
    ada = make_customer(tenant, first_name="Ada")  # Gear by 2 items to 1
    buy(ada, ("Helmet", 2), ("Coffee", 1))
    bea = make_customer(tenant, first_name="Bea")  # 3 Food to 1 Gear
    buy(bea, ("Tea", 3), ("Bell", 1))
    tie = make_customer(tenant, first_name="Tie")  # 2 and 2: the lower category id (Gear)
    buy(tie, ("Lock", 2), ("Coffee", 2))
    fay = make_customer(tenant, first_name="Fay")  # her cancelled Gloves do not count but are left out
    buy(fay, ("Light", 1))
    cancelled = buy(fay, ("Gloves", 5), ("Coffee", 9))
    nobody = make_customer(tenant, first_name="Nobody")
    dan = make_customer(tenant, first_name="Dan")  # a prediction, one of its products deleted since
    eve = make_customer(tenant, first_name="Eve")  # an empty prediction: the best sellers instead
    buy(eve, ("Coffee", 1))
    with db() as session:
        session.execute(update(Order).where(Order.id == cancelled).values(status="cancelled"))
        session.execute(update(Product).where(Product.id == products["Horn"]).values(active=False))
        session.add_all([
            CustomerPrediction(org_id=tenant.org_id, customer_id=dan, recommended_products=[
                {"product_id": products["Tea"], "score": 0.9, "source": "knn"},
                {"product_id": 999_999, "score": 0.8, "source": "knn"},
                {"product_id": products["Bell"], "score": 0.7, "source": "knn"},
                {"product_id": products["Lock"], "score": 0.6, "source": "knn"},
                {"product_id": products["Light"], "score": 0.5, "source": "knn"}]),
            CustomerPrediction(org_id=tenant.org_id, customer_id=eve, recommended_products=[]),
        ])  # fmt: skip
        session.commit()

    everyone = [crowd, ada, bea, tie, fay, nobody, dan, eve]
    with db() as session:
        one_by_one = {c: personalise.recommended_products(session, org_id=tenant.org_id, customer_id=c)
                      for c in everyone}  # fmt: skip
        chunk = personalise.recommended_products_many(session, org_id=tenant.org_id, customer_ids=everyone)
        shared = personalise.SharedReads()  # two chunks of a send: the second reuses the first's best sellers
        halves = {}
        for part in (everyone[:4], everyone[4:]):
            halves |= personalise.recommended_products_many(session, org_id=tenant.org_id, customer_ids=part,
                                                            shared=shared)  # fmt: skip
        predicted = predictions_service.recommended_products_many(session, org_id=tenant.org_id,
                                                                   customer_ids=everyone)  # fmt: skip
        predicted_one = {c: predictions_service.recommended_products(session, org_id=tenant.org_id, customer_id=c)
                         for c in everyone}  # fmt: skip
        favourites = insights.favourite_category_ids(session, org_id=tenant.org_id, customer_ids=everyone)
        favourite_one = {c: insights.favourite_category_id(session, org_id=tenant.org_id, customer_id=c)
                         for c in everyone}  # fmt: skip
        elsewhere = personalise.recommended_products_many(
            session, org_id=other_tenant.org_id, customer_ids=everyone
        )
    assert chunk == one_by_one and halves == one_by_one
    assert set(shared.best_sellers) == {gear, food}
    assert predicted == predicted_one
    assert favourites == {c: f for c, f in favourite_one.items() if f is not None}
    # planted: Horn is the best seller of Gear but no longer sold; each customer's own purchases are left out
    assert one_by_one == {
        crowd: [], ada: ["Gloves", "Light", "Lock"], bea: ["Coffee"], tie: ["Gloves", "Helmet", "Light"],
        fay: ["Helmet", "Lock", "Bell"], nobody: [], dan: ["Tea", "Bell", "Lock"], eve: ["Tea"],
    }  # fmt: skip
    assert favourites[tie] == gear and favourites[bea] == food and nobody not in favourites
    assert elsewhere == {c: [] for c in everyone}  # another organisation sees none of it
