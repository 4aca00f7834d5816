"""A process-wide counter of rule changes: the rules service bumps it when a session that changed a
rule commits, and the engine reloads its compiled rules when it moves."""

from __future__ import annotations

import itertools
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

_counter = itertools.count(1)
_lock = threading.Lock()
_version = 0
_FLAG = "patron.rules.changed"


def current() -> int:
    return _version


def bump() -> int:
    global _version
    with _lock:
        _version = next(_counter)
    return _version


def mark_changed(session: Session) -> None:
    """Bump the version once ``session`` commits (not before: the engine must see the change)."""
    if not session.info.get(_FLAG):
        session.info[_FLAG] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        bump()


def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)
