"""Customer-data hooks of the orders domain, called by the customers domain on merge, erasure and export.

Orders are financial records: they hold no personal data beyond the customer they belong to (no names,
addresses or contact details), so erasing a customer keeps them as they are, attached to the anonymous
profile, and the organisation's revenue figures stay right. Callers reach these as
``patron.orders.service.<name>`` too.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.reassign import reassign_customer_rows
from patron.orders.models import Order, OrderLine

ORDER_EXPORT_FIELDS = ("id", "number", "customer_id", "status", "channel", "ordered_at", "currency", "item_count",
                       "subtotal", "discount", "total", "external_id", "status_changed_at", "created_at",
                       "updated_at")  # fmt: skip
LINE_EXPORT_FIELDS = ("position", "product_id", "sku", "name", "quantity", "unit_price", "discount", "line_total")


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move a merged duplicate's orders to the customer it was merged into. Returns how many moved."""
    return reassign_customer_rows(
        session, Order, org_id=org_id, from_customer_id=from_customer_id, to_customer_id=to_customer_id
    )


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Keep the customer's orders (they hold nothing personal); returns 0, the number of records changed."""
    return 0


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's orders, oldest first, each with its lines."""
    orders = list(
        session.scalars(
            select(Order)
            .where(Order.org_id == org_id, Order.customer_id == customer_id)
            .order_by(Order.ordered_at, Order.id)
        )
    )
    lines: dict[int, list[dict]] = {order.id: [] for order in orders}
    ids = list(lines)
    for start in range(0, len(ids), 500):
        for line in session.scalars(
            select(OrderLine)
            .where(OrderLine.org_id == org_id, OrderLine.order_id.in_(ids[start : start + 500]))
            .order_by(OrderLine.order_id, OrderLine.position, OrderLine.id)
        ):
            lines[line.order_id].append({name: audit.jsonable(getattr(line, name)) for name in LINE_EXPORT_FIELDS})
    return {
        "orders": [
            {**{name: audit.jsonable(getattr(o, name)) for name in ORDER_EXPORT_FIELDS}, "lines": lines[o.id]}
            for o in orders
        ]
    }
