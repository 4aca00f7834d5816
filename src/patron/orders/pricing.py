"""Order arithmetic in :class:`~decimal.Decimal`: line totals, order totals and how an amount reads.

Pure (no database). Every amount is rounded to the cent, halves up, the way a
till rounds; nothing here ever goes through ``float``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from patron.core.errors import Invalid

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: the largest amount a money column holds (Numeric(14, 2))
MAX_AMOUNT = Decimal("999999999999.99")
MAX_QUANTITY = 100_000
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def cents(value: Decimal | int | str) -> Decimal:
    """``value`` rounded to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(value: object, *, field: str) -> Decimal:
    """A non-negative amount of money from a number or text (``"19.99"``), rounded to the cent.

    Raises :class:`Invalid` naming ``field`` for text that is not a number, NaN, infinity, a negative
    amount or one too large to store.
    """
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise Invalid(f"{field}: '{str(value)[:40]}' is not an amount such as 19.99.", field=field) from None
    if not amount.is_finite():
        raise Invalid(f"{field}: must be a finite amount.", field=field)
    if amount < 0:
        raise Invalid(f"{field}: must not be negative.", field=field)
    amount = cents(amount)
    if amount > MAX_AMOUNT:
        raise Invalid(f"{field}: larger than {MAX_AMOUNT}.", field=field)
    return amount


def check_currency(value: str, *, field: str = "currency") -> str:
    """An ISO 4217 code: three letters, returned upper-cased."""
    code = (value or "").strip().upper()
    if not CURRENCY_RE.match(code):
        raise Invalid(f"{field}: '{str(value)[:20]}' is not a 3-letter currency code such as EUR.", field=field)
    return code


def check_quantity(value: int, *, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise Invalid(f"{field}: must be a whole number from 1 to {MAX_QUANTITY}.", field=field)
    return value


def line_total(quantity: int, unit_price: Decimal, discount: Decimal, *, field: str = "discount") -> Decimal:
    """``quantity x unit_price - discount``; a discount larger than the line is refused."""
    gross = cents(unit_price * quantity)
    if discount > gross:
        raise Invalid(f"{field}: the discount {discount} is more than the line's {gross}.", field=field)
    return gross - discount


@dataclass(frozen=True)
class Totals:
    item_count: int
    subtotal: Decimal
    discount: Decimal
    total: Decimal


def order_totals(
    lines: list[tuple[int, Decimal]], discount: Decimal = ZERO, *, field: str = "discount"
) -> Totals:
    """Totals of an order from its lines' ``(quantity, line_total)`` and an order-level discount."""
    subtotal = sum((total for _quantity, total in lines), ZERO)
    if discount > subtotal:
        raise Invalid(f"{field}: the discount {discount} is more than the order's {subtotal}.", field=field)
    total = subtotal - discount
    if total > MAX_AMOUNT:
        raise Invalid(f"{field}: the order total is larger than {MAX_AMOUNT}.", field=field)
    return Totals(
        item_count=sum(quantity for quantity, _total in lines),
        subtotal=subtotal,
        discount=discount,
        total=total,
    )


def format_money(amount: Decimal, currency: str) -> str:
    """``€42.50``, ``$3.00``, ``12.00 CHF``."""
    sign = CURRENCY_SIGNS.get(currency)
    text = f"{amount:,.2f}"
    return f"{sign}{text}" if sign else f"{text} {currency}"


def placed_summary(number: int, item_count: int, total: Decimal, currency: str) -> str:
    """The timeline line of a new order: ``Order #12 · 3 items · €42.50``."""
    items = "1 item" if item_count == 1 else f"{item_count} items"
    return f"Order #{number} · {items} · {format_money(total, currency)}"
