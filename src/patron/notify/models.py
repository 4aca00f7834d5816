"""Messages to customers on one channel each, their status history, the suppression list and Web Push
subscriptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

#: where a message goes: e-mail, Web Push to a browser or phone, SMS, an MQTT command to the customer's
#: connected device, the in-app inbox
CHANNELS = ("email", "push", "sms", "device", "in_app")
#: the consent channel (customers ledger) each message channel needs at send time; a message shown on the
#: customer's own connected device counts as an in-product message
CONSENT_CHANNEL = {"email": "email", "push": "push", "sms": "sms", "device": "in_app", "in_app": "in_app"}
#: ``sending`` is the short claim a worker holds while it talks to the provider
MESSAGE_STATUSES = ("queued", "sending", "sent", "delivered", "failed", "opened", "clicked", "suppressed")
#: why a message was suppressed or failed for good
REASONS = ("no_consent", "suppressed", "no_address", "not_configured", "rejected", "gone", "interrupted",
           "attempts_exhausted", "customer_gone", "daily_cap", "weekly_cap")
#: ``marketing`` messages (offers, campaigns, triggered promotions) respect quiet hours and frequency caps;
#: ``service`` messages (a reply to a ticket, a receipt, a security notice) are sent at once
PURPOSES = ("marketing", "service")
SUPPRESSION_KINDS = ("email", "phone", "customer")


class Message(TimestampMixin, OrgScoped, Base):
    """One message to one customer on one channel. ``idempotency_key`` is unique per organisation: the
    same key never makes (or sends) a second message."""

    __tablename__ = "notify_messages"
    __audited__ = False  # its own status history (MessageEvent) records every change
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key", name="uq_notify_messages_org_idempotency_key"),
        Index("ix_notify_messages_org_customer", "org_id", "customer_id"),
        Index("ix_notify_messages_status_due", "status", "next_attempt_at"),
        Index("ix_notify_messages_org_campaign", "org_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    #: the URLs the message may redirect to through click tracking (its body's links and ``data.url``)
    links: Mapped[list] = mapped_column(JSON, default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    reason: Mapped[str | None] = mapped_column(String(30))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    #: where it went (e-mail address, phone number, number of subscriptions or devices)
    address: Mapped[str | None] = mapped_column(String(254))
    #: SHA-256 of the message's link token (unsubscribe, tracking, push page); issued when it is sent
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(10), default="service", server_default="service")
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    clicked_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_at: Mapped[datetime | None] = mapped_column(default=None)


class MessageEvent(OrgScoped, Base):
    """One status change of a message (the history shown with it)."""

    __tablename__ = "notify_message_events"
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("notify_messages.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[str] = mapped_column(String(500), default="")


class Suppression(OrgScoped, Base):
    """An e-mail address, phone number or customer that never receives anything from the organisation."""

    __tablename__ = "notify_suppressions"
    __table_args__ = (UniqueConstraint("org_id", "kind", "value", name="uq_notify_suppressions_org_kind_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))


class PushSubscription(OrgScoped, Base):
    """A browser's Web Push subscription for a customer: the push service endpoint and the keys the
    payload is encrypted for (RFC 8291)."""

    __tablename__ = "notify_push_subscriptions"
    __audited__ = False  # holds the subscription's keys
    __table_args__ = (UniqueConstraint("org_id", "endpoint", name="uq_notify_push_subscriptions_org_endpoint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(1000))
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(60))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)


class CustomerLink(OrgScoped, Base):
    """A personal link to the push opt-in page, handed to a customer outside any message (stored hashed)."""

    __tablename__ = "notify_customer_links"
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ChannelPolicy(TimestampMixin, OrgScoped, Base):
    """An organisation's limits for ``marketing`` messages on one channel: quiet hours in each customer's
    own time zone (``quiet_start``-``quiet_end``, "HH:MM", may wrap past midnight) and caps on how many
    may be sent to one customer in a day and in a week."""

    __tablename__ = "notify_channel_policies"
    __table_args__ = (UniqueConstraint("org_id", "channel", name="uq_notify_channel_policies_org_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    weekly_cap: Mapped[int | None] = mapped_column(Integer)
