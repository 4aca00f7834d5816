"""Campaigns: who gets which personalised message on which channel and when, the A/B variants, each
recipient's assignment (a variant or the hold-out) and the conversions attributed to them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

#: ``one_off`` sends once (now or at ``send_at``); ``recurring`` on a daily/weekly/monthly clock in the
#: campaign's time zone; ``triggered`` whenever a rule emits its trigger for a customer
KINDS = ("one_off", "recurring", "triggered")
#: ``launching``: a one-off being sent in the background (see :mod:`patron.campaigns.sending`)
STATUSES = ("draft", "scheduled", "launching", "running", "paused", "done")
#: what counts as a conversion: an order, a visit (a rule trigger such as ``entered_shop_S``), an app or device
#: event of a given type from the event store (``app_purchase``)
CONVERSION_KINDS = ("order", "visit", "event")
RECURRENCES = ("daily", "weekly", "monthly")
#: the assignment of a customer who is measured but sent nothing
HOLDOUT = "holdout"
MONEY = Numeric(14, 4)


class Campaign(TimestampMixin, OrgScoped, Base):
    """One campaign. ``audience`` is ``{"kind": "all" | "filter" | "segment", ...}``; ``channels`` are
    tried in order, each recipient getting the first one they consented to; ``schedule`` holds
    ``send_at`` (one-off) or ``{"every", "time", "weekday", "day"}`` (recurring) in ``timezone``;
    ``trigger`` is ``{"name", "conditions", "cooldown_hours"}`` (triggered)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_campaigns_org_name"),
        Index("ix_campaigns_status_next_run", "status", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(10), default="one_off")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    channels: Mapped[list] = mapped_column(JSON, default=list)
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    send_at: Mapped[datetime | None] = mapped_column(default=None)
    recurrence: Mapped[dict | None] = mapped_column(JSON, default=None)
    trigger: Mapped[dict | None] = mapped_column(JSON, default=None)
    conversion: Mapped[dict] = mapped_column(JSON, default=dict)
    budget: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    #: channel -> cost of one message sent on it
    costs: Mapped[dict] = mapped_column(JSON, default=dict)
    spent: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    holdout_percent: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    launched_at: Mapped[datetime | None] = mapped_column(default=None)
    #: why the campaign stopped by itself (``budget``), if it did
    stop_reason: Mapped[str | None] = mapped_column(String(60))
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))


class CampaignVariant(OrgScoped, Base):
    """One A/B variant: its share of the (non-hold-out) audience and its templates."""

    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "name", name="uq_campaign_variants_campaign_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(40))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class CampaignRecipient(OrgScoped, Base):
    """A customer taken into one occurrence of a campaign (``once`` for a one-off, the local date of a
    recurring send, ``trigger:<id>`` for a triggered one): the variant or the hold-out they were assigned
    to, and the message they were sent (none for the hold-out, or when nothing could be sent)."""

    __tablename__ = "campaign_recipients"
    __audited__ = False  # written by the thousand at launch; the launch itself is audited
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "customer_id", "occurrence", name="uq_campaign_recipients_occurrence"
        ),
        Index("ix_campaign_recipients_campaign_customer", "campaign_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    occurrence: Mapped[str] = mapped_column(String(40), default="once")
    variant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("campaign_variants.id", ondelete="SET NULL"), default=None
    )
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str | None] = mapped_column(String(10))
    message_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("notify_messages.id", ondelete="SET NULL")
    )
    #: why nothing was sent to an assigned, non-hold-out customer: ``no_consent``, ``budget``
    skipped: Mapped[str | None] = mapped_column(String(20))
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignConversion(OrgScoped, Base):
    """A conversion (an order, a visit, an app event) of a recipient within the campaign's window after
    assignment. One source (an order, a trigger, an event: ``source_id`` is its id) counts once per campaign."""

    __tablename__ = "campaign_conversions"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("campaign_id", "kind", "source_id", name="uq_campaign_conversions_source"),
        Index("ix_campaign_conversions_campaign_customer", "campaign_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, ForeignKey("campaigns.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("campaign_recipients.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int | None] = mapped_column(Integer, default=None)
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(10))
    source_id: Mapped[str] = mapped_column(String(128))
    value: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    converted_at: Mapped[datetime] = mapped_column(default=utcnow)
    message_id: Mapped[int | None] = mapped_column(Integer, default=None)
