"""The customer hooks for the programme's records beyond the points ledger (called by the hooks in
:mod:`patron.loyalty.service`, which the customers domain resolves): tiers, rewards taken, coupons,
gift certificates, app streaks and personal page links.

* **Merge.** The duplicate's coupons, coupon uses (renumbered after the survivor's), rewards taken and
  gift certificates go to the survivor; its streak and page links are dropped; the survivor's tier is
  decided again.
* **Erasure.** Personal page links and the streak are deleted (the page stops working at once). Coupons,
  coupon uses, rewards taken and gift certificates are amounts the organisation owes or gave, not
  personal data: they stay, tied to the anonymised profile.
* **Export.** The tier and its history, rewards taken, coupons, coupon uses and gift certificates.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.loyalty import programme
from patron.loyalty.models import (
    AppStreak,
    Coupon,
    CouponUse,
    GiftCertificate,
    PortalLink,
    RewardRedemption,
    TierChange,
)


def _rows(items, fields: tuple[str, ...]) -> list[dict]:
    return [audit.jsonable({name: getattr(item, name) for name in fields}) for item in items]


def reassign(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    moved = 0
    for model in (Coupon, RewardRedemption, GiftCertificate):
        moved += int(session.execute(
            update(model).where(model.org_id == org_id, model.customer_id == from_customer_id)
            .values(customer_id=to_customer_id).execution_options(synchronize_session=False)
        ).rowcount or 0)  # fmt: skip
    uses = list(session.scalars(select(CouponUse).where(CouponUse.org_id == org_id,
                                                        CouponUse.customer_id == from_customer_id)
                                .order_by(CouponUse.id)))  # fmt: skip
    for use in uses:
        last = session.scalar(select(func.max(CouponUse.sequence)).where(
            CouponUse.campaign_id == use.campaign_id, CouponUse.customer_id == to_customer_id)) or 0  # fmt: skip
        use.customer_id, use.sequence = to_customer_id, last + 1
        session.flush()
        moved += 1
    for model in (AppStreak, PortalLink):
        session.execute(delete(model).where(model.org_id == org_id, model.customer_id == from_customer_id))
    programme.evaluate_tier(session, org_id=org_id, customer_id=to_customer_id)
    return moved


def erase(session: Session, *, org_id: int, customer_id: int) -> int:
    removed = 0
    for model in (AppStreak, PortalLink):
        removed += int(session.execute(
            delete(model).where(model.org_id == org_id, model.customer_id == customer_id)
        ).rowcount or 0)  # fmt: skip
    return removed


def export(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    def of(model):
        return session.scalars(select(model).where(model.org_id == org_id, model.customer_id == customer_id)
                               .order_by(model.id))  # fmt: skip

    status = programme.tier_status(session, org_id=org_id, customer_id=customer_id)
    return {
        "tier": [{"tier": status.tier.name if status.tier else None, "qualifying_points": status.qualifying_points}],
        "tier_changes": _rows(of(TierChange), ("from_tier", "to_tier", "direction", "qualifying_points", "changed_at")),
        "reward_redemptions": _rows(of(RewardRedemption), ("reward_id", "points", "created_at")),
        "coupons": _rows(of(Coupon), ("campaign_id", "code", "redeemed_at", "created_at")),
        "coupon_uses": _rows(of(CouponUse), ("campaign_id", "coupon_id", "order_id", "discount", "used_at")),
        "gift_certificates": _rows(of(GiftCertificate), ("code", "currency", "initial_amount", "balance",
                                                         "expires_at", "issued_at")),
    }  # fmt: skip
