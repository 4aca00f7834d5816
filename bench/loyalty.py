"""Points for paid orders: what the loyalty programme adds to each order, beside the raw statements it needs.

    .venv/bin/python bench/loyalty.py                          # SQLite and PostgreSQL, 3,000 orders
    .venv/bin/python bench/loyalty.py --backend sqlite --orders 500

An organisation with the demo's programme (1 point per EUR, points expire after 24 months, three tiers on
the points of the last 12 months, a purchase bonus) and 300 customers; ``--orders`` paid orders over two
years, customers drawn at random, all in one transaction, each through
:func:`patron.loyalty.earning.earn_for_order` (what placing or paying an order runs, and what the demo's
replay of its history runs): the tier's multiplier, the bonus rules, the idempotency check, the balance,
the ledger entry with its expiry date, the audit record and the tier re-decided on the last 12 months.

The floor is the same orders' work by plain DBAPI statements on the same database, one order after the
other in one transaction, with no check, no audit and no savepoint: the customer's tier, the sum of their
qualifying points, the balance upsert, the ledger insert and the tier update (five statements per order).
Prints milliseconds and statements per order for both, and their ratio; asserts no time.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import event
from support import databases

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.db import make_engine, make_sessionmaker, session_scope, utcnow
from patron.core.migrate import upgrade
from patron.customers import service as customers_service
from patron.loyalty import earning
from patron.loyalty import programme as programme_service

PG_DATABASE = "patron_bench_loyalty"
CUSTOMERS = 300
TIERS = (("Silver", 150, Decimal("1.1")), ("Gold", 500, Decimal("1.25")), ("Platinum", 1200, Decimal("1.5")))


def seed(factory) -> tuple[int, list[int]]:
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        org = accounts_service.create_organisation(session, name="Loyalty bench")
        programme_service.update_programme(session, org_id=org.id, changes={
            "enabled": True, "points_per_unit": Decimal("1"), "expiry_months": 24, "tier_basis": "rolling_12m"})  # fmt: skip
        for name, threshold, multiplier in TIERS:
            programme_service.create_tier(session, org_id=org.id, name=name, threshold=threshold,
                                          multiplier=multiplier)  # fmt: skip
        programme_service.create_rule(session, org_id=org.id, kind="purchase_bonus", name="Big basket bonus",
                                      points=25, min_amount=Decimal("100"))  # fmt: skip
        customers = [customers_service.create_customer(session, org_id=org.id, data={"first_name": f"C{i}"}).id
                     for i in range(CUSTOMERS)]  # fmt: skip
        return org.id, customers


def orders(customers: list[int], count: int, seed_value: int) -> list[tuple[int, int, Decimal, object]]:
    """``(order_id, customer_id, total, paid_at)`` spread over two years, in time order."""
    rng = random.Random(seed_value)
    start = utcnow() - timedelta(days=730)
    step = timedelta(days=730) / count
    return [(seed_value * 10_000_000 + i, rng.choice(customers), Decimal(rng.randint(500, 20_000)) / 100,
             start + step * i) for i in range(count)]  # fmt: skip


def counting(engine) -> list[int]:
    count = [0]
    event.listen(engine, "before_cursor_execute", lambda *_args: count.__setitem__(0, count[0] + 1))
    return count


def through_patron(factory, org_id: int, work: list) -> float:
    started = time.perf_counter()
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="bench")
        for order_id, customer_id, total, paid_at in work:
            earning.earn_for_order(session, org_id=org_id, order_id=order_id, customer_id=customer_id,
                                   number=order_id, total=total, currency="EUR", status="paid", at=paid_at)  # fmt: skip
    return time.perf_counter() - started


def floor(engine, org_id: int, work: list) -> tuple[float, int]:
    """The same orders' points by five plain statements each; returns seconds and statements."""
    thresholds = [(threshold, multiplier, name) for name, threshold, multiplier in TIERS]
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    statements = 0
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT name, id FROM loyalty_tiers WHERE org_id = {mark}", (org_id,))
        tier_ids = dict(cursor.fetchall())
        started = time.perf_counter()
        for order_id, customer_id, total, paid_at in work:
            stamp = paid_at.replace(tzinfo=None) if sqlite else paid_at
            cursor.execute(f"SELECT tier_id FROM loyalty_customer_tiers WHERE org_id = {mark} AND customer_id = {mark}",
                           (org_id, customer_id))  # fmt: skip
            row = cursor.fetchone()
            multiplier = next((m for _t, m, name in thresholds if row and tier_ids.get(name) == row[0]), Decimal(1))
            points = int((total * multiplier).to_integral_value(rounding=ROUND_FLOOR)) + (25 if total >= 100 else 0)
            cursor.execute(f"INSERT INTO loyalty_points_balances (org_id, customer_id, balance, lifetime_earned, "
                           f"updated_at) VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) ON CONFLICT (org_id, customer_id) "
                           f"DO UPDATE SET balance = loyalty_points_balances.balance + excluded.balance, "
                           f"lifetime_earned = loyalty_points_balances.lifetime_earned + excluded.lifetime_earned, "
                           f"updated_at = excluded.updated_at RETURNING balance",
                           (org_id, customer_id, points, points, stamp))  # fmt: skip
            balance = cursor.fetchone()[0]
            cursor.execute(f"INSERT INTO loyalty_points_entries (org_id, customer_id, kind, delta, balance_after, "
                           f"reason, source, idempotency_key, created_at, expires_at) VALUES ({mark}, {mark}, 'earn', "
                           f"{mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark})",
                           (org_id, customer_id, points, balance, f"Order #{order_id}", f"order:{order_id}",
                            f"order-earn:{order_id}", stamp, stamp + timedelta(days=730)))  # fmt: skip
            cursor.execute(f"SELECT coalesce(sum(delta), 0) FROM loyalty_points_entries WHERE org_id = {mark} AND "
                           f"customer_id = {mark} AND kind IN ('earn', 'reverse') AND created_at > {mark}",
                           (org_id, customer_id, stamp - timedelta(days=365)))  # fmt: skip
            qualifying = cursor.fetchone()[0]
            reached = max((t for t in thresholds if t[0] <= qualifying), default=None)
            cursor.execute(f"UPDATE loyalty_customer_tiers SET tier_id = {mark}, qualifying_points = {mark}, "
                           f"evaluated_at = {mark} WHERE org_id = {mark} AND customer_id = {mark}",
                           (tier_ids[reached[2]] if reached else None, qualifying, stamp, org_id, customer_id))  # fmt: skip
            statements += 5
        connection.commit()
        return time.perf_counter() - started, statements
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--orders", type=int, default=3000)
    args = parser.parse_args()
    for label, url in databases(args.backend, PG_DATABASE):
        engine = make_engine(url)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        org_id, customers = seed(factory)
        count = counting(engine)
        ours = through_patron(factory, org_id, orders(customers, args.orders, 1))
        ours_statements = count[0]
        raw, raw_statements = floor(engine, org_id, orders(customers, args.orders, 2))
        n = args.orders
        print(f"{label}: points for {n:,} orders through earn_for_order: {ours / n * 1000:.2f} ms and "
              f"{ours_statements / n:.1f} statements per order ({n / ours:,.0f} orders/s)")
        print(f"{label}: the raw statements alone:              {raw / n * 1000:.2f} ms and "
              f"{raw_statements / n:.1f} statements per order ({n / raw:,.0f} orders/s)")
        print(f"{label}: ratio {ours / raw:.2f}x the raw statements")
        engine.dispose()


if __name__ == "__main__":
    main()
