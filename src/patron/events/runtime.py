"""The event runtime of one process: the store, ingest (check → durable append → acknowledge), and
the processor thread that hands each stored batch to the processors (enrichment, rules).

Processors run after the events are durable and never hold up the acknowledgement. The runtime keeps
a cursor (``processed_seq`` in the store) of the last event every processor has seen; on start it
catches up from there, so a crash between storing and processing loses no rule firing.

A processor is a class ``P(runtime)`` with ``process(events)`` (a list of
:class:`~patron.events.store.StoredEvent`, oldest first), ``tick(now)`` (called about once a second,
for inactivity and periodic work) and optionally ``close()``. They are named by import path in
:data:`PROCESSORS`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from patron.core.config import Settings
from patron.core.db import utcnow
from patron.core.errors import Invalid, PatronError
from patron.events.directory import Directory
from patron.events.ingest import Credential, EventChecker, Unparsable, parse_body
from patron.events.store import Appended, DeadLetter, EventBatch, EventStore, StoredEvent, resolve_path

log = logging.getLogger("patron.events")

#: processors run on every stored batch, in this order ("module:Class"). The rules engine goes first:
#: its firings are waited for (the issue's latency target), enrichment's in-memory bookkeeping is not,
#: and neither reads what the other keeps in memory.
PROCESSORS: tuple[str, ...] = (
    "patron.rules.engine:RuleProcessor",
    "patron.events.enrichment:EnrichmentProcessor",
)
CURSOR_KEY = "processed_seq"
TICK_SECONDS = 1.0
PROCESS_CHUNK = 20_000


class CurrentRuntime:
    """The runtime started last in this process (``patron serve``) and still running, for code that holds
    only a records session and needs the event store: the customer privacy hooks
    (:mod:`patron.events.privacy`), :func:`store_serving`. :meth:`EventRuntime.start` records itself here and ``stop()`` takes
    itself off again (a runtime stopped out of order leaves the others in place)."""

    def __init__(self) -> None:
        self._running: list[EventRuntime] = []
        self._lock = threading.Lock()

    def get(self) -> EventRuntime | None:
        running = self._running
        return running[-1] if running else None

    def set(self, runtime: EventRuntime) -> None:
        with self._lock:
            self._running = [r for r in self._running if r is not runtime] + [runtime]

    def clear(self, runtime: EventRuntime) -> None:
        with self._lock:
            self._running = [r for r in self._running if r is not runtime]


CURRENT = CurrentRuntime()


def store_serving(session: Session) -> EventStore | None:
    """The event store of the runtime started in this process (``patron serve``) when that runtime works on
    the same records database as ``session``: how code holding only a records session (a periodic job)
    reads events. None without one (a command-line process, or another database); the store file is not
    opened here, since a running server holds it."""
    runtime = CURRENT.get()
    if runtime is None:
        return None
    runtime_bind = runtime.factory.kw.get("bind")
    if runtime_bind is None:
        return None
    url = session.get_bind().url.render_as_string(hide_password=False)
    if runtime_bind.url.render_as_string(hide_password=False) != url:
        return None
    return runtime.store


@dataclass
class IngestResult:
    """``accepted``: events now durable (new or already stored); ``stored``: of those, how many were new;
    ``rejected``: ``{"index", "reason"}`` for each refused event (also kept as a dead letter)."""

    accepted: int = 0
    stored: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected}


@dataclass
class IngestGroup:
    """Items sent with one credential, for :meth:`EventRuntime.ingest_many`. A rejected item's dead
    letter names ``topic`` and the item's position in ``items``, unless ``origins`` gives, item by
    item, the ``(topic, index)`` it came from (an MQTT batch mixes items of many messages);
    ``device_id`` overrides the credential's device on those dead letters."""

    items: list[Any]
    credential: Credential
    topic: str | None = None
    origins: list[tuple[str | None, int | None]] | None = None
    device_id: int | None = None

    def origin(self, index: int) -> tuple[str | None, int | None]:
        return self.origins[index] if self.origins is not None else (self.topic, index)


