"""Writing many orders at once: multi-row inserts of orders, their lines and their timeline entries.

The CSV import and the demo history go through :func:`insert_orders`; it writes what
:func:`patron.orders.service.create_order` writes for one order (numbers, totals, ``order.placed`` and
``order.cancelled``/``order.refunded`` timeline entries) with a handful of statements per few thousand
orders instead of one ORM flush per row, and one audit entry for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow
from patron.customers.bulk import BulkWriter
from patron.customers.models import TimelineEntry
from patron.orders.models import FINAL_STATUSES, Order, OrderLine
from patron.orders.pricing import Totals, placed_summary

WRITE_BATCH = 5000
#: first key of the PostgreSQL advisory lock that serialises order numbering (the second is the org id)
NUMBER_LOCK = 0x0D3E5
ORDER_COLUMNS = ("org_id", "number", "customer_id", "status", "channel", "ordered_at", "currency", "item_count",
                 "subtotal", "discount", "total", "external_id", "status_changed_at", "created_at",
                 "updated_at")  # fmt: skip
LINE_COLUMNS = ("org_id", "order_id", "position", "product_id", "sku", "name", "quantity", "unit_price", "discount",
                "line_total")  # fmt: skip
TIMELINE_COLUMNS = ("org_id", "customer_id", "occurred_at", "kind", "ref_type", "ref_id", "summary", "data",
                    "actor_user_id")  # fmt: skip


@dataclass(slots=True)
class PreparedLine:
    """A checked, priced line."""

    product_id: int | None
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal


@dataclass(slots=True)
class PreparedOrder:
    """A checked, priced order ready to write. ``status_changed_at`` is when a cancelled or refunded order
    got that status (defaults to ``ordered_at``)."""

    customer_id: int
    channel: str
    status: str
    ordered_at: datetime
    currency: str
    totals: Totals
    lines: list[PreparedLine] = field(default_factory=list)
    external_id: str | None = None
    status_changed_at: datetime | None = None


def lock_numbers(session: Session, *, org_id: int) -> None:
    """Serialise order numbering within the organisation until the transaction ends (PostgreSQL; SQLite
    writers are serialised already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:kind, :org)"), {"kind": NUMBER_LOCK, "org": org_id})


def next_number(session: Session, *, org_id: int) -> int:
    return (session.scalar(select(func.max(Order.number)).where(Order.org_id == org_id)) or 0) + 1


class _Stamps:
    """Column values of datetimes and JSON documents, each distinct datetime formatted once."""

    def __init__(self, writer: BulkWriter) -> None:
        self.writer = writer
        self.cache: dict[datetime, object] = {}
        self.sqlite = writer.dialect == "sqlite"

    def __call__(self, moment: datetime):
        value = self.cache.get(moment)
        if value is None:
            value = self.cache[moment] = self.writer.stamp(moment)
        return value

    def json(self, value: dict):
        return orjson.dumps(value).decode() if self.sqlite else self.writer.json(value)


def timeline_rows_of(
    org_id: int, order_id: int, number: int, order: PreparedOrder, stamp: _Stamps, placed, actor_user_id
) -> list[tuple]:
    data = stamp.json({"number": number, "total": str(order.totals.total), "currency": order.currency,
                       "channel": order.channel})  # fmt: skip
    summary = placed_summary(number, order.totals.item_count, order.totals.total, order.currency)
    rows = [(org_id, order.customer_id, placed, "order.placed", "order", order_id, summary, data,
             actor_user_id)]  # fmt: skip
    if order.status in FINAL_STATUSES:
        rows.append((org_id, order.customer_id, stamp(order.status_changed_at or order.ordered_at),
                     f"order.{order.status}", "order", order_id, f"Order #{number} {order.status}", data,
                     actor_user_id))  # fmt: skip
    return rows


def insert_orders(
    session: Session,
    *,
    org_id: int,
    orders: list[PreparedOrder],
    actor_user_id: int | None = None,
    action: str = "orders.import",
    audit_details: dict | None = None,
) -> list[int]:
    """Insert ``orders`` (numbered from the organisation's next free number, in the given order) with their
    lines and timeline entries; returns the new order ids. Records one audit entry ``action``."""
    if not orders:
        return []
    session.flush()
    writer = BulkWriter(session)
    lock_numbers(session, org_id=org_id)
    first_number = next_number(session, org_id=org_id)
    sqlite = writer.dialect == "sqlite"
    money = float if sqlite else (lambda amount: amount)
    stamp = _Stamps(writer)
    now = stamp(utcnow())
    order_table, line_table, timeline_table = Order.__table__, OrderLine.__table__, TimelineEntry.__table__
    all_ids: list[int] = []
    line_count = 0
    for start in range(0, len(orders), WRITE_BATCH):
        batch = orders[start : start + WRITE_BATCH]
        rows = []
        placed_stamps = []
        for offset, order in enumerate(batch):
            totals = order.totals
            placed = stamp(order.ordered_at)
            placed_stamps.append(placed)
            changed = order.status_changed_at or (order.ordered_at if order.status != "pending" else None)
            rows.append((org_id, first_number + start + offset, order.customer_id, order.status, order.channel,
                         placed, order.currency, totals.item_count, money(totals.subtotal), money(totals.discount),
                         money(totals.total), order.external_id, stamp(changed) if changed else None, placed,
                         placed))  # fmt: skip
        ids = writer.insert_with_new_ids(order_table, ORDER_COLUMNS, rows)
        line_rows: list[tuple] = []
        timeline_rows: list[tuple] = []
        for offset, (order_id, order, placed) in enumerate(zip(ids, batch, placed_stamps, strict=True)):
            line_rows.extend(
                (org_id, order_id, position, line.product_id, line.sku, line.name, line.quantity,
                 money(line.unit_price), money(line.discount), money(line.line_total))  # fmt: skip
                for position, line in enumerate(order.lines)
            )
            timeline_rows.extend(
                timeline_rows_of(org_id, order_id, first_number + start + offset, order, stamp, placed, actor_user_id)
            )
        writer.insert(line_table, LINE_COLUMNS, line_rows)
        writer.insert(timeline_table, TIMELINE_COLUMNS, timeline_rows)
        line_count += len(line_rows)
        all_ids.extend(ids)
    if len(orders) >= 1000:
        writer.analyze((order_table, line_table))
    audit.record(
        session,
        action=action,
        entity="orders",
        org_id=org_id,
        after={"orders": len(orders), "lines": line_count, "first_number": first_number, "at": now,
               **(audit_details or {})},  # fmt: skip
    )
    return all_ids
