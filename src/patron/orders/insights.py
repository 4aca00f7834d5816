"""Reads of the orders other domains build on: orders in a time window for a set of customers (campaign
attribution) and the best-selling products of a customer's favourite category (recommendations)."""

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
