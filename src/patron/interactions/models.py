"""Interactions: calls, e-mails, chats, meetings, social messages and notes with a customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

INTERACTION_KINDS = ("call", "email", "chat", "meeting", "social", "note", "sms")
DIRECTIONS = ("inbound", "outbound", "internal")


class Interaction(TimestampMixin, OrgScoped, Base):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_customer_time", "customer_id", "occurred_at"),
        Index("ix_interactions_org_user_time", "org_id", "user_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(40), default="")
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(60), default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: sentiment of an inbound message's words in [-1, 1] (VADER's compound score); null without words
    sentiment: Mapped[float | None] = mapped_column(Float, default=None)
    #: the complaint ticket this message opened or was added to (see :mod:`patron.interactions.complaints`)
    ticket_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("tickets.id", ondelete="SET NULL"))
