"""Promotions on orders: what they are, and :func:`apply_promotions`, which works out the discount of
each line of an order being placed.

The rules (each checked by hand-computed examples in the tests):

* A promotion covers the lines whose product is in ``product_ids`` or whose category is in
  ``category_ids`` (both empty: every line). It applies only when those lines are worth at least
  ``min_order_value`` before discounts, between ``starts_at`` and ``ends_at``.
* ``percent``: ``value`` % off each covered line, rounded to the cent (halves up).
* ``amount``: ``value`` off each covered unit, never more than the line.
* ``three_for_two``: the covered units are lined up from the dearest to the cheapest; the 3rd, 6th, 9th...
  is free, so every three units the cheapest of them is given away (buy 3, pay 2).
* ``gift``: a line of ``gift_product_id`` (quantity 1) is added free of charge.
* Stacking: of the promotions that are not ``stackable`` only the one saving the customer the most is
  applied (the older one on a tie); every stackable one is added to it. Each promotion's discount is
  worked out on the line's full price, and a line's discounts together never exceed what is left of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.loyalty.models import PROMOTION_KINDS, Promotion
from patron.orders import service as orders_service
from patron.orders.pricing import ZERO, cents

MAX_SCOPE = 500


@dataclass(frozen=True)
class DraftLine:
    """A line of an order being placed, as the promotions see it."""

    product_id: int | None
    category_id: int | None
    quantity: int
    unit_price: Decimal
    #: a discount the line already has (given by the caller)
    discount: Decimal = ZERO

    @property
    def gross(self) -> Decimal:
        return cents(self.unit_price * self.quantity)


@dataclass(frozen=True)
class AppliedPromotion:
    promotion_id: int
    name: str
    kind: str
    amount: Decimal


@dataclass(frozen=True)
class PromotionResult:
    #: extra discount per line, in the order of the lines given
    line_discounts: list[Decimal]
    #: products to add as free lines (one each)
    gift_product_ids: list[int] = field(default_factory=list)
    applied: list[AppliedPromotion] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum(self.line_discounts, ZERO)


def covers(promotion: Promotion, line: DraftLine) -> bool:
    if not promotion.product_ids and not promotion.category_ids:
        return True
    return line.product_id in (promotion.product_ids or []) or (
        line.category_id is not None and line.category_id in (promotion.category_ids or [])
    )


def _discounts(promotion: Promotion, lines: list[DraftLine]) -> list[Decimal]:
    """The promotion's discount on each line, on the lines' full prices."""
    covered = [covers(promotion, line) for line in lines]
    result = [ZERO] * len(lines)
    if (
        sum((line.gross for line, yes in zip(lines, covered, strict=True) if yes), ZERO)
        < promotion.min_order_value
    ):
        return result
    if not any(covered):
        return result
    if promotion.kind == "percent":
        for i, line in enumerate(lines):
            if covered[i]:
                result[i] = cents(line.gross * promotion.value / 100)
    elif promotion.kind == "amount":
        for i, line in enumerate(lines):
            if covered[i]:
                result[i] = min(line.gross, cents(promotion.value * line.quantity))
    elif promotion.kind == "three_for_two":
        units = sorted(((line.unit_price, i) for i, line in enumerate(lines) if covered[i]
                        for _ in range(line.quantity)), key=lambda unit: (-unit[0], unit[1]))  # fmt: skip
        for position, (price, i) in enumerate(units, start=1):
            if position % 3 == 0:
                result[i] += price
    return result


def _qualifies_for_gift(promotion: Promotion, lines: list[DraftLine]) -> bool:
    covered = [line for line in lines if covers(promotion, line)]
    return bool(covered) and sum((line.gross for line in covered), ZERO) >= promotion.min_order_value


def apply_promotions(lines: list[DraftLine], promotions: list[Promotion]) -> PromotionResult:
    """Each line's discount from ``promotions`` (all assumed active now), by the rules above."""
    discounting = [p for p in promotions if p.kind != "gift"]
    worked = {p.id: _discounts(p, lines) for p in discounting}
    exclusive = [p for p in discounting if not p.stackable and sum(worked[p.id], ZERO) > 0]
    chosen = []
    if exclusive:
        chosen.append(max(exclusive, key=lambda p: (sum(worked[p.id], ZERO), -p.id)))
    chosen += sorted(
        (p for p in discounting if p.stackable and sum(worked[p.id], ZERO) > 0), key=lambda p: p.id
    )
    room = [line.gross - line.discount for line in lines]
    extra = [ZERO] * len(lines)
    applied = []
    for promotion in chosen:
        amount = ZERO
        for i, wanted in enumerate(worked[promotion.id]):
            taken = min(wanted, room[i])
            room[i] -= taken
            extra[i] += taken
            amount += taken
        if amount > 0:
            applied.append(AppliedPromotion(promotion.id, promotion.name, promotion.kind, amount))
    gifts = []
    for promotion in sorted((p for p in promotions if p.kind == "gift"), key=lambda p: p.id):
        if promotion.gift_product_id is not None and _qualifies_for_gift(promotion, lines):
            gifts.append(promotion.gift_product_id)
            applied.append(AppliedPromotion(promotion.id, promotion.name, promotion.kind, ZERO))
    return PromotionResult(extra, gifts, applied)


