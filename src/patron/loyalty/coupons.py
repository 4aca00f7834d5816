"""Coupon campaigns: unique single-use codes generated in bulk, and redeeming one.

Codes are 12 characters from a 32-letter alphabet without look-alikes (0/O, 1/I), drawn with
:mod:`secrets`: 60 random bits, so guessing one of a million codes takes about 10^12 tries. They read as
``ABCD-EFGH-JKLM``; input is accepted in any case, with or without the dashes.

A redemption marks the code used with ``UPDATE ... SET redeemed_at = now WHERE redeemed_at IS NULL`` (two
simultaneous redemptions of one code: the database lets exactly one change the row) and writes a
:class:`~patron.loyalty.models.CouponUse` numbered per customer and campaign under a unique constraint, so
that two different codes redeemed at once cannot both take a customer's last allowed use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.loyalty.models import Coupon, CouponCampaign, CouponUse
from patron.orders.pricing import cents, check_currency

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
MAX_BATCH = 10_000
COUPON_KINDS = ("percent", "amount")


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(code: str) -> str:
    """``abcd efgh-jklm`` -> ``ABCD-EFGH-JKLM``; anything else is kept upper-cased (it will not be found)."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}" if len(raw) == CODE_LENGTH else code.strip().upper()[:20]


# --- campaigns ---------------------------------------------------------------------------------------


def _check_campaign(kind: str, value: Decimal, min_order_value: Decimal, starts_at: datetime | None,
                    expires_at: datetime | None, per_customer_limit: int) -> None:  # fmt: skip
    if kind not in COUPON_KINDS:
        raise Invalid("kind: percent or amount.", field="kind")
    if value <= 0 or (kind == "percent" and value > 100):
        raise Invalid("value: a percentage above 0 and at most 100, or an amount above 0.", field="value")
    if min_order_value < 0:
        raise Invalid("min_order_value: must not be negative.", field="min_order_value")
    for name, moment in (("starts_at", starts_at), ("expires_at", expires_at)):
        if moment is not None and moment.tzinfo is None:
            raise Invalid(f"{name}: give a time zone (e.g. 2026-12-31T23:59:59Z).", field=name)
    if starts_at and expires_at and expires_at <= starts_at:
        raise Invalid("expires_at: must be after starts_at.", field="expires_at")
    if not 1 <= per_customer_limit <= 1000:
        raise Invalid("per_customer_limit: from 1 to 1000.", field="per_customer_limit")


def create_campaign(session: Session, *, org_id: int, name: str, kind: str, value: Decimal, currency: str,
                    min_order_value: Decimal = Decimal("0"), starts_at: datetime | None = None,
                    expires_at: datetime | None = None, per_customer_limit: int = 1) -> CouponCampaign:  # fmt: skip
    if not name.strip():
        raise Invalid("name: give the campaign a name.", field="name")
    _check_campaign(kind, value, min_order_value, starts_at, expires_at, per_customer_limit)
    campaign = CouponCampaign(org_id=org_id, name=name.strip(), kind=kind, value=cents(value),
                              currency=check_currency(currency), min_order_value=cents(min_order_value),
                              starts_at=starts_at, expires_at=expires_at, per_customer_limit=per_customer_limit,
                              active=True, created_at=utcnow())  # fmt: skip
    session.add(campaign)
    session.flush()
    return campaign


def list_campaigns(session: Session, *, org_id: int) -> list[CouponCampaign]:
    return list(session.scalars(select(CouponCampaign).where(CouponCampaign.org_id == org_id)
                                .order_by(CouponCampaign.id.desc())))  # fmt: skip


def get_campaign_or_raise(session: Session, *, org_id: int, campaign_id: int) -> CouponCampaign:
    campaign = session.scalar(select(CouponCampaign).where(CouponCampaign.org_id == org_id,
                                                           CouponCampaign.id == campaign_id))  # fmt: skip
    if campaign is None:
        raise NotFound(f"No coupon campaign {campaign_id}.", field="campaign_id")
    return campaign


def set_campaign_active(session: Session, *, campaign: CouponCampaign, active: bool) -> CouponCampaign:
    campaign.active = active
    session.flush()
    return campaign


