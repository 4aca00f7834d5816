"""Row locks that make a "count, then add" check safe when two requests race."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session


def lock_row(session: Session, model: Any, row_id: int) -> None:
    """Take the row's write lock for the rest of the transaction (a no-op update): on PostgreSQL the row
    lock, on SQLite the database's single write lock, so that a count read afterwards cannot be overtaken
    by a concurrent transaction doing the same."""
    session.execute(
        update(model)
        .where(model.id == row_id)
        .values(id=model.id)
        .execution_options(synchronize_session=False)
    )
