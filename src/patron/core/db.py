"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from patron.core.config import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetime stored as UTC on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; attach a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}

    # Set to False on a model whose writes must not be audited (the audit log itself, tokens).
    __audited__ = True


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _first_column(item: object) -> str | None:
    columns = getattr(item, "_pending_colargs", None) or []
    first = columns[0] if columns else None
    return first if isinstance(first, str) else getattr(first, "name", None)


def _leads_with_org_id(table_args: object, kinds: tuple[type, ...] = (Index, UniqueConstraint)) -> bool:
    """Whether an item of ``__table_args__`` of one of ``kinds`` (an index or a unique constraint unless
    told) starts with ``org_id``."""
    items = table_args if isinstance(table_args, tuple) else ()
    return any(isinstance(item, kinds) and _first_column(item) == "org_id" for item in items)


def customer_key(ondelete: str = "CASCADE") -> ForeignKeyConstraint:
    """``(org_id, customer_id)`` references ``customers (org_id, id)``: a row that hangs off a customer can
    only point at a customer of its own organisation - the database itself keeps the tenants apart - and
    the one key checks what two did before (the customer exists, the organisation exists), so bulk writes
    (imports) pay one key check per row instead of two. The model's ``org_id`` then gets no key of its own
    to ``organisations``: deleting an organisation deletes its customers, and they take these rows along."""
    return ForeignKeyConstraint(["org_id", "customer_id"], ["customers.org_id", "customers.id"], ondelete=ondelete)


class OrgScoped:
    """Every tenant-owned row carries ``org_id``; services always filter on it.

    ``org_id`` gets an index of its own only when no index or unique constraint of the model already
    starts with it: the composite one serves ``WHERE org_id = ?`` (and the cascade from the organisation)
    as well, and one index fewer is one B-tree fewer to update on every insert. Its foreign key to
    ``organisations`` is left out when a composite key of the model starts with ``org_id``
    (:func:`customer_key`): that key already ties the row to an existing organisation."""

    @declared_attr
    def org_id(cls) -> Mapped[int]:  # noqa: N805
        table_args = cls.__dict__.get("__table_args__", ())
        own_index = not _leads_with_org_id(table_args)
        if _leads_with_org_id(table_args, (ForeignKeyConstraint,)):
            return mapped_column(Integer, index=own_index)
        return mapped_column(Integer, ForeignKey("organisations.id", ondelete="CASCADE"), index=own_index)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.pool, "checkin", _note_checkin)
        event.listen(engine.pool, "checkout", _ping_if_idle)
    return engine


#: A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 10.0


def _note_checkin(_dbapi_connection, record) -> None:
    if record is not None:
        record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """Pessimistic disconnect handling for connections that sat idle (the server restarted, a firewall or
    ``idle_session_timeout`` dropped them): a ``SELECT 1`` first, and a fresh connection if it fails.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, a round trip that was a quarter of a profile
    read's time under load. A connection returned moments ago has just answered its last statement; if the
    server went away since, the statement that meets the dead connection fails, SQLAlchemy sees the
    disconnect and discards the pool's connections, and the next request starts afresh."""
    idle_since = record.info.get("checked_in")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the ping opened a transaction (no autocommit); the caller expects none
    except Exception as exc:  # noqa: BLE001 - any failure means the connection is unusable
        raise DisconnectionError(f"pooled connection lost while idle: {exc}") from exc


def engine_for(settings: Settings) -> Engine:
    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.effective_database_url)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for CLI commands and jobs: commits on success, rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --- work that must wait for the commit ---------------------------------------------------------------

_AFTER_COMMIT = "patron.after_commit"


def _deliver_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # SQLAlchemy signals after_commit for a released savepoint too; what the transaction wrote is not
        # visible to anyone else until the outer transaction commits
        return
    for deliver, items in session.info.pop(_AFTER_COMMIT, {}).values():
        deliver(items)


def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if not getattr(previous_transaction, "nested", False):  # a savepoint's rollback keeps the others
        session.info.pop(_AFTER_COMMIT, None)


def after_outer_commit(session: Session, key: str, item: Any, deliver: Callable[[list], None]) -> None:
    """Keep ``item`` under ``key`` and hand the key's items to ``deliver`` (once, in the order they came)
    when the session's outer transaction has committed; if it rolls back they are forgotten. For telling
    another thread about rows it may only look for once they are committed."""
    if not event.contains(session, "after_commit", _deliver_after_commit):
        event.listen(session, "after_commit", _deliver_after_commit)
        event.listen(session, "after_soft_rollback", _drop_after_commit)
    pending = session.info.setdefault(_AFTER_COMMIT, {})
    pending.setdefault(key, (deliver, []))[1].append(item)
