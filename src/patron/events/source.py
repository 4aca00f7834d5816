"""Where a run that reads device usage finds the organisation's device events: a prediction run (the usage
features of the churn model), a segment refresh or count (``feature.events_30d`` and the other usage
features), an ML segmentation run.

A server process (``patron serve``) holds the event store open in its event runtime; a run started there
(the API, or a job of the in-process scheduler) reads through that runtime's store. Elsewhere (the command
line, a separate job worker) the store file named by the settings is opened read-only for the run. When
there is no store, or it belongs to another database, the run goes on without device usage; when another
process holds the file, :func:`event_store_for_run` either raises :class:`Conflict` (the command line,
where the user can choose ``--no-events``) or goes on without it and says why (a job, a web request).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from patron.core.config import get_settings
from patron.core.errors import Conflict
from patron.events.runtime import CURRENT
from patron.events.store import resolve_path

log = logging.getLogger("patron.events")

BUSY = "the event store is in use by another process"
#: why a run has no store when none exists yet (so there are no events, rather than unknown ones)
NO_EVENT_STORE = "no event store"


@dataclass(frozen=True)
class EventSource:
    """The store a run reads device events from (``store`` None: none), or why there is none."""

    store: Any = None
    missing: str | None = None


def _url(bind: Any) -> str:
    return bind.url.render_as_string(hide_password=False)


@contextmanager
def event_store_for_run(
    session: Session, *, if_busy: Literal["skip", "raise"] = "skip"
) -> Iterator[EventSource]:
    """The event store of the session's database for the duration of a run.

    Parameters
    ----------
    session : Session
        The run's records session; the store must belong to its database.
    if_busy : {"skip", "raise"}
        What to do when another process holds the store file: go on without device usage, or raise
        :class:`Conflict`.
    """
    bind = session.get_bind()
    runtime = CURRENT.get()
    if runtime is not None:
        runtime_bind = runtime.factory.kw.get("bind")
        if runtime_bind is not None and _url(runtime_bind) == _url(bind):
            yield EventSource(store=runtime.store)
            return
    settings = get_settings()
    if make_url(settings.effective_database_url).render_as_string(hide_password=False) != _url(bind):
        yield EventSource(missing="no event store is known for this database")
        return
    path = resolve_path(settings.events_url, settings.data_dir)
    if path == ":memory:" or not Path(path).is_file():
        yield EventSource(missing=NO_EVENT_STORE)
        return
    try:
        connection = duckdb.connect(path, read_only=True)
    except (duckdb.IOException, duckdb.ConnectionException):
        if if_busy == "raise":
            raise Conflict(
                "The event store is in use by another process (patron serve or patron ingest); run this "
                "through its API, stop it, or leave device usage out with --no-events."
            ) from None
        log.warning("run without device usage: %s (%s)", BUSY, path)
        yield EventSource(missing=BUSY)
        return
    try:
        yield EventSource(store=connection)
    finally:
        connection.close()
