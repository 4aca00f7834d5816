"""Device registry: devices, their binding history to customers, and organisation ingest keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

#: what a device is; ``vehicle`` covers taxis and connected cars
DEVICE_TYPES = ("vehicle", "wearable", "smart_meter", "smart_home_hub", "beacon", "phone_app")
DEVICE_STATUSES = ("active", "inactive", "retired")
#: derived from the device's events: ``offline`` when silent too long, ``fault`` after a fault event
HEALTH_STATES = ("unknown", "ok", "warning", "fault", "offline")

DEVICE_KEY_PREFIX = "pdk"
INGEST_KEY_PREFIX = "pik"


class Device(TimestampMixin, OrgScoped, Base):
    """A connected thing that sends events: a taxi, a wearable, a smart meter, a shop beacon, an app."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("org_id", "serial", name="uq_devices_org_serial"),
        Index("ix_devices_org_customer", "org_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120), default="")
    serial: Mapped[str | None] = mapped_column(String(120))
    model: Mapped[str] = mapped_column(String(120), default="")
    firmware: Mapped[str] = mapped_column(String(60), default="")
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="active")
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL")
    )
    key_prefix: Mapped[str] = mapped_column(String(16), default="")
    key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    key_rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    key_revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # kept current by the event processor (see patron.events.processing)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_type: Mapped[str | None] = mapped_column(String(64))
    message_rate: Mapped[float] = mapped_column(Float, default=0.0)  # events per minute, last 5 minutes
    health: Mapped[str] = mapped_column(String(10), default="unknown")
    health_reason: Mapped[str] = mapped_column(String(200), default="")
    last_fault_code: Mapped[str | None] = mapped_column(String(60))


class DeviceBinding(OrgScoped, Base):
    """One period during which a device belonged to a customer (the binding history)."""

    __tablename__ = "device_bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer, ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)
    unbound_at: Mapped[datetime | None] = mapped_column(default=None)
    bound_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))


class IngestKey(TimestampMixin, OrgScoped, Base):
    """An organisation-wide key for sending events of any of its devices or customers (a gateway,
    a back end). Shown once, stored hashed."""

    __tablename__ = "ingest_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
