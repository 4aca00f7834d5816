"""Orders: creating, listing, changing and deleting customers' orders, and each customer's purchase totals.

The catalogue (categories, products) lives in :mod:`patron.orders.catalogue`, the customer hooks (merge,
erasure, privacy export) in :mod:`patron.orders.privacy`; both are re-exported here, so other domains need
only ``from patron.orders import service as orders_service``. Only the modules of this package query the
orders tables.

Every new order puts an ``order.placed`` entry on the customer's timeline; a move to cancelled or refunded
adds ``order.cancelled``/``order.refunded``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.orders import hooks as order_hooks
from patron.orders.bulk import PreparedLine, PreparedOrder, insert_orders, lock_numbers, next_number
from patron.orders.catalogue import (  # noqa: F401 - re-exported
    ProductFilter,
    count_product_lines,
    create_category,
    create_product,
    delete_product,
    get_category_or_raise,
    get_product,
    get_product_or_raise,
    list_categories,
    list_products,
    org_currency,
    products_by_id,
    products_by_sku,
    update_product,
)
from patron.orders.models import (
    FINAL_STATUSES,
    ORDER_CHANNELS,
    ORDER_STATUSES,
    SPENDING_STATUSES,
    TRANSITIONS,
    Order,
    OrderLine,
)
from patron.orders.pricing import (
    ZERO,
    cents,
    check_currency,
    check_quantity,
    format_money,
    line_total,
    order_totals,
    parse_amount,
    placed_summary,
)
from patron.orders.privacy import erase_customer, export_customer, reassign_customer  # noqa: F401 - re-exported

MAX_LINES = 500
EXTERNAL_ID_MAX = 120
ORDER_CHANGES = ("status", "channel")


# --- reads -----------------------------------------------------------------------------------------


def get_order(session: Session, *, org_id: int, order_id: int) -> Order | None:
    return session.scalar(select(Order).where(Order.org_id == org_id, Order.id == order_id))


def get_order_or_raise(session: Session, *, org_id: int, order_id: int, field: str = "order_id") -> Order:
    """The order, or NotFound (also when it belongs to another organisation)."""
    order = get_order(session, org_id=org_id, order_id=order_id)
    if order is None:
        raise NotFound(f"No order {order_id}.", field=field)
    return order


def check_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise Invalid(f"{field}: unknown value '{str(value)[:40]}'; choose one of {', '.join(choices)}.", field=field)
    return value


@dataclass(frozen=True)
class OrderFilter:
    customer_id: int | None = None
    status: str | None = None
    channel: str | None = None
    placed_from: datetime | None = None  # included
    placed_to: datetime | None = None  # excluded


def _filtered(query, org_id: int, filters: OrderFilter):
    query = query.where(Order.org_id == org_id)
    if filters.customer_id is not None:
        query = query.where(Order.customer_id == filters.customer_id)
    if filters.status is not None:
        query = query.where(Order.status == check_choice(filters.status, ORDER_STATUSES, "status"))
    if filters.channel is not None:
        query = query.where(Order.channel == check_choice(filters.channel, ORDER_CHANNELS, "channel"))
    if filters.placed_from is not None:
        query = query.where(Order.ordered_at >= filters.placed_from)
    if filters.placed_to is not None:
        query = query.where(Order.ordered_at < filters.placed_to)
    return query


def list_orders(
    session: Session, *, org_id: int, filters: OrderFilter | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Order], int]:
    """Orders matching ``filters``, newest first, and how many match."""
    filters = filters or OrderFilter()
    if filters.placed_from and filters.placed_to and filters.placed_from >= filters.placed_to:
        raise Invalid("from: must be before to.", field="from")
    query = _filtered(select(Order), org_id, filters)
    total = session.scalar(_filtered(select(func.count()).select_from(Order), org_id, filters)) or 0
    rows = session.scalars(query.order_by(Order.ordered_at.desc(), Order.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def list_order_lines(session: Session, *, order: Order) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine)
            .where(OrderLine.org_id == order.org_id, OrderLine.order_id == order.id)
            .order_by(OrderLine.position, OrderLine.id)
        )
    )


def lines_for(session: Session, *, org_id: int, order_ids: Iterable[int]) -> dict[int, list[OrderLine]]:
    """``{order_id: lines}`` for several orders at once."""
    ids = list(dict.fromkeys(order_ids))
    found: dict[int, list[OrderLine]] = {order_id: [] for order_id in ids}
    for start in range(0, len(ids), 500):
        for line in session.scalars(
            select(OrderLine)
            .where(OrderLine.org_id == org_id, OrderLine.order_id.in_(ids[start : start + 500]))
            .order_by(OrderLine.order_id, OrderLine.position, OrderLine.id)
        ):
            found[line.order_id].append(line)
    return found


@dataclass(frozen=True)
class CustomerOrderSummary:
    """A customer's purchase totals. ``spent`` adds the totals of orders in the organisation's currency
    that were not cancelled or refunded; ``spent_by_currency`` has every currency."""

    count: int
    spent: Decimal
    currency: str
    spent_by_currency: dict[str, Decimal] = field(default_factory=dict)
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None


def customer_order_summary(session: Session, *, org_id: int, customer_id: int) -> CustomerOrderSummary:
    """Order count, money spent and first/last order time of one customer (NotFound for another
    organisation's customer)."""
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    currency = org_currency(session, org_id=org_id)
    base = (Order.org_id == org_id, Order.customer_id == customer_id)
    count, first, last = session.execute(
        select(func.count(), func.min(Order.ordered_at), func.max(Order.ordered_at)).where(*base)
    ).one()
    spent_by_currency = {
        code: cents(Decimal(str(amount or 0)))
        for code, amount in session.execute(
            select(Order.currency, func.sum(Order.total))
            .where(*base, Order.status.in_(SPENDING_STATUSES))
            .group_by(Order.currency)
        )
    }
    return CustomerOrderSummary(
        count=int(count or 0),
        spent=spent_by_currency.get(currency, cents(ZERO)),
        currency=currency,
        spent_by_currency=spent_by_currency,
        first_order_at=_aware(first),
        last_order_at=_aware(last),
    )


def _aware(value: Any) -> datetime | None:
    """A min/max of a time column as an aware UTC datetime (on SQLite aggregates come back as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- writes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """A line as a caller sends it: a product by id or SKU, a quantity, optional price and discount."""

    quantity: int
    product_id: int | None = None
    sku: str | None = None
    unit_price: Decimal | str | None = None
    discount: Decimal | str | None = None


def _price_lines(
    session: Session, *, org_id: int, currency: str, lines: list[LineInput]
) -> list[PreparedLine]:
    if not lines:
        raise Invalid("lines: an order needs at least one line.", field="lines")
    if len(lines) > MAX_LINES:
        raise Invalid(f"lines: at most {MAX_LINES} lines per order.", field="lines")
    by_id = products_by_id(session, org_id=org_id, product_ids=[ln.product_id for ln in lines if ln.product_id])
    by_sku = products_by_sku(session, org_id=org_id, skus=[ln.sku for ln in lines if ln.sku and not ln.product_id])
    prepared = []
    for index, line in enumerate(lines):
        where = f"lines.{index}"
        if line.product_id is not None:
            product = by_id.get(line.product_id)
            if product is None:
                raise NotFound(f"{where}.product_id: no product {line.product_id}.", field=f"{where}.product_id")
            if line.sku is not None and line.sku != product.sku:
                raise Invalid(f"{where}.sku: product {product.id} has SKU {product.sku}, not {line.sku}.",
                              field=f"{where}.sku")  # fmt: skip
        elif line.sku:
            product = by_sku.get(line.sku)
            if product is None:
                raise NotFound(f"{where}.sku: no product with SKU '{line.sku[:64]}'.", field=f"{where}.sku")
        else:
            raise Invalid(f"{where}: give product_id or sku.", field=f"{where}.product_id")
        quantity = check_quantity(line.quantity, field=f"{where}.quantity")
        if line.unit_price is None:
            if product.currency != currency:
                raise Invalid(
                    f"{where}.unit_price: {product.sku} is priced in {product.currency}; give its price in {currency}.",
                    field=f"{where}.unit_price",
                )
            unit_price = product.price
        else:
            unit_price = parse_amount(line.unit_price, field=f"{where}.unit_price")
        discount = parse_amount(line.discount, field=f"{where}.discount") if line.discount is not None else ZERO
        total = line_total(quantity, unit_price, discount, field=f"{where}.discount")
        prepared.append(PreparedLine(product.id, product.sku, product.name, quantity, cents(unit_price), discount,
                                     total))  # fmt: skip
    return prepared


def _check_external_id_free(session: Session, *, org_id: int, external_id: str) -> None:
    taken = session.scalar(select(Order.id).where(Order.org_id == org_id, Order.external_id == external_id))
    if taken is not None:
        raise Conflict(f"Order {taken} already has external_id '{external_id}'.", field="external_id")


def create_order(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    channel: str,
    lines: list[LineInput],
    status: str = "pending",
    ordered_at: datetime | None = None,
    currency: str | None = None,
    discount: Decimal | str | None = None,
    number: int | None = None,
    external_id: str | None = None,
    actor_user_id: int | None = None,
    coupon_code: str | None = None,
    promotions: bool = True,
) -> Order:
    """Place an order: price each line (the product's price unless given), compute the totals, number the
    order (the next free number unless given) and put it on the customer's timeline.

    With ``promotions`` the organisation's running promotions and the ``coupon_code`` are applied through
    the order hooks (:mod:`patron.orders.hooks`); what was applied is on ``order.adjustments``."""
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    check_choice(channel, ORDER_CHANNELS, "channel")
    check_choice(status, ORDER_STATUSES, "status")
    currency = check_currency(currency) if currency else org_currency(session, org_id=org_id)
    if ordered_at is not None and ordered_at.tzinfo is None:
        raise Invalid("ordered_at: give a time zone (e.g. 2024-05-01T10:00:00Z).", field="ordered_at")
    if external_id is not None:
        external_id = external_id.strip()
        if not external_id or len(external_id) > EXTERNAL_ID_MAX:
            raise Invalid(f"external_id: must be 1-{EXTERNAL_ID_MAX} characters.", field="external_id")
        _check_external_id_free(session, org_id=org_id, external_id=external_id)
    prepared = _price_lines(session, org_id=org_id, currency=currency, lines=lines)
    order_discount = parse_amount(discount, field="discount") if discount is not None else ZERO
    adjustments = None
    if promotions or coupon_code:
        prepared, order_discount, adjustments = _adjust(session, org_id=org_id, customer_id=customer_id,
                                                        currency=currency, placed_at=ordered_at or utcnow(),
                                                        prepared=prepared, order_discount=order_discount,
                                                        coupon_code=coupon_code)  # fmt: skip
    totals = order_totals([(line.quantity, line.line_total) for line in prepared], order_discount)
    lock_numbers(session, org_id=org_id)
    if number is None:
        number = next_number(session, org_id=org_id)
    elif session.scalar(select(Order.id).where(Order.org_id == org_id, Order.number == number)) is not None:
        raise Conflict(f"Order number {number} is taken.", field="number")
    now = utcnow()
    placed = ordered_at or now
    order = Order(
        org_id=org_id,
        number=number,
        customer_id=customer_id,
        status=status,
        channel=channel,
        ordered_at=placed,
        currency=currency,
        item_count=totals.item_count,
        subtotal=totals.subtotal,
        discount=totals.discount,
        total=totals.total,
        external_id=external_id,
        status_changed_at=placed if status != "pending" else None,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    session.flush()
    for position, line in enumerate(prepared):
        session.add(
            OrderLine(
                org_id=org_id,
                order_id=order.id,
                position=position,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                line_total=line.line_total,
            )
        )
    _timeline(session, order, "order.placed", placed_summary(number, totals.item_count, totals.total, currency),
              at=placed, actor_user_id=actor_user_id)  # fmt: skip
    if status in FINAL_STATUSES:
        _timeline(session, order, f"order.{status}", f"Order #{number} {status}", at=placed,
                  actor_user_id=actor_user_id)  # fmt: skip
    session.flush()
    for hook in order_hooks.hooks("order_placed"):
        hook(session, order=order, adjustments=adjustments)
    order.adjustments = adjustments.applied if adjustments else []
    return order


def _adjust(session: Session, *, org_id: int, customer_id: int, currency: str, placed_at: datetime,
            prepared: list[PreparedLine], order_discount: Decimal, coupon_code: str | None):  # fmt: skip
    """Let the order hooks (promotions, coupons) discount the lines and the order and add free lines."""
    draft = order_hooks.OrderDraft(
        org_id=org_id, customer_id=customer_id, currency=currency, placed_at=placed_at, discount=order_discount,
        lines=tuple(order_hooks.DraftOrderLine(line.product_id, line.quantity, line.unit_price, line.discount)
                    for line in prepared),
        coupon_code=coupon_code,
    )  # fmt: skip
    found = [hook(session, draft=draft) for hook in order_hooks.hooks("price_order")]
    if not found:
        if coupon_code:
            raise Invalid("coupon_code: coupons are not accepted here.", field="coupon_code")
        return prepared, order_discount, None
    adjustments = found[0]
    lines = []
    for line, extra in zip(prepared, adjustments.line_discounts, strict=True):
        discount = line.discount + extra
        lines.append(PreparedLine(line.product_id, line.sku, line.name, line.quantity, line.unit_price, discount,
                                  line_total(line.quantity, line.unit_price, discount)))  # fmt: skip
    if adjustments.free_product_ids:
        for gift in _price_lines(session, org_id=org_id, currency=currency,
                                 lines=[LineInput(quantity=1, product_id=pid) for pid in adjustments.free_product_ids]):  # fmt: skip
            lines.append(PreparedLine(gift.product_id, gift.sku, gift.name, 1, gift.unit_price, gift.unit_price, ZERO))
    return lines, order_discount + adjustments.order_discount, adjustments


def _timeline(session: Session, order: Order, kind: str, summary: str, *, at: datetime, actor_user_id) -> None:
    customers_service.record_timeline(
        session,
        org_id=order.org_id,
        customer_id=order.customer_id,
        kind=kind,
        summary=summary,
        ref_type="order",
        ref_id=order.id,
        occurred_at=at,
        data={"number": order.number, "total": str(order.total), "currency": order.currency,
              "channel": order.channel, "status": order.status},  # fmt: skip
        actor_user_id=actor_user_id,
    )


def update_order(
    session: Session, *, order: Order, changes: dict[str, Any], actor_user_id: int | None = None
) -> Order:
    """Change the status (along :data:`~patron.orders.models.TRANSITIONS`; cancelled and refunded are
    final) or the channel. Lines and totals do not change after the order is placed."""
    unknown = set(changes) - set(ORDER_CHANGES)
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid(f"{name} cannot be changed after the order is placed.", field=name)
    if "channel" in changes:
        order.channel = check_choice(changes["channel"], ORDER_CHANNELS, "channel")
    status = changes.get("status")
    if status is not None and status != order.status:
        check_choice(status, ORDER_STATUSES, "status")
        if status not in TRANSITIONS[order.status]:
            allowed = ", ".join(sorted(TRANSITIONS[order.status])) or "none: it is final"
            raise Invalid(
                f"status: a {order.status} order cannot become {status} (allowed: {allowed}).",
                field="status",
                code="invalid_transition",
            )
        now = utcnow()
        previous = order.status
        order.status = status
        order.status_changed_at = now
        for hook in order_hooks.hooks("order_status_changed"):
            hook(session, order=order, previous_status=previous)
        if status in FINAL_STATUSES:
            words = f"{status} ({format_money(order.total, order.currency)})"
            _timeline(session, order, f"order.{status}", f"Order #{order.number} {words}", at=now,
                      actor_user_id=actor_user_id)  # fmt: skip
    order.updated_at = utcnow()
    session.flush()
    return order


def delete_order(session: Session, *, order: Order) -> None:
    """Delete the order, its lines and its timeline entries (an order entered by mistake)."""
    customers_service.delete_timeline_entries(session, org_id=order.org_id, ref_type="order", ref_id=order.id)
    session.delete(order)
    session.flush()


def create_orders_bulk(
    session: Session,
    *,
    org_id: int,
    orders: list[PreparedOrder],
    actor_user_id: int | None = None,
    action: str = "orders.import",
    audit_details: dict | None = None,
) -> list[int]:
    """Write many checked orders at once (imports, demo data); see :mod:`patron.orders.bulk`."""
    return insert_orders(
        session, org_id=org_id, orders=orders, actor_user_id=actor_user_id, action=action,
        audit_details=audit_details,
    )  # fmt: skip


def existing_external_ids(session: Session, *, org_id: int, external_ids: Iterable[str]) -> set[str]:
    """Which of ``external_ids`` an order of the organisation already has."""
    wanted = list(dict.fromkeys(external_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            session.scalars(
                select(Order.external_id).where(
                    Order.org_id == org_id, Order.external_id.in_(wanted[start : start + 500])
                )
            )
        )
    return found


def purchase_history(session: Session, *, org_id: int, until: datetime | None = None) -> list[tuple]:
    """``(customer_id, ordered_at, total)`` of every order that counts as spending (not cancelled or
    refunded), up to ``until``, oldest first: the purchase history the predictive models learn from."""
    query = select(Order.customer_id, Order.ordered_at, Order.total).where(
        Order.org_id == org_id, Order.status.in_(SPENDING_STATUSES)
    )
    if until is not None:
        query = query.where(Order.ordered_at <= until)
    return [tuple(row) for row in session.execute(query.order_by(Order.ordered_at, Order.id))]


def purchased_products(session: Session, *, org_id: int, until: datetime | None = None) -> list[tuple]:
    """``(customer_id, product_id, ordered_at, quantity)`` of every line of a spending order that names a
    catalogue product, up to ``until``, oldest first."""
    query = (
        select(Order.customer_id, OrderLine.product_id, Order.ordered_at, OrderLine.quantity)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.org_id == org_id, OrderLine.org_id == org_id, Order.status.in_(SPENDING_STATUSES),
               OrderLine.product_id.is_not(None))  # fmt: skip
    )
    if until is not None:
        query = query.where(Order.ordered_at <= until)
    return [tuple(row) for row in session.execute(query.order_by(Order.ordered_at, OrderLine.id))]
