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
