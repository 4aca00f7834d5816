"""Segments, their membership history and sizes over time, and the runs that build ML segments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

#: ``rule``: members are the customers passing a stored definition (conditions), evaluated live;
#: ``ml``: members are one cluster of an ML segmentation run, set when the run is made
SEGMENT_KINDS = ("rule", "ml")
#: ``active`` segments are refreshed by the scheduler; ``paused`` ones keep their last members
SEGMENT_STATUSES = ("active", "paused")
RUN_METHODS = ("kmeans", "minibatch", "gmm")


class Segment(TimestampMixin, OrgScoped, Base):
    """A named group of customers. A rule segment's ``definition`` is its condition tree; an ML segment's
    ``definition`` says which run and cluster it came from (``{"run_id": 3, "cluster": 1}``)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_segments_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10), default="rule")
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="active")
    run_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("segment_runs.id", ondelete="SET NULL"))
    size: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))


class SegmentMembership(OrgScoped, Base):
    """One period during which a customer belonged to a segment. Leaving closes the row (``left_at``);
    joining again opens a new one, so the rows are the membership history."""

    __tablename__ = "segment_memberships"
    __audited__ = False  # written in bulk by refreshes; each refresh is audited once, with its counts
    __table_args__ = (
        Index("ix_segment_memberships_segment_open", "segment_id", "left_at", "customer_id"),
        Index("ix_segment_memberships_customer", "org_id", "customer_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_id: Mapped[int] = mapped_column(Integer, ForeignKey("segments.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(default=None)


class SegmentSizeSnapshot(OrgScoped, Base):
    """The size of a segment after a refresh (the sizes-over-time series)."""

    __tablename__ = "segment_size_snapshots"
    __audited__ = False
    __table_args__ = (Index("ix_segment_size_snapshots_segment_at", "segment_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_id: Mapped[int] = mapped_column(Integer, ForeignKey("segments.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    size: Mapped[int] = mapped_column(Integer)
    joined: Mapped[int] = mapped_column(Integer, default=0)
    left: Mapped[int] = mapped_column(Integer, default=0)


class SegmentRun(OrgScoped, Base):
    """One ML segmentation: the k chosen and every candidate's scores, the stability across seeds, the
    cluster profiles with their names, archetypes and playbooks; one child segment per cluster."""

    __tablename__ = "segment_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(20))
    criterion: Mapped[str] = mapped_column(String(20))
    k_min: Mapped[int] = mapped_column(Integer)
    k_max: Mapped[int] = mapped_column(Integer)
    k: Mapped[int] = mapped_column(Integer)
    #: ``[{"k": 2, "silhouette": 0.41, "bic": null, "inertia": 812.5}, ...]``
    scores: Mapped[list] = mapped_column(JSON, default=list)
    stability_ari: Mapped[float | None] = mapped_column(Float)
    stability_min_ari: Mapped[float | None] = mapped_column(Float)
    n_customers: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[list] = mapped_column(JSON, default=list)
    #: per cluster: ``cluster``, ``name``, ``size``, ``share``, ``z`` (feature -> z-scored centroid),
    #: ``centroid`` (feature -> mean), ``key_differences``, ``archetype``, ``title``, ``playbook``, ``segment_id``
    clusters: Mapped[list] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
