"""Reads of the orders other domains build on: orders in a time window for a set of customers (campaign
attribution) and the best-selling products of a customer's favourite category (recommendations), for one
customer or, by a few reads, for many (a campaign's chunk of customers)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.orders.models import SPENDING_STATUSES, Order, OrderLine, Product

CHUNK = 500


@dataclass(frozen=True)
class OrderFact:
    id: int
    customer_id: int
    ordered_at: datetime
    total: Decimal


def orders_between(
    session: Session, *, org_id: int, customer_ids: Iterable[int], since: datetime, until: datetime
) -> list[OrderFact]:
    """Orders that count as spending (not cancelled or refunded) of ``customer_ids`` placed in
    ``[since, until)``, oldest first."""
    ids = list(dict.fromkeys(customer_ids))
    found: list[OrderFact] = []
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Order.id, Order.customer_id, Order.ordered_at, Order.total).where(
                Order.org_id == org_id,
                Order.customer_id.in_(ids[start : start + CHUNK]),
                Order.status.in_(SPENDING_STATUSES),
                Order.ordered_at >= since,
                Order.ordered_at < until,
            )
        )
        found.extend(OrderFact(r.id, r.customer_id, r.ordered_at, r.total) for r in rows)
    return sorted(found, key=lambda o: (o.ordered_at, o.id))


def favourite_category_id(session: Session, *, org_id: int, customer_id: int) -> int | None:
    """The category the customer bought most items of (ties: the lower id); None without purchases."""
    row = session.execute(
        select(Product.category_id, func.sum(OrderLine.quantity).label("items"))
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.org_id == org_id, Order.customer_id == customer_id, Order.status.in_(SPENDING_STATUSES),
               Product.category_id.is_not(None))
        .group_by(Product.category_id)
        .order_by(func.sum(OrderLine.quantity).desc(), Product.category_id)
        .limit(1)
    ).first()  # fmt: skip
    return None if row is None else int(row.category_id)


def best_sellers(
    session: Session, *, org_id: int, category_id: int, limit: int = 3, exclude_customer_id: int | None = None
) -> list[str]:
    """Names of the active products of the category that sold the most items over all customers (ties:
    the lower id), leaving out what ``exclude_customer_id`` already bought."""
    query = (
        select(Product.name)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Product.org_id == org_id, Product.category_id == category_id, Product.active.is_(True),
               Order.org_id == org_id, Order.status.in_(SPENDING_STATUSES))
        .group_by(Product.id, Product.name)
        .order_by(func.sum(OrderLine.quantity).desc(), Product.id)
        .limit(limit)
    )  # fmt: skip
    if exclude_customer_id is not None:
        bought = (
            select(OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.org_id == org_id,
                Order.customer_id == exclude_customer_id,
                OrderLine.product_id.is_not(None),
            )
        )
        query = query.where(Product.id.not_in(bought))
    return list(session.scalars(query))


def _in_org(column, org_id: int):
    """``column = org_id`` for reads that also select by customer: written ``column + 0`` so it checks the
    tenant without driving the plan (as ``patron.customers.base.in_org``). With the plain condition SQLite,
    without table statistics, walks the organisation's ``orders`` index once per chunk of customers instead
    of looking each customer's orders up."""
    return (column + 0) == org_id


def favourite_category_ids(session: Session, *, org_id: int, customer_ids: Iterable[int]) -> dict[int, int]:
    """:func:`favourite_category_id` of many customers by one read per :data:`CHUNK` of them:
    ``{customer_id: category id}``, leaving out the customers without purchases."""
    ids = list(dict.fromkeys(customer_ids))
    best: dict[int, tuple[int, int]] = {}  # customer -> (-items, category id): the smallest wins
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Order.customer_id, Product.category_id, func.sum(OrderLine.quantity))
            .select_from(Product)
            .join(OrderLine, OrderLine.product_id == Product.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(_in_org(Order.org_id, org_id), Order.customer_id.in_(ids[start : start + CHUNK]),
                   Order.status.in_(SPENDING_STATUSES), Product.category_id.is_not(None))
            .group_by(Order.customer_id, Product.category_id)
        )  # fmt: skip
        for customer_id, category_id, items in rows:
            key = (-int(items or 0), int(category_id))
            if customer_id not in best or key < best[customer_id]:
                best[customer_id] = key
    return {customer_id: key[1] for customer_id, key in best.items()}


def best_sellers_many(
    session: Session,
    *,
    org_id: int,
    category_by_customer: dict[int, int],
    limit: int = 3,
    rankings: dict[int, list[tuple[int, str]]] | None = None,
) -> dict[int, list[str]]:
    """:func:`best_sellers` of each customer's category leaving out what that customer bought, for many
    customers at once: ``{customer_id: names}``. Each category's ranking is read once (one read per
    :data:`CHUNK` categories) and so is what the customers bought (one read per :data:`CHUNK` customers).

    ``rankings`` (``{category id: [(product id, name), ...]}``, best first) keeps the rankings read for
    the next call: a caller working through many customers in chunks passes the same dict each time, and
    each category is read once for all of them."""
    ranking = rankings if rankings is not None else {}
    categories = sorted(set(category_by_customer.values()) - set(ranking))
    for category_id in categories:
        ranking[category_id] = []
    for start in range(0, len(categories), CHUNK):
        rows = session.execute(
            select(Product.category_id, Product.id, Product.name)
            .select_from(Product)
            .join(OrderLine, OrderLine.product_id == Product.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Product.org_id == org_id, Product.category_id.in_(categories[start : start + CHUNK]),
                   Product.active.is_(True), Order.org_id == org_id, Order.status.in_(SPENDING_STATUSES))
            .group_by(Product.category_id, Product.id, Product.name)
            .order_by(Product.category_id, func.sum(OrderLine.quantity).desc(), Product.id)
        )  # fmt: skip
        for category_id, product_id, name in rows:
            ranking[category_id].append((product_id, name))
    customers = list(category_by_customer)
    bought: dict[int, set[int]] = {}
    for start in range(0, len(customers), CHUNK):
        rows = session.execute(
            select(Order.customer_id, OrderLine.product_id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(_in_org(Order.org_id, org_id), Order.customer_id.in_(customers[start : start + CHUNK]),
                   OrderLine.product_id.is_not(None))
            .distinct()
        )  # fmt: skip
        for customer_id, product_id in rows:
            bought.setdefault(customer_id, set()).add(product_id)
    found: dict[int, list[str]] = {}
    for customer_id, category_id in category_by_customer.items():
        own = bought.get(customer_id, set())
        names: list[str] = []
        for product_id, name in ranking.get(category_id, []):
            if len(names) >= limit:
                break
            if product_id not in own:
                names.append(name)
        found[customer_id] = names
    return found


def lapsed_customers(session: Session, *, org_id: int, before: datetime) -> dict[int, datetime]:
    """Customers whose latest spending order was placed before ``before``: ``{customer_id: its time}``
    (customers who never ordered are not in it)."""
    last = func.max(Order.ordered_at)
    rows = session.execute(
        select(Order.customer_id, last)
        .where(Order.org_id == org_id, Order.status.in_(SPENDING_STATUSES))
        .group_by(Order.customer_id)
        .having(last < before)
    )
    found: dict[int, datetime] = {}
    for customer_id, moment in rows:
        if isinstance(moment, str):  # SQLite hands an aggregate's datetime back as text
            moment = datetime.fromisoformat(moment)
        found[int(customer_id)] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return found
