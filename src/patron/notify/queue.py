"""The delivery queue: message ids waiting to be delivered, now or at a later time (a retry).

The database is the record of what is due; the queue only says "look at message N (from time T)".
Losing an entry delays a message until a worker's sweep finds it; a duplicate entry costs one
database round trip, since a message is claimed atomically before it is sent.

- :class:`InProcessQueue` — the embedded default: a heap in memory, served by worker threads inside
  ``patron serve``.
- :class:`RedisQueue` — with ``PATRON_QUEUE_URL=redis://...``: a list of ready ids and a sorted set of
  delayed ones (score: due time), shared by any number of ``patron notify worker`` processes.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Protocol

from patron.core.config import Settings
from patron.core.errors import Invalid


class Queue(Protocol):
    def put(self, message_id: int, *, due: float | None = None) -> None: ...

    def get(self, timeout: float) -> int | None: ...

    def close(self) -> None: ...


class InProcessQueue:
    """A thread-safe heap of ``(due, id)``; :meth:`get` waits for the earliest due entry."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False

    def put(self, message_id: int, *, due: float | None = None) -> None:
        with self._ready:
            heapq.heappush(self._heap, (due or 0.0, next(self._order), message_id))
            self._ready.notify()

    def get(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        with self._ready:
            while not self._closed:
                now = time.time()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = left if not self._heap else min(left, self._heap[0][0] - now)
                self._ready.wait(max(wait, 0.001))
            return None

    def __len__(self) -> int:
        with self._ready:
            return len(self._heap)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


# Moves due ids from the delayed set to the ready list in one step, so two workers never both move one.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('LPUSH', KEYS[2], id)
end
return #due
"""


class RedisQueue:
    """Ready ids in the list ``<prefix>:ready`` (LPUSH / BRPOP), delayed ones in the sorted set
    ``<prefix>:delayed`` scored by due time (Unix seconds)."""

    def __init__(self, url: str, *, prefix: str = "patron:notify") -> None:
        try:
            import redis
        except ImportError:
            raise Invalid("PATRON_QUEUE_URL needs the redis package: pip install 'patron[queue]'.",
                          field="queue_url") from None
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise Invalid("PATRON_QUEUE_URL must be a redis:// URL.", field="queue_url")
        self.redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.ready_key = f"{prefix}:ready"
        self.delayed_key = f"{prefix}:delayed"
        self._promote = self.redis.register_script(_PROMOTE)

    def put(self, message_id: int, *, due: float | None = None) -> None:
        if due is None or due <= time.time():
            self.redis.lpush(self.ready_key, message_id)
        else:
            # a message waiting twice keeps the earlier time
            self.redis.zadd(self.delayed_key, {str(message_id): due}, lt=True)

    def promote_due(self, *, limit: int = 500) -> int:
        return int(self._promote(keys=[self.delayed_key, self.ready_key], args=[time.time(), limit]))

    def get(self, timeout: float) -> int | None:
        self.promote_due()
        item = self.redis.brpop([self.ready_key], timeout=max(timeout, 0.01))
        if item is None:
            return None
        return int(item[1])

    def sizes(self) -> tuple[int, int]:
        """``(ready, delayed)``."""
        return int(self.redis.llen(self.ready_key)), int(self.redis.zcard(self.delayed_key))

    def close(self) -> None:
        self.redis.close()


def queue_for(settings: Settings) -> Queue:
    """The queue ``PATRON_QUEUE_URL`` names, or a new in-process one."""
    if settings.queue_url:
        return RedisQueue(settings.queue_url, prefix=settings.queue_prefix)
    return InProcessQueue()


_active: Queue | None = None
_active_lock = threading.Lock()


def use_queue(queue: Queue | None) -> None:
    """Make ``queue`` the one new messages are announced on (None: announce nowhere; workers sweep)."""
    global _active
    with _active_lock:
        _active = queue


def active_queue() -> Queue | None:
    return _active
