"""Helpers every CLI command uses: a migrated database session and one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from patron.core.audit import Actor
from patron.core.config import get_settings
from patron.core.db import engine_for, make_sessionmaker, session_scope
from patron.core.migrate import upgrade

console = Console()
err_console = Console(stderr=True)


@lru_cache
def cli_sessionmaker() -> sessionmaker[Session]:
    settings = get_settings()
    engine = engine_for(settings)
    upgrade(engine)
    return make_sessionmaker(engine)


@contextmanager
def cli_session(org_id: int | None = None, label: str = "cli") -> Iterator[Session]:
    """A committed-on-success session whose writes are audited as the CLI."""
    with session_scope(cli_sessionmaker()) as session:
        session.info["actor"] = Actor(org_id=org_id, label=label)
        yield session
