"""How other domains take part in placing and changing an order without the orders domain importing them:
the loyalty programme prices promotions and coupons, gives points when an order is paid and takes them back
when it is cancelled or refunded; referrals qualify when the referred customer's first order is paid.

Each module named in :data:`ORDER_HOOK_MODULES` may define any of::

    price_order(session, *, draft: OrderDraft) -> OrderAdjustments
    order_placed(session, *, order, adjustments: OrderAdjustments | None) -> None
    order_status_changed(session, *, order, previous_status: str) -> None

They are resolved by import path when needed (as the customer hooks are), so there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib import import_module

ORDER_HOOK_MODULES: tuple[str, ...] = ("patron.loyalty.order_hooks", "patron.contests.referrals")


@dataclass(frozen=True)
class DraftOrderLine:
    product_id: int
    quantity: int
    unit_price: Decimal
    discount: Decimal


@dataclass(frozen=True)
class OrderDraft:
    """An order about to be written: its lines priced, nothing stored yet."""

    org_id: int
    customer_id: int
    currency: str
    placed_at: datetime
    lines: tuple[DraftOrderLine, ...]
    #: the order-level discount the caller gave
    discount: Decimal
    coupon_code: str | None = None


@dataclass
class OrderAdjustments:
    """What a hook changes on the draft: more discount on each line, free products to add (one each),
    more discount on the whole order, and a note of what was applied (for the answer to the caller)."""

    line_discounts: list[Decimal]
    free_product_ids: list[int] = field(default_factory=list)
    order_discount: Decimal = Decimal("0.00")
    applied: list[dict] = field(default_factory=list)
    coupon_code: str | None = None
    #: the order value the coupon's discount was worked out on
    coupon_order_value: Decimal | None = None


def hooks(name: str) -> Iterator[Callable]:
    """Every hook module's function ``name``."""
    for module_path in ORDER_HOOK_MODULES:
        try:
            module = import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name and module_path.startswith(exc.name):
                continue
            raise
        function = getattr(module, name, None)
        if callable(function):
            yield function
