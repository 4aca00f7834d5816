"""API shapes of the orders domain: categories, products, orders with their lines, a customer's totals and
the CSV import report."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)

from patron.core.api import Schema

OrderStatus = Literal["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
OrderChannel = Literal["web", "app", "store", "phone", "device", "marketplace"]

#: amounts leave the API as JSON numbers with two decimals (at most 14 digits: exact in a double)
Money = Annotated[Decimal, PlainSerializer(lambda v: float(v), return_type=float, when_used="json")]
MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
RecordId = Annotated[int, Field(ge=1, le=2**31 - 1)]

_STATUS_HELP = (
    "pending, paid, shipped, delivered, cancelled or refunded. Moves: pending -> paid, shipped, delivered or "
    "cancelled; paid -> shipped, delivered, cancelled or refunded; shipped -> delivered or refunded; "
    "delivered -> refunded. Cancelled and refunded are final."
)
_CHANNEL_HELP = "Where the order was placed: web, app, store, phone, device (ordered by a connected device) or marketplace."


def _attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > 100:
        raise ValueError("at most 100 attributes")
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise ValueError("must be storable as JSON") from None
    if size > 16 * 1024:
        raise ValueError("larger than 16 KB as JSON")
    return value


Attributes = Annotated[dict[str, Any], AfterValidator(_attributes)]


# --- catalogue -------------------------------------------------------------------------------------


class CategoryCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] = Field(
        description="Name of the category, unique within the organisation."
    )
    parent_id: RecordId | None = Field(None, description="The category this one sits under; null for a top level.")


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None = Field(description="The category this one sits under; null for a top level.")
    created_at: datetime


class ProductCreate(Schema):
    sku: Sku = Field(description="Stock-keeping unit: the product's code, unique within the organisation.")
    name: Name = Field(description="Name shown on orders and in the catalogue.")
    price: MoneyIn = Field(description="Price of one unit, in `currency`.")
    currency: Currency | None = Field(None, description="ISO 4217 code of the price; the organisation's by default.")
    category_id: RecordId | None = Field(None, description="The product's category.")
    active: bool = Field(True, description="False hides the product from new orders' pickers; orders keep it.")
    attributes: Attributes = Field(default_factory=dict, description="Anything else about the product (at most 100 keys).")


class ProductUpdate(Schema):
    """Fields to change; omitted fields stay. ``category_id: null`` takes the product out of its category."""

    sku: Sku | None = Field(None, description="New SKU; lines already ordered keep the old one.")
    name: Name | None = Field(None, description="New name; lines already ordered keep the old one.")
    price: MoneyIn | None = Field(None, description="New unit price; orders already placed keep theirs.")
    currency: Currency | None = Field(None, description="ISO 4217 code of the price.")
    category_id: RecordId | None = Field(None, description="The product's category; null for none.")
    active: bool | None = Field(None, description="False retires the product (orders keep pointing at it).")
    attributes: Attributes | None = Field(None, description="Replaces the product's attributes.")

    @field_validator("sku", "name", "price", "currency", "active", "attributes", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class ProductOut(Schema):
    id: int
    sku: str = Field(description="Stock-keeping unit, unique within the organisation.")
    name: str
    category_id: int | None = Field(description="The product's category; null for none.")
    price: Money = Field(description="Price of one unit.")
    currency: str
    active: bool = Field(description="False when the product is retired.")
    attributes: dict[str, Any] = Field(description="Anything else about the product.")
    created_at: datetime
    updated_at: datetime


# --- orders ----------------------------------------------------------------------------------------


class LineIn(Schema):
    product_id: RecordId | None = Field(None, description="The product; give this or `sku`.")
    sku: Sku | None = Field(None, description="The product's SKU; give this or `product_id`.")
    quantity: int = Field(ge=1, le=100_000, description="Units ordered (1-100,000).")
    unit_price: MoneyIn | None = Field(None, description="Price of one unit; the product's price if omitted.")
    discount: MoneyIn | None = Field(None, description="Amount taken off this line (not per unit).")

    @model_validator(mode="after")
    def _one_product(self) -> LineIn:
        if self.product_id is None and self.sku is None:
            raise ValueError("give product_id or sku")
        return self


class OrderCreate(Schema):
    customer_id: RecordId = Field(description="The customer who placed the order.")
    channel: OrderChannel = Field(description=_CHANNEL_HELP)
    lines: list[LineIn] = Field(min_length=1, max_length=500, description="The products ordered (1-500 lines).")
    number: RecordId | None = Field(None, description="Order number; the next free one if omitted.")
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = (
        Field(None, description="The order's id in another system (shop, till); unique within the organisation.")
    )
    status: OrderStatus = Field("pending", description=_STATUS_HELP)
    ordered_at: datetime | None = Field(None, description="When the order was placed (with a time zone); now if omitted.")
    currency: Currency | None = Field(None, description="ISO 4217 code; the organisation's currency if omitted.")
    discount: MoneyIn | None = Field(None, description="Amount taken off the whole order, after the lines' discounts.")
    coupon_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = (
        Field(None, description="A coupon code of the loyalty programme, used once (409 when already used).")
    )
    promotions: bool = Field(True, description="Apply the organisation's running promotions to the lines.")


class OrderUpdate(Schema):
    status: OrderStatus | None = Field(None, description=_STATUS_HELP)
    channel: OrderChannel | None = Field(None, description=_CHANNEL_HELP)

    @field_validator("status", "channel", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class LineOut(Schema):
    id: int
    position: int = Field(description="Place of the line on the order (0 first).")
    product_id: int | None = Field(description="The product; null when it has since been deleted.")
    sku: str = Field(description="The product's SKU when ordered.")
    name: str = Field(description="The product's name when ordered.")
    quantity: int = Field(description="Units ordered.")
    unit_price: Money = Field(description="Price of one unit.")
    discount: Money = Field(description="Amount taken off the line.")
    line_total: Money = Field(description="quantity x unit_price - discount.")


class OrderOut(Schema):
    id: int
    number: int = Field(description="Order number, unique within the organisation.")
    customer_id: int
    status: OrderStatus = Field(description=_STATUS_HELP)
    channel: OrderChannel = Field(description=_CHANNEL_HELP)
    ordered_at: datetime = Field(description="When the order was placed (UTC).")
    currency: str
    item_count: int = Field(description="Units over all lines.")
    subtotal: Money = Field(description="Sum of the line totals.")
    discount: Money = Field(description="Amount taken off the whole order.")
    total: Money = Field(description="subtotal - discount: what the customer pays.")
    external_id: str | None = Field(description="The order's id in another system; null if none.")
    status_changed_at: datetime | None = Field(description="When the status last changed (UTC).")
    created_at: datetime
    updated_at: datetime


class AppliedAdjustment(Schema):
    kind: str = Field(description="percent, amount, three_for_two, gift (promotions) or coupon.")
    name: str = Field(description="The promotion's or coupon campaign's name.")
    amount: Money = Field(description="What it took off the order (0 for a gift line).")
    promotion_id: int | None = Field(None, description="The promotion, for a promotion.")
    coupon_code: str | None = Field(None, description="The code, for a coupon.")


class OrderDetail(OrderOut):
    lines: list[LineOut] = Field(description="The products ordered, in order.")
    adjustments: list[AppliedAdjustment] = Field(
        default_factory=list, description="Promotions and the coupon applied when the order was placed (only in the answer to placing it)."
    )


class OrderPage(Schema):
    items: list[OrderOut]
    total: int
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of matching items skipped before this page.")


class CustomerOrders(OrderPage):
    count: int = Field(description="All the customer's orders, whatever their status.")
    spent: Money = Field(
        description="Sum of the totals of the customer's orders in `currency` that were not cancelled or refunded."
    )
    currency: str = Field(description="The organisation's currency, in which `spent` is given.")
    spent_by_currency: dict[str, Money] = Field(description="Money spent per currency (not cancelled or refunded).")
    first_order_at: datetime | None = Field(description="When the customer's first order was placed (UTC).")
    last_order_at: datetime | None = Field(description="When the customer's latest order was placed (UTC).")


class OrderImportOut(Schema):
    rows: int = Field(description="Data rows in the file (blank lines not counted).")
    orders_created: int = Field(description="Orders written.")
    lines_created: int = Field(description="Order lines written.")
    orders_skipped: int = Field(description="Orders whose order_id was imported before (nothing written for them).")
    products_created: int = Field(description="Products created for unknown SKUs (with create_products).")
    dry_run: bool
    seconds: float = Field(description="Time the import took.")
    rows_per_second: float = Field(description="Import speed: data rows over seconds.")