@dataclass(frozen=True)
class CampaignCounts:
    codes: int
    redeemed: int


def campaign_counts(session: Session, *, org_id: int, campaign_id: int) -> CampaignCounts:
    codes, redeemed = session.execute(
        select(func.count(Coupon.id), func.count(Coupon.redeemed_at))
        .where(Coupon.org_id == org_id, Coupon.campaign_id == campaign_id)
    ).one()  # fmt: skip
    return CampaignCounts(int(codes or 0), int(redeemed or 0))


def do_generate_codes(session: Session, *, campaign: CouponCampaign, count: int,
                      customer_ids: list[int] | None = None) -> list[str]:  # fmt: skip
    """``count`` new codes for the campaign (one per customer when ``customer_ids`` is given, each code then
    usable by that customer only). Returns the codes: the only time they are listed all at once."""
    if customer_ids:
        count = len(customer_ids)
        for customer_id in set(customer_ids):
            customers_service.get_writable_customer_or_raise(session, org_id=campaign.org_id, customer_id=customer_id,
                                                             field="customer_ids")  # fmt: skip
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
        raise Invalid(f"count: from 1 to {MAX_BATCH:,} codes at a time.", field="count")
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_code())
    ordered = sorted(codes)
    taken = set(
        session.scalars(select(Coupon.code).where(Coupon.org_id == campaign.org_id, Coupon.code.in_(ordered)))
    )
    while taken:  # astronomically unlikely; draw replacements rather than fail
        ordered = [c for c in ordered if c not in taken] + [new_code() for _ in taken]
        taken = set(
            session.scalars(
                select(Coupon.code).where(Coupon.org_id == campaign.org_id, Coupon.code.in_(ordered))
            )
        )
    now = utcnow()
    owners = customer_ids or [None] * count
    session.execute(insert(Coupon), [
        {"org_id": campaign.org_id, "campaign_id": campaign.id, "code": code, "customer_id": owner, "created_at": now}
        for code, owner in zip(ordered, owners, strict=True)
    ])  # fmt: skip
    audit.record(session, action="generate", entity="loyalty_coupons", entity_id=campaign.id,
                 org_id=campaign.org_id, after={"campaign_id": campaign.id, "codes": count})  # fmt: skip
    return ordered


def list_coupons(session: Session, *, org_id: int, campaign_id: int | None = None, customer_id: int | None = None,
                 limit: int = 100, offset: int = 0) -> tuple[list[Coupon], int]:  # fmt: skip
    where = [Coupon.org_id == org_id]
    if campaign_id is not None:
        where.append(Coupon.campaign_id == campaign_id)
    if customer_id is not None:
        where.append(Coupon.customer_id == customer_id)
    total = session.scalar(select(func.count(Coupon.id)).where(*where)) or 0
    rows = session.scalars(select(Coupon).where(*where).order_by(Coupon.id).limit(limit).offset(offset))
    return list(rows), total


def get_coupon_by_code(session: Session, *, org_id: int, code: str) -> Coupon:
    coupon = session.scalar(
        select(Coupon).where(Coupon.org_id == org_id, Coupon.code == normalise_code(code))
    )
    if coupon is None:
        raise NotFound("No coupon with this code.", field="coupon_code")
    return coupon


# --- redeeming ---------------------------------------------------------------------------------------


def coupon_discount(campaign: CouponCampaign, order_value: Decimal) -> Decimal:
    """What the campaign takes off an order of ``order_value``: a percentage rounded to the cent (halves
    up), or the amount but never more than the order."""
    if campaign.kind == "percent":
        return cents(order_value * campaign.value / 100)
    return min(campaign.value, order_value)


