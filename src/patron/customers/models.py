"""The customer profile and what hangs off it: identities, tags, consents, places, the timeline."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, customer_key, utcnow

IDENTITY_TYPES = ("email", "phone", "app_user", "social", "loyalty_card", "device", "external")
CONSENT_CHANNELS = ("email", "sms", "push", "in_app", "phone", "data_processing")
ATTRIBUTE_TYPES = ("string", "number", "integer", "boolean", "date")
GENDERS = ("female", "male", "diverse", "undisclosed")
EDUCATION_LEVELS = ("primary", "secondary", "vocational", "bachelor", "master", "doctorate")
INCOME_BANDS = ("low", "lower_middle", "middle", "upper_middle", "high")


class Customer(TimestampMixin, OrgScoped, Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_org_last_first", "org_id", "last_name", "first_name"),
        Index("ix_customers_org_email", "org_id", "email"),
        Index("ix_customers_org_phone", "org_id", "phone"),
        # the target of customer_key(): rows hanging off a customer name its organisation too
        UniqueConstraint("org_id", "id", name="uq_customers_org_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    #: the full date of birth when known (birthday campaigns); ``birth_year`` is then its year
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(20))
    education: Mapped[str | None] = mapped_column(String(20))
    occupation: Mapped[str | None] = mapped_column(String(100))
    income_band: Mapped[str | None] = mapped_column(String(20))
    lifestyle_tags: Mapped[list] = mapped_column(JSON, default=list)
    preferences: Mapped[dict] = mapped_column(JSON, default=dict)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_into_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL")
    )


class CustomerTag(OrgScoped, Base):
    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_org_tag", "org_id", "tag"), customer_key())

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(60), primary_key=True)


class Identity(OrgScoped, Base):
    """One way to recognise a customer on a channel; unique per organisation and type."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("org_id", "type", "value", name="uq_identities_org_type_value"),
        customer_key(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(OrgScoped, Base):
    """The consent ledger: one row per change; the current state is the latest row per channel."""

    __tablename__ = "consent_records"
    __table_args__ = (
        Index("ix_consent_records_customer_channel", "customer_id", "channel", "recorded_at"),
        customer_key(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(60), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))


class Place(TimestampMixin, OrgScoped, Base):
    """A saved place (home, work, a favourite shop) so the next driver needs no directions."""

    __tablename__ = "places"
    __table_args__ = (customer_key(),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    label: Mapped[str] = mapped_column(String(100))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    visit_count: Mapped[int] = mapped_column(Integer, default=0)
    last_visited_at: Mapped[datetime | None] = mapped_column(default=None)
    # "manual" (entered by staff or the customer) or "learned" (clustered from device GPS stops)
    source: Mapped[str] = mapped_column(String(10), default="manual")
    kind: Mapped[str] = mapped_column(String(10), default="other")  # home, work or other


class AttributeDefinition(TimestampMixin, OrgScoped, Base):
    """A typed custom attribute an organisation adds to its customer profiles."""

    __tablename__ = "attribute_definitions"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_attribute_definitions_org_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")


class TimelineEntry(OrgScoped, Base):
    """One thing that happened to a customer; every domain writes here through the customers service."""

    __tablename__ = "timeline_entries"
    __audited__ = False
    __table_args__ = (
        Index("ix_timeline_customer_time", "customer_id", "occurred_at", "id"),
        # what an order's or a survey's entries are found (and removed) by
        Index("ix_timeline_entries_org_ref", "org_id", "ref_type", "ref_id"),
        customer_key(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(60))
    ref_type: Mapped[str | None] = mapped_column(String(40))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
