"""Rules stored as data, every firing with the event that caused it, triggers for campaigns, and the
small per-subject state that geofence and inactivity rules need between events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow


class Rule(TimestampMixin, OrgScoped, Base):
    """One rule: ``definition`` holds its conditions and actions (see docs/iot.md for the format)."""

    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_rules_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    fire_count: Mapped[int] = mapped_column(Integer, default=0)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)


class RuleFiring(OrgScoped, Base):
    """A rule fired: the event that caused it and what each action did."""

    __tablename__ = "rule_firings"
    __audited__ = False
    __table_args__ = (Index("ix_rule_firings_rule_fired", "rule_id", "fired_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, ForeignKey("rules.id", ondelete="CASCADE"))
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    event_id: Mapped[str | None] = mapped_column(String(128))
    event_seq: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("devices.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    event: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(500), default="")
    actions: Mapped[list] = mapped_column(JSON, default=list)
    latency_ms: Mapped[float | None] = mapped_column(Float)


class Trigger(OrgScoped, Base):
    """A named signal a rule emits for the campaign capability ("entered geofence of shop S")."""

    __tablename__ = "triggers"
    __audited__ = False
    __table_args__ = (Index("ix_triggers_org_name_consumed", "org_id", "name", "consumed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    rule_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("rules.id", ondelete="SET NULL"))
    firing_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("rule_firings.id", ondelete="SET NULL"))
    #: the firing, so the engine writes a new firing and its trigger in one flush (the firing's id is not
    #: known before)
    firing: Mapped[RuleFiring | None] = relationship(RuleFiring, lazy="raise_on_sql")
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("devices.id", ondelete="SET NULL"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    consumed_at: Mapped[datetime | None] = mapped_column(default=None)
    consumed_by: Mapped[str | None] = mapped_column(String(120))


class RuleState(OrgScoped, Base):
    """What a rule remembers about one subject (``device:5``, ``customer:7``) between events:
    inside/outside a geofence, when inactivity last fired."""

    __tablename__ = "rule_states"
    __audited__ = False
    __table_args__ = (UniqueConstraint("rule_id", "subject", name="uq_rule_states_rule_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, ForeignKey("rules.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(60))
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