def check_usable(session: Session, *, coupon: Coupon, customer_id: int, order_value: Decimal, currency: str,
                 now: datetime | None = None) -> tuple[CouponCampaign, Decimal]:  # fmt: skip
    """The campaign and the discount, or the reason the code cannot be used for this order (field
    ``coupon_code``; 409 when used up, 422 when the order does not qualify)."""
    now = now or utcnow()
    campaign = get_campaign_or_raise(session, org_id=coupon.org_id, campaign_id=coupon.campaign_id)
    field = "coupon_code"
    if coupon.redeemed_at is not None:
        raise Conflict("This coupon was already used.", field=field, code="coupon_used")
    if not campaign.active:
        raise Conflict("This coupon's campaign has ended.", field=field, code="coupon_inactive")
    if campaign.starts_at and now < campaign.starts_at:
        raise Invalid(f"This coupon is valid from {campaign.starts_at:%d %b %Y}.", field=field)
    if campaign.expires_at and now >= campaign.expires_at:
        raise Conflict(
            f"This coupon expired on {campaign.expires_at:%d %b %Y}.", field=field, code="coupon_expired"
        )
    if coupon.customer_id is not None and coupon.customer_id != customer_id:
        raise Invalid("This coupon was given to another customer.", field=field)
    if campaign.kind == "amount" and campaign.currency != currency:
        raise Invalid(f"This coupon is for orders in {campaign.currency}.", field=field)
    if order_value < campaign.min_order_value:
        raise Invalid(f"This coupon needs an order of at least {campaign.min_order_value} {campaign.currency}.",
                      field=field)  # fmt: skip
    return campaign, coupon_discount(campaign, order_value)


def do_redeem_coupon(session: Session, *, org_id: int, code: str, customer_id: int, order_value: Decimal,
                     currency: str, order_id: int | None = None, now: datetime | None = None) -> CouponUse:  # fmt: skip
    """Use the code for the customer's order of ``order_value``: once per code, at most the campaign's
    per-customer limit; everything or nothing is written."""
    now = now or utcnow()
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    coupon = get_coupon_by_code(session, org_id=org_id, code=code)
    campaign, discount = check_usable(session, coupon=coupon, customer_id=customer_id, order_value=order_value,
                                      currency=currency, now=now)  # fmt: skip
    # The customer's uses are numbered (unique per campaign and customer). Two redemptions at once may both
    # count n uses and both try number n + 1: the database lets one through and makes the other wait until
    # it commits, then refuses it. That one counts again (the other's use is now visible) and tries the next
    # number, so a redemption is refused for the limit only when the limit is really reached.
    for _attempt in range(campaign.per_customer_limit + 1):
        try:
            use = _use_coupon(session, org_id=org_id, coupon=coupon, campaign=campaign, customer_id=customer_id,
                              discount=discount, order_id=order_id, now=now)  # fmt: skip
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("This customer's coupon limit was reached by simultaneous redemptions.",
                       field="coupon_code", code="coupon_limit")  # fmt: skip
    session.expire(coupon)
    return use


def _use_coupon(session: Session, *, org_id: int, coupon: Coupon, campaign, customer_id: int, discount: Decimal,
                order_id: int | None, now: datetime) -> CouponUse:  # fmt: skip
    """Mark the code used and record the customer's next use, in one savepoint (all or nothing)."""
    with session.begin_nested():
        marked = session.execute(
            update(Coupon).where(Coupon.id == coupon.id, Coupon.redeemed_at.is_(None))
            .values(redeemed_at=now).execution_options(synchronize_session=False)
        ).rowcount  # fmt: skip
        if not marked:
            raise Conflict("This coupon was already used.", field="coupon_code", code="coupon_used")
        used = session.scalar(select(func.count(CouponUse.id)).where(
            CouponUse.campaign_id == campaign.id, CouponUse.customer_id == customer_id)) or 0  # fmt: skip
        if used >= campaign.per_customer_limit:
            raise Conflict(f"This customer has used this campaign's coupons {used} time(s), the most allowed.",
                           field="coupon_code", code="coupon_limit")  # fmt: skip
        use = CouponUse(org_id=org_id, campaign_id=campaign.id, coupon_id=coupon.id, customer_id=customer_id,
                        sequence=used + 1, order_id=order_id, discount=discount, used_at=now)  # fmt: skip
        session.add(use)
        session.flush()
    return use


def list_uses(session: Session, *, org_id: int, customer_id: int) -> list[CouponUse]:
    return list(session.scalars(select(CouponUse).where(CouponUse.org_id == org_id,
                                                        CouponUse.customer_id == customer_id)
                                .order_by(CouponUse.id.desc())))  # fmt: skip