class EventRuntime:
    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        processing: bool = True,
        processors: tuple[str, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.processing = processing
        self.processor_paths = PROCESSORS if processors is None else processors
        self.directory = Directory(factory)
        self.checker = EventChecker(
            device_lookup=self.directory.device,
            devices_lookup=self.directory.devices,
            customer_lookup=self.directory.customers,
            max_event_bytes=settings.ingest_max_event_bytes,
        )
        self._store: EventStore | None = None
        self._store_lock = threading.Lock()
        self._queue: queue.Queue[Appended | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._processed_seq = 0
        self._processed = threading.Condition()
        self._cursor = _CursorWriter(self)
        self.processors: list[Any] = []
        self.clock: Callable[[], datetime] = utcnow
        self.listeners: list[Callable[[list[StoredEvent]], None]] = []

    # --- store ----------------------------------------------------------------------------------
    @property
    def store(self) -> EventStore:
        """The event store, opened on first use."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    path = resolve_path(self.settings.events_url, self.settings.data_dir)
                    self._store = EventStore(path, memory_limit=self.settings.events_memory_limit)
        return self._store

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the store and, if processing, start the processor thread (after catching up)."""
        store = self.store
        CURRENT.set(self)
        from patron.events import timeline  # device events on the customer timeline

        timeline.install(self)
        if not self.processing or self._thread is not None:
            return
        self._processed_seq = int(store.get_meta(CURSOR_KEY) or 0)
        self.processors = [self._load(path) for path in self.processor_paths]
        self.processors = [p for p in self.processors if p is not None]
        self._stopping.clear()
        self._cursor.start()
        self._thread = threading.Thread(target=self._run, name="patron-events", daemon=True)
        self._thread.start()

    def _load(self, path: str):
        module_path, _, name = path.partition(":")
        try:
            module = import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name == module_path:
                log.warning("event processor %s is not installed", path)
                return None
            raise
        return getattr(module, name)(self)

    def stop(self) -> None:
        from patron.events import timeline

        CURRENT.clear(self)
        timeline.uninstall(self)
        if self._thread is not None:
            self._stopping.set()
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        self._cursor.stop()  # the last cursor written before the store closes
        for processor in self.processors:
            close = getattr(processor, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing processor %s failed", processor)
        self.processors = []
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- ingest ---------------------------------------------------------------------------------
    def authenticate(self, secret: str | None) -> Credential | None:
        return self.directory.credential_for_key(secret) if secret else None

    def ingest_body(
        self, body: bytes, content_type: str | None, *, credential: Credential, source: str = "http"
    ) -> IngestResult:
        """Parse a request body and ingest it; an unreadable body is kept as a dead letter and raises
        :class:`Invalid`. A JSON array of events that all pass takes the fast way
        (:meth:`EventChecker.check_json`); anything else the general one, with a reason per event."""
        max_events = self.settings.ingest_max_events
        if content_type is None or "ndjson" not in content_type:
            received_at = self.clock()
            checked = self.checker.check_json(body, credential=credential, source=source, received_at=received_at)
            if checked is not None:
                if len(checked.batch) > max_events:
                    raise Invalid(
                        f"At most {max_events} events per request; this body has {len(checked.batch)}.", field="body"
                    )
                result = IngestResult()
                self._append(checked.batch, result)
                return result
        try:
            items = parse_body(body, content_type)
        except Invalid as exc:
            self.dead_letter(
                reason=exc.detail, source=source, payload=body[:16384].decode("utf-8", "replace"),
                org_id=credential.org_id, device_id=credential.device_id,
            )
            raise
        if len(items) > max_events:
            raise Invalid(f"At most {max_events} events per request; this body has {len(items)}.", field="body")
        return self.ingest(items, credential=credential, source=source)

    def ingest(
        self,
        items: list[Any],
        *,
        credential: Credential,
        source: str,
        topic: str | None = None,
        received_at: datetime | None = None,
    ) -> IngestResult:
        """Check, store durably and queue for processing. Returns once the events are durable."""
        return self.ingest_many(
            [IngestGroup(items, credential, topic=topic)], source=source, received_at=received_at
        )

    def ingest_many(
        self,
        groups: list[IngestGroup],
        *,
        source: str,
        received_at: datetime | None = None,
        dead_letters: list[DeadLetter] | tuple[DeadLetter, ...] = (),
    ) -> IngestResult:
        """:meth:`ingest` for items of several senders at once (MQTT: every message of a batch): each
        group is checked with its own credential, then all the good events are appended in one
        transaction and the rejected ones, with ``dead_letters`` found before, in one more. Returns
        once both are durable; ``rejected`` indexes count across the groups in order."""
        received_at = received_at or self.clock()
        result = IngestResult()
        batch: EventBatch | None = None
        letters = list(dead_letters)
        offset = 0
        for group in groups:
            credential = group.credential
            checked = self.checker.check(group.items, credential=credential, source=source, received_at=received_at)
            if batch is None:
                batch = checked.batch
            else:
                batch.extend(checked.batch)
            for rejection, item in zip(checked.rejected, checked.rejected_items, strict=True):
                topic, index = group.origin(rejection.index)
                result.rejected.append({"index": offset + rejection.index, "reason": rejection.reason})
                letters.append(
                    DeadLetter(
                        reason=rejection.reason,
                        source=source,
                        payload=_payload_text(item),
                        org_id=credential.org_id,
                        topic=topic,
                        device_id=credential.device_id if group.device_id is None else group.device_id,
                        item_index=index,
                        received_at=received_at,
                    )
                )
            offset += len(group.items)
        if batch is not None:
            self._append(batch, result)
        if letters:  # after the events: a retry after a failure here stores no event twice
            self.store.add_dead_letters(letters)
        return result

    def _append(self, batch: EventBatch, result: IngestResult) -> None:
        """Append checked events durably, count them in ``result`` and queue them for processing."""
        if not len(batch):
            return
        appended = self.store.append(batch)
        result.accepted = len(batch)
        result.stored = appended.count
        if appended.count:
            result.last_seq = appended.last_seq
            if self.processing:
                self._queue.put(appended)

    def dead_letter(
        self,
        *,
        reason: str,
        source: str,
        payload: str | bytes = "",
        org_id: int | None = None,
        topic: str | None = None,
        device_id: int | None = None,
        item_index: int | None = None,
    ) -> None:
        """Keep a message that could not be ingested, with the reason (never raises on bad input)."""
        if isinstance(payload, bytes):
            payload = payload[:16384].decode("utf-8", "replace")
        self.store.add_dead_letters(
            [DeadLetter(reason=reason, source=source, payload=payload, org_id=org_id, topic=topic,
                        device_id=device_id, item_index=item_index)]
        )

    # --- processing -----------------------------------------------------------------------------
    @property
    def processed_seq(self) -> int:
        return self._processed_seq

    def wait_processed(self, seq: int | None = None, *, timeout: float = 10.0) -> bool:
        """Block until every event up to ``seq`` (default: all stored so far) has been processed."""
        target = self.store.last_seq if seq is None else seq
        deadline = time.monotonic() + timeout
        with self._processed:
            while self._processed_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return self._processed_seq >= target
                self._processed.wait(min(remaining, 0.1))
        return True

    def _run(self) -> None:
        try:
            self._catch_up()
        except Exception:
            log.exception("event processor catch-up failed")
        next_tick = time.monotonic() + TICK_SECONDS
        while not self._stopping.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            pending: list[Appended] = []
            try:
                item = self._queue.get(timeout=timeout)
                if item is not None:
                    pending.append(item)
                while len(pending) < 64:
                    item = self._queue.get_nowait()
                    if item is not None:
                        pending.append(item)
            except queue.Empty:
                pass
            if pending:
                events = [event for appended in pending for event in appended.events()]
                self._process(events)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_SECONDS
                now = self.clock()
                for processor in self.processors:
                    try:
                        processor.tick(now)
                    except Exception:
                        log.exception("processor %s tick failed", type(processor).__name__)

    def _catch_up(self) -> None:
        while not self._stopping.is_set():
            events = self.store.events_after(self._processed_seq, limit=PROCESS_CHUNK)
            if not events:
                return
            self._process(events)

    def _process(self, events: list[StoredEvent]) -> None:
        events = [event for event in events if event.seq > self._processed_seq]
        if not events:
            return
        for processor in self.processors:
            try:
                processor.process(events)
            except Exception:  # one processor's failure must not stop the others or the cursor
                log.exception("processor %s failed on %d events", type(processor).__name__, len(events))
        for listener in list(self.listeners):
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed")
        last = events[-1].seq
        self._cursor.save(last)
        with self._processed:
            self._processed_seq = last
            self._processed.notify_all()


class _CursorWriter:
    """Writes the processed cursor to the store on a thread of its own. The store's write lock is also
    taken by every ingest append, so writing the cursor on the processor thread made the next batch
    (and its rule firings) wait for an append now and then; here only the newest value is written,
    as soon as the lock is free. :meth:`stop` writes the last value before the store closes."""

    def __init__(self, runtime: EventRuntime) -> None:
        self._runtime = runtime
        self._wake = threading.Condition()
        self._pending: int | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="patron-events-cursor", daemon=True)
            self._thread.start()

    def save(self, seq: int) -> None:
        with self._wake:
            self._pending = seq
            self._wake.notify()

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._wake:
            self._stopping = True
            self._wake.notify()
        thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._stopping:
                    self._wake.wait()
                seq, self._pending = self._pending, None
                stopping = self._stopping
            if seq is not None:
                try:
                    self._runtime.store.set_meta(CURSOR_KEY, str(seq))
                except Exception:  # kept for the next save; a restart catches up from the older one
                    log.exception("writing the processed cursor failed")
                    with self._wake:
                        if self._pending is None:
                            self._pending = seq
                    if not stopping:
                        time.sleep(0.1)
                        continue
            if stopping:
                return


def _payload_text(item: Any) -> str:
    if isinstance(item, Unparsable):
        return item.text
    try:
        return orjson.dumps(item).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(item)[:16384]


def error_reason(exc: Exception) -> str:
    return exc.detail if isinstance(exc, PatronError) else f"{exc.__class__.__name__}: {exc}"
