"""The demo's catalogue and two years of purchase history, written through the orders service's bulk path.

How customers buy (all drawn from the shared ``random.Random``, in a fixed order):

* **repeat buying** - each customer has a purchase rate (orders a year) drawn from a gamma distribution,
  so counts over the period are a gamma mixture of Poisson counts (negative binomial, as the BG/NBD model
  assumes): many customers buy once or twice, a few buy every few weeks. VIP and business customers buy
  more often;
* **spend level** - a gamma-distributed multiplier of basket size and of the chance to pick dearer products;
* **seasonality** - orders are thinned from a Poisson process by a monthly weight: more in November and
  December, fewer in the summer months;
* **churn** - about a quarter of customers (more among those tagged ``churn-risk``) stop buying at a
  moment at least six months before the anchor;
* a preferred **channel** per customer, products from the categories of the services they use, and
  statuses by age: old orders delivered (a few cancelled or refunded), recent ones pending, paid or shipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from patron.orders import service as orders_service
from patron.orders.bulk import PreparedLine, PreparedOrder
from patron.orders.pricing import ZERO, cents, line_total, order_totals
from patron.simulate.clock import SimulatedClock
from patron.simulate.history import DemoCustomer
from patron.simulate.people import weighted

Progress = Callable[[str, int, int], None]

HISTORY = timedelta(days=730)
#: churners buy nothing in this window before the anchor
QUIET_BEFORE_ANCHOR = timedelta(days=190)
#: monthly weight of the purchase rate (1 = an ordinary month)
SEASON = {1: 0.85, 2: 0.9, 3: 1.0, 4: 1.0, 5: 1.0, 6: 0.8, 7: 0.7, 8: 0.75, 9: 1.0, 10: 1.05, 11: 1.45, 12: 1.8}
PEAK = max(SEASON.values())
CHANNEL_MIX = {"app": 40, "web": 30, "store": 12, "device": 8, "phone": 5, "marketplace": 5}
#: category -> (parent category, whether it is delivered at once, products (sku, name, price))
CATALOGUE: dict[str, tuple[str | None, bool, tuple[tuple[str, str, str], ...]]] = {
    "Services": (None, True, ()),
    "Hardware": (None, False, ()),
    "Ride passes": ("Services", True, (
        ("RIDE-10", "10-ride city pass", "24.90"), ("RIDE-30", "30-ride city pass", "64.90"),
        ("RIDE-WEEK", "Unlimited week pass", "19.90"), ("RIDE-MONTH", "Unlimited month pass", "59.00"),
        ("RIDE-AIRPORT", "Airport transfer voucher", "39.00"), ("RIDE-NIGHT", "Night-ride bundle", "14.90"),
        ("RIDE-XL", "XL ride credit", "29.90"), ("RIDE-GIFT", "Ride gift card", "25.00"),
    )),
    "Delivery": ("Services", True, (
        ("DLV-FEE", "Express delivery", "4.90"), ("DLV-10", "10 delivery credits", "34.90"),
        ("DLV-GROC", "Grocery box", "42.00"), ("DLV-MEAL", "Meal kit for two", "29.90"),
        ("DLV-FLOWER", "Flower delivery", "32.00"), ("DLV-PHARMA", "Pharmacy run", "6.90"),
        ("DLV-PARCEL", "Parcel pick-up", "7.50"), ("DLV-SAMEDAY", "Same-day courier", "12.90"),
    )),
    "Subscriptions": ("Services", True, (
        ("SUB-PLUS-M", "Plus membership, month", "7.99"), ("SUB-PLUS-Y", "Plus membership, year", "79.00"),
        ("SUB-PREM-M", "Premium membership, month", "14.99"), ("SUB-PREM-Y", "Premium membership, year", "149.00"),
        ("SUB-FAMILY", "Family plan, month", "19.99"), ("SUB-CLOUD", "Home cloud video, month", "3.99"),
    )),
    "Smart home": ("Hardware", False, (
        ("SH-HUB", "Smart home hub", "129.00"), ("SH-THERMO", "Smart thermostat", "189.00"),
        ("SH-PLUG", "Smart plug", "24.90"), ("SH-PLUG-4", "Smart plug, 4-pack", "79.90"),
        ("SH-BULB", "Colour bulb E27", "19.90"), ("SH-CAM-IN", "Indoor camera", "69.00"),
        ("SH-CAM-OUT", "Outdoor camera", "139.00"), ("SH-DOOR", "Door and window sensor", "29.90"),
        ("SH-SMOKE", "Smoke detector", "49.00"), ("SH-LOCK", "Smart lock", "229.00"),
        ("SH-METER", "Energy meter clamp", "59.00"), ("SH-VALVE", "Radiator valve", "54.90"),
    )),
    "Wearables": ("Hardware", False, (
        ("WR-BAND", "Fitness band", "49.90"), ("WR-BAND-PRO", "Fitness band Pro", "89.00"),
        ("WR-WATCH", "Smartwatch", "199.00"), ("WR-WATCH-LTE", "Smartwatch LTE", "279.00"),
        ("WR-RING", "Sleep ring", "249.00"), ("WR-KIDS", "Kids' GPS watch", "99.00"),
        ("WR-TAG", "Item tracker tag", "29.00"), ("WR-TAG-4", "Item tracker, 4-pack", "99.00"),
        ("WR-HR", "Heart-rate chest strap", "59.00"), ("WR-BUDS", "Sport earbuds", "129.00"),
    )),
    "Accessories": ("Hardware", False, (
        ("AC-STRAP", "Silicone strap", "14.90"), ("AC-STRAP-L", "Leather strap", "39.00"),
        ("AC-CHARGER", "Charging dock", "24.90"), ("AC-CABLE", "USB-C cable", "9.90"),
        ("AC-BATT", "Spare battery pack", "19.90"), ("AC-MOUNT", "Camera wall mount", "12.90"),
        ("AC-SOLAR", "Solar panel for outdoor camera", "44.00"), ("AC-GLASS", "Screen protector, 2-pack", "9.90"),
        ("AC-CASE", "Protective case", "19.90"), ("AC-BRIDGE", "Zigbee range extender", "34.90"),
        ("AC-SD", "microSD card 64 GB", "14.90"), ("AC-HOLDER", "Phone holder for bikes", "17.90"),
        ("AC-BAG", "Delivery cool bag", "22.00"), ("AC-KEYFOB", "Smart lock key fob", "19.00"),
        ("AC-REMOTE", "Scene remote", "29.90"), ("AC-ADAPTER", "Plug adapter set", "11.90"),
    )),
}  # fmt: skip
#: service line -> category weights of its customers' purchases
SERVICE_CATEGORIES = {
    "rides": {"Ride passes": 6.0, "Subscriptions": 1.0, "Accessories": 0.5},
    "delivery": {"Delivery": 6.0, "Subscriptions": 1.0, "Accessories": 0.3},
    "smart-home": {"Smart home": 3.0, "Accessories": 2.0, "Subscriptions": 0.8},
}
BASE_CATEGORIES = {"Wearables": 0.6, "Accessories": 0.5, "Subscriptions": 0.3}


@dataclass(frozen=True)
class CatalogueItem:
    product_id: int
    sku: str
    name: str
    price: Decimal
    category: str
    instant: bool


@dataclass(frozen=True)
class Buyer:
    """One customer's buying habits."""

    customer_id: int
    start: datetime
    rate: float  # orders a year in an ordinary month
    spend: float  # basket multiplier, mean 1
    channel: str
    churn_at: datetime | None
    categories: dict[str, float]


