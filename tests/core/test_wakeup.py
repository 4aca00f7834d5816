"""Wake-ups between threads: sent only once the writer's outer transaction has committed."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from patron.core import wakeup


def _name() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_a_signal_wakes_a_waiting_thread_and_is_consumed():
    name, woke = _name(), []
    waiter = threading.Thread(target=lambda: woke.append(wakeup.wait(name, 10)))
    waiter.start()
    wakeup.signal(name)
    waiter.join(10)
    assert woke == [True]
    assert wakeup.wait(name, 0.01) is False  # consumed


def test_signal_after_commit_waits_for_the_outer_commit_and_is_dropped_on_rollback():
    engine = create_engine("sqlite://")
    name = _name()
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        with session.begin_nested():
            wakeup.signal_after_commit(session, name)
        assert wakeup.wait(name, 0.01) is False  # the savepoint's release is not the commit
        session.commit()
    assert wakeup.wait(name, 0.01) is True

    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        wakeup.signal_after_commit(session, name)
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()
    assert wakeup.wait(name, 0.01) is False


# --- across processes: a separate process's commit wakes this one ------------------------------------------

WRITER = """
import sys
from sqlalchemy import text
from patron.core import wakeup
from patron.core.db import make_engine, make_sessionmaker

url, name, outcome = sys.argv[1:4]
engine = make_engine(url)
with make_sessionmaker(engine)() as session:
    session.execute(text("SELECT 1"))
    wakeup.signal_after_commit(session, name)
    session.commit() if outcome == "commit" else session.rollback()
engine.dispose()
"""


def _write_in_another_process(url: str, name: str, outcome: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WRITER, url, name, outcome], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_commit_in_another_process_wakes_the_listener_and_a_rollback_does_not(settings):
    from patron.core.db import make_engine

    engine = make_engine(settings.database_url)
    listener = wakeup.Listener(engine).start()
    try:
        rolled_back, committed = _name(), _name()
        _write_in_another_process(settings.database_url, rolled_back, "rollback")
        _write_in_another_process(settings.database_url, committed, "commit")
        assert wakeup.wait(committed, 60) is True
        # sent (if at all) before the committed one, on the same ordered channel: it would be here by now
        assert wakeup.wait(rolled_back, 0) is False
    finally:
        listener.stop()
        engine.dispose()


def _broadcast_arrives(engine) -> None:
    name = _name()
    wakeup.broadcast(engine, [name])
    assert wakeup.wait(name, 30) is True


def test_one_listener_per_sqlite_file_and_a_dead_listeners_socket_is_taken_over(tmp_path):
    from patron.core.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'wake.db'}")
    path = wakeup.socket_path(engine)
    assert path is not None and str(tmp_path) not in str(path)  # short, in the temporary directory
    first = wakeup.Listener(engine).start()
    second = wakeup.Listener(engine).start()  # the file is taken: it stays idle
    try:
        _broadcast_arrives(engine)
    finally:
        second.stop()
        first.stop()
    assert not path.exists()  # the first listener cleans up after itself

    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()  # a listener that died without removing its socket
    third = wakeup.Listener(engine).start()
    try:
        _broadcast_arrives(engine)
    finally:
        third.stop()
    assert wakeup.socket_path(make_engine("sqlite://")) is None  # in memory: one process, no socket
