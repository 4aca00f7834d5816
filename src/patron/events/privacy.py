"""Customer hooks of the event store: a merge moves the duplicate's events to the kept customer, an
erasure deletes the customer's events, a privacy export lists them.

The hooks get only a records-database session, so they find the event store through
:data:`patron.events.runtime.CURRENT`, the runtime started in this process (``patron serve``), when it
works on the same database as the session. Without one (a CLI command) they open the store file named
by the settings; if another process holds it, they refuse with Conflict rather than leave events behind.

The store is not part of the records transaction, so changes to it are applied only once the session
commits (and dropped if it rolls back): a merge or erasure that fails leaves the events as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from patron.core.audit import jsonable
from patron.core.config import get_settings
from patron.core.errors import Conflict
from patron.events import queries
from patron.events.runtime import CURRENT
from patron.events.store import EventStore, resolve_path

log = logging.getLogger("patron.events.privacy")

_PENDING = "events.privacy.pending"
_LISTENING = "events.privacy.listening"


@dataclass
class _Pending:
    store: EventStore
    owned: bool
    changes: list[Callable[[EventStore], int]] = field(default_factory=list)


def _url(bind) -> str:
    return bind.url.render_as_string(hide_password=False)


def _open_store(session: Session) -> tuple[EventStore | None, bool]:
    """``(store, owned)`` for the session's database; ``owned`` stores were opened here and must be
    closed. ``(None, False)`` when no event store exists for it (nothing stored yet)."""
    bind = session.get_bind()
    runtime = CURRENT.get()
    if runtime is not None:
        runtime_bind = runtime.factory.kw.get("bind")
        if runtime_bind is not None and _url(runtime_bind) == _url(bind):
            return runtime.store, False
    settings = get_settings()
    if make_url(settings.effective_database_url).render_as_string(hide_password=False) != _url(bind):
        log.warning("no event store known for this database; its events are left as they are")
        return None, False
    path = resolve_path(settings.events_url, settings.data_dir)
    if path != ":memory:" and not Path(path).exists():
        return None, False
    try:
        return EventStore(path, memory_limit=settings.events_memory_limit), True
    except duckdb.IOException:
        raise Conflict(
            "The event store is in use by another process (patron serve or patron ingest); "
            "do this through the API of that server, or stop it first."
        ) from None


def _apply(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None:
        return
    try:
        for change in pending.changes:
            try:
                change(pending.store)
            except Exception:
                log.exception("event store change after commit failed")
    finally:
        if pending.owned:
            pending.store.close()


def _discard(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is not None and pending.owned:
        pending.store.close()


def _pending(session: Session) -> _Pending | None:
    """The store changes waiting for this session's commit (opening the store on first use)."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        return pending
    store, owned = _open_store(session)
    if store is None:
        return None
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _apply)
        event.listen(session, "after_rollback", _discard)
    pending = session.info[_PENDING] = _Pending(store, owned)
    return pending


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move the duplicate's events to the customer it is merged into (when the merge commits).
    Returns how many events move."""
    pending = _pending(session)
    if pending is None:
        return 0
    count = queries.count_customer_events(pending.store, org_id=org_id, customer_id=from_customer_id)
    pending.changes.append(
        lambda store: store.reassign_customer(
            org_id=org_id, from_customer_id=from_customer_id, to_customer_id=to_customer_id
        )
    )
    return count


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Delete the customer's events from the store (when the erasure commits). Returns how many."""
    pending = _pending(session)
    if pending is None:
        return 0
    count = queries.count_customer_events(pending.store, org_id=org_id, customer_id=customer_id)
    pending.changes.append(lambda store: store.delete_customer_events(org_id=org_id, customer_id=customer_id))
    return count


def delete_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """A deleted profile's events go with it (when the deletion commits), as an erasure's do."""
    return erase_customer(session, org_id=org_id, customer_id=customer_id)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """Every stored event of the customer, oldest first."""
    pending = session.info.get(_PENDING)
    if pending is not None:
        store, owned = pending.store, False
    else:
        store, owned = _open_store(session)
    if store is None:
        return {"events": []}
    try:
        events = queries.customer_events(store, org_id=org_id, customer_id=customer_id)
    finally:
        if owned:
            store.close()
    return {"events": [jsonable(e.as_dict()) for e in events]}
