"""Reads of triggers for the domains that act on them (campaign attribution counts visits)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.rules.models import Trigger

CHUNK = 500


@dataclass(frozen=True)
class TriggerFact:
    id: int
    name: str
    customer_id: int
    created_at: datetime


def triggers_between(
    session: Session, *, org_id: int, name: str, customer_ids: Iterable[int], since: datetime, until: datetime
) -> list[TriggerFact]:
    """Triggers called ``name`` for ``customer_ids`` emitted in ``[since, until)``, oldest first."""
    ids = list(dict.fromkeys(customer_ids))
    found: list[TriggerFact] = []
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Trigger.id, Trigger.name, Trigger.customer_id, Trigger.created_at).where(
                Trigger.org_id == org_id,
                Trigger.name == name,
                Trigger.customer_id.in_(ids[start : start + CHUNK]),
                Trigger.created_at >= since,
                Trigger.created_at < until,
            )
        )
        found.extend(TriggerFact(r.id, r.name, r.customer_id, r.created_at) for r in rows)
    return sorted(found, key=lambda t: (t.created_at, t.id))


def pending_triggers(
    session: Session, *, org_id: int, names: Iterable[str], limit: int = 500
) -> list[Trigger]:
    """Triggers called one of ``names`` that nobody has consumed yet, oldest first."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    return list(session.scalars(
        select(Trigger).where(Trigger.org_id == org_id, Trigger.name.in_(wanted), Trigger.consumed_at.is_(None))
        .order_by(Trigger.created_at, Trigger.id).limit(limit)
    ))  # fmt: skip
