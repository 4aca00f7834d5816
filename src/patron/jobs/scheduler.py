"""In-process scheduler for the embedded default: runs each periodic job in a background thread.

A job is ``fn(session, *, now) -> int`` (the number of things it acted on), named by import path so
this module depends on no domain at import time.

Besides the periodic tick, a **prompt job** runs as soon as its wake-up is signalled
(:mod:`patron.core.wakeup`) - a rule's new trigger wakes the triggered campaigns, so a geofence offer
goes out within a second instead of at the next tick. The periodic job it is part of still runs at
every tick (and finds what other processes wrote); the two never run at the same time in one process
(they share a lock), so they do not compete for the same rows. Wake-ups signalled in other processes
on the same database reach it too (:class:`patron.core.wakeup.Listener`).
"""

from __future__ import annotations

import logging
import threading
from importlib import import_module

from sqlalchemy.orm import Session, sessionmaker

from patron.core import wakeup
from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow

log = logging.getLogger("patron.jobs")

#: (name, "module:function")
JOBS: tuple[tuple[str, str], ...] = (
    ("sla-breaches", "patron.tickets.service:detect_sla_breaches"),
    ("task-reminders", "patron.sales.service:send_due_reminders"),
    ("survey-waves", "patron.surveys.service:open_due_waves"),
    ("loyalty-expiry", "patron.loyalty.earning:expire_points"),
    ("loyalty-tiers", "patron.loyalty.programme:reevaluate_tiers"),
    ("loyalty-app-streaks", "patron.loyalty.earning:track_app_streaks"),
    ("loyalty-surveys", "patron.loyalty.earning:award_surveys_answered"),
    ("segment-refresh", "patron.segments.service:refresh_due_segments"),
    ("segment-ml-nightly", "patron.segments.ml:run_nightly_segmentations"),
    ("nightly-predictions", "patron.predictions.service:run_due_predictions"),
    ("campaigns", "patron.campaigns.sending:run_due_campaigns"),
)


#: (name, wake-up it runs on, "module:function", the periodic job it must not overlap)
PROMPT_JOBS: tuple[tuple[str, str, str, str], ...] = (
    # the wake-up patron.rules.actions signals after a trigger is committed
    ("campaign-triggers", "triggers", "patron.campaigns.sending:run_pending_triggers", "campaigns"),
)
#: seconds before a prompt job that failed (a locked SQLite file, say) tries again
RETRY_AFTER = 1.0

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def job_lock(name: str) -> threading.Lock:
    """The lock a periodic job and its prompt job share in this process."""
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def run_job(factory: sessionmaker[Session], name: str, path: str, *, now=None, lock_name: str | None = None):
    """Run one job in its own transaction; its result, or None when it is not installed or failed."""
    try:
        job = resolve(path)
    except (ImportError, AttributeError):
        return None
    with job_lock(lock_name or name):
        try:
            with session_scope(factory) as session:
                session.info["actor"] = Actor(org_id=None, label=f"job:{name}")
                return job(session, now=now or utcnow())
        except Exception:  # a job's failure is logged and retried next time
            log.exception("job %s failed", name)
            return None


def resolve(path: str):
    module_path, _, name = path.partition(":")
    return getattr(import_module(module_path), name)


def run_once(factory: sessionmaker[Session], *, now=None) -> dict[str, int]:
    """Run every job once; one failing job does not stop the others."""
    now = now or utcnow()
    results: dict[str, int] = {}
    for name, path in JOBS:
        result = run_job(factory, name, path, now=now)
        if result is not None:
            results[name] = result
    return results


class Scheduler:
    def __init__(self, factory: sessionmaker[Session], *, interval: float) -> None:
        self.factory = factory
        self.interval = interval
        self._stop = threading.Event()
        self._listener: wakeup.Listener | None = None
        self._threads = [threading.Thread(target=self._loop, name="patron-scheduler", daemon=True)] + [
            threading.Thread(target=self._prompt, args=job, name=f"patron-{job[0]}", daemon=True)
            for job in PROMPT_JOBS
        ]

    def start(self) -> Scheduler:
        # wake-ups from other processes on the database (a separate ``patron ingest`` worker's triggers)
        self._listener = wakeup.Listener(self.factory.kw["bind"]).start()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.stop()
        for _name, wake, _path, _periodic in PROMPT_JOBS:
            wakeup.signal(wake)  # let the prompt threads see the stop at once
        for thread in self._threads:
            thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            run_once(self.factory)

    def _prompt(self, name: str, wake: str, path: str, periodic: str) -> None:
        retry: float | None = None  # wait for the wake-up; after a failure, try again soon
        while True:
            wakeup.wait(wake, retry)
            if self._stop.is_set():
                return
            retry = RETRY_AFTER if run_job(self.factory, name, path, lock_name=periodic) is None else None