def draw_buyers(rng: random.Random, anchor: datetime, customers: list[DemoCustomer]) -> list[Buyer]:
    """Each customer's purchase rate, spend level, preferred channel, categories and (for churners) the
    moment they stop buying."""
    buyers = []
    latest_churn = anchor - QUIET_BEFORE_ANCHOR
    for customer in customers:
        tags = set(customer.spec.tags)
        rate = rng.gammavariate(0.8, 3.5) * (2.0 if "vip" in tags else 1.0) * (1.5 if "b2b" in tags else 1.0)
        spend = rng.gammavariate(4.0, 0.25)
        channel = weighted(rng, CHANNEL_MIX)
        churner = rng.random() < (0.45 if "churn-risk" in tags else 0.22)
        start = max(customer.spec.signup_at, anchor - HISTORY)
        fraction = rng.random()
        churn_at = None
        if churner:
            churn_at = start + (latest_churn - start) * (0.25 + 0.75 * fraction) if start < latest_churn else start
        categories = dict(BASE_CATEGORIES)
        for service in customer.spec.services:
            for name, weight in SERVICE_CATEGORIES.get(service, {}).items():
                categories[name] = categories.get(name, 0.0) + weight
        buyers.append(Buyer(customer.id, start, min(rate, 40.0), spend, channel, churn_at, categories))
    return buyers


def _status(rng: random.Random, age: timedelta, instant: bool) -> str:
    draw = rng.random()
    if draw < 0.04:
        return "cancelled"
    if draw < 0.07 and age > timedelta(days=3):
        return "refunded"
    days = age.total_seconds() / 86400
    if instant:
        return "delivered" if days >= 1 else "paid"
    if days < 1:
        return "pending" if draw < 0.5 else "paid"
    if days < 3:
        return "paid" if draw < 0.4 else "shipped"
    if days < 7:
        return "shipped" if draw < 0.45 else "delivered"
    return "delivered"


