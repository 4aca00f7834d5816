"""Crash safety: kill the ingesting process with SIGKILL in the middle of a sustained load, start it
again, and check that every event whose delivery was acknowledged is stored exactly once.

* MQTT: ``patron ingest`` takes a stream published with QoS 1. The publisher counts an event as
  acknowledged when the broker's PUBACK for its message arrives (the broker then owns it); the
  worker acknowledges to the broker only after the durable write, so whatever it had not stored
  when it died is delivered again to its persistent session after the restart (same client id).
* HTTP: ``patron serve`` takes batches; a batch is acknowledged by its 200 answer. The batch in
  flight at the kill gets no answer and is sent again after the restart, as a client would.

Both use a broker and processes of their own (a private Mosquitto without the 1,000-message queue
limit of the shared one's default configuration), a records database file and a data directory.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import orjson
import paho.mqtt.client as paho
import pytest

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.db import make_engine, make_sessionmaker, session_scope
from patron.core.migrate import upgrade
from patron.core.security import new_secret, secret_hash
from patron.customers.models import Customer
from patron.devices.models import DEVICE_KEY_PREFIX, Device
from patron.events.mqtt import device_topic, parse_url

pytestmark = pytest.mark.mqtt

PATRON = str(Path(sys.executable).with_name("patron"))


@dataclass
class Records:
    url: str
    slug: str
    device_id: int
    key: str


def make_records(path: Path) -> Records:
    """A migrated SQLite records database with one organisation and one keyed, bound device."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    key = new_secret(DEVICE_KEY_PREFIX)
    with session_scope(make_sessionmaker(engine)) as session:
        session.info["actor"] = Actor(org_id=None, label="test")
        org = accounts_service.create_organisation(session, name=f"Crash {uuid.uuid4().hex[:6]}")
        customer = Customer(org_id=org.id, first_name="Kim", last_name="Driver", email="kim@example.com")
        session.add(customer)
        session.flush()
        device = Device(
            org_id=org.id,
            type="vehicle",
            name="Taxi 1",
            customer_id=customer.id,
            key_prefix=key[:8],
            key_hash=secret_hash(key),
        )
        session.add(device)
        session.flush()
        records = Records(url, org.slug, device.id, key)
    engine.dispose()
    return records


