"""Live profile enrichment: keeps devices' health and customers' signals and frequent places current
from the event stream.

:class:`EnrichmentProcessor` is an event processor (see :mod:`patron.events.runtime`). It sees every
stored event, so the per-event work only updates small in-memory state; every
:data:`FLUSH_SECONDS` it writes what changed to the records database in one transaction.

Device fields (``Device.last_seen_at`` … ``last_fault_code``):

* ``last_seen_at`` / ``last_event_type``: the newest event by its time (``ts``; a time ahead of
  arrival counts as the arrival time). Older events arriving late update counts, not these.
* ``message_rate``: events per minute over the last 5 minutes (by event time).
* ``health``, the first that applies:

  1. ``fault`` — after a fault event: type ``fault`` or ``fault.*`` (other than the clearing types),
     or props with a non-empty ``fault_code`` or ``error``. ``last_fault_code`` is
     ``props.fault_code``, ``props.code`` or ``props.error``. It holds until a clearing event
     (type ``fault.cleared``, ``fault.clear`` or ``ok``, or props ``status: "ok"``) or for
     :data:`FAULT_HOLD` (6 hours) after the last fault.
  2. ``offline`` — silent for longer than ``max(10 minutes, 3 × the usual interval)``, where the usual
     interval is the larger of the type's expected interval (:data:`EXPECTED_INTERVAL`) and the
     device's own smoothed gap between events. Checked every :data:`OFFLINE_SCAN_SECONDS`.
  3. ``warning`` — the last reported ``props.battery`` is below 15 (percent), or the signal is weak:
     ``props.rssi`` below -100 (dBm) or ``props.signal`` below 15 (percent).
  4. ``ok`` — seen, none of the above; ``unknown`` — never seen.

  ``health_reason`` says why in a few words.

Customer fields (:class:`~patron.events.models.CustomerSignals`), for every customer with new events
since the last write, and every hour for the others (their windows move on): counts from a DuckDB
aggregate over the store, device count and worst device health, usage trend — see
:mod:`patron.events.signals`.

Frequent places: each positioned event feeds a per-device stop detector (:mod:`patron.events.places`);
when a customer has a new stop, their places are re-learned from the store (at most every
:data:`RELEARN_AFTER`, :data:`LEARN_PER_FLUSH` customers per write) and stored as ``learned`` places.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from patron.core.audit import Actor
from patron.core.errors import PatronError
from patron.devices.models import Device
from patron.events import signals
from patron.events.models import CustomerSignals
from patron.events.places import Position, StopTracker
from patron.events.store import StoredEvent

log = logging.getLogger("patron.events.enrichment")

FLUSH_SECONDS = 5.0
OFFLINE_SCAN_SECONDS = 30.0
STALE_SCAN_SECONDS = 600.0
STALE_AFTER = timedelta(hours=1)
STALE_BATCH = 2000
SIGNALS_CHUNK = 1000
RELEARN_AFTER = timedelta(minutes=5)
LEARN_PER_FLUSH = 25
LEARN_ON_CLOSE = 500

RATE_WINDOW_MINUTES = 5
FAULT_HOLD = timedelta(hours=6)
LOW_BATTERY = 15
WEAK_RSSI_DBM = -100
WEAK_SIGNAL_PERCENT = 15
MIN_OFFLINE = timedelta(minutes=10)
OFFLINE_FACTOR = 3
#: how often a healthy device of each type is expected to send at least something (heartbeats included)
EXPECTED_INTERVAL = {
    "vehicle": timedelta(minutes=15),
    "wearable": timedelta(minutes=5),
    "smart_meter": timedelta(minutes=15),
    "smart_home_hub": timedelta(minutes=5),
    "beacon": timedelta(minutes=10),
    "phone_app": timedelta(hours=24),
}
DEFAULT_INTERVAL = timedelta(minutes=15)
GAP_SMOOTHING = 0.1
MAX_GAP_SAMPLE = 6 * 3600.0
CLEAR_TYPES = frozenset({"fault.cleared", "fault.clear", "ok"})


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def is_fault(event_type: str, props: dict) -> bool:
    if event_type == "fault" or (event_type.startswith("fault.") and event_type not in CLEAR_TYPES):
        return True
    return bool(props.get("fault_code") or props.get("error"))


def is_clear(event_type: str, props: dict) -> bool:
    return event_type in CLEAR_TYPES or props.get("status") == "ok"


class DeviceState:
    """What enrichment knows of one device between writes."""

    __slots__ = (
        "id",
        "org_id",
        "customer_id",
        "type",
        "missing",
        "last_seen",
        "last_type",
        "minutes",
        "gap",
        "fault_since",
        "fault_code",
        "battery",
        "rssi",
        "signal",
        "written",
        "dirty",
        "tracker",
    )

    def __init__(
        self,
        device_id: int,
        org_id: int = 0,
        customer_id: int | None = None,
        type: str = "",
        missing: bool = False,
    ) -> None:
        self.id = device_id
        self.org_id = org_id
        self.customer_id = customer_id
        self.type = type
        self.missing = missing
        self.last_seen: datetime | None = None
        self.last_type: str | None = None
        self.minutes: dict[int, int] = {}
        self.gap: float | None = None
        self.fault_since: datetime | None = None
        self.fault_code: str | None = None
        self.battery: float | None = None
        self.rssi: float | None = None
        self.signal: float | None = None
        self.written: tuple | None = None
        self.dirty = False
        self.tracker: StopTracker | None = None

    def rate(self, now_minute: int) -> float:
        """Events per minute over the last :data:`RATE_WINDOW_MINUTES` (drops older minutes)."""
        floor = now_minute - RATE_WINDOW_MINUTES
        for minute in [m for m in self.minutes if m <= floor]:
            del self.minutes[minute]
        return round(
            sum(count for minute, count in self.minutes.items() if minute <= now_minute)
            / RATE_WINDOW_MINUTES,
            3,
        )

    def expected_interval(self) -> timedelta:
        usual = EXPECTED_INTERVAL.get(self.type, DEFAULT_INTERVAL)
        if self.gap is not None and self.gap > usual.total_seconds():
            usual = timedelta(seconds=self.gap)
        return usual

    def health(self, now: datetime) -> tuple[str, str]:
        if self.fault_since is not None:
            if now - self.fault_since < FAULT_HOLD:
                return "fault", f"fault {self.fault_code} reported {self.fault_since:%Y-%m-%d %H:%M} UTC"
            self.fault_since = None
        if self.last_seen is None:
            return "unknown", ""
        usual = self.expected_interval()
        if now - self.last_seen > max(MIN_OFFLINE, OFFLINE_FACTOR * usual):
            return "offline", (
                f"no event since {self.last_seen:%Y-%m-%d %H:%M} UTC; expected every {_human(usual)}"
            )
        if self.battery is not None and self.battery < LOW_BATTERY:
            return "warning", f"battery low ({self.battery:g} %)"
        if self.rssi is not None and self.rssi < WEAK_RSSI_DBM:
            return "warning", f"weak signal (rssi {self.rssi:g} dBm)"
        if self.signal is not None and self.signal < WEAK_SIGNAL_PERCENT:
            return "warning", f"weak signal ({self.signal:g} %)"
        return "ok", ""


def _human(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h"
    return f"{minutes / 1440:.0f} days"


_DEVICE_UPDATE = (
    Device.__table__.update()
    .where(Device.__table__.c.id == bindparam("device_id"))
    .values(
        last_seen_at=bindparam("seen"),
        last_event_type=bindparam("event_type"),
        message_rate=bindparam("rate"),
        health=bindparam("state"),
        health_reason=bindparam("reason"),
        last_fault_code=bindparam("fault_code"),
    )
)


class EnrichmentProcessor:
    """The enrichment event processor: ``process(events)`` and ``tick(now)`` from the runtime's
    processor thread; :meth:`flush` may also be called from elsewhere (tests, shutdown)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._lock = threading.RLock()
        self.devices: dict[int, DeviceState] = {}
        self._customer_trackers: dict[int, StopTracker] = {}
        self._touched: set[int] = set()
        self._places_pending: dict[int, int] = {}  # customer -> organisation
        self._learned_at: dict[int, datetime | None] = {}
        self._loaded = False
        self._last_flush = time.monotonic()
        self._last_full_scan = float("-inf")
        self._last_stale_scan = time.monotonic()
        self._write_lock = threading.Lock()  # one write at a time (background or called directly)
        self._writer: threading.Thread | None = None

    # --- the processor contract ---------------------------------------------------------------
    def process(self, events: list[StoredEvent]) -> None:
        with self._lock:
            self._ensure_loaded()
            unknown = {
                e.device_id for e in events if e.device_id is not None and e.device_id not in self.devices
            }
            if unknown:
                self._load_devices(unknown)
            now_minute = int(self.runtime.clock().timestamp()) // 60
            for event in events:
                self._take(event, now_minute)

    def tick(self, now: datetime) -> None:
        """Start a write in the background when one is due. A write of a thousand customers' signals
        takes a good part of a second; on the processor thread it would hold up every event queued
        behind it, rule firings among them."""
        if time.monotonic() - self._last_flush < FLUSH_SECONDS:
            return
        writer = self._writer
        if writer is not None and writer.is_alive():
            return  # the previous write is still going: the next tick tries again
        self._last_flush = time.monotonic()
        self._writer = threading.Thread(
            target=self.flush, args=(now,), name="patron-enrichment-writer", daemon=True
        )
        self._writer.start()

    def close(self) -> None:
        writer = self._writer
        if writer is not None:
            writer.join()
        self.flush(self.runtime.clock(), learn_limit=LEARN_ON_CLOSE)

    # --- per event ----------------------------------------------------------------------------
    def _take(self, event: StoredEvent, now_minute: int) -> None:
        customer_id = event.customer_id
        if customer_id is not None:
            self._touched.add(customer_id)
        ts = event.ts if event.ts <= event.received_at else event.received_at
        state = self.devices.get(event.device_id) if event.device_id is not None else None
        newest = True
        if state is not None:
            newest = state.last_seen is None or ts >= state.last_seen
            if newest:
                if state.last_seen is not None:
                    gap = (ts - state.last_seen).total_seconds()
                    if gap > 0:
                        gap = min(gap, MAX_GAP_SAMPLE)
                        state.gap = (
                            gap if state.gap is None else state.gap + GAP_SMOOTHING * (gap - state.gap)
                        )
                state.last_seen = ts
                state.last_type = event.type
                self._health_facts(state, event, ts)
            elif is_fault(event.type, event.props) and (state.fault_since is None or ts > state.fault_since):
                # a fault that arrives late (buffered on the device) still counts for its hold time
                state.fault_since = ts
                props = event.props
                code = props.get("fault_code") or props.get("code") or props.get("error") or event.type
                state.fault_code = str(code)[:60]
            minute = int(ts.timestamp()) // 60
            if minute > now_minute - RATE_WINDOW_MINUTES:
                state.minutes[minute] = state.minutes.get(minute, 0) + 1
            state.dirty = True
        if event.lat is not None and event.lon is not None and customer_id is not None:
            if event.type in signals.STOP_TYPES or event.type in signals.VISIT_TYPES:
                self._places_pending[customer_id] = event.org_id
            if newest and event.type not in signals.VISIT_TYPES:
                self._track_position(event, ts, state, customer_id)

    @staticmethod
    def _health_facts(state: DeviceState, event: StoredEvent, ts: datetime) -> None:
        props = event.props
        if is_clear(event.type, props):
            state.fault_since = None
        elif is_fault(event.type, props):
            state.fault_since = ts
            code = props.get("fault_code") or props.get("code") or props.get("error") or event.type
            state.fault_code = str(code)[:60]
        if props:
            battery = _number(props.get("battery"))
            if battery is not None:
                state.battery = battery
            rssi = _number(props.get("rssi"))
            if rssi is not None:
                state.rssi = rssi
            signal = _number(props.get("signal"))
            if signal is not None:
                state.signal = signal

    def _track_position(
        self, event: StoredEvent, ts: datetime, state: DeviceState | None, customer_id: int
    ) -> None:
        if state is not None:
            if state.tracker is None:
                state.tracker = StopTracker()
            tracker = state.tracker
        else:
            tracker = self._customer_trackers.get(customer_id)
            if tracker is None:
                tracker = self._customer_trackers[customer_id] = StopTracker()
        kind = "stop" if event.type in signals.STOP_TYPES else "fix"
        if tracker.add(Position(ts, event.lat, event.lon, None, kind)) is not None:
            self._places_pending[customer_id] = event.org_id

    # --- device state from the records database -------------------------------------------------
    def _ensure_loaded(self) -> None:
        """On first use: the devices seen before (so silent ones can turn offline after a restart)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            with self.runtime.factory() as session:
                rows = session.execute(
                    select(*_DEVICE_COLUMNS).where(
                        Device.status == "active", Device.last_seen_at.is_not(None)
                    )
                ).all()
            self._add_states(rows)
            self._warm_faults([s for s in self.devices.values() if s.written and s.written[3] == "fault"])
        except Exception:
            log.exception("loading device state failed")

    def _load_devices(self, ids: set[int]) -> None:
        with self.runtime.factory() as session:
            rows = session.execute(select(*_DEVICE_COLUMNS).where(Device.id.in_(sorted(ids)))).all()
        self._add_states(rows)
        for device_id in ids - {row[0] for row in rows}:
            self.devices[device_id] = DeviceState(device_id, missing=True)

    def _add_states(self, rows) -> None:
        for device_id, org_id, customer_id, type_, seen, event_type, rate, health, reason, code in rows:
            state = DeviceState(device_id, org_id, customer_id, type_)
            state.last_seen, state.last_type, state.fault_code = seen, event_type, code
            state.written = (seen, event_type, rate, health, reason, code)
            self.devices[device_id] = state

    def _warm_faults(self, states: list[DeviceState]) -> None:
        """Devices in fault at the last write: find when their last fault was (for the hold time)."""
        if not states:
            return
        by_id = {s.id: s for s in states}
        rows = self.runtime.store.query(
            """SELECT device_id, max(ts) FROM events
               WHERE device_id IN (SELECT unnest(?::INTEGER[]))
                 AND (type = 'fault' OR (type LIKE 'fault.%' AND type NOT IN ('fault.cleared', 'fault.clear'))
                      OR json_extract_string(props, '$.fault_code') IS NOT NULL)
               GROUP BY device_id""",
            [list(by_id)],
        )
        for device_id, last_fault in rows:
            by_id[device_id].fault_since = last_fault.replace(tzinfo=UTC)

    # --- writing --------------------------------------------------------------------------------
    def flush(self, now: datetime | None = None, *, learn_limit: int = LEARN_PER_FLUSH) -> None:
        """Write device state, customer signals and (throttled) learned places as of ``now``.

        What to write is taken from memory under the processor's lock (quick); the database work runs
        without it, so :meth:`process` goes on meanwhile (a write may run on its own thread, see
        :meth:`tick`). Whatever a failed write did not store is marked to be written again."""
        with self._write_lock:
            with self._lock:
                self._ensure_loaded()
                now = now or self.runtime.clock()
                self._last_flush = time.monotonic()
                pending = self._take_state(now)
            try:
                self._write_state(now, pending)
            except Exception:
                log.exception("writing device state and customer signals failed")
                with self._lock:
                    pending.give_back(self)
            try:
                self._learn(now, learn_limit)
            except Exception:
                log.exception("learning places failed")

    def _take_state(self, now: datetime) -> _PendingWrite:
        """What changed since the last write (under the lock): device rows and touched customers."""
        now_minute = int(now.timestamp()) // 60
        full_scan = time.monotonic() - self._last_full_scan >= OFFLINE_SCAN_SECONDS
        candidates = (
            list(self.devices.values())
            if full_scan
            else [s for s in self.devices.values() if s.dirty or (s.written is not None and s.written[2])]
        )
        pending = _PendingWrite(full_scan=full_scan, touched=set(self._touched))
        for state in candidates:
            state.dirty = False
            if state.missing:
                continue
            health, reason = state.health(now)
            values = (
                state.last_seen,
                state.last_type,
                state.rate(now_minute),
                health,
                reason[:200],
                state.fault_code,
            )
            if values != state.written:
                health_changed = state.written is None or state.written[3] != health
                if health_changed and state.customer_id is not None:
                    pending.touched.add(state.customer_id)
                pending.rows.append(
                    {
                        "device_id": state.id,
                        "seen": values[0],
                        "event_type": values[1],
                        "rate": values[2],
                        "state": values[3],
                        "reason": values[4],
                        "fault_code": values[5],
                    }
                )
                pending.changed.append((state, values))
        self._touched.clear()
        return pending

    def _write_state(self, now: datetime, pending: _PendingWrite) -> None:
        """Device rows in one short transaction, then the touched customers' signals in others."""
        touched = pending.touched
        if time.monotonic() - self._last_stale_scan >= STALE_SCAN_SECONDS:
            self._last_stale_scan = time.monotonic()
            with self.runtime.factory() as session:
                touched.update(
                    signals.stale_customers(
                        session, older_than=datetime.now(UTC) - STALE_AFTER, limit=STALE_BATCH
                    )
                )
        if pending.rows:
            with self.runtime.factory() as session:
                session.info["actor"] = Actor(org_id=None, label="enrichment")
                session.execute(_DEVICE_UPDATE, pending.rows)
                session.commit()
            with self._lock:
                for state, values in pending.changed:
                    state.written = values
            pending.rows, pending.changed = [], []
        store = self.runtime.store
        ordered = sorted(touched)
        for start in range(0, len(ordered), SIGNALS_CHUNK):
            chunk = ordered[start : start + SIGNALS_CHUNK]
            with self.runtime.factory() as session:
                session.info["actor"] = Actor(org_id=None, label="enrichment")
                signals.write_signals(session, store=store, customer_ids=chunk, now=now)
                session.commit()
            touched.difference_update(chunk)
        if pending.full_scan:
            self._last_full_scan = time.monotonic()

    def _learn(self, now: datetime, limit: int) -> None:
        with self._lock:
            pending = dict(self._places_pending)
        if not pending:
            return
        unknown = [c for c in pending if c not in self._learned_at]
        if unknown:
            with self.runtime.factory() as session:
                found = dict(
                    session.execute(
                        select(CustomerSignals.customer_id, CustomerSignals.places_learned_at).where(
                            CustomerSignals.customer_id.in_(unknown)
                        )
                    ).all()
                )
            for customer_id in unknown:
                self._learned_at[customer_id] = found.get(customer_id)
        due = [
            (customer_id, org_id)
            for customer_id, org_id in pending.items()
            if (learned := self._learned_at.get(customer_id)) is None or now - learned >= RELEARN_AFTER
        ][:limit]
        with self._lock:
            for customer_id, _ in due:
                self._places_pending.pop(customer_id, None)
        store = self.runtime.store
        for customer_id, org_id in due:
            self._learned_at[customer_id] = now
            session: Session = self.runtime.factory()
            try:
                session.info["actor"] = Actor(org_id=org_id, label="enrichment")
                signals.learn_places(session, store=store, org_id=org_id, customer_id=customer_id, now=now)
                session.commit()
            except PatronError as exc:  # gone, merged or erased meanwhile: nothing to learn
                session.rollback()
                log.debug("not learning places of customer %s: %s", customer_id, exc.detail)
            except Exception:
                session.rollback()
                log.exception("learning the places of customer %s failed", customer_id)
            finally:
                session.close()


@dataclass
class _PendingWrite:
    """One write's share of what changed: device rows (with the states and values they store) and the
    customers whose signals to recompute. What is still here when the write fails is given back."""

    full_scan: bool
    touched: set[int]
    rows: list[dict] = field(default_factory=list)
    changed: list[tuple[DeviceState, tuple]] = field(default_factory=list)

    def give_back(self, processor: EnrichmentProcessor) -> None:
        """Mark what was not written to be written by the next flush (call under the lock)."""
        processor._touched.update(self.touched)
        for state, _ in self.changed:
            state.dirty = True


_DEVICE_COLUMNS = (
    Device.id,
    Device.org_id,
    Device.customer_id,
    Device.type,
    Device.last_seen_at,
    Device.last_event_type,
    Device.message_rate,
    Device.health,
    Device.health_reason,
    Device.last_fault_code,
)


def enrichment_of(runtime) -> EnrichmentProcessor | None:
    """The runtime's enrichment processor, if it runs one."""
    return next((p for p in runtime.processors if isinstance(p, EnrichmentProcessor)), None)
