"""Audit log of every write: who, what, when, before and after.

A flush listener records each insert, update and delete of an audited model. The actor is
whatever the request (or CLI command) put in ``session.info["actor"]``. Bulk writes that
bypass the ORM record one summary entry through :func:`record`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from patron.core.db import Base, utcnow

SECRET_FIELDS = frozenset({"password_hash", "key_hash", "token_hash", "csrf_token", "secret_seed"})
# Bookkeeping columns whose change alone is not worth an audit entry.
SKIPPED_FIELDS = frozenset({"updated_at", "last_used_at", "last_login_at"})


@dataclass(frozen=True)
class Actor:
    """Who is writing: a user, an API key, or the system (CLI, jobs)."""

    org_id: int | None
    user_id: int | None = None
    api_key_id: int | None = None
    label: str = "system"


SYSTEM = Actor(org_id=None, label="system")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_api_key_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(60))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def _shown(key: str, value: Any) -> Any:
    return "***" if key in SECRET_FIELDS and value is not None else jsonable(value)


def _row_values(obj: Any) -> dict:
    state = inspect(obj)
    return {
        prop.key: _shown(prop.key, state.dict.get(prop.key))
        for prop in state.mapper.column_attrs
        if prop.key not in SKIPPED_FIELDS
    }


def _changes(obj: Any) -> tuple[dict, dict]:
    state = inspect(obj)
    before: dict = {}
    after: dict = {}
    for prop in state.mapper.column_attrs:
        if prop.key in SKIPPED_FIELDS:
            continue
        history = state.attrs[prop.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        before[prop.key] = _shown(prop.key, old)
        after[prop.key] = _shown(prop.key, new)
    return before, after


def _entity_id(obj: Any) -> str | None:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    if any(part is None for part in key):
        return None
    return ",".join(str(part) for part in key)


def _entry(actor: Actor, obj: Any, action: str, before: dict | None, after: dict | None) -> dict:
    org_id = getattr(obj, "org_id", None)
    if org_id is None and obj.__tablename__ == "organisations":
        org_id = obj.id
    return {
        "org_id": org_id,
        "at": utcnow(),
        "actor_user_id": actor.user_id,
        "actor_api_key_id": actor.api_key_id,
        "actor_label": actor.label,
        "action": action,
        "entity": obj.__tablename__,
        "entity_id": _entity_id(obj),
        "before": before,
        "after": after,
    }


@event.listens_for(Session, "after_flush")
def _record_flush(session: Session, _flush_context) -> None:
    actor: Actor = session.info.get("actor", SYSTEM)
    rows: list[dict] = []
    for obj in session.new:
        if isinstance(obj, Base) and obj.__audited__:
            rows.append(_entry(actor, obj, "create", None, _row_values(obj)))
    for obj in session.dirty:
        if isinstance(obj, Base) and obj.__audited__ and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if after:
                rows.append(_entry(actor, obj, "update", before, after))
    for obj in session.deleted:
        if isinstance(obj, Base) and obj.__audited__:
            rows.append(_entry(actor, obj, "delete", _row_values(obj), None))
    if rows:
        session.connection().execute(AuditEntry.__table__.insert(), rows)


def record(session: Session, *, action: str, entity: str, entity_id: str | int | None = None,
           org_id: int | None = None, before: dict | None = None, after: dict | None = None) -> None:
    """Record one audit entry explicitly (bulk writes, exports, erasures)."""
    actor: Actor = session.info.get("actor", SYSTEM)
    session.add(AuditEntry(
        org_id=org_id if org_id is not None else actor.org_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        actor_label=actor.label,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
    ))
