"""The demo's loyalty programme, written through the loyalty services after the purchase history.

* **The programme**: 1 point per EUR, earnings expire after 24 months, tiers on the points of the last
  12 months (Silver, Gold, Platinum, each earning more per EUR), a purchase bonus, a survey rule and an
  app streak rule. It is switched on before the first demo order, so every paid order of the two years
  earns its points through :func:`patron.loyalty.earning.earn_for_order` at the moment it was placed
  (refunded ones are taken back a week later), and tiers rise and fall as they would have. Balances are
  therefore exactly the sums of the ledgers.
* **Rewards** with stock, redeemed over the last two months by customers who had the points.
* **Promotions** running now: 3 for 2 on delivery and 10 % off wearables.
* **A coupon campaign** (5 EUR off, from 20 EUR) with personal codes for some lapsing customers; a few
  used them on orders of the last two weeks, placed through the orders service, so the promotions and
  the coupon are priced into those orders and their points are earned by the order hooks.
* **Gift certificates**: one bought for a customer and partly spent, one not yet assigned.
* The daily jobs run at the end: points earned more than 24 months ago are written off, and tiers are
  re-decided on the last 12 months (so customers who stopped buying have moved down).

Everything random comes from the demo's ``random.Random``; only the codes (coupons, certificates) are
drawn from :mod:`secrets`, as in production.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from patron.core.errors import PatronError
from patron.loyalty import coupons, earning, gifts, promotions, rewards
from patron.loyalty import programme as programme_service
from patron.loyalty import service as points_service
from patron.orders import service as orders_service
from patron.orders.models import Order
from patron.orders.service import LineInput
from patron.simulate.clock import SimulatedClock
from patron.simulate.history import DemoCustomer
from patron.simulate.orders import HISTORY

Progress = Callable[[str, int, int], None]

#: (name, qualifying points in 12 months, multiplier on purchase points, benefits)
TIERS = (
    ("Silver", 150, Decimal("1.1"), "10 % more points on every order; priority support line."),
    ("Gold", 500, Decimal("1.25"), "25 % more points; free express delivery once a month; priority support."),
    ("Platinum", 1200, Decimal("1.5"),
     "50 % more points; free airport transfer every quarter; a personal account manager."),
)  # fmt: skip
#: (name, cost in points, stock or None for unlimited, description)
REWARDS = (
    ("One month of Plus", 300, None, "A month of the Plus subscription, added to the account."),
    ("10-ride city pass", 450, 60, "Ten rides within the city, valid for 6 months."),
    ("Smart plug", 700, 30, "A Patron smart plug, delivered free."),
    ("Airport transfer", 1000, 15, "One ride to or from BER Airport."),
)
REDEMPTION_WINDOW = timedelta(days=60)
REFUND_DELAY = timedelta(days=7)
PROMOTION_START = timedelta(days=14)
COUPON_SHARE = 0.08
COUPON_ORDER_SKUS = ("DLV-GROC", "DLV-MEAL", "DLV-FEE", "RIDE-10", "RIDE-WEEK")


def seed_demo_loyalty(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    anchor: datetime,
    customers: list[DemoCustomer],
    progress: Progress,
) -> dict[str, int]:
    """Write the programme, its history and its offers (see the module docs). Returns counts."""
    progress("Loyalty", 0, 4)
    clock.set(anchor - HISTORY - timedelta(days=1))
    _write_programme(session, org_id=org_id)
    earned = _earn_for_history(session, org_id=org_id, clock=clock, progress=progress)
    progress("Loyalty", 1, 4)
    clock.set(anchor - REDEMPTION_WINDOW - timedelta(days=1))
    catalogue = [
        rewards.create_reward(
            session, org_id=org_id, name=name, cost_points=cost, stock=stock, description=text
        )
        for name, cost, stock, text in REWARDS
    ]
    redeemed = _redeem_rewards(session, org_id=org_id, rng=rng, clock=clock, anchor=anchor,
                               customers=customers, catalogue=catalogue)  # fmt: skip
    progress("Loyalty", 2, 4)
    clock.set(anchor - PROMOTION_START)
    _write_promotions(session, org_id=org_id, anchor=anchor)
    codes, coupon_orders = _coupon_campaign(session, org_id=org_id, rng=rng, clock=clock, anchor=anchor,
                                            customers=customers)  # fmt: skip
    certificates = _gift_certificates(session, org_id=org_id, rng=rng, clock=clock, anchor=anchor,
                                      customers=customers)  # fmt: skip
    progress("Loyalty", 3, 4)
    clock.set(anchor)
    expired = earning.expire_points(session, now=anchor)
    programme_service.reevaluate_tiers(session, now=anchor)  # the daily job: old earnings leave the window
    progress("Loyalty", 4, 4)
    return {
        "points_earnings": earned,
        "reward_redemptions": redeemed,
        "coupon_codes": codes,
        "coupon_orders": coupon_orders,
        "gift_certificates": certificates,
        "points_expired": expired,
    }


def _write_programme(session: Session, *, org_id: int) -> None:
    programme_service.update_programme(session, org_id=org_id, changes={
        "enabled": True, "points_per_unit": Decimal("1"), "expiry_months": 24, "tier_basis": "rolling_12m",
    })  # fmt: skip
    for name, threshold, multiplier, benefits in TIERS:
        programme_service.create_tier(session, org_id=org_id, name=name, threshold=threshold,
                                      multiplier=multiplier, benefits=benefits)  # fmt: skip
    programme_service.create_rule(session, org_id=org_id, kind="purchase_bonus", name="Big basket bonus",
                                  points=25, min_amount=Decimal("100"))  # fmt: skip
    programme_service.create_rule(session, org_id=org_id, kind="survey_answered", name="Thanks for your feedback",
                                  points=20)  # fmt: skip
    programme_service.create_rule(session, org_id=org_id, kind="app_streak", name="A week in the app",
                                  points=30, streak_days=7)  # fmt: skip


def all_orders(session: Session, *, org_id: int) -> list[Order]:
    """Every order of the organisation, through the orders service, a page at a time."""
    found: list[Order] = []
    offset = 0
    while True:
        page, total = orders_service.list_orders(session, org_id=org_id, limit=500, offset=offset)
        found.extend(page)
        offset += len(page)
        if not page or offset >= total:
            return found


def _earn_for_history(session: Session, *, org_id: int, clock: SimulatedClock, progress: Progress) -> int:
    """Replay the paid orders in time order through the programme's own earning (a refunded order was paid
    first, and is taken back a week later). Returns the number of earnings."""
    steps: list[tuple[datetime, int, str, Order]] = []
    for order in all_orders(session, org_id=org_id):
        if order.status in earning.EARNING_STATUSES or order.status == "refunded":
            steps.append((order.ordered_at, order.id, "earn", order))
        if order.status == "refunded":
            steps.append((order.ordered_at + REFUND_DELAY, order.id, "reverse", order))
    steps.sort(key=lambda step: (step[0], step[1], step[2]))
    earned = 0
    for done, (moment, _id, action, order) in enumerate(steps, start=1):
        if done % 250 == 0 or done == len(steps):
            progress("Points for past orders", done, len(steps))
        clock.set(moment)
        if action == "earn":
            entry = earning.earn_for_order(
                session, org_id=org_id, order_id=order.id, customer_id=order.customer_id, number=order.number,
                total=order.total, currency=order.currency, status="paid", at=moment,
            )  # fmt: skip
            earned += entry is not None
        else:
            earning.reverse_for_order(session, org_id=org_id, order_id=order.id, customer_id=order.customer_id,
                                      number=order.number, status=order.status)  # fmt: skip
    return earned


def _redeem_rewards(session: Session, *, org_id: int, rng: random.Random, clock: SimulatedClock,
                    anchor: datetime, customers: list[DemoCustomer], catalogue: list) -> int:  # fmt: skip
    """About a third of the customers who can afford a reward take one, at a moment of the last two
    months; the dearest they can afford that is still in stock."""
    plans = []
    for customer in customers:
        balance = points_service.get_balance(session, org_id=org_id, customer_id=customer.id)
        if balance is None or balance.balance < min(reward.cost_points for reward in catalogue):
            continue
        if rng.random() < 0.35:
            seconds = rng.uniform(0, REDEMPTION_WINDOW.total_seconds())
            plans.append((anchor - REDEMPTION_WINDOW + timedelta(seconds=seconds), customer.id))
    redeemed = 0
    for moment, customer_id in sorted(plans):
        clock.set(moment)
        balance = points_service.get_balance(session, org_id=org_id, customer_id=customer_id)
        affordable = [reward for reward in catalogue if reward.cost_points <= (balance.balance if balance else 0)
                      and (reward.stock is None or reward.stock > 0)]  # fmt: skip
        if not affordable:
            continue
        choice = max(affordable, key=lambda reward: reward.cost_points)
        rewards.do_redeem_reward(session, org_id=org_id, reward_id=choice.id, customer_id=customer_id)
        redeemed += 1
    return redeemed


def _write_promotions(session: Session, *, org_id: int, anchor: datetime) -> None:
    categories = {
        category.name: category.id for category in orders_service.list_categories(session, org_id=org_id)
    }
    promotions.create_promotion(
        session, org_id=org_id, name="3 for 2 on deliveries", kind="three_for_two",
        category_ids=[categories["Delivery"]], starts_at=anchor - PROMOTION_START, ends_at=anchor + timedelta(days=14),
    )  # fmt: skip
    promotions.create_promotion(
        session, org_id=org_id, name="10 % off wearables", kind="percent", value=Decimal("10"),
        category_ids=[categories["Wearables"]], starts_at=anchor - timedelta(days=7),
        ends_at=anchor + timedelta(days=21), stackable=True,
    )  # fmt: skip


def _coupon_campaign(session: Session, *, org_id: int, rng: random.Random, clock: SimulatedClock,
                     anchor: datetime, customers: list[DemoCustomer]) -> tuple[int, int]:  # fmt: skip
    """A win-back campaign: personal codes for some customers (the churn-risk ones first); about a third
    of them ordered with it in the last two weeks. Returns (codes, orders placed with a code)."""
    campaign = coupons.create_campaign(
        session, org_id=org_id, name="Come back: 5 EUR off", kind="amount", value=Decimal("5"), currency="EUR",
        min_order_value=Decimal("20"), starts_at=anchor - PROMOTION_START, expires_at=anchor + timedelta(days=30),
    )  # fmt: skip
    wanted = max(1, round(COUPON_SHARE * len(customers)))
    at_risk = [c.id for c in customers if "churn-risk" in c.spec.tags]
    others = [c.id for c in customers if "churn-risk" not in c.spec.tags]
    chosen = at_risk[:wanted] + rng.sample(others, max(0, min(len(others), wanted - len(at_risk))))
    codes = coupons.do_generate_codes(session, campaign=campaign, count=len(chosen), customer_ids=chosen)
    issued, _total = coupons.list_coupons(session, org_id=org_id, campaign_id=campaign.id, limit=len(codes))
    owners = {coupon.code: coupon.customer_id for coupon in issued}
    products = orders_service.products_by_sku(session, org_id=org_id, skus=COUPON_ORDER_SKUS)
    plans = []
    for code in codes:
        if rng.random() < 0.35:
            seconds = rng.uniform(0, PROMOTION_START.total_seconds() - 3600)
            sku = rng.choice(COUPON_ORDER_SKUS)
            plans.append(
                (anchor - PROMOTION_START + timedelta(seconds=seconds), code, sku, rng.randint(1, 3))
            )
    placed = 0
    for moment, code, sku, quantity in sorted(plans):
        clock.set(moment)
        try:
            orders_service.create_order(
                session, org_id=org_id, customer_id=owners[code], channel="app", status="paid",
                lines=[LineInput(quantity=quantity, product_id=products[sku].id)], ordered_at=moment, coupon_code=code,
            )  # fmt: skip
        except PatronError:
            continue  # below the coupon's minimum: the customer kept the code for another time
        placed += 1
    return len(codes), placed


def _gift_certificates(session: Session, *, org_id: int, rng: random.Random, clock: SimulatedClock,
                       anchor: datetime, customers: list[DemoCustomer]) -> int:  # fmt: skip
    """One certificate bought for a customer three weeks ago and partly spent, one not assigned yet."""
    clock.set(anchor - timedelta(days=21))
    owner = rng.choice(customers).id
    bought = gifts.do_issue_certificate(session, org_id=org_id, amount=Decimal("50.00"), currency="EUR",
                                        expires_at=anchor + timedelta(days=365), customer_id=owner)  # fmt: skip
    clock.set(anchor - timedelta(days=6))
    gifts.do_spend_certificate(session, org_id=org_id, code=bought.code, amount=Decimal("18.40"),
                               reference="Grocery box, store Kreuzberg")  # fmt: skip
    clock.set(anchor - timedelta(days=2))
    gifts.do_issue_certificate(session, org_id=org_id, amount=Decimal("25.00"), currency="EUR",
                               expires_at=anchor + timedelta(days=365))  # fmt: skip
    return 2