# --- stored promotions -------------------------------------------------------------------------------


def _check(session: Session, *, org_id: int, values: dict) -> None:
    kind = values["kind"]
    if kind not in PROMOTION_KINDS:
        raise Invalid(f"kind: one of {', '.join(PROMOTION_KINDS)}.", field="kind")
    if not values["name"].strip():
        raise Invalid("name: give the promotion a name.", field="name")
    value = values["value"]
    if kind == "percent" and not Decimal(0) < value <= Decimal(100):
        raise Invalid("value: a percentage above 0 and at most 100.", field="value")
    if kind == "amount" and not value > 0:
        raise Invalid("value: an amount above 0 off each unit.", field="value")
    if values["min_order_value"] < 0:
        raise Invalid("min_order_value: must not be negative.", field="min_order_value")
    for name in ("starts_at", "ends_at"):
        if values[name] is not None and values[name].tzinfo is None:
            raise Invalid(f"{name}: give a time zone.", field=name)
    if values["starts_at"] and values["ends_at"] and values["ends_at"] <= values["starts_at"]:
        raise Invalid("ends_at: must be after starts_at.", field="ends_at")
    product_ids, category_ids = values["product_ids"], values["category_ids"]
    if len(product_ids) > MAX_SCOPE or len(category_ids) > MAX_SCOPE:
        raise Invalid(
            f"product_ids: at most {MAX_SCOPE} products and {MAX_SCOPE} categories.", field="product_ids"
        )
    found = orders_service.products_by_id(session, org_id=org_id, product_ids=product_ids)
    missing = [pid for pid in product_ids if pid not in found]
    if missing:
        raise NotFound(f"product_ids: no product {missing[0]}.", field="product_ids")
    for category_id in category_ids:
        orders_service.get_category_or_raise(session, org_id=org_id, category_id=category_id)
    if kind == "gift":
        if values["gift_product_id"] is None:
            raise Invalid(
                "gift_product_id: a gift promotion needs the product given away.", field="gift_product_id"
            )
        orders_service.get_product_or_raise(session, org_id=org_id, product_id=values["gift_product_id"])
    elif values["gift_product_id"] is not None:
        raise Invalid("gift_product_id: only gift promotions give a product.", field="gift_product_id")


FIELDS = ("name", "kind", "value", "product_ids", "category_ids", "gift_product_id", "min_order_value",
          "starts_at", "ends_at", "stackable", "active")  # fmt: skip


def create_promotion(session: Session, *, org_id: int, name: str, kind: str, value: Decimal = ZERO,
                     product_ids: list[int] | None = None, category_ids: list[int] | None = None,
                     gift_product_id: int | None = None, min_order_value: Decimal = ZERO,
                     starts_at: datetime | None = None, ends_at: datetime | None = None, stackable: bool = False,
                     active: bool = True) -> Promotion:  # fmt: skip
    values = {"name": name, "kind": kind, "value": value, "product_ids": sorted(set(product_ids or [])),
              "category_ids": sorted(set(category_ids or [])), "gift_product_id": gift_product_id,
              "min_order_value": min_order_value, "starts_at": starts_at, "ends_at": ends_at,
              "stackable": stackable, "active": active}  # fmt: skip
    _check(session, org_id=org_id, values=values)
    values["name"] = name.strip()
    promotion = Promotion(org_id=org_id, created_at=utcnow(), **values)
    session.add(promotion)
    session.flush()
    return promotion


def update_promotion(session: Session, *, promotion: Promotion, changes: dict) -> Promotion:
    values = {name: getattr(promotion, name) for name in FIELDS} | changes
    values["product_ids"] = sorted(set(values["product_ids"] or []))
    values["category_ids"] = sorted(set(values["category_ids"] or []))
    _check(session, org_id=promotion.org_id, values=values)
    values["name"] = values["name"].strip()
    for name in FIELDS:
        setattr(promotion, name, values[name])
    session.flush()
    return promotion


def delete_promotion(session: Session, *, promotion: Promotion) -> None:
    session.delete(promotion)
    session.flush()


def list_promotions(session: Session, *, org_id: int) -> list[Promotion]:
    return list(session.scalars(select(Promotion).where(Promotion.org_id == org_id).order_by(Promotion.id)))


def get_promotion_or_raise(session: Session, *, org_id: int, promotion_id: int) -> Promotion:
    promotion = session.scalar(
        select(Promotion).where(Promotion.org_id == org_id, Promotion.id == promotion_id)
    )
    if promotion is None:
        raise NotFound(f"No promotion {promotion_id}.", field="promotion_id")
    return promotion


def active_promotions(session: Session, *, org_id: int, at: datetime) -> list[Promotion]:
    """Promotions switched on whose dates include ``at``."""
    return list(session.scalars(
        select(Promotion).where(
            Promotion.org_id == org_id, Promotion.active.is_(True),
            or_(Promotion.starts_at.is_(None), Promotion.starts_at <= at),
            or_(Promotion.ends_at.is_(None), Promotion.ends_at > at),
        ).order_by(Promotion.id)
    ))  # fmt: skip
