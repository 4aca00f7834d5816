"""Fixtures of the MQTT ingest suites: the broker, keyed devices, workers and a publisher.

The MQTT tests run against a real Mosquitto broker (``PATRON_TEST_MQTT_URL``, default
``mqtt://127.0.0.1:1883``; ``scripts/services.sh`` starts it). Without one they are skipped with the
reason, except under ``CI=true``, where they fail. Each test uses its own topic prefix
(``patron-test-<hex>``), so runs never see each other's messages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope
from patron.core.security import new_secret, secret_hash
from patron.customers.models import Customer
from patron.devices.models import DEVICE_KEY_PREFIX, INGEST_KEY_PREFIX, Device, IngestKey
from patron.events.mqtt import MqttIngest, device_topic, parse_url
from patron.events.runtime import EventRuntime

BROKER_URL = os.environ.get("PATRON_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: the broker keeps a test worker's session this long after the test (not a day)
TEST_SESSION_EXPIRY = 120


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(available: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) when a server the test needs is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def broker_url() -> str:
    address = parse_url(BROKER_URL)
    require_server(_reachable(address.host, address.port), f"MQTT broker not reachable at {BROKER_URL}")
    return BROKER_URL


@pytest.fixture
def topic_prefix() -> str:
    return f"patron-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mqtt_settings(settings, broker_url, topic_prefix) -> Settings:
    """The test's settings with the broker and a topic prefix of its own."""
    return settings.model_copy(
        update={"mqtt_url": broker_url, "mqtt_topic_prefix": topic_prefix, "mqtt_shared_group": None}
    )


@dataclass
class KeyedDevice:
    id: int
    org_id: int
    slug: str
    customer_id: int | None
    key: str

    def topic(self, prefix: str) -> str:
        return device_topic(prefix, self.slug, self.id)


@pytest.fixture
def make_keyed_device(db) -> Callable[..., KeyedDevice]:
    """``make_keyed_device(tenant, bound=True)`` — an active device (bound to a new customer) and its key."""

    def make(tenant, *, bound: bool = True, status: str = "active") -> KeyedDevice:
        key = new_secret(DEVICE_KEY_PREFIX)
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
            customer_id = None
            if bound:
                customer = Customer(
                    org_id=tenant.org_id,
                    first_name="Dev",
                    last_name="Owner",
                    email=f"{uuid.uuid4().hex[:8]}@example.com",
                )
                session.add(customer)
                session.flush()
                customer_id = customer.id
            device = Device(
                org_id=tenant.org_id,
                type="vehicle",
                name="Taxi",
                customer_id=customer_id,
                status=status,
                key_prefix=key[:8],
                key_hash=secret_hash(key),
            )
            session.add(device)
            session.flush()
            return KeyedDevice(device.id, tenant.org_id, tenant.slug, customer_id, key)

    return make


@pytest.fixture
def make_ingest_key(db) -> Callable[..., str]:
    """``make_ingest_key(tenant)`` — an organisation ingest key (the secret)."""

    def make(tenant) -> str:
        key = new_secret(INGEST_KEY_PREFIX)
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
            session.add(
                IngestKey(org_id=tenant.org_id, name="gateway", prefix=key[:8], key_hash=secret_hash(key))
            )
        return key

    return make


@dataclass
class Worker:
    runtime: EventRuntime
    ingest: MqttIngest

    def count(self, sql: str = "SELECT count(*) FROM events", params=()) -> int:
        return self.runtime.store.query(sql, params)[0][0]

    def dead_letters(self) -> list[dict]:
        rows = self.runtime.store.query(
            "SELECT org_id, topic, device_id, item_index, reason, payload FROM dead_letters ORDER BY id"
        )
        names = ("org_id", "topic", "device_id", "item_index", "reason", "payload")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def stop(self) -> None:
        self.ingest.stop()
        self.runtime.stop()


@pytest.fixture
def start_mqtt_worker(mqtt_settings, db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """``start_mqtt_worker(**settings_changes)`` — an event runtime (no processors) and an MQTT ingest
    worker on it, subscribed; stopped after the test. Each call gets a store of its own."""
    started: list[Worker] = []

    def start(*, client_id: str | None = None, data_dir: Path | None = None, **changes) -> Worker:
        data_dir = data_dir or tmp_path / f"worker-{len(started)}"
        settings = mqtt_settings.model_copy(update={"data_dir": data_dir, **changes})
        runtime = EventRuntime(settings, db, processors=())
        runtime.start()
        ingest = MqttIngest(runtime, client_id=client_id, session_expiry=TEST_SESSION_EXPIRY)
        ingest.start()
        worker = Worker(runtime, ingest)
        started.append(worker)
        assert ingest.wait_subscribed(10), "the worker did not subscribe"
        return worker

    yield start
    for worker in started:
        worker.stop()


class Publisher:
    """A QoS 1 publisher that waits for the broker's PUBACK of each message."""

    def __init__(self, url: str) -> None:
        address = parse_url(url)
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"patron-test-pub-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker_url) -> Iterator[Publisher]:
    pub = Publisher(broker_url)
    yield pub
    pub.close()


def wait_until(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "the condition") -> None:
    """Poll until ``condition()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class PrivateBroker:
    """A Mosquitto process of the test's own, configured to queue without limit for absent sessions."""

    url: str
    process: subprocess.Popen
    binary: str
    config: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def restart(self) -> None:
        """Stop it and start it again on the same port (it keeps no sessions: persistence is off)."""
        self.stop()
        self.process = _start_mosquitto(self.binary, self.config, self.port)


def _start_mosquitto(binary: str, config: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not _reachable("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"mosquitto did not start: {process.stderr.read().decode(errors='replace')[:500]}")
        time.sleep(0.05)
    return process


@pytest.fixture
def private_broker(tmp_path) -> Iterator[PrivateBroker]:
    """A Mosquitto started for this test on a free port. The shared broker keeps only 1,000 queued
    messages for a session whose worker is away (its default ``max_queued_messages``) and drops the
    rest; a durability test must measure Patron, not that limit."""
    binary = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    require_server(binary is not None, "the mosquitto binary is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n"
    )
    broker = PrivateBroker(f"mqtt://127.0.0.1:{port}", _start_mosquitto(binary, config, port), binary, config)
    yield broker
    broker.stop()
