"""Move a tenant's rows from one customer to another in one statement, with one audit entry.

Used by every domain's ``reassign_customer`` hook when two duplicate customers are merged.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow


def reassign_customer_rows(
    session: Session, model, *, org_id: int, from_customer_id: int, to_customer_id: int
) -> int:
    """Point every ``model`` row of ``from_customer_id`` at ``to_customer_id``; return how many moved."""
    values: dict = {"customer_id": to_customer_id}
    if "updated_at" in model.__table__.c:
        values["updated_at"] = utcnow()
    result = session.execute(
        update(model)
        .where(model.org_id == org_id, model.customer_id == from_customer_id)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    moved = result.rowcount or 0
    if moved:
        audit.record(
            session,
            action="reassign",
            entity=model.__tablename__,
            org_id=org_id,
            before={"customer_id": from_customer_id},
            after={"customer_id": to_customer_id, "count": moved},
        )
    return moved
