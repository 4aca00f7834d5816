"""Sending simulated traffic: the pacing loop and the ways out (HTTP, MQTT, the in-process runtime,
NDJSON on stdout).

Simulated time starts at the first event's period and runs ``speed`` times faster than real time,
but never ahead of the real clock: once it has caught up it runs with it. So ``--history 3 --speed
3600`` replays three days in about 72 seconds, then goes on live; event times are never in the future.
``rate`` caps the live events sent per second (a replay of the past runs at ``speed`` alone); when the
fleet has more to send, sending falls behind and catches up later (nothing is dropped).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Protocol

import httpx
import orjson

from patron.simulate.fleet import SimEvent

INGEST_PATH = "/ingest/v1/events"
#: events this close to the real time are live: the rate cap applies to them
LIVE_SLACK = timedelta(minutes=1)


class SimulationError(Exception):
    """Sending failed for a reason the user must fix (unreachable server, refused key)."""


class Transport(Protocol):
    def send(self, events: list[SimEvent]) -> tuple[int, int]:
        """Send events; returns ``(accepted, rejected)``."""
        ...

    def close(self) -> None: ...


class HttpTransport:
    """``POST /ingest/v1/events`` with an organisation ingest key. A batch that fails on the network is
    sent again (its ids make the resend harmless)."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
        attempts: int = 3,
    ) -> None:
        self.url = url.rstrip("/")
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout)
        self.owns_client = client is None
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.attempts = attempts

    def send(self, events: list[SimEvent]) -> tuple[int, int]:
        body = orjson.dumps([event.as_ingest() for event in events])
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.post(INGEST_PATH, content=body, headers=self.headers)
            except httpx.TransportError as exc:
                if attempt == self.attempts:
                    raise SimulationError(f"Cannot reach {self.url}: {exc}") from None
                time.sleep(attempt)
                continue
            if response.status_code == 401:
                raise SimulationError(
                    "The server refused the ingest key (401): check --key or PATRON_INGEST_KEY."
                )
            if response.status_code >= 500 and attempt < self.attempts:
                time.sleep(attempt)
                continue
            if response.status_code != 200:
                raise SimulationError(f"The server answered {response.status_code}: {response.text[:300]}")
            answer = response.json()
            return int(answer["accepted"]), len(answer["rejected"])
        raise SimulationError(f"Cannot send to {self.url}.")  # not reached

    def close(self) -> None:
        if self.owns_client:
            self.client.close()


class MqttTransport:
    """Publishes ``{"key", "events"}`` with QoS 1 on each device's topic
    ``<prefix>/<org slug>/devices/<id>/events`` and waits for the broker's acknowledgements."""

    def __init__(
        self, mqtt_url: str, key: str, *, topic_prefix: str, org_slug: str, timeout: float = 30.0
    ) -> None:
        import paho.mqtt.client as paho

        from patron.events.mqtt import parse_url

        address = parse_url(mqtt_url)
        self.key = key
        self.prefix = topic_prefix
        self.slug = org_slug
        self.timeout = timeout
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        if address.username:
            self.client.username_pw_set(address.username, address.password)
        if address.tls:
            self.client.tls_set()
        self.client.max_inflight_messages_set(1000)
        try:
            self.client.connect(address.host, address.port, keepalive=30)
        except OSError as exc:
            raise SimulationError(
                f"Cannot reach the MQTT broker at {address.host}:{address.port}: {exc}"
            ) from None
        self.client.loop_start()

    def topic(self, device_id: int) -> str:
        return f"{self.prefix}/{self.slug}/devices/{device_id}/events"

    def send(self, events: list[SimEvent]) -> tuple[int, int]:
        by_device: dict[int, list[dict]] = defaultdict(list)
        for event in events:
            by_device[event.device_id].append(event.as_ingest())
        pending = [
            self.client.publish(
                self.topic(device_id), orjson.dumps({"key": self.key, "events": items}), qos=1
            )
            for device_id, items in by_device.items()
        ]
        deadline = time.monotonic() + self.timeout
        for info in pending:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise SimulationError("The MQTT broker did not acknowledge the messages in time.")
        return len(events), 0

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class RuntimeTransport:
    """Straight into an :class:`~patron.events.runtime.EventRuntime` of this process (the live demo)."""

    def __init__(self, runtime, credential, *, source: str = "simulator") -> None:
        self.runtime = runtime
        self.credential = credential
        self.source = source

    def send(self, events: list[SimEvent]) -> tuple[int, int]:
        result = self.runtime.ingest(
            [event.as_ingest() for event in events], credential=self.credential, source=self.source
        )
        return result.accepted, len(result.rejected)

    def close(self) -> None:
        return None


class StdoutTransport:
    """NDJSON, one ingest-ready event a line (to look at the traffic or pipe it elsewhere)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, events: list[SimEvent]) -> tuple[int, int]:
        self.stream.write("".join(orjson.dumps(event.as_ingest()).decode() + "\n" for event in events))
        self.stream.flush()
        return len(events), 0

    def close(self) -> None:
        return None


@dataclass
class SimulationStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    simulated_until: datetime | None = None
    by_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def run_simulation(
    events: Iterable[SimEvent],
    transport: Transport,
    *,
    start: datetime,
    speed: float = 1.0,
    rate: float | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
    batch_size: int = 1000,
    flush_seconds: float = 0.5,
    report: Callable[[SimulationStats], None] | None = None,
    report_seconds: float = 5.0,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SimulationStats:
    """Send ``events`` (time-ordered, possibly endless) through ``transport``, paced as the module
    says, until they run out, ``duration`` seconds have passed, or ``stop`` is set.

    ``speed`` 0 means as fast as possible (up to the real clock).
    """
    stats = SimulationStats()
    began = time.monotonic()
    last_report = began
    batch: list[SimEvent] = []
    last_flush = began

    def simulated_now() -> datetime:
        now = wall()
        if speed <= 0:
            return now
        return min(now, start + timedelta(seconds=(time.monotonic() - began) * speed))

    def finished() -> bool:
        return (stop is not None and stop.is_set()) or (
            duration is not None and time.monotonic() - began >= duration
        )

    live_since: float | None = None
    live_sent = 0

    def flush() -> None:
        nonlocal batch, last_flush, last_report, live_since, live_sent
        if not batch:
            return
        if rate and batch[-1].ts >= wall() - LIVE_SLACK:
            if live_since is None:
                live_since = time.monotonic()
            live_sent += len(batch)
            due = live_since + live_sent / rate
            while time.monotonic() < due and not finished():
                time.sleep(min(0.25, due - time.monotonic()))
        accepted, rejected = transport.send(batch)
        stats.sent += len(batch)
        stats.accepted += accepted
        stats.rejected += rejected
        stats.batches += 1
        stats.simulated_until = batch[-1].ts
        for event in batch:
            stats.by_type[event.type] += 1
        batch = []
        last_flush = time.monotonic()
        stats.seconds = last_flush - began
        if report is not None and last_flush - last_report >= report_seconds:
            last_report = last_flush
            report(stats)

    iterator: Iterator[SimEvent] = iter(events)
    for event in iterator:
        while event.ts > simulated_now():
            flush()
            if finished():
                break
            ahead = (event.ts - simulated_now()).total_seconds() / (speed if speed > 0 else 1.0)
            time.sleep(min(0.25, max(0.01, ahead)))
        if finished():
            break
        batch.append(event)
        if len(batch) >= batch_size or time.monotonic() - last_flush >= flush_seconds:
            flush()
    if not (stop is not None and stop.is_set()):
        flush()
    stats.seconds = time.monotonic() - began
    return stats
