"""The loyalty programme's part in placing and changing orders (see :mod:`patron.orders.hooks`): running
promotions and a coupon priced into a new order, the coupon used up with it, points given when the
order is paid and taken back when it is cancelled or refunded."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.loyalty import coupons, earning, promotions
from patron.orders import service as orders_service
from patron.orders.hooks import OrderAdjustments, OrderDraft
from patron.orders.models import Order
from patron.orders.pricing import ZERO


def price_order(session: Session, *, draft: OrderDraft) -> OrderAdjustments:
    """Promotions on the lines, then the coupon on what is left of the order."""
    products = orders_service.products_by_id(session, org_id=draft.org_id,
                                             product_ids=[line.product_id for line in draft.lines])  # fmt: skip
    lines = [promotions.DraftLine(line.product_id, getattr(products.get(line.product_id), "category_id", None),
                                  line.quantity, line.unit_price, line.discount) for line in draft.lines]  # fmt: skip
    running = promotions.active_promotions(session, org_id=draft.org_id, at=draft.placed_at)
    result = promotions.apply_promotions(lines, running)
    adjustments = OrderAdjustments(
        line_discounts=result.line_discounts, free_product_ids=result.gift_product_ids,
        applied=[{"kind": a.kind, "name": a.name, "amount": a.amount, "promotion_id": a.promotion_id}
                 for a in result.applied],
    )  # fmt: skip
    if draft.coupon_code:
        value = sum((line.gross - line.discount for line in lines), ZERO) - result.total - draft.discount
        coupon = coupons.get_coupon_by_code(session, org_id=draft.org_id, code=draft.coupon_code)
        campaign, discount = coupons.check_usable(session, coupon=coupon, customer_id=draft.customer_id,
                                                  order_value=value, currency=draft.currency, now=draft.placed_at)  # fmt: skip
        adjustments.order_discount = discount
        adjustments.coupon_code = coupon.code
        adjustments.coupon_order_value = value
        adjustments.applied.append({"kind": "coupon", "name": campaign.name, "amount": discount,
                                    "coupon_code": coupon.code})  # fmt: skip
    return adjustments


def order_placed(session: Session, *, order: Order, adjustments: OrderAdjustments | None) -> None:
    """Use up the coupon (the whole order fails with 409 if it was used meanwhile) and give the points of
    an order placed as paid."""
    if adjustments is not None and adjustments.coupon_code and adjustments.coupon_order_value is not None:
        coupons.do_redeem_coupon(session, org_id=order.org_id, code=adjustments.coupon_code,
                                 customer_id=order.customer_id, order_value=adjustments.coupon_order_value,
                                 currency=order.currency, order_id=order.id, now=order.ordered_at)  # fmt: skip
    earning.earn_for_order(session, org_id=order.org_id, order_id=order.id, customer_id=order.customer_id,
                           number=order.number, total=order.total, currency=order.currency, status=order.status)  # fmt: skip


def order_status_changed(session: Session, *, order: Order, previous_status: str) -> None:
    if order.status in earning.EARNING_STATUSES and previous_status not in earning.EARNING_STATUSES:
        earning.earn_for_order(session, org_id=order.org_id, order_id=order.id, customer_id=order.customer_id,
                               number=order.number, total=order.total, currency=order.currency, status=order.status)  # fmt: skip
    elif order.status in earning.REVERSING_STATUSES:
        earning.reverse_for_order(session, org_id=order.org_id, order_id=order.id, customer_id=order.customer_id,
                                  number=order.number, status=order.status)  # fmt: skip
