"""A shop with a planted history: customers in four taste groups buy mostly from their group's products;
some stop buying; two write to the shop, one more and more unhappily, one more and more pleased."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.interactions import service as interactions_service
from patron.orders import service as orders_service
from patron.orders.bulk import PreparedLine, PreparedOrder
from patron.orders.pricing import Totals

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAYS = 540
GROUPS = 4
PER_GROUP = 15
SOURING = ["Where is my order? Still waiting.", "The app stopped working again, this is frustrating.",
           "Worst service ever, charged twice and no response. I want a refund!"]  # fmt: skip
WEIGHTS = [1 / (j + 1) for j in range(PER_GROUP)]
WARMING = ["The delivery was late.", "Thanks, the new pass works fine.", "Love it, great service, thank you!"]


@dataclass
class Shop:
    customers: list[int]
    group: dict[int, int]  # customer -> taste group
    product_group: dict[int, int]  # product -> group
    lapsed: set[int]  # stopped buying at least 200 days before AS_OF
    bought: dict[int, set[int]]  # customer -> products bought
    souring: int
    warming: int


def plant(session, *, org_id: int, n: int = 240, seed: int = 4) -> Shop:
    rng = random.Random(seed)
    products, product_group = [], {}
    for g in range(GROUPS):
        for j in range(PER_GROUP):
            product = orders_service.create_product(session, org_id=org_id, sku=f"G{g}-{j}", name=f"Group {g} item {j}",
                                                    price=Decimal(10 + j))  # fmt: skip
            products.append(product)
            product_group[product.id] = g
    start = AS_OF - timedelta(days=DAYS)
    customers, group, lapsed, orders, bought = [], {}, set(), [], {}
    for i in range(n):
        customer = customers_service.create_customer(
            session, org_id=org_id, data={"first_name": f"C{i}", "last_name": "Shopper"}
        )
        customers.append(customer.id)
        group[customer.id] = i % GROUPS
        own = [p for p in products if product_group[p.id] == i % GROUPS]
        first = rng.uniform(0, 150)
        stop = rng.uniform(150, DAYS - 200) if i % 3 == 0 else DAYS
        if stop < DAYS:
            lapsed.add(customer.id)
        day, gap = first, rng.gammavariate(2.0, 10.0)  # buying rates differ between customers
        while day < stop:
            picks = {
                rng.choice(own) if rng.random() < 0.9 else rng.choice(products)
                for _ in range(rng.randint(1, 2))
            }
            bought.setdefault(customer.id, set()).update(p.id for p in picks)
            lines = [PreparedLine(p.id, p.sku, p.name, 1, p.price, Decimal("0"), p.price) for p in picks]
            total = sum((p.price for p in picks), Decimal("0"))
            orders.append(PreparedOrder(customer_id=customer.id, channel="web", status="delivered",
                                        ordered_at=start + timedelta(days=day), currency="EUR",
                                        totals=Totals(len(lines), total, Decimal("0"), total), lines=lines))  # fmt: skip
            day += rng.expovariate(1 / gap)
    orders_service.create_orders_bulk(session, org_id=org_id, orders=orders)
    souring, warming = customers[1], customers[2]
    for customer_id, texts in ((souring, SOURING), (warming, WARMING)):
        for k, text in enumerate(texts):
            interactions_service.create_interaction(session, org_id=org_id, customer_id=customer_id, kind="email",
                                                    direction="inbound", body=text,
                                                    occurred_at=AS_OF - timedelta(days=90 - 40 * k))  # fmt: skip
    return Shop(customers, group, product_group, lapsed, bought, souring, warming)


@pytest.fixture
def shop(db, tenant) -> Shop:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        return plant(session, org_id=tenant.org_id)


def run(client, tenant, **body):
    body.setdefault("as_of", AS_OF.isoformat())
    return client.post("/api/v1/predictions/run", json=body, headers=tenant.headers)


