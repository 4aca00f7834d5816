"""The durable, append-only event store: one DuckDB file (``PATRON_EVENTS_URL``).

Events are appended in batches, each batch one transaction: when :meth:`EventStore.append` returns,
the batch is in DuckDB's write-ahead log and survives a killed process. Every event has an ``id``
(the sender's, or one generated here); an id seen before in the same organisation is not stored
twice. The check runs against an in-memory index of 64-bit hashes of ``(org_id, id)`` built when the
store opens; a hash hit is confirmed against the stored ids before an event is dropped, so a hash
collision never loses an event.

The file belongs to one process at a time (DuckDB's lock): run ingest inside ``patron serve``, or
in one ``patron ingest`` worker while nothing else opens the file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        seq BIGINT NOT NULL,
        org_id INTEGER NOT NULL,
        id VARCHAR NOT NULL,
        device_id INTEGER,
        customer_id INTEGER,
        type VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL,
        received_at TIMESTAMP NOT NULL,
        source VARCHAR NOT NULL,
        lat DOUBLE,
        lon DOUBLE,
        props JSON
    )""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id BIGINT NOT NULL,
        org_id INTEGER,
        received_at TIMESTAMP NOT NULL,
        source VARCHAR NOT NULL,
        topic VARCHAR,
        device_id INTEGER,
        item_index INTEGER,
        reason VARCHAR NOT NULL,
        payload VARCHAR
    )""",
    "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
)

ARROW_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("org_id", pa.int32()),
        ("id", pa.string()),
        ("device_id", pa.int32()),
        ("customer_id", pa.int32()),
        ("type", pa.string()),
        ("ts", pa.timestamp("us")),
        ("received_at", pa.timestamp("us")),
        ("source", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("props", pa.string()),
    ]
)

EVENT_COLUMNS = "seq, org_id, id, device_id, customer_id, type, ts, received_at, source, lat, lon, props"
MAX_DEAD_LETTER_PAYLOAD = 16 * 1024
NEXT_SEQ_KEY = "next_seq"


def micros(moment: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


@dataclass(slots=True)
class StoredEvent:
    """One event as stored (and as handed to the processors after it is durable)."""

    seq: int
    org_id: int
    id: str
    device_id: int | None
    customer_id: int | None
    type: str
    ts: datetime
    received_at: datetime
    source: str
    lat: float | None
    lon: float | None
    props: dict

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "device_id": self.device_id,
            "customer_id": self.customer_id,
            "type": self.type,
            "ts": self.ts,
            "received_at": self.received_at,
            "source": self.source,
            "lat": self.lat,
            "lon": self.lon,
            "props": self.props,
        }


@dataclass
class EventBatch:
    """Columns of events ready to append (validated by :mod:`patron.events.ingest`).

    ``ts`` and ``received_at`` are microseconds since the epoch; ``props`` are JSON texts and
    ``props_objects`` the same props as dicts (handed on to the processors without re-parsing), or None
    where only the text was kept (it is parsed when the event is processed).
    """

    org_id: list[int] = field(default_factory=list)
    id: list[str] = field(default_factory=list)
    device_id: list[int | None] = field(default_factory=list)
    customer_id: list[int | None] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    received_at: list[int] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    lat: list[float | None] = field(default_factory=list)
    lon: list[float | None] = field(default_factory=list)
    props: list[str] = field(default_factory=list)
    props_objects: list[dict | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.id)

    def add(
        self,
        *,
        org_id: int,
        id: str,
        device_id: int | None,
        customer_id: int | None,
        type: str,
        ts: int,
        received_at: int,
        source: str,
        lat: float | None,
        lon: float | None,
        props_json: str,
        props: dict,
    ) -> None:
        self.org_id.append(org_id)
        self.id.append(id)
        self.device_id.append(device_id)
        self.customer_id.append(customer_id)
        self.type.append(type)
        self.ts.append(ts)
        self.received_at.append(received_at)
        self.source.append(source)
        self.lat.append(lat)
        self.lon.append(lon)
        self.props.append(props_json)
        self.props_objects.append(props)

    def extend(self, other: EventBatch) -> None:
        """Append the rows of another batch."""
        for name in _BATCH_FIELDS:
            getattr(self, name).extend(getattr(other, name))

    def to_arrow(self, seq_start: int) -> pa.Table:
        """The batch as an Arrow table of the store's schema, ``seq`` numbered from ``seq_start``."""
        return pa.table(
            {
                "seq": pa.array(np.arange(seq_start, seq_start + len(self), dtype=np.int64)),
                "org_id": pa.array(self.org_id, pa.int32()),
                "id": pa.array(self.id, pa.string()),
                "device_id": pa.array(self.device_id, pa.int32()),
                "customer_id": pa.array(self.customer_id, pa.int32()),
                "type": pa.array(self.type, pa.string()),
                "ts": pa.array(self.ts, pa.timestamp("us")),
                "received_at": pa.array(self.received_at, pa.timestamp("us")),
                "source": pa.array(self.source, pa.string()),
                "lat": pa.array(self.lat, pa.float64()),
                "lon": pa.array(self.lon, pa.float64()),
                "props": pa.array(self.props, pa.string()),
            },
            schema=ARROW_SCHEMA,
        )


