"""The points ledger (append-only) and each customer's balance, kept in step with it in one transaction."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, utcnow

#: ``earn`` (a purchase, a referral, a survey answered), ``redeem`` (spent on a reward), ``adjust`` (a
#: correction by staff, either way), ``merge`` (points brought over from a merged duplicate profile),
#: ``expire`` (the unspent part of an old earning, by the expiry job), ``reverse`` (an earning taken back
#: when its order is cancelled or refunded)
ENTRY_KINDS = ("earn", "redeem", "adjust", "merge", "expire", "reverse")


class PointsEntry(OrgScoped, Base):
    """One change of a customer's points. Entries are never changed or deleted (but with the customer);
    ``balance_after`` is the balance this entry left, so the history reads like a bank statement."""

    __tablename__ = "loyalty_points_entries"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key", name="uq_loyalty_points_entries_org_idempotency_key"),
        Index("ix_loyalty_points_entries_org_customer", "org_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    delta: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str | None] = mapped_column(String(60))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    #: for an earning under an expiry policy: when its unspent part expires
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class PointsBalance(OrgScoped, Base):
    """A customer's current points: the sum of their entries, updated in the same transaction as each
    entry by a single conditional statement, so that two redemptions of the last points cannot both
    pass and the balance never goes negative (the check constraint is the last line of defence)."""

    __tablename__ = "loyalty_points_balances"
    __table_args__ = (
        UniqueConstraint("org_id", "customer_id", name="uq_loyalty_points_balances_org_customer"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    balance: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_earned: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


MONEY = Numeric(14, 2)
TIER_BASES = ("rolling_12m", "lifetime")
EARN_RULE_KINDS = ("purchase_bonus", "survey_answered", "app_streak", "referral")


class LoyaltyProgramme(OrgScoped, Base):
    """An organisation's programme settings: how many points a currency unit spent earns, when earned
    points expire, and what the tiers are measured on. One row per organisation (defaults until saved)."""

    __tablename__ = "loyalty_programmes"
    __table_args__ = (UniqueConstraint("org_id", name="uq_loyalty_programmes_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: purchases earn points only when the programme is switched on
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    points_per_unit: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("1"))
    #: earned points expire this many months after they were earned; None: never
    expiry_months: Mapped[int | None] = mapped_column(Integer, default=None)
    tier_basis: Mapped[str] = mapped_column(String(12), default="rolling_12m")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EarnRule(OrgScoped, Base):
    """Points given for something a customer did besides buying: a survey answered, an app used on N days
    in a row, a friend referred, or a bonus on orders above an amount."""

    __tablename__ = "loyalty_earn_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    points: Mapped[int] = mapped_column(Integer)
    streak_days: Mapped[int | None] = mapped_column(Integer, default=None)
    min_amount: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyTier(OrgScoped, Base):
    """A level reached with ``threshold`` qualifying points; its members earn ``multiplier`` times the
    points on purchases and enjoy the ``benefits`` text."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_loyalty_tiers_org_name"),
        UniqueConstraint("org_id", "threshold", name="uq_loyalty_tiers_org_threshold"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    threshold: Mapped[int] = mapped_column(Integer)
    multiplier: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("1"))
    benefits: Mapped[str] = mapped_column(Text, default="")


