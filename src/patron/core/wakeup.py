"""Wake-ups: "there is new work of this kind", sent once the writer's transaction has committed.

A writer that leaves new work of some kind (a rule's trigger for the campaigns, say) calls
:func:`signal_after_commit`. Once its transaction has committed, a thread waiting in :func:`wait` for
that kind wakes at once instead of at its next periodic tick:

* in the same process through an in-memory event;
* in other processes on the same database through a :class:`Listener` (the scheduler runs one): on
  PostgreSQL the writer's transaction sends ``NOTIFY patron_wakeup`` and the listener holds a ``LISTEN``
  connection; on an SQLite file, where every process is on one machine, the writer sends a datagram
  to a Unix socket named after the database file, which the listener has bound.

So a trigger written by a separate ``patron ingest`` worker wakes the campaigns of ``patron serve`` as
promptly as one written inside it. A wake-up is a hint, never the only way work is found: the periodic
job still looks at every tick, so a lost wake-up (no listener running, a dropped connection) only
delays work until then.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from patron.core.db import after_outer_commit

log = logging.getLogger("patron.wakeup")

#: the PostgreSQL notification channel
CHANNEL = "patron_wakeup"
#: longest wake-up name that crosses processes (a datagram / NOTIFY payload)
MAX_NAME = 200

_lock = threading.Lock()
_events: dict[str, threading.Event] = {}


def _event(name: str) -> threading.Event:
    with _lock:
        return _events.setdefault(name, threading.Event())


def signal(name: str) -> None:
    """Wake the thread waiting for ``name`` in this process (or let its next wait return at once)."""
    _event(name).set()


def wait(name: str, timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds (None: until signalled) for ``name``; True when signalled. The
    signal is consumed."""
    flag = _event(name)
    signalled = flag.wait(timeout)
    flag.clear()
    return signalled


# --- across processes --------------------------------------------------------------------------------


def socket_path(engine: Engine) -> Path | None:
    """The Unix socket that carries wake-ups between processes on the SQLite file of ``engine`` (None for
    other databases, an in-memory SQLite database, or a platform without Unix sockets). It lives in the
    temporary directory, named by a hash of the file's absolute path (socket paths are short)."""
    if engine.dialect.name != "sqlite" or not hasattr(socket, "AF_UNIX"):
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"patron-wakeup-{digest}.sock"


def broadcast(engine: Engine, names: list[str]) -> None:
    """Tell the listener on ``engine``'s SQLite file about ``names`` (a datagram each). Never raises: a
    wake-up that cannot be sent is left to the periodic tick. (On PostgreSQL the writer's transaction
    carries the wake-up itself, see :func:`signal_after_commit`.)"""
    path = socket_path(engine)
    if path is None or not path.exists():
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for name in dict.fromkeys(names):
                if 0 < len(name) <= MAX_NAME:
                    sender.sendto(name.encode(), str(path))
    except OSError as exc:  # no listener any more, its buffer full: the tick finds the work anyway
        log.debug("wake-up %s not sent across processes: %s", names, exc)


def _after_commit(items: list[tuple[str, Engine | None]]) -> None:
    names = list(dict.fromkeys(name for name, _engine in items))
    for name in names:
        signal(name)
    engines = {id(engine): engine for _name, engine in items if engine is not None}
    for engine in engines.values():
        broadcast(engine, [name for name, item_engine in items if item_engine is engine])


def signal_after_commit(session: Session, name: str) -> None:
    """Signal ``name`` once the session's current transaction has committed, in this process and to the
    listeners of other processes on the same database (nothing if the transaction rolls back).

    On PostgreSQL the ``NOTIFY`` goes out inside the transaction: the server delivers it at the commit,
    drops it with a rollback, and sends one per name however many times a transaction names it."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    if engine is not None and engine.dialect.name == "postgresql":
        if 0 < len(name) <= MAX_NAME:
            session.connection().exec_driver_sql("SELECT pg_notify(%s, %s)", (CHANNEL, name))
        engine = None  # nothing more to send after the commit
    after_outer_commit(session, "wakeup", (name, engine), _after_commit)


class Listener:
    """A thread that turns other processes' wake-ups on ``engine``'s database into local :func:`signal`
    calls. Start it with :meth:`start`, end it with :meth:`stop`. Only one listener per SQLite file can
    bind its socket; a second one (another ``patron serve`` on the same file) logs that and stays idle,
    as does one whose database carries no wake-ups (an in-memory SQLite database)."""

    #: seconds between looks at the stop flag (and between reconnection attempts on PostgreSQL)
    POLL = 0.5

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="patron-wakeup-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        self._ready.wait(10)  # listening (or given up) before the caller goes on
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            if self.engine.dialect.name == "postgresql":
                self._listen_postgres()
            else:
                self._listen_socket()
        finally:
            self._ready.set()

    def _listen_postgres(self) -> None:
        import psycopg

        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=self.POLL):
                            signal(notice.payload)
            except psycopg.Error as exc:
                log.warning("wake-up listener lost its database connection (%s); reconnecting", exc)
                self._ready.set()
                self._stop.wait(self.POLL)

    def _listen_socket(self) -> None:
        path = socket_path(self.engine)
        if path is None:
            return
        receiver = _bind(path)
        if receiver is None:
            log.info("another process listens for wake-ups on %s; this one relies on its tick", path)
            return
        self._ready.set()
        try:
            receiver.settimeout(self.POLL)
            while not self._stop.is_set():
                try:
                    data = receiver.recv(MAX_NAME + 1)
                except TimeoutError:
                    continue
                name = data.decode(errors="replace")
                if name:
                    signal(name)
        finally:
            receiver.close()
            with contextlib.suppress(OSError):
                path.unlink()


def _bind(path: Path) -> socket.socket | None:
    """A datagram socket bound at ``path``; a file left there by a process that has ended is replaced,
    one a live listener holds is not (None)."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        receiver.bind(str(path))
        os.chmod(path, 0o600)
        return receiver
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            receiver.close()
            raise
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.sendto(b"", str(path))  # an empty wake-up: ignored by a live listener
            receiver.close()
            return None
        except ConnectionRefusedError:
            pass  # nobody is bound there any more
    with contextlib.suppress(OSError):
        path.unlink()
    receiver.bind(str(path))
    os.chmod(path, 0o600)
    return receiver
