"""Wake-ups between the threads of one process.

A writer that leaves new work of some kind (a rule's trigger for the campaigns, say) calls
:func:`signal_after_commit`; once its transaction has committed, a thread waiting in :func:`wait`
for that kind wakes at once instead of at its next periodic tick. A wake-up is a hint, never the
only way work is found: the waiter also runs when its timeout passes, so work written by another
process (a separate ``patron ingest`` worker) is picked up at the next tick.
"""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

_lock = threading.Lock()
_events: dict[str, threading.Event] = {}
_PENDING = "wakeup.pending"


def _event(name: str) -> threading.Event:
    with _lock:
        return _events.setdefault(name, threading.Event())


def signal(name: str) -> None:
    """Wake the thread waiting for ``name`` (or let its next wait return at once)."""
    _event(name).set()


def wait(name: str, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``name``; True when signalled. The signal is consumed."""
    flag = _event(name)
    signalled = flag.wait(timeout)
    flag.clear()
    return signalled


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a released savepoint: the outer transaction has not committed yet
    for name in session.info.pop(_PENDING, ()):
        signal(name)


def _after_rollback(session: Session, previous_transaction) -> None:
    if not getattr(previous_transaction, "nested", False):
        session.info.pop(_PENDING, None)


def signal_after_commit(session: Session, name: str) -> None:
    """Signal ``name`` once the session's current transaction has committed (nothing if it rolls back)."""
    pending = session.info.get(_PENDING)
    if pending is None:
        session.info[_PENDING] = pending = set()
        if not event.contains(session, "after_commit", _after_commit):
            event.listen(session, "after_commit", _after_commit)
            event.listen(session, "after_soft_rollback", _after_rollback)
    pending.add(name)
