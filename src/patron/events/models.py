"""Records the event processor keeps current in the records database (the events themselves live in
the event store, see :mod:`patron.events.store`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, utcnow

USAGE_TRENDS = ("new", "rising", "steady", "falling", "inactive")


class CustomerSignals(OrgScoped, Base):
    """Derived attributes of one customer, kept current from their devices' events: last seen, usage
    per period, device health, usage trend (a churn signal)."""

    __tablename__ = "customer_signals"
    __audited__ = False

    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    events_today: Mapped[int] = mapped_column(Integer, default=0)
    events_7d: Mapped[int] = mapped_column(Integer, default=0)
    events_30d: Mapped[int] = mapped_column(Integer, default=0)
    usage_by_type: Mapped[dict] = mapped_column(JSON, default=dict)  # event type -> count, last 30 days
    usage_trend: Mapped[str] = mapped_column(String(10), default="new")
    trend_slope: Mapped[float | None] = mapped_column(Float)  # relative change per week
    device_count: Mapped[int] = mapped_column(Integer, default=0)
    device_health: Mapped[str] = mapped_column(String(10), default="unknown")  # the worst of their devices
    places_learned_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
