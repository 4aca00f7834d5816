"""PostgreSQL pool: connections that sat idle are pinged before use; busy ones are not."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from patron.core import db as core_db
from patron.core.db import make_engine
from tests.conftest import PG_ADMIN_URL


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(pid: int) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


pytestmark = pytest.mark.postgres_only  # the ping belongs to PostgreSQL's pool


@pytest.fixture
def pg_engine(database):
    engine = make_engine(database.url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_engine, monkeypatch):
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    dead = _backend_pid(pg_engine)
    _terminate(dead)  # e.g. a server restart or idle_session_timeout while the pool held the connection
    assert _backend_pid(pg_engine) != dead  # the ping failed, so the pool opened a fresh one; no error


def test_a_busy_connection_is_not_pinged_and_a_drop_costs_one_statement(pg_engine, monkeypatch):
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    dead = _backend_pid(pg_engine)
    _terminate(dead)
    # returned a moment ago, so no ping: the statement meets the dead connection and fails ...
    with pytest.raises(exc.OperationalError), pg_engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    # ... SQLAlchemy sees the disconnect and drops the pool's connections, so the next one is fresh
    assert _backend_pid(pg_engine) != dead
