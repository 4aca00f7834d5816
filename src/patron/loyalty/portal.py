"""The customer's own loyalty page: a personal link (the token is the credential, only its hash is kept)
and what the page shows - points, tier and progress, coupons they may use, gift certificates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import NotFound
from patron.core.security import new_secret, secret_hash
from patron.customers import service as customers_service
from patron.loyalty import coupons, earning, gifts, programme, rewards
from patron.loyalty import service as points_service
from patron.loyalty.models import Coupon, GiftCertificate, PointsEntry, PortalLink, Reward

LINK_PREFIX = "plp"
LINK_DAYS = 90


def create_link(
    session: Session, *, org_id: int, customer_id: int, days: int = LINK_DAYS
) -> tuple[str, PortalLink]:
    """A new personal link token, valid ``days``; the token exists only in the answer."""
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    token = new_secret(LINK_PREFIX)
    now = utcnow()
    link = PortalLink(org_id=org_id, customer_id=customer_id, token_hash=secret_hash(token), created_at=now,
                      expires_at=now + timedelta(days=days))  # fmt: skip
    session.add(link)
    session.flush()
    return token, link


def resolve_link(session: Session, *, token: str) -> PortalLink:
    """The link of a token, or NotFound (unknown, expired, or the customer erased)."""
    link = None
    if token.startswith(LINK_PREFIX + "_") and len(token) < 100:
        link = session.scalar(select(PortalLink).where(PortalLink.token_hash == secret_hash(token)))
    if link is None or link.expires_at <= utcnow():
        raise NotFound("This link is not valid.", field="token")
    return link


@dataclass
class LoyaltySummary:
    """Everything one customer's loyalty panel and page show."""

    balance: int
    lifetime_earned: int
    status: programme.TierStatus
    entries: list[PointsEntry]
    entries_total: int
    expiring: list[tuple[datetime, int]]
    coupons: list[tuple[Coupon, object]]
    certificates: list[GiftCertificate]
    rewards: list[Reward]
    tier_history: list


def summary(session: Session, *, org_id: int, customer_id: int, entries: int = 10) -> LoyaltySummary:
    balance = points_service.get_balance(session, org_id=org_id, customer_id=customer_id)
    items, total = points_service.list_entries(session, org_id=org_id, customer_id=customer_id, limit=entries)
    own, _ = coupons.list_coupons(session, org_id=org_id, customer_id=customer_id, limit=50)
    campaigns = {c.id: c for c in coupons.list_campaigns(session, org_id=org_id)}
    return LoyaltySummary(
        balance=balance.balance if balance else 0,
        lifetime_earned=balance.lifetime_earned if balance else 0,
        status=programme.tier_status(session, org_id=org_id, customer_id=customer_id),
        entries=items,
        entries_total=total,
        expiring=earning.expiring_soon(session, org_id=org_id, customer_id=customer_id),
        coupons=[(c, campaigns.get(c.campaign_id)) for c in own],
        certificates=gifts.list_certificates(session, org_id=org_id, customer_id=customer_id),
        rewards=rewards.list_rewards(session, org_id=org_id, active=True),
        tier_history=programme.list_tier_changes(session, org_id=org_id, customer_id=customer_id, limit=10),
    )
