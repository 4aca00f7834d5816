"""A simulated clock, so the demo can replay twelve months of history through the real domain services.

The services stamp what they write with ``utcnow()`` (ticket acknowledgements, SLA due times,
timeline entries, ``closed_at``...). While :meth:`SimulatedClock.running` is active,

* every loaded ``patron.<domain>`` module that imported ``patron.core.db.utcnow`` sees the clock
  instead (the module attribute is swapped and put back afterwards), and
* on the given session, new rows whose column defaults to ``utcnow`` (``created_at``,
  ``recorded_at``...) and changed rows' ``updated_at`` get the clock's time at flush.

The audit log is left alone: its entries say truthfully when the demo wrote them.
Only the demo uses this, in a process that does nothing else at the same time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from patron.core import db as core_db

REAL_UTCNOW = core_db.utcnow


def _defaults_to_utcnow(column) -> bool:
    default = column.default
    if default is None or not getattr(default, "is_callable", False):
        return False
    return getattr(default.arg, "__wrapped__", default.arg) is REAL_UTCNOW


@cache
def _stamped_keys(mapper) -> tuple[str, ...]:
    """The attributes of a mapped class whose column defaults to ``utcnow``."""
    return tuple(column.key for column in mapper.columns if _defaults_to_utcnow(column))


class SimulatedClock:
    """The time the services see; move it with :meth:`set` or :meth:`advance`."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def _stamp(self, session: Session, _context, _instances) -> None:
        for obj in session.new:
            state = inspect(obj)
            for key in _stamped_keys(state.mapper):
                if state.dict.get(key) is None:
                    setattr(obj, key, self.now)
        for obj in session.dirty:
            if "updated_at" in inspect(obj).mapper.columns and session.is_modified(
                obj, include_collections=False
            ):
                obj.updated_at = self.now

    @contextmanager
    def running(self, session: Session) -> Iterator[SimulatedClock]:
        swapped = []
        for name, module in list(sys.modules.items()):
            domain_module = name.startswith("patron.") and not name.startswith("patron.core")
            if domain_module and getattr(module, "utcnow", None) is REAL_UTCNOW:
                module.utcnow = self  # type: ignore[attr-defined]
                swapped.append(module)
        event.listen(session, "before_flush", self._stamp)
        try:
            yield self
        finally:
            event.remove(session, "before_flush", self._stamp)
            for module in swapped:
                module.utcnow = REAL_UTCNOW  # type: ignore[attr-defined]