_BATCH_FIELDS = tuple(f.name for f in fields(EventBatch))


@dataclass(frozen=True)
class DeadLetter:
    """A message or event that could not be stored, with the reason."""

    reason: str
    source: str
    payload: str = ""
    org_id: int | None = None
    topic: str | None = None
    device_id: int | None = None
    item_index: int | None = None
    received_at: datetime | None = None


@dataclass
class Appended:
    """What one :meth:`EventStore.append` stored: the rows of ``batch`` where ``keep`` is true, numbered
    from ``seq_start``. :meth:`events` builds the event objects (done off the acknowledgement path)."""

    batch: EventBatch
    keep: np.ndarray
    seq_start: int

    @property
    def count(self) -> int:
        return int(self.keep.sum())

    @property
    def last_seq(self) -> int:
        return self.seq_start + self.count - 1

    def events(self) -> list[StoredEvent]:
        batch = self.batch
        events: list[StoredEvent] = []
        seq = self.seq_start
        for i in np.flatnonzero(self.keep):
            events.append(
                StoredEvent(
                    seq=seq,
                    org_id=batch.org_id[i],
                    id=batch.id[i],
                    device_id=batch.device_id[i],
                    customer_id=batch.customer_id[i],
                    type=batch.type[i],
                    ts=from_micros(batch.ts[i]),
                    received_at=from_micros(batch.received_at[i]),
                    source=batch.source[i],
                    lat=batch.lat[i],
                    lon=batch.lon[i],
                    props=props if (props := batch.props_objects[i]) is not None else orjson.loads(batch.props[i]),
                )
            )
            seq += 1
        return events


