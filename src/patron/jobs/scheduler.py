"""In-process scheduler for the embedded default: runs each periodic job in a background thread.

A job is ``fn(session, *, now) -> int`` (the number of things it acted on), named by import path so
this module depends on no domain at import time.
"""

from __future__ import annotations

import logging
import threading
from importlib import import_module

from sqlalchemy.orm import Session, sessionmaker

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


def resolve(path: str):
    module_path, _, name = path.partition(":")
    return getattr(import_module(module_path), name)


def run_once(factory: sessionmaker[Session], *, now=None) -> dict[str, int]:
    """Run every job once; one failing job does not stop the others."""
    now = now or utcnow()
    results: dict[str, int] = {}
    for name, path in JOBS:
        try:
            job = resolve(path)
        except (ImportError, AttributeError):
            continue
        try:
            with session_scope(factory) as session:
                session.info["actor"] = Actor(org_id=None, label=f"job:{name}")
                results[name] = job(session, now=now)
        except Exception:  # a job's failure is logged and retried next tick
            log.exception("job %s failed", name)
    return results


class Scheduler:
    def __init__(self, factory: sessionmaker[Session], *, interval: float) -> None:
        self.factory = factory
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="patron-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            run_once(self.factory)
