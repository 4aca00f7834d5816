"""The orders domain: a product catalogue (categories, products) and customers' orders with their lines."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
ORDER_CHANNELS = ("web", "app", "store", "phone", "device", "marketplace")
#: statuses an order never leaves
FINAL_STATUSES = frozenset({"cancelled", "refunded"})
#: statuses whose orders count as money spent
SPENDING_STATUSES = frozenset({"pending", "paid", "shipped", "delivered"})
#: statuses that mean the order was paid (earning points, qualifying referrals, scoring games)
PAID_STATUSES = frozenset({"paid", "shipped", "delivered"})
#: status -> the statuses it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"paid", "shipped", "delivered", "cancelled"}),
    "paid": frozenset({"shipped", "delivered", "cancelled", "refunded"}),
    "shipped": frozenset({"delivered", "refunded"}),
    "delivered": frozenset({"refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}

MONEY = Numeric(14, 2)


class ProductCategory(OrgScoped, Base):
    """A shelf of the catalogue; categories form a tree through ``parent_id``."""

    __tablename__ = "product_categories"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_product_categories_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("product_categories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(TimestampMixin, OrgScoped, Base):
    """Something the organisation sells: a device, an accessory, a ride pass, a subscription."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("org_id", "sku", name="uq_products_org_sku"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("product_categories.id", ondelete="SET NULL"), index=True
    )
    price: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)


class Order(TimestampMixin, OrgScoped, Base):
    """One purchase by a customer. Totals are computed from the lines, never sent in."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_orders_org_number"),
        UniqueConstraint("org_id", "external_id", name="uq_orders_org_external_id"),
        Index("ix_orders_customer_time", "customer_id", "ordered_at"),
        Index("ix_orders_org_time", "org_id", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    channel: Mapped[str] = mapped_column(String(12))
    ordered_at: Mapped[datetime] = mapped_column(default=utcnow)
    currency: Mapped[str] = mapped_column(String(3))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    subtotal: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    discount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    external_id: Mapped[str | None] = mapped_column(String(120))
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)


class OrderLine(OrgScoped, Base):
    """One product on an order. ``sku`` and ``name`` are copied from the product when ordered, so the line
    still reads right after the product changes or goes."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(Integer, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    discount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    line_total: Mapped[Decimal] = mapped_column(MONEY)
