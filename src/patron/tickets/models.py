"""Service desk: tickets (complaints and requests), their history, and SLA policies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "resolved", "closed")
KINDS = ("complaint", "request", "question", "incident")
EVENT_KINDS = ("acknowledgement", "comment", "status", "assignment", "escalation", "breach", "satisfaction")


class SlaPolicy(TimestampMixin, OrgScoped, Base):
    """Targets for one priority: minutes to first response and to resolution."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("org_id", "priority", name="uq_sla_policies_org_priority"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    priority: Mapped[str] = mapped_column(String(10))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    business_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    business_start_hour: Mapped[int] = mapped_column(Integer, default=9)
    business_end_hour: Mapped[int] = mapped_column(Integer, default=17)
    business_days: Mapped[str] = mapped_column(String(7), default="01234")  # Monday=0


class Ticket(TimestampMixin, OrgScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_tickets_org_number"),
        Index("ix_tickets_org_status_priority", "org_id", "status", "priority"),
        Index("ix_tickets_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="request")
    category: Mapped[str] = mapped_column(String(60), default="general")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(10), default="new")
    channel: Mapped[str] = mapped_column(String(20), default="web")
    assignee_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    escalated_to_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    satisfaction_comment: Mapped[str] = mapped_column(String(1000), default="")


class TicketEvent(OrgScoped, Base):
    """The ticket's history: acknowledgement, comments, status changes, escalations, breaches."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
