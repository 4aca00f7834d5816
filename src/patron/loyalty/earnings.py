"""Points earned per customer over a time window (read by contests that give one entry per N points)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.loyalty.models import PointsEntry


def points_earned_by_customer(
    session: Session, *, org_id: int, since: datetime, until: datetime
) -> dict[int, int]:
    """``{customer_id: points}`` earned (``earn`` entries only) from ``since`` (included) to ``until``."""
    rows = session.execute(
        select(PointsEntry.customer_id, func.sum(PointsEntry.delta))
        .where(
            PointsEntry.org_id == org_id,
            PointsEntry.kind == "earn",
            PointsEntry.created_at >= since,
            PointsEntry.created_at < until,
        )  # fmt: skip
        .group_by(PointsEntry.customer_id)
    )
    return {int(customer_id): int(points or 0) for customer_id, points in rows}