def _lines(rng: random.Random, buyer: Buyer, by_category: dict[str, list[CatalogueItem]], when: datetime):
    count = 1 + min(5, int(rng.expovariate(1.6) * (0.6 + 0.4 * buyer.spend)))
    lines: list[PreparedLine] = []
    seen: set[int] = set()
    black_friday = when.month == 11 and when.day >= 20
    for _ in range(count):
        category = weighted(rng, buyer.categories)
        items = by_category[category]
        dear = rng.random() < min(0.8, 0.35 * buyer.spend)
        ranked = sorted(items, key=lambda item: item.price)
        half = len(ranked) // 2
        item = rng.choice(ranked[half:] if dear else ranked[: max(half, 1)])
        quantity = 1 + (int(rng.expovariate(1.0) * buyer.spend) if item.instant or item.price < 30 else 0)
        quantity = min(quantity, 6)
        if item.product_id in seen:
            continue
        seen.add(item.product_id)
        discount = ZERO
        if black_friday and not item.instant:
            discount = cents(item.price * quantity * Decimal("0.20"))
        lines.append(PreparedLine(item.product_id, item.sku, item.name, quantity, item.price, discount,
                                  line_total(quantity, item.price, discount)))  # fmt: skip
    return lines


def plan_orders(
    rng: random.Random,
    anchor: datetime,
    buyers: list[Buyer],
    catalogue: list[CatalogueItem],
    *,
    currency: str = "EUR",
) -> list[PreparedOrder]:
    """Every order of every buyer, oldest first."""
    by_category: dict[str, list[CatalogueItem]] = {}
    instant = {item.sku: item.instant for item in catalogue}
    for item in catalogue:
        by_category.setdefault(item.category, []).append(item)
    orders: list[PreparedOrder] = []
    for buyer in buyers:
        end = min(anchor, buyer.churn_at) if buyer.churn_at is not None else anchor
        daily = buyer.rate * PEAK / 365.0
        moment = buyer.start
        while daily > 0:
            gap = rng.expovariate(daily)
            if gap * 86400 >= (end - moment).total_seconds():
                break
            moment += timedelta(days=gap)
            if rng.random() >= SEASON[moment.month] / PEAK:
                continue
            when = moment.replace(hour=rng.randint(7, 21), minute=rng.randint(0, 59), second=0, microsecond=0)
            if when >= end:
                when = moment.replace(microsecond=0)
            channel = buyer.channel if rng.random() < 0.65 else weighted(rng, CHANNEL_MIX)
            lines = _lines(rng, buyer, by_category, when)
            status = _status(rng, anchor - when, all(instant[line.sku] for line in lines))
            subtotal = sum((line.line_total for line in lines), ZERO)
            discount = cents(subtotal * Decimal("0.10")) if rng.random() < 0.12 else ZERO
            changed = None
            if status == "cancelled":
                changed = min(anchor, when + timedelta(minutes=rng.randint(10, 2 * 24 * 60)))
            elif status == "refunded":
                changed = min(anchor, when + timedelta(days=rng.uniform(3, 30)))
            orders.append(
                PreparedOrder(
                    customer_id=buyer.customer_id,
                    channel=channel,
                    status=status,
                    ordered_at=when,
                    currency=currency,
                    totals=order_totals([(line.quantity, line.line_total) for line in lines], discount),
                    lines=lines,
                    status_changed_at=changed,
                )
            )
    orders.sort(key=lambda order: (order.ordered_at, order.customer_id))
    return orders


def write_catalogue(session: Session, *, org_id: int) -> list[CatalogueItem]:
    """The demo's product categories and products, through the orders service."""
    category_ids: dict[str, int] = {}
    items: list[CatalogueItem] = []
    for name, (parent, instant, products) in CATALOGUE.items():
        category = orders_service.create_category(
            session, org_id=org_id, name=name, parent_id=category_ids.get(parent) if parent else None
        )
        category_ids[name] = category.id
        for sku, product_name, price in products:
            product = orders_service.create_product(
                session,
                org_id=org_id,
                sku=sku,
                name=product_name,
                price=price,
                category_id=category.id,
                attributes={"delivery": "instant" if instant else "shipped"},
            )
            items.append(CatalogueItem(product.id, sku, product_name, product.price, name, instant))
    return items


def write_orders(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    anchor: datetime,
    customers: list[DemoCustomer],
    progress: Progress,
) -> dict[str, int]:
    """Create the catalogue and the customers' purchase history of the last two years (see the module
    docs). Returns counts: product_categories, products, orders, order_lines, churners."""
    progress("Orders", 0, 3)
    clock.set(anchor - HISTORY)
    catalogue = write_catalogue(session, org_id=org_id)
    progress("Orders", 1, 3)
    buyers = draw_buyers(rng, anchor, customers)
    orders = plan_orders(rng, anchor, buyers, catalogue, currency=orders_service.org_currency(session, org_id=org_id))
    progress("Orders", 2, 3)
    orders_service.create_orders_bulk(
        session, org_id=org_id, orders=orders, action="orders.demo", audit_details={"source": "demo"}
    )
    progress("Orders", 3, 3)
    return {
        "product_categories": len(CATALOGUE),
        "products": len(catalogue),
        "orders": len(orders),
        "order_lines": sum(len(order.lines) for order in orders),
        "churners": sum(1 for buyer in buyers if buyer.churn_at is not None),
    }
