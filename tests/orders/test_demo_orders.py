"""The demo purchase history: repeat buying is over-dispersed, November and December sell above the
monthly mean, churners stop buying at least six months before the anchor, and a seed gives the same
history every time. Then the history is written through the bulk path and read back."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.orders import service as orders_service
from patron.simulate.clock import SimulatedClock
from patron.simulate.history import DemoCustomer
from patron.simulate.orders import CATALOGUE, CatalogueItem, draw_buyers, plan_orders, write_orders
from patron.simulate.people import make_customers

ANCHOR = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def catalogue() -> list[CatalogueItem]:
    items = []
    for category, (_parent, instant, products) in CATALOGUE.items():
        for sku, name, price in products:
            items.append(CatalogueItem(len(items) + 1, sku, name, Decimal(price), category, instant))
    return items


def history(seed: int, count: int = 2000):
    rng = random.Random(seed)
    customers = [DemoCustomer(id=i + 1, spec=spec) for i, spec in enumerate(make_customers(rng, ANCHOR, count))]
    buyers = draw_buyers(rng, ANCHOR, customers)
    return customers, buyers, plan_orders(rng, ANCHOR, buyers, catalogue())


@pytest.fixture(scope="module")
def demo():
    return history(7)


def test_the_catalogue_fits_a_connected_services_company():
    items = catalogue()
    assert len(CATALOGUE) == 8 and 55 <= len(items) <= 65
    assert len({item.sku for item in items}) == len(items)
    assert {"Ride passes", "Delivery", "Smart home", "Wearables", "Accessories", "Subscriptions"} <= set(CATALOGUE)


def test_repeat_buying_is_over_dispersed(demo):
    customers, _buyers, orders = demo
    per_customer = Counter(order.customer_id for order in orders)
    counts = [per_customer.get(customer.id, 0) for customer in customers]
    mean, variance = statistics.mean(counts), statistics.pvariance(counts)
    # a gamma mixture of Poisson counts (negative binomial, the BG/NBD assumption): variance well above the mean
    assert 1.5 < mean < 8
    assert variance > 3 * mean
    assert counts.count(0) > 0.1 * len(counts)  # many never buy in the window
    assert max(counts) > 5 * mean  # and a few buy very often
    assert sum(1 for c in counts if c >= 2) > 0.3 * len(counts)  # repeat buyers


def test_november_and_december_sell_above_the_monthly_mean_and_summer_below(demo):
    _customers, _buyers, orders = demo
    by_month = Counter(order.ordered_at.month for order in orders)
    mean = statistics.mean(by_month[m] for m in range(1, 13))
    assert by_month[11] > 1.15 * mean and by_month[12] > 1.3 * mean
    assert by_month[7] < 0.85 * mean


def test_churners_buy_nothing_in_the_last_six_months(demo):
    customers, buyers, orders = demo
    churners = {buyer.customer_id for buyer in buyers if buyer.churn_at is not None}
    assert 0.18 * len(customers) < len(churners) < 0.32 * len(customers)
    last = {}
    for order in orders:
        last[order.customer_id] = max(last.get(order.customer_id, order.ordered_at), order.ordered_at)
    six_months_ago = ANCHOR - timedelta(days=183)
    assert all(last[c] < six_months_ago for c in churners if c in last)
    assert sum(1 for c in churners if c in last) > 0.35 * len(churners)  # many bought before they left
    recent_others = {c for c, moment in last.items() if c not in churners and moment >= six_months_ago}
    assert len(recent_others) > 0.4 * (len(customers) - len(churners))


def test_statuses_channels_and_totals_look_like_a_shop(demo):
    _customers, _buyers, orders = demo
    statuses = Counter(order.status for order in orders)
    assert statuses["delivered"] > 0.8 * len(orders)
    assert 0.02 * len(orders) < statuses["cancelled"] + statuses["refunded"] < 0.12 * len(orders)
    recent = [o for o in orders if ANCHOR - o.ordered_at < timedelta(days=2)]
    assert all(o.status in ("pending", "paid", "shipped", "delivered", "cancelled") for o in recent)
    old_open = [o for o in orders if ANCHOR - o.ordered_at > timedelta(days=8) and o.status in ("pending", "shipped")]
    assert old_open == []
    channels = Counter(order.channel for order in orders)
    assert set(channels) == {"app", "web", "store", "device", "phone", "marketplace"}
    assert channels["app"] > channels["phone"]
    for order in orders[:500]:
        assert order.totals.subtotal == sum(line.line_total for line in order.lines)
        assert order.totals.total == order.totals.subtotal - order.totals.discount >= 0
        assert ANCHOR - timedelta(days=731) <= order.ordered_at <= ANCHOR


def test_the_same_seed_gives_the_same_history():
    first, second, other = history(11, 300)[2], history(11, 300)[2], history(12, 300)[2]

    def fingerprint(orders):
        return [(o.customer_id, o.ordered_at, o.status, o.channel, o.totals.total, [ln.sku for ln in o.lines])
                for o in orders]  # fmt: skip

    assert fingerprint(first) == fingerprint(second)
    assert fingerprint(first) != fingerprint(other)


def test_write_orders_stores_the_history_with_timeline_entries(db, tenant):
    rng = random.Random(3)
    specs = make_customers(rng, ANCHOR, 40)
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        customers = []
        for spec in specs:
            customer = customers_service.create_customer(
                session, org_id=tenant.org_id, data={"first_name": spec.first_name, "last_name": spec.last_name}
            )
            customers.append(DemoCustomer(id=customer.id, spec=spec))
        clock = SimulatedClock(ANCHOR - timedelta(days=800))
        steps = []
        with clock.running(session):
            counts = write_orders(
                session,
                org_id=tenant.org_id,
                rng=rng,
                clock=clock,
                anchor=ANCHOR,
                customers=customers,
                progress=lambda step, done, total: steps.append((step, done, total)),
            )
    assert counts["product_categories"] == 8 and counts["products"] == len(catalogue())
    assert counts["orders"] > 40 and counts["order_lines"] >= counts["orders"]
    assert steps[-1] == ("Orders", 3, 3)
    with session_scope(db) as session:
        orders, total = orders_service.list_orders(session, org_id=tenant.org_id, limit=10_000)
        assert total == counts["orders"]
        assert sorted(o.number for o in orders) == list(range(1, total + 1))
        lines = orders_service.lines_for(session, org_id=tenant.org_id, order_ids=[o.id for o in orders])
        assert sum(len(v) for v in lines.values()) == counts["order_lines"]
        for order in orders[:50]:
            assert order.total == sum(line.line_total for line in lines[order.id]) - order.discount
        buyer = max(Counter(o.customer_id for o in orders).items(), key=lambda item: item[1])[0]
        page = customers_service.list_timeline(
            session, org_id=tenant.org_id, customer_id=buyer, kinds=["order.placed"], limit=500
        )
        assert len(page.items) == sum(1 for o in orders if o.customer_id == buyer)
        assert all(item.summary.startswith("Order #") and "€" in item.summary for item in page.items)