class KeyIndex:
    """Exact-membership set of 64-bit hashes: one big sorted array plus a few small sorted runs,
    merged (a linear merge of sorted runs) when the runs grow, behind a Bloom filter.

    A binary search in millions of hashes costs a cache miss per step, so each probe first asks the
    filter (two bits, two memory reads): a new id - almost every id ingest sees - is settled there, and
    only the few the filter lets through are searched in the runs. The filter keeps at least
    ``BITS_PER_KEY`` bits per hash (about 1 % false positives with two bits per key) and is rebuilt,
    twice as large, when the set outgrows it."""

    MAX_RUNS = 8
    BITS_PER_KEY = 16
    MIN_BITS = 1 << 20

    def __init__(self, hashes: np.ndarray | None = None) -> None:
        base = np.sort(hashes.astype(np.uint64)) if hashes is not None and len(hashes) else np.empty(0, np.uint64)
        self._runs: list[np.ndarray] = [base]
        self._size = len(base)
        self._build_filter()

    def __len__(self) -> int:
        return self._size

    def _build_filter(self) -> None:
        bits = self.MIN_BITS
        while bits < self._size * self.BITS_PER_KEY:
            bits *= 2
        self._mask = np.uint64(bits - 1)
        self._bits = np.zeros(bits // 8, dtype=np.uint8)
        for run in self._runs:
            self._mark(run)

    def _positions(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The filter's two bit positions of each hash (from its low and its high half)."""
        return hashes & self._mask, (hashes >> np.uint64(32)) & self._mask

    def _mark(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        for position in self._positions(hashes):
            position = np.sort(position)
            index = position >> np.uint64(3)
            bit = (np.uint8(1) << (position & np.uint64(7)).astype(np.uint8)).astype(np.uint8)
            starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])  # one OR per byte touched
            self._bits[index[starts]] |= np.bitwise_or.reduceat(bit, starts)

    def _maybe(self, hashes: np.ndarray) -> np.ndarray:
        first, second = self._positions(hashes)
        bits = self._bits
        return (
            (bits[first >> np.uint64(3)] >> (first & np.uint64(7)).astype(np.uint8)) & 1
            & (bits[second >> np.uint64(3)] >> (second & np.uint64(7)).astype(np.uint8))
        ).astype(bool)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        hashes = np.asarray(hashes, dtype=np.uint64)
        found = np.zeros(len(hashes), dtype=bool)
        candidates = np.flatnonzero(self._maybe(hashes))
        if not len(candidates):
            return found
        probe = hashes[candidates]
        hit = np.zeros(len(probe), dtype=bool)
        for run in self._runs:
            if not len(run):
                continue
            positions = np.searchsorted(run, probe)
            positions[positions == len(run)] = len(run) - 1
            hit |= run[positions] == probe
        found[candidates] = hit
        return found

    def add(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        run = np.sort(hashes.astype(np.uint64))
        self._runs.append(run)
        self._size += len(run)
        if self._size * self.BITS_PER_KEY > len(self._bits) * 8:
            self._build_filter()
        else:
            self._mark(run)
        if len(self._runs) > self.MAX_RUNS:
            small = np.sort(np.concatenate(self._runs[1:]), kind="stable")
            if len(small) * 4 >= len(self._runs[0]):
                self._runs = [np.sort(np.concatenate([self._runs[0], small]), kind="stable")]
            else:
                self._runs = [self._runs[0], small]


def _connect(path: str, memory_limit: str, threads: int, read_only: bool) -> duckdb.DuckDBPyConnection:
    config = {"memory_limit": memory_limit, "threads": str(threads)}
    return duckdb.connect(path, read_only=read_only, config=config)


def resolve_path(events_url: str | None, data_dir: Path) -> str:
    """``duckdb:///abs/path.duckdb``, a plain path, or ``None`` for ``<data_dir>/events.duckdb``."""
    if not events_url:
        return str((Path(data_dir) / "events.duckdb").resolve())
    if events_url.startswith("duckdb://"):
        rest = events_url[len("duckdb://") :]
        return rest if rest == ":memory:" else str(Path(rest).resolve())
    return str(Path(events_url).resolve())


class EventStore:
    """Append-only DuckDB event store. Thread-safe: writes are serialised, reads use their own cursor."""

    def __init__(self, path: str, *, memory_limit: str = "1GB", threads: int = 2) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(path, memory_limit, threads, read_only=False)
        self._write_lock = threading.Lock()
        for statement in SCHEMA:
            self._conn.execute(statement)
        # seq never goes back: after a deletion removed the newest events, the recorded high-water mark
        # keeps new events numbered above everything the processors have already seen
        stored_next = int(self._conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM events").fetchone()[0])
        mark = self._conn.execute("SELECT value FROM store_meta WHERE key = ?", [NEXT_SEQ_KEY]).fetchone()
        self._next_seq = max(stored_next, int(mark[0]) if mark else 0)
        self._next_dead = int(self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM dead_letters").fetchone()[0])
        hashes = self._conn.execute("SELECT hash(org_id, id) AS h FROM events").fetchnumpy()["h"]
        self._index = KeyIndex(np.asarray(hashes, dtype=np.uint64))
        subjects = self._conn.execute(
            "SELECT DISTINCT (org_id::UBIGINT << 32) | customer_id::UBIGINT AS k FROM events "
            "WHERE customer_id IS NOT NULL"
        ).fetchnumpy()["k"]
        self._customers = KeyIndex(np.asarray(subjects, dtype=np.uint64))
        self._closed = False

    # --- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.execute("CHECKPOINT")
            finally:
                self._conn.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for one reading thread (close it when done)."""
        return self._conn.cursor()

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    # --- writing --------------------------------------------------------------------------------
    def append(self, batch: EventBatch) -> Appended:
        """Store the batch in one transaction. The result names the events newly stored: duplicates of
        ids already stored, or repeated within the batch, are left out."""
        if not len(batch):
            return Appended(batch, np.zeros(0, dtype=bool), self._next_seq)
        table = batch.to_arrow(0)  # built before taking the lock, so another batch can be written meanwhile
        with self._write_lock:
            seq_start = self._next_seq
            table = table.set_column(0, "seq", pa.array(np.arange(seq_start, seq_start + len(batch), dtype=np.int64)))
            conn = self._conn
            conn.register("incoming_events", table)
            try:
                keep, hashes = self._new_rows(batch)
                kept = int(keep.sum())
                if not kept:
                    return Appended(batch, keep, seq_start)
                if kept < len(batch):  # repeats left out, the rest numbered without gaps
                    table = table.filter(pa.array(keep))
                    table = table.set_column(0, "seq", pa.array(np.arange(seq_start, seq_start + kept, dtype=np.int64)))
                    conn.unregister("incoming_events")
                    conn.register("incoming_events", table)
                conn.execute("BEGIN TRANSACTION")
                try:
                    conn.execute(f"INSERT INTO events SELECT {EVENT_COLUMNS} FROM incoming_events")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.unregister("incoming_events")
            self._next_seq += kept
            self._index.add(hashes[keep])
            self._note_customers(table)
        return Appended(batch, keep, seq_start)

    @staticmethod
    def _customer_keys(org_ids: np.ndarray, customer_ids: np.ndarray) -> np.ndarray:
        return (org_ids.astype(np.uint64) << np.uint64(32)) | customer_ids.astype(np.uint64)

    def _note_customers(self, table: pa.Table) -> None:
        """Remember which customers the stored rows belong to (under the write lock)."""
        customers = table.column("customer_id")
        if customers.null_count == len(customers):
            return
        valid = pc.is_valid(customers)
        keys = np.unique(
            self._customer_keys(
                table.column("org_id").filter(valid).to_numpy(), customers.filter(valid).to_numpy()
            )
        )
        self._customers.add(keys[~self._customers.contains(keys)])

    def may_have_customer_events(self, *, org_id: int, customer_id: int) -> bool:
        """False when the store has certainly never held an event of the customer: a read of their events
        can then skip the query. True may be stale after a deletion (the query then finds nothing)."""
        key = self._customer_keys(np.array([org_id]), np.array([customer_id]))
        return bool(self._customers.contains(key)[0])

    def _new_rows(self, batch: EventBatch) -> tuple[np.ndarray, np.ndarray]:
        """Which rows of the batch (registered as ``incoming_events``) are not stored yet (first
        occurrence within the batch wins), and the hash of each row's key."""
        hashes = np.asarray(
            self._conn.execute("SELECT hash(org_id, id) AS h FROM incoming_events").fetchnumpy()["h"], dtype=np.uint64
        )
        keep = np.ones(len(batch), dtype=bool)
        _, first = np.unique(hashes, return_index=True)
        if len(first) < len(batch):
            keep[:] = False
            keep[first] = True
            seen: set[tuple[int, str]] = set()
            for i in range(len(batch)):  # confirm in-batch repeats by id, not by hash alone
                key = (batch.org_id[i], batch.id[i])
                keep[i] = key not in seen
                seen.add(key)
        hits = np.flatnonzero(self._index.contains(hashes) & keep)
        if len(hits):
            candidates = pa.table(
                {
                    "org_id": pa.array([batch.org_id[i] for i in hits], pa.int32()),
                    "id": pa.array([batch.id[i] for i in hits], pa.string()),
                }
            )
            self._conn.register("candidates", candidates)
            try:
                stored = set(
                    self._conn.execute(
                        "SELECT e.org_id, e.id FROM events e SEMI JOIN candidates c ON e.org_id = c.org_id AND e.id = c.id"
                    ).fetchall()
                )
            finally:
                self._conn.unregister("candidates")
            for i in hits:
                if (batch.org_id[i], batch.id[i]) in stored:
                    keep[i] = False
        return keep, hashes

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Store rejected messages durably; returns how many were stored."""
        if not letters:
            return 0
        now = datetime.now(UTC)
        with self._write_lock:
            rows = []
            for letter in letters:
                rows.append(
                    (
                        self._next_dead,
                        letter.org_id,
                        (letter.received_at or now).astimezone(UTC).replace(tzinfo=None),
                        letter.source,
                        letter.topic,
                        letter.device_id,
                        letter.item_index,
                        letter.reason[:1000],
                        (letter.payload or "")[:MAX_DEAD_LETTER_PAYLOAD],
                    )
                )
                self._next_dead += 1
            self._conn.execute("BEGIN TRANSACTION")
            try:
                self._conn.executemany("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            self._conn.execute(
                "INSERT INTO store_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def get_meta(self, key: str) -> str | None:
        cursor = self.cursor()
        try:
            row = cursor.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()
        finally:
            cursor.close()
        return row[0] if row else None

    def delete_events(self, *, org_id: int, customer_id: int | None = None) -> int:
        """Delete an organisation's events (or one customer's: the right to be forgotten) and its dead
        letters when the whole organisation goes; returns how many events were removed. The
        sequence high-water mark is recorded in the same transaction, so numbers are never reused."""
        where, params = "org_id = ?", [org_id]
        if customer_id is not None:
            where, params = "org_id = ? AND customer_id = ?", [org_id, customer_id]
        with self._write_lock:
            self._conn.execute("BEGIN TRANSACTION")
            try:
                count = self._conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]
                self._conn.execute(f"DELETE FROM events WHERE {where}", params)
                if customer_id is None:
                    self._conn.execute("DELETE FROM dead_letters WHERE org_id = ?", [org_id])
                self._conn.execute(
                    "INSERT INTO store_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [NEXT_SEQ_KEY, str(self._next_seq)],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return int(count)

    def delete_customer_events(self, *, org_id: int, customer_id: int) -> int:
        """Erase a customer's events (the right to be forgotten); returns how many were removed."""
        return self.delete_events(org_id=org_id, customer_id=customer_id)

    def reassign_customer(self, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
        """Move a merged duplicate's events to the customer it was merged into."""
        with self._write_lock:
            count = self._conn.execute(
                "SELECT count(*) FROM events WHERE org_id = ? AND customer_id = ?", [org_id, from_customer_id]
            ).fetchone()[0]
            self._conn.execute(
                "UPDATE events SET customer_id = ? WHERE org_id = ? AND customer_id = ?",
                [to_customer_id, org_id, from_customer_id],
            )
            if count:
                self._customers.add(self._customer_keys(np.array([org_id]), np.array([to_customer_id])))
        return int(count)

    # --- reading --------------------------------------------------------------------------------
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Run a read query on a fresh cursor (for the query helpers in :mod:`patron.events.queries`)."""
        cursor = self.cursor()
        try:
            return cursor.execute(sql, list(params)).fetchall()
        finally:
            cursor.close()

    def events_after(self, seq: int, *, limit: int = 10_000) -> list[StoredEvent]:
        """Stored events with ``seq`` greater than the given one, oldest first (processor catch-up)."""
        rows = self.query(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [seq, limit]
        )
        return [row_to_event(row) for row in rows]


def row_to_event(row: tuple) -> StoredEvent:
    """A row selected as ``EVENT_COLUMNS`` as a :class:`StoredEvent`."""
    seq, org_id, event_id, device_id, customer_id, type_, ts, received_at, source, lat, lon, props = row
    return StoredEvent(
        seq=seq,
        org_id=org_id,
        id=event_id,
        device_id=device_id,
        customer_id=customer_id,
        type=type_,
        ts=ts.replace(tzinfo=UTC),
        received_at=received_at.replace(tzinfo=UTC),
        source=source,
        lat=lat,
        lon=lon,
        props=orjson.loads(props) if props else {},
    )