class CustomerTier(OrgScoped, Base):
    """A customer's current tier (None: below the first threshold) and the points it was decided on."""

    __tablename__ = "loyalty_customer_tiers"
    __table_args__ = (UniqueConstraint("org_id", "customer_id", name="uq_loyalty_customer_tiers_org_customer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    tier_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("loyalty_tiers.id", ondelete="SET NULL"))
    qualifying_points: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TierChange(OrgScoped, Base):
    """One move of a customer between tiers (an upgrade or a downgrade), kept as history."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (Index("ix_loyalty_tier_changes_org_customer", "org_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    from_tier: Mapped[str | None] = mapped_column(String(60))
    to_tier: Mapped[str | None] = mapped_column(String(60))
    direction: Mapped[str] = mapped_column(String(4))  # up | down
    qualifying_points: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppStreak(OrgScoped, Base):
    """How many days in a row a customer has used the app (from the enrichment counters), and the last."""

    __tablename__ = "loyalty_app_streaks"
    __audited__ = False
    __table_args__ = (UniqueConstraint("org_id", "customer_id", name="uq_loyalty_app_streaks_org_customer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    days: Mapped[int] = mapped_column(Integer, default=0)
    last_day: Mapped[date] = mapped_column(Date)


class Reward(OrgScoped, Base):
    """Something customers can take for points. ``stock`` None: unlimited."""

    __tablename__ = "loyalty_rewards"
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    cost_points: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardRedemption(OrgScoped, Base):
    """A reward taken by a customer, with the points entry that paid for it."""

    __tablename__ = "loyalty_reward_redemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(Integer, ForeignKey("loyalty_rewards.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    points: Mapped[int] = mapped_column(Integer)
    points_entry_id: Mapped[int] = mapped_column(Integer, ForeignKey("loyalty_points_entries.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponCampaign(OrgScoped, Base):
    """A batch of single-use codes with one offer: ``percent`` or ``amount`` off an order of at least
    ``min_order_value``, valid from ``starts_at`` until ``expires_at``, at most ``per_customer_limit`` uses
    per customer."""

    __tablename__ = "loyalty_coupon_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(8))  # percent | amount
    value: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    min_order_value: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    per_customer_limit: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Coupon(OrgScoped, Base):
    """One code of a campaign, optionally given to one customer; used once (``redeemed_at``)."""

    __tablename__ = "loyalty_coupons"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_loyalty_coupons_org_code"),
        Index("ix_loyalty_coupons_campaign", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, ForeignKey("loyalty_coupon_campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponUse(OrgScoped, Base):
    """A coupon redeemed by a customer. ``sequence`` counts the customer's uses of the campaign; the unique
    constraint stops two simultaneous redemptions from both taking the customer's last allowed use."""

    __tablename__ = "loyalty_coupon_uses"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "sequence", name="uq_loyalty_coupon_uses_sequence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, ForeignKey("loyalty_coupon_campaigns.id", ondelete="CASCADE"))
    coupon_id: Mapped[int] = mapped_column(Integer, ForeignKey("loyalty_coupons.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("orders.id", ondelete="SET NULL"))
    discount: Mapped[Decimal] = mapped_column(MONEY)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class GiftCertificate(OrgScoped, Base):
    """A prepaid amount under an unguessable code, spent in parts until nothing is left or it expires."""

    __tablename__ = "loyalty_gift_certificates"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_loyalty_gift_certificates_org_code"),
        CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    #: amounts in cents (whole numbers), so that the conditional spend compares exactly on every database
    initial_cents: Mapped[int] = mapped_column(Integer)
    balance_cents: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def initial_amount(self) -> Decimal:
        return Decimal(self.initial_cents) / 100

    @property
    def balance(self) -> Decimal:
        return Decimal(self.balance_cents) / 100


class GiftCertificateEntry(OrgScoped, Base):
    """One movement of a certificate's balance: ``issue`` or ``spend`` (negative), like a statement."""

    __tablename__ = "loyalty_gift_certificate_entries"
    __table_args__ = (Index("ix_loyalty_gift_certificate_entries_cert", "certificate_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("loyalty_gift_certificates.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(8))
    amount_cents: Mapped[int] = mapped_column(Integer)
    balance_after_cents: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_cents) / 100

    @property
    def balance_after(self) -> Decimal:
        return Decimal(self.balance_after_cents) / 100


PROMOTION_KINDS = ("percent", "amount", "three_for_two", "gift")


class Promotion(OrgScoped, Base):
    """An automatic discount on orders: ``percent`` or ``amount`` off each unit in scope, three-for-two
    (the cheapest of every three units in scope is free) or a free ``gift_product_id`` line when the order
    has at least ``min_order_value`` in scope. Empty ``product_ids`` and ``category_ids`` scope the whole
    catalogue. A promotion that is not ``stackable`` is never combined with another one on a line."""

    __tablename__ = "loyalty_promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    product_ids: Mapped[list] = mapped_column(JSON, default=list)
    category_ids: Mapped[list] = mapped_column(JSON, default=list)
    gift_product_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("products.id", ondelete="SET NULL"))
    min_order_value: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    stackable: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortalLink(OrgScoped, Base):
    """A customer's personal link to their loyalty page; only the token's hash is kept."""

    __tablename__ = "loyalty_portal_links"
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
