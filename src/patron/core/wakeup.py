"""Wake-ups between the threads of one process.

A writer that leaves new work of some kind (a rule's trigger for the campaigns, say) calls
:func:`signal_after_commit`; once its transaction has committed, a thread waiting in :func:`wait`
for that kind wakes at once instead of at its next periodic tick. A wake-up is a hint, never the
only way work is found: the periodic job still looks at every tick, so work written by another
process (a separate ``patron ingest`` worker) is picked up then.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from patron.core.db import after_outer_commit

_lock = threading.Lock()
_events: dict[str, threading.Event] = {}


def _event(name: str) -> threading.Event:
    with _lock:
        return _events.setdefault(name, threading.Event())


def signal(name: str) -> None:
    """Wake the thread waiting for ``name`` (or let its next wait return at once)."""
    _event(name).set()


def wait(name: str, timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds (None: until signalled) for ``name``; True when signalled. The
    signal is consumed."""
    flag = _event(name)
    signalled = flag.wait(timeout)
    flag.clear()
    return signalled


def _signal_all(names: list[str]) -> None:
    for name in dict.fromkeys(names):
        signal(name)


def signal_after_commit(session: Session, name: str) -> None:
    """Signal ``name`` once the session's current transaction has committed (nothing if it rolls back)."""
    after_outer_commit(session, "wakeup", name, _signal_all)