class Process:
    """A ``patron`` subprocess whose output lines are collected in the background."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [PATRON, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in iter(self.popen.stdout.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    def wait_for(self, condition, *, timeout: float = 60.0, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.popen.poll() is not None:
                pytest.fail(
                    f"the process exited ({self.popen.returncode}) while waiting for {what}:\n"
                    + "\n".join(self.lines[-30:])
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.05)

    def has_line(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def last_seq(self) -> int:
        for line in reversed(list(self.lines)):
            match = re.search(r"store at seq (\d+)", line)
            if match:
                return int(match.group(1))
        return 0

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(30)
        self._reader.join(10)

    def terminate(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(60)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
        self._reader.join(10)
        return code


def stored_ids(store: Path) -> list[str]:
    connection = duckdb.connect(str(store), read_only=True)
    try:
        return [row[0] for row in connection.execute("SELECT id FROM events").fetchall()]
    finally:
        connection.close()


def base_env(tmp_path: Path, records: Records) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PATRON_")}
    env.update(
        PATRON_DATA_DIR=str(tmp_path / "data"),
        PATRON_DATABASE_URL=records.url,
        PATRON_SCHEDULER="false",
        PYTHONUNBUFFERED="1",
    )
    return env


# --- MQTT ---------------------------------------------------------------------------------------------
class StreamPublisher:
    """Publishes envelopes of ``per_message`` events with QoS 1 at a steady pace in a thread and
    remembers, per message, its event ids and whether the broker acknowledged it."""

    def __init__(
        self, url: str, topic: str, key: str, *, messages: int, per_message: int, rate: float
    ) -> None:
        address = parse_url(url)
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"crash-pub-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.topic, self.key = topic, key
        self.messages, self.per_message, self.rate = messages, per_message, rate
        self.sent: list[tuple[paho.MQTTMessageInfo, list[str]]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        for number in range(self.messages):
            ids = [f"m{number}-e{i}" for i in range(self.per_message)]
            events = [
                {"id": event_id, "type": "telemetry", "props": {"n": number, "speed": i}}
                for i, event_id in enumerate(ids)
            ]
            info = self.client.publish(self.topic, orjson.dumps({"key": self.key, "events": events}), qos=1)
            self.sent.append((info, ids))
            ahead = (number + 1) / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def acknowledged_ids(self) -> list[str]:
        return [event_id for info, ids in self.sent if info.is_published() for event_id in ids]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_sigkill_during_mqtt_ingest_loses_no_acknowledged_event_and_stores_none_twice(
    private_broker, tmp_path
):
    records = make_records(tmp_path / "records.db")
    prefix = f"patron-crash-{uuid.uuid4().hex[:8]}"
    env = base_env(tmp_path, records) | {
        "PATRON_MQTT_URL": private_broker.url,
        "PATRON_MQTT_TOPIC_PREFIX": prefix,
        "PATRON_MQTT_SHARED_GROUP": "",
        "PATRON_MQTT_CLIENT_ID": f"patron-crash-worker-{uuid.uuid4().hex[:6]}",
    }
    args = ["ingest", "--no-processing", "--status-interval", "0.1", "--log-level", "warning"]
    worker = Process(args, env)
    worker.wait_for(lambda: worker.has_line("subscribed"), what="the worker to subscribe")

    messages, per_message = 8000, 5
    publisher = StreamPublisher(
        private_broker.url,
        device_topic(prefix, records.slug, records.device_id),
        records.key,
        messages=messages,
        per_message=per_message,
        rate=2000,
    )
    publisher.thread.start()
    # kill it in the middle: some of the stream stored, much of it still to come
    worker.wait_for(lambda: worker.last_seq() >= 2000, what="the first events stored")
    stored_before_kill = worker.last_seq()
    worker.kill()
    assert len(publisher.sent) < messages, "the stream ended before the kill; publish more or faster"

    worker = Process(args, env)
    worker.wait_for(lambda: worker.has_line("subscribed"), what="the restarted worker to subscribe")
    publisher.thread.join(120)
    for info, _ in publisher.sent:
        info.wait_for_publish(30)
    publisher.close()
    acknowledged = publisher.acknowledged_ids()
    assert len(acknowledged) == messages * per_message  # the broker took every message
    worker.wait_for(
        lambda: worker.last_seq() >= len(acknowledged),
        timeout=120,
        what=f"all {len(acknowledged)} events stored",
    )
    assert worker.terminate() == 0
    assert worker.has_line("stopped")

    ids = stored_ids(tmp_path / "data" / "events.duckdb")
    assert len(ids) == len(set(ids)), "an event was stored twice"
    missing = set(acknowledged) - set(ids)
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:5]}"
    assert len(ids) == len(acknowledged)
    assert 0 < stored_before_kill < len(acknowledged)


# --- HTTP ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _batch(number: int, size: int) -> list[dict]:
    return [
        {"id": f"b{number}-e{i}", "type": "telemetry", "props": {"batch": number, "i": i}}
        for i in range(size)
    ]


def test_sigkill_during_http_ingest_keeps_every_answered_batch_once(tmp_path):
    records = make_records(tmp_path / "records.db")
    port = _free_port()
    env = base_env(tmp_path, records)
    args = ["serve", "--port", str(port), "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {records.key}"}

    def start() -> Process:
        server = Process(args, env)

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        server.wait_for(ready, what="the server to answer")
        return server

    server = start()
    size = 2000
    answered: list[int] = []
    unanswered: list[int] = []
    stop = threading.Event()

    def send() -> None:
        number = 0
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                try:
                    response = client.post(
                        f"{base}/ingest/v1/events",
                        content=orjson.dumps(_batch(number, size)),
                        headers=headers | {"Content-Type": "application/json"},
                    )
                except httpx.HTTPError:
                    unanswered.append(number)
                    return
                assert response.status_code == 200, response.text
                assert response.json() == {"accepted": size, "rejected": []}
                answered.append(number)
                number += 1

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    server.wait_for(lambda: len(answered) >= 5, what="five answered batches")
    server.kill()
    sender.join(60)
    stop.set()
    assert unanswered, "no batch was in flight at the kill"

    server = start()
    with httpx.Client(timeout=60) as client:
        for number in unanswered + [max(answered + unanswered) + 1]:  # the resend, then one more
            response = client.post(
                f"{base}/ingest/v1/events",
                content=orjson.dumps(_batch(number, size)),
                headers=headers | {"Content-Type": "application/json"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == size
            answered.append(number)
    # uvicorn shuts down cleanly on SIGTERM, then raises the signal again to exit by it
    assert server.terminate() in (0, -signal.SIGTERM)

    ids = stored_ids(tmp_path / "data" / "events.duckdb")
    assert len(ids) == len(set(ids)), "an event was stored twice"
    expected = {event["id"] for number in answered for event in _batch(number, size)}
    assert expected <= set(ids), f"{len(expected - set(ids))} events of answered batches were lost"
    assert set(ids) == expected
