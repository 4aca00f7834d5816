"""Referrals (personal codes, who brought whom), contests and lotteries with a committed, verifiable draw,
and games with groups, score submissions and prizes per period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, utcnow

#: pending (recorded), qualified (the referred customer's first order was paid), rewarded (points given)
REFERRAL_STATUSES = ("pending", "qualified", "rewarded")
#: draft (being set up), open (entries taken; the seed's hash is published), closed (no more entries),
#: drawn (winners chosen; the seed is published)
CONTEST_STATUSES = ("draft", "open", "closed", "drawn")
#: how customers get entries: they opt in (one entry), or earn one per paid order / per N points earned /
#: per survey answered in the entry window
ENTRY_RULES = ("opt_in", "per_order", "per_points", "per_survey")
#: what a game counts: manual score submissions (quiz points), paid orders, or device events
GAME_SOURCES = ("manual", "orders", "events")
#: UTC calendar periods of a game's leaderboards
GAME_PERIODS = ("day", "week", "month", "all")
#: 1,2,2,4 (competition, "standard") or 1,2,2,3 (dense)
RANK_METHODS = ("competition", "dense")


class ReferralProgram(OrgScoped, Base):
    """The organisation's referral terms: points to each side and the most referrals one customer may make."""

    __tablename__ = "referral_programs"
    __table_args__ = (UniqueConstraint("org_id", name="uq_referral_programs_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referrer_points: Mapped[int] = mapped_column(Integer, default=100)
    referred_points: Mapped[int] = mapped_column(Integer, default=50)
    max_referrals: Mapped[int] = mapped_column(Integer, default=20)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralCode(OrgScoped, Base):
    """A customer's personal code, to hand to friends."""

    __tablename__ = "referral_codes"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_referral_codes_org_code"),
        UniqueConstraint("org_id", "customer_id", name="uq_referral_codes_org_customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Referral(OrgScoped, Base):
    """One customer brought by another. A customer is referred at most once."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("org_id", "referred_id", name="uq_referrals_org_referred"),
        Index("ix_referrals_org_referrer", "org_id", "referrer_id"),
        CheckConstraint("referrer_id <> referred_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referrer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    referred_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    order_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("orders.id", ondelete="SET NULL"))
    referrer_points: Mapped[int] = mapped_column(Integer, default=0)
    referred_points: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    qualified_at: Mapped[datetime | None] = mapped_column(default=None)
    rewarded_at: Mapped[datetime | None] = mapped_column(default=None)


class Contest(OrgScoped, Base):
    """A contest or lottery: an entry rule and window, eligibility, prizes, and a committed draw."""

    __tablename__ = "contests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    entry_rule: Mapped[str] = mapped_column(String(12), default="opt_in")
    points_per_entry: Mapped[int | None] = mapped_column(Integer)
    max_entries_per_customer: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    consent_channel: Mapped[str | None] = mapped_column(String(20))
    min_age: Mapped[int | None] = mapped_column(Integer, default=18)
    #: secret until the draw: hex of 32 random bytes; its SHA-256 is published when the contest opens
    secret_seed: Mapped[str | None] = mapped_column(String(64))
    seed_hash: Mapped[str | None] = mapped_column(String(64))
    entries_hash: Mapped[str | None] = mapped_column(String(64))
    #: the eligible entries the draw ran on, ``[[customer_id, count], ...]`` by customer id
    drawn_entries: Mapped[list | None] = mapped_column(JSON)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    drawn_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContestPrize(OrgScoped, Base):
    """A prize: the first ``quantity`` winners not given an earlier prize (by ``position``) get it."""

    __tablename__ = "contest_prizes"
    __table_args__ = (UniqueConstraint("contest_id", "position", name="uq_contest_prizes_contest_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("contests.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    points: Mapped[int] = mapped_column(Integer, default=0)
    quantity: Mapped[int] = mapped_column(Integer, default=1)


class ContestEntry(OrgScoped, Base):
    """A customer's entries in a contest (``count`` tickets: the weight in the draw)."""

    __tablename__ = "contest_entries"
    __table_args__ = (
        UniqueConstraint("contest_id", "customer_id", name="uq_contest_entries_contest_customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("contests.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    count: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContestWinner(OrgScoped, Base):
    """A winner of the draw, in the order drawn, with the prize given and the points entry it made."""

    __tablename__ = "contest_winners"
    __table_args__ = (UniqueConstraint("contest_id", "position", name="uq_contest_winners_contest_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("contests.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("customers.id", ondelete="SET NULL"))
    prize_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("contest_prizes.id", ondelete="SET NULL")
    )
    points: Mapped[int] = mapped_column(Integer, default=0)


class Game(OrgScoped, Base):
    """A game or tournament: what it scores, over which periods, how ties rank, group limits."""

    __tablename__ = "games"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(2000), default="")
    source: Mapped[str] = mapped_column(String(10), default="manual")
    event_type: Mapped[str | None] = mapped_column(String(100))
    event_prop: Mapped[str | None] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(8), default="month")
    rank_method: Mapped[str] = mapped_column(String(12), default="competition")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    max_group_size: Mapped[int] = mapped_column(Integer, default=10)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GamePrize(OrgScoped, Base):
    """Points for each customer ranked ``rank`` when a period closes."""

    __tablename__ = "game_prizes"
    __table_args__ = (UniqueConstraint("game_id", "rank", name="uq_game_prizes_game_rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(Integer, ForeignKey("games.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)


class GameGroup(OrgScoped, Base):
    """A team customers join to play together; its score is the sum of its members'."""

    __tablename__ = "game_groups"
    __table_args__ = (UniqueConstraint("game_id", "name", name="uq_game_groups_game_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(Integer, ForeignKey("games.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GameMembership(OrgScoped, Base):
    """A customer in a group; one group per customer and game."""

    __tablename__ = "game_memberships"
    __table_args__ = (UniqueConstraint("game_id", "customer_id", name="uq_game_memberships_game_customer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(Integer, ForeignKey("games.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("game_groups.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class GameScore(OrgScoped, Base):
    """A manual score submission (a quiz answered, a challenge done)."""

    __tablename__ = "game_scores"
    __table_args__ = (
        Index("ix_game_scores_game_at", "game_id", "scored_at"),
        UniqueConstraint("org_id", "idempotency_key", name="uq_game_scores_org_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(Integer, ForeignKey("games.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    points: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class GameAward(OrgScoped, Base):
    """A prize given at the close of a period (once per game, period and customer)."""

    __tablename__ = "game_awards"
    __table_args__ = (
        UniqueConstraint("game_id", "period_key", "customer_id", name="uq_game_awards_game_period_customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(Integer, ForeignKey("games.id", ondelete="CASCADE"), index=True)
    period_key: Mapped[str] = mapped_column(String(12))
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(default=0.0)
    points: Mapped[int] = mapped_column(Integer)
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)
