"""The points ledger (append-only) and each customer's balance, kept in step with it in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, utcnow

#: ``earn`` (a purchase, a referral, a survey answered), ``redeem`` (spent on a reward), ``adjust`` (a
#: correction by staff, either way), ``merge`` (points brought over from a merged duplicate profile)
ENTRY_KINDS = ("earn", "redeem", "adjust", "merge")


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
