"""Survey responses per customer over a time window (read by contests that give one entry per survey
answered)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.surveys.models import SurveyResponse


def responses_by_customer(
    session: Session, *, org_id: int, since: datetime, until: datetime
) -> dict[int, int]:
    """``{customer_id: responses}`` submitted from ``since`` (included) to ``until`` (excluded); anonymous
    responses are left out."""
    rows = session.execute(
        select(SurveyResponse.customer_id, func.count(SurveyResponse.id))
        .where(
            SurveyResponse.org_id == org_id,
            SurveyResponse.customer_id.is_not(None),
            SurveyResponse.submitted_at >= since,
            SurveyResponse.submitted_at < until,
        )
        .group_by(SurveyResponse.customer_id)
    )
    return {int(customer_id): int(count) for customer_id, count in rows}
