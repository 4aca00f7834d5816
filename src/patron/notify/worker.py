"""Delivery workers: threads taking message ids from the queue and delivering them, and a sweeper that
puts due messages the queue does not hold (enqueued while no worker ran, a lost entry) back on it."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from patron.core.config import Settings
from patron.core.db import session_scope
from patron.notify import delivery
from patron.notify.queue import Queue

log = logging.getLogger("patron.notify")


class Worker:
    """``threads`` delivery threads on ``queue``; with ``sweep`` a thread that looks for due messages in
    the database every ``PATRON_NOTIFY_SWEEP_SECONDS`` (and once at start)."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings, queue: Queue, *,
                 threads: int | None = None, sweep: bool = True, poll_seconds: float = 0.5) -> None:  # fmt: skip
        self.factory = factory
        self.settings = settings
        self.queue = queue
        self.poll_seconds = poll_seconds
        self.delivered: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        count = threads or settings.notify_worker_threads
        self._threads = [
            threading.Thread(target=self._deliver_loop, name=f"patron-notify-{i}", daemon=True) for i in range(count)
        ]
        if sweep:
            self._threads.append(threading.Thread(target=self._sweep_loop, name="patron-notify-sweep", daemon=True))

    def start(self) -> Worker:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def wait(self) -> None:
        """Block until :meth:`stop` (the CLI worker)."""
        while not self._stop.wait(1.0):
            pass

    def sweep_once(self) -> int:
        with session_scope(self.factory) as session:
            session.info["actor"] = delivery.ACTOR
            delivery.fail_stale_claims(session)
            ids = delivery.due_message_ids(session)
        for message_id in ids:
            self.queue.put(message_id)
        return len(ids)

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep_once()
            except Exception:  # the database or queue is away for a while: try again next round
                log.exception("notify sweep failed")
            self._stop.wait(self.settings.notify_sweep_seconds)

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            try:
                message_id = self.queue.get(self.poll_seconds)
            except Exception:
                log.exception("reading the notify queue failed")
                self._stop.wait(1.0)
                continue
            if message_id is None:
                continue
            try:
                result = delivery.deliver_message(self.factory, self.settings, message_id)
            except Exception:  # a database error: the sweep brings the message back
                log.exception("delivering message %s failed", message_id)
                continue
            if result.retry_at is not None:
                self.queue.put(message_id, due=result.retry_at)
            if result.status is not None:
                with self._lock:
                    self.delivered[result.status] = self.delivered.get(result.status, 0) + 1
