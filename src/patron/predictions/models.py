"""One row of predictions per customer, replaced by every run, and a record of each run with its metrics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, utcnow

#: how a customer's sentiment moves (the slope of their scores over time)
SENTIMENT_TRENDS = ("rising", "falling", "steady")


class CustomerPrediction(OrgScoped, Base):
    """What the models expect of one customer, as of ``computed_at``. Derived data: a run replaces the
    organisation's rows in bulk (one audit entry per run, not per row)."""

    __tablename__ = "customer_predictions"
    __table_args__ = (UniqueConstraint("org_id", "customer_id", name="uq_customer_predictions_org_customer"),)
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    clv: Mapped[float | None] = mapped_column(Float)
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    #: ``[{"feature", "value", "contribution", "direction"}]``, strongest first
    churn_drivers: Mapped[list] = mapped_column(JSON, default=list)
    #: ``[{"product_id", "score", "source"}]``, best first
    recommended_products: Mapped[list] = mapped_column(JSON, default=list)
    sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_trend: Mapped[str | None] = mapped_column(String(10))
    #: ``[[iso day, score], ...]`` of the latest scored texts, for the sparkline
    sentiment_history: Mapped[list] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PredictionRun(OrgScoped, Base):
    """One run of the models over an organisation: when, as of when, and how well they did on the hold-out."""

    __tablename__ = "prediction_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    #: the run's summary: hold-out metrics of each model, or why a model was skipped
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
