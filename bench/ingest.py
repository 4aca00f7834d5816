"""Event ingest speed: HTTP batches, MQTT messages and rule latency — each beside its floor.

Run ``.venv/bin/python bench/ingest.py`` (``--quick`` for a short run, ``--help`` for the knobs). It
prints figures and never asserts a time. See bench/README.md for how to read them.

(a) HTTP: a real ``uvicorn`` server (``patron.app:create_app``, SQLite records, the DuckDB store in a
    temporary directory) takes ``--http-events`` events in batches of ``--batch`` with ids from
    client threads; beside it, the same rows as Arrow tables appended by ``INSERT INTO`` a bare
    DuckDB table of the same schema, one transaction per batch (the floor).
(b) MQTT: ``--mqtt-messages`` messages (one event each, the device key inside) published with QoS 1
    from a separate process through Mosquitto to one ``MqttIngest`` worker, until all are durable;
    beside it, the broker's pass-through to a bare paho subscriber (QoS 1) in the same run.
(c) Rules: 100 rules loaded, events published at ``--rule-rate`` per second over MQTT; the time
    from publishing an event to its firing being recorded, p50 and p99.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import orjson
import paho.mqtt.client as paho
import pyarrow as pa
from paho.mqtt import __version__ as paho_version
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import make_engine, make_sessionmaker, session_scope
from patron.core.migrate import upgrade
from patron.core.security import new_secret, secret_hash
from patron.customers.models import Customer
from patron.devices.models import DEVICE_KEY_PREFIX, INGEST_KEY_PREFIX, Device, IngestKey
from patron.events.mqtt import MqttIngest, device_topic, parse_url
from patron.events.mqtt_client import make_client
from patron.events.runtime import EventRuntime
from patron.events.store import ARROW_SCHEMA, SCHEMA

HERE = Path(__file__).resolve()
#: the event types of the rule-latency traffic (rules are spread over them)
EVENT_TYPES = (
    "telemetry",
    "trip.start",
    "trip.end",
    "fault",
    "heartbeat",
    "door",
    "meter.reading",
    "activity",
    "beacon",
    "battery",
)


# --- set-up ------------------------------------------------------------------------------------------
@dataclass
class Fleet:
    records_url: str
    org_id: int
    slug: str
    devices: list[tuple[int, int, str]]  # (device id, customer id, device key)
    ingest_key: str


def make_fleet(directory: Path, devices: int) -> Fleet:
    """A migrated SQLite records database: one organisation, ``devices`` bound, keyed devices, an
    ingest key."""
    url = f"sqlite:///{directory / 'records.db'}"
    engine = make_engine(url)
    upgrade(engine)
    fleet_devices = []
    ingest_key = new_secret(INGEST_KEY_PREFIX)
    with session_scope(make_sessionmaker(engine)) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        org = accounts_service.create_organisation(session, name="Bench Rides")
        customers = [
            Customer(org_id=org.id, first_name="Rider", last_name=str(n), email=f"rider{n}@bench.example")
            for n in range(devices)
        ]
        session.add_all(customers)
        session.flush()
        rows = []
        for n, customer in enumerate(customers):
            key = new_secret(DEVICE_KEY_PREFIX)
            rows.append(
                (
                    Device(
                        org_id=org.id,
                        type="vehicle",
                        name=f"Taxi {n}",
                        customer_id=customer.id,
                        key_prefix=key[:8],
                        key_hash=secret_hash(key),
                    ),
                    key,
                )
            )
        session.add_all([device for device, _ in rows])
        session.add(
            IngestKey(org_id=org.id, name="bench", prefix=ingest_key[:8], key_hash=secret_hash(ingest_key))
        )
        session.flush()
        fleet_devices = [(device.id, device.customer_id, key) for device, key in rows]
        fleet = Fleet(url, org.id, org.slug, fleet_devices, ingest_key)
    engine.dispose()
    return fleet


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}" if seconds > 0 else "           -"


# --- (a) HTTP ------------------------------------------------------------------------------------------
def http_events(batch_number: int, size: int, fleet: Fleet, now: float) -> list[dict]:
    devices = fleet.devices
    events = []
    for i in range(size):
        n = batch_number * size + i
        device_id = devices[n % len(devices)][0]
        events.append(
            {
                "id": f"h{n}",
                "device_id": device_id,
                "type": "telemetry",
                "ts": now - (size - i) * 0.001,
                "props": {
                    "speed": n % 130,
                    "lat": 52.0 + (n % 1000) / 10_000,
                    "lon": 13.0 + (n % 777) / 10_000,
                    "fuel": 0.5,
                },
            }
        )
    return events


def floor_table(events: list[dict], fleet: Fleet, seq_start: int, received_us: int) -> pa.Table:
    """The rows the store writes for these events, as an Arrow table of the store's schema."""
    customer_of = {device_id: customer_id for device_id, customer_id, _ in fleet.devices}
    return pa.table(
        {
            "seq": pa.array(range(seq_start, seq_start + len(events)), pa.int64()),
            "org_id": pa.array([fleet.org_id] * len(events), pa.int32()),
            "id": pa.array([e["id"] for e in events], pa.string()),
            "device_id": pa.array([e["device_id"] for e in events], pa.int32()),
            "customer_id": pa.array([customer_of[e["device_id"]] for e in events], pa.int32()),
            "type": pa.array([e["type"] for e in events], pa.string()),
            "ts": pa.array([int(e["ts"] * 1_000_000) for e in events], pa.timestamp("us")),
            "received_at": pa.array([received_us] * len(events), pa.timestamp("us")),
            "source": pa.array(["http"] * len(events), pa.string()),
            "lat": pa.array([e["props"]["lat"] for e in events], pa.float64()),
            "lon": pa.array([e["props"]["lon"] for e in events], pa.float64()),
            "props": pa.array([orjson.dumps(e["props"]).decode() for e in events], pa.string()),
        },
        schema=ARROW_SCHEMA,
    )


def bench_http(
    directory: Path, fleet: Fleet, *, total: int, size: int, clients: int, processing: bool
) -> None:
    print(f"\n(a) HTTP batch ingest: {total:,} events in batches of {size:,} from {clients} client threads")
    now = time.time()
    batches = [http_events(n, size, fleet, now) for n in range(total // size + 1)]  # +1: warm-up
    bodies = [orjson.dumps(batch) for batch in batches]

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
    env.update(
        PATRON_DATA_DIR=str(directory / "http"),
        PATRON_DATABASE_URL=fleet.records_url,
        PATRON_SCHEDULER="false",
        PATRON_EVENTS_PROCESSING="true" if processing else "false",
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "patron.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {fleet.ingest_key}", "Content-Type": "application/json"}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        with httpx.Client(timeout=120) as client:  # warm-up: caches, first DuckDB append
            answer = client.post(f"{base}/ingest/v1/events", content=bodies[0], headers=headers).json()
            assert answer["accepted"] == size and not answer["rejected"], answer
        work = list(range(1, len(bodies)))
        lock = threading.Lock()
        errors: list[str] = []

        def send() -> None:
            with httpx.Client(timeout=120) as client:
                while True:
                    with lock:
                        if not work:
                            return
                        number = work.pop()
                    response = client.post(
                        f"{base}/ingest/v1/events", content=bodies[number], headers=headers
                    )
                    if response.status_code != 200 or response.json()["accepted"] != size:
                        errors.append(response.text[:200])

        threads = [threading.Thread(target=send) for _ in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        app_seconds = time.perf_counter() - started
        if errors:
            print("  errors:", errors[:3])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(120)
    stored = duckdb.connect(str(directory / "http" / "events.duckdb"), read_only=True)
    count = stored.execute("SELECT count(*) FROM events").fetchone()[0]
    stored.close()
    sent = (len(bodies) - 1) * size

    # the floor: the same rows, appended as Arrow tables to a bare table of the same schema
    received_us = int(time.time() * 1_000_000)
    tables = [floor_table(batch, fleet, 1 + n * size, received_us) for n, batch in enumerate(batches[1:])]
    raw = duckdb.connect(str(directory / "floor.duckdb"))
    raw.execute(SCHEMA[0])
    started = time.perf_counter()
    for table in tables:
        raw.execute("BEGIN TRANSACTION")
        raw.register("incoming", table)
        raw.execute("INSERT INTO events SELECT * FROM incoming")
        raw.unregister("incoming")
        raw.execute("COMMIT")
    raw_seconds = time.perf_counter() - started
    raw.close()

    print(f"  {'':44} {'events/s':>12}  {'seconds':>8}")
    print(
        f"  {'POST /ingest/v1/events (uvicorn, durable)':44} {rate(sent, app_seconds)}  {app_seconds:8.2f}"
        f"   ({count:,} rows stored incl. warm-up; processing {'on' if processing else 'off'})"
    )
    print(
        f"  {'raw DuckDB append of the same rows (floor)':44} {rate(sent, raw_seconds)}  {raw_seconds:8.2f}"
    )
    print(
        f"  app / floor: {100 * raw_seconds / app_seconds:.0f} % of the raw rate"
        "   (targets: >= 100,000 events/s and >= 30 %)"
    )


# --- (b) MQTT ----------------------------------------------------------------------------------------------
def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def publish_packet(topic: bytes, mid: int, payload: bytes) -> bytes:
    """An MQTT 3.1.1 PUBLISH with QoS 1."""
    variable = _mqtt_string(topic) + struct.pack("!H", mid)
    return b"\x32" + _remaining_length(len(variable) + len(payload)) + variable + payload


class RawPublisher:
    """A QoS 1 publisher that writes prepared PUBLISH packets in bulk and counts the broker's PUBACKs
    (paho's publisher is slower than the worker under test, so it would measure itself)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        variable = _mqtt_string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60)
        variable += _mqtt_string(f"bench-pub-{uuid.uuid4().hex[:8]}".encode())
        self.sock.sendall(b"\x10" + _remaining_length(len(variable)) + variable)
        answer = self.sock.recv(4)
        if answer[:2] != b"\x20\x02" or answer[3] != 0:
            raise SystemExit(f"the broker refused the publisher: {answer!r}")
        self.acked = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        pending = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            pending += data
            whole = len(pending) // 4  # every answer is a 4-byte PUBACK
            if whole:
                pending = pending[whole * 4 :]
                with self._changed:
                    self.acked += whole
                    self._changed.notify_all()

    def send(self, packets: list[bytes], *, window: int = 20_000, chunk: int = 500) -> None:
        for start in range(0, len(packets), chunk):
            with self._changed:
                while start - self.acked > window:
                    self._changed.wait(0.1)
            self.sock.sendall(b"".join(packets[start : start + chunk]))

    def wait_acked(self, count: int, timeout: float = 300) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.acked >= count, timeout)


def publisher_child(spec_path: str) -> None:
    """Runs in its own process: prepare the messages, say ``ready``, publish on ``go``, say ``done``."""
    spec = orjson.loads(Path(spec_path).read_bytes())
    host, port = spec["host"], spec["port"]
    devices = spec["devices"]  # [[topic, key], ...]
    count, per_second, id_prefix = spec["messages"], spec.get("rate"), spec["id_prefix"]
    publisher = RawPublisher(host, port)
    topics = [topic.encode() for topic, _ in devices]
    types = spec["types"]

    def packet(n: int, sent: float) -> bytes:
        topic_index = n % len(devices)
        payload = orjson.dumps(
            {
                "key": devices[topic_index][1],
                "id": f"{id_prefix}{n}",
                "type": types[n % len(types)],
                "props": {"speed": spec.get("speed_of", {}).get(str(n), n % 100), "fuel": 0.5, "sent": sent},
            }
        )
        return publish_packet(topics[topic_index], n % 65535 + 1, payload)

    prepared = None if per_second else [packet(n, 0.0) for n in range(count)]
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    if prepared is not None:
        publisher.send(prepared)
    else:  # paced: build each tick's packets as it is sent, stamping the send time
        tick = 0.01
        per_tick = max(1, round(per_second * tick))
        begin = time.monotonic()
        for start in range(0, count, per_tick):
            stamp = time.time()
            publisher.send([packet(n, stamp) for n in range(start, min(count, start + per_tick))])
            ahead = begin + (start + per_tick) / per_second - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    publisher.wait_acked(count)
    print(f"done {publisher.acked} {time.perf_counter() - started:.3f}", flush=True)


class Publisher:
    """The publisher child process, seen from the bench."""

    def __init__(
        self,
        directory: Path,
        url: str,
        devices: list[tuple[str, str]],
        messages: int,
        *,
        per_second: float | None = None,
        speed_of: dict[int, int] | None = None,
        types: list[str] | None = None,
    ) -> None:
        address = parse_url(url)
        spec = directory / f"publisher-{uuid.uuid4().hex[:6]}.json"
        self.id_prefix = f"m{uuid.uuid4().hex[:6]}-"
        spec.write_bytes(
            orjson.dumps(
                {
                    "host": address.host,
                    "port": address.port,
                    "devices": devices,
                    "messages": messages,
                    "rate": per_second,
                    "id_prefix": self.id_prefix,
                    "speed_of": {str(k): v for k, v in (speed_of or {}).items()},
                    "types": types or ["telemetry"],
                }
            )
        )
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), "--publisher-child", str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the publisher did not start")

    def go(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def wait(self) -> tuple[int, float]:
        line = self.process.stdout.readline().split()
        self.process.wait(60)
        return int(line[1]), float(line[2])


@dataclass
class Broker:
    url: str
    process: subprocess.Popen | None
    note: str


def start_broker(directory: Path, url: str | None) -> Broker:
    """A private Mosquitto that queues without limit (the packaged configuration drops QoS 1
    messages beyond 1,000 queued for a slow subscriber), unless ``--mqtt-url`` names one."""
    if url:
        return Broker(url, None, f"broker {url}")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        return Broker(
            "mqtt://127.0.0.1:1883", None, "the shared broker at 127.0.0.1:1883 (no mosquitto binary)"
        )
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n"
    )
    process = subprocess.Popen([binary, "-c", str(config)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("mosquitto did not start") from None
            time.sleep(0.05)
    return Broker(
        f"mqtt://127.0.0.1:{port}", process, f"a private mosquitto on port {port} (unlimited queue)"
    )


def freeze_heap() -> None:
    """What ``patron ingest`` does once started: keep the long-lived heap out of the cyclic GC."""
    gc.collect()
    gc.freeze()


def wait_for(condition, timeout: float, poll: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def bare_subscriber(
    directory: Path, broker: Broker, fleet: Fleet, prefix: str, messages: int, *, fast: bool = False
) -> float:
    """Seconds until a bare subscriber (QoS 1) has every message: plain paho (acknowledging each
    message itself), or the worker's own client (acknowledging every 500) without any ingest."""
    address = parse_url(broker.url)
    received = [0]
    client_id = f"bench-bare-{uuid.uuid4().hex[:6]}"
    if fast:
        mids: list[int] = []

        def deliver(topic, payload, mid, qos) -> None:
            received[0] += 1
            mids.append(mid)
            if len(mids) >= 500:
                client.ack_many(mids)
                mids.clear()

        client = make_client(client_id, deliver)
    else:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)

        def on_message(client, userdata, message) -> None:
            received[0] += 1

        client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    properties = None
    if fast:
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = 65535
    client.connect(address.host, address.port, properties=properties)
    client.subscribe(f"{prefix}/+/devices/+/events", qos=1)
    client.loop_start()
    subscribed.wait(10)
    devices = [
        (device_topic(prefix, fleet.slug, device_id), key) for device_id, _, key in fleet.devices[:100]
    ]
    publisher = Publisher(directory, broker.url, devices, messages)
    started = time.perf_counter()
    publisher.go()
    complete = wait_for(lambda: received[0] >= messages, 600)
    seconds = time.perf_counter() - started
    publisher.wait()
    client.disconnect()
    client.loop_stop()
    if not complete:
        print(f"  (the bare subscriber got only {received[0]:,} of {messages:,})")
    return seconds


def bench_mqtt(directory: Path, fleet: Fleet, broker: Broker, *, messages: int) -> None:
    print(f"\n(b) MQTT ingest: {messages:,} messages of one event, QoS 1, through {broker.note}")
    bare_seconds = bare_subscriber(directory, broker, fleet, f"bench-bare-{uuid.uuid4().hex[:6]}", messages)
    fast_seconds = bare_subscriber(
        directory, broker, fleet, f"bench-fast-{uuid.uuid4().hex[:6]}", messages, fast=True
    )

    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        data_dir=directory / "mqtt",
        database_url=fleet.records_url,
        mqtt_url=broker.url,
        mqtt_topic_prefix=prefix,
        mqtt_shared_group=None,
        scheduler=False,
        auto_migrate=False,
    )
    engine = make_engine(fleet.records_url)
    runtime = EventRuntime(settings, make_sessionmaker(engine), processing=False)
    runtime.start()
    worker = MqttIngest(runtime, session_expiry=300)
    worker.start()
    worker.wait_subscribed(10)
    freeze_heap()
    devices = [
        (device_topic(prefix, fleet.slug, device_id), key) for device_id, _, key in fleet.devices[:100]
    ]
    warm = Publisher(directory, broker.url, devices, 2000)  # warm-up: caches, first appends
    warm.go()
    warm.wait()
    wait_for(lambda: worker.stats.handled >= 2000, 120)
    before = worker.stats.handled
    publisher = Publisher(directory, broker.url, devices, messages)
    started = time.perf_counter()
    publisher.go()
    complete = wait_for(lambda: worker.stats.handled - before >= messages, 600)
    worker_seconds = time.perf_counter() - started
    acked, publish_seconds = publisher.wait()
    wait_for(lambda: worker.stats.acknowledged >= worker.stats.received, 60)
    stats = worker.stats
    worker.stop()
    stored = runtime.store.query("SELECT count(*) FROM events")[0][0]
    runtime.stop()
    engine.dispose()
    if not complete:
        print(f"  (the worker handled only {stats.handled - before:,} of {messages:,})")
    print(f"  {'':48} {'msg/s':>12}  {'seconds':>8}")
    print(
        f"  {'publisher -> broker -> MqttIngest (durable)':48} {rate(messages, worker_seconds)}  "
        f"{worker_seconds:8.2f}   ({stored:,} events stored, {stats.batches:,} batches, "
        f"{stats.dead_letters} dead letters)"
    )
    print(
        f"  {'publisher -> broker -> bare paho subscriber':48} {rate(messages, bare_seconds)}  {bare_seconds:8.2f}"
    )
    print(
        f"  {'publisher -> broker -> worker client, no ingest':48} {rate(messages, fast_seconds)}  {fast_seconds:8.2f}"
    )
    print(
        f"  {'publisher alone (PUBACKs from the broker)':48} {rate(acked, publish_seconds)}  {publish_seconds:8.2f}"
    )
    print(
        f"  worker / bare paho: {100 * bare_seconds / worker_seconds:.0f} %; worker / its client alone: "
        f"{100 * fast_seconds / worker_seconds:.0f} %   (target: >= 30,000 msg/s)"
    )


# --- (c) rule latency -------------------------------------------------------------------------------------------------
def bench_rules(
    directory: Path,
    fleet: Fleet,
    broker: Broker,
    *,
    per_second: float,
    seconds: float,
    rules: int,
    rules_only: bool = False,
    one_type: bool = False,
) -> None:
    from sqlalchemy import select

    try:
        from patron.rules import service as rules_service
        from patron.rules.models import RuleFiring
    except ImportError as exc:  # the rules engine is not part of this checkout
        print(f"\n(c) Rule latency: skipped ({exc})")
        return

    messages = int(per_second * seconds)
    processors = "the rules engine alone" if rules_only else "enrichment and the rules engine"
    spread = "all on one event type" if one_type else f"over {len(EVENT_TYPES)} event types"
    print(
        f"\n(c) Rule latency: {rules} rules {spread}, {messages:,} events at {per_second:,.0f}/s over MQTT; "
        f"processing: {processors}"
    )
    engine = make_engine(fleet.records_url)
    factory = make_sessionmaker(engine)
    types = EVENT_TYPES[:1] if one_type else EVENT_TYPES
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=fleet.org_id, label="bench")
        for n in range(rules):
            # rules spread over the event types; per type, the first fires on the marked events (speed
            # 1000), the others compare two fields on every event of their type and never fire
            event_type = types[n % len(types)]
            first = n < len(types)
            conditions = (
                [{"field": "props.speed", "op": "gt", "value": 999}]
                if first
                else [
                    {"field": "props.speed", "op": "gt", "value": 200 + n},
                    {"field": "props.fuel", "op": "lt", "value": 0.1},
                ]
            )
            rules_service.create_rule(
                session,
                org_id=fleet.org_id,
                name=f"rule {n}",
                definition={
                    "when": {"event_types": [event_type]},
                    "conditions": conditions,
                    "cooldown_minutes": 0,
                    "actions": [{"type": "emit_trigger", "name": "speeding"}],
                },
            )
    prefix = f"bench-rules-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        data_dir=directory / "rules",
        database_url=fleet.records_url,
        mqtt_url=broker.url,
        mqtt_topic_prefix=prefix,
        mqtt_shared_group=None,
        scheduler=False,
        auto_migrate=False,
    )
    runtime = EventRuntime(
        settings,
        factory,
        processing=True,
        processors=("patron.rules.engine:RuleProcessor",) if rules_only else None,
    )
    runtime.start()
    worker = MqttIngest(runtime, session_expiry=300)
    worker.start()
    worker.wait_subscribed(10)
    freeze_heap()
    devices = [(device_topic(prefix, fleet.slug, device_id), key) for device_id, _, key in fleet.devices]
    warm = Publisher(directory, broker.url, devices, 5000, per_second=per_second, types=list(types))
    warm.go()  # warm-up: every device and key looked up, rules compiled, first appends made
    warm.wait()
    wait_for(lambda: worker.stats.handled >= 5000, 120, poll=0.1)
    runtime.wait_processed(timeout=120)
    marked = {n: 1000 for n in range(0, messages, 100)}  # one event in 100 fires (50/s at 5,000/s)
    publisher = Publisher(
        directory, broker.url, devices, messages, per_second=per_second, speed_of=marked, types=list(types)
    )
    publisher.go()
    acked, publish_seconds = publisher.wait()
    wait_for(lambda: worker.stats.handled >= messages + 5000, 120, poll=0.1)
    runtime.wait_processed(timeout=120)
    worker.stop()
    ingest_ms = [
        row[0]
        for row in runtime.store.query(
            "SELECT epoch_ms(received_at) - CAST(props->>'sent' AS DOUBLE) * 1000 FROM events "
            "WHERE starts_with(id, ?)",
            [publisher.id_prefix],
        )
    ]
    runtime.stop()
    with factory() as session:
        firings = session.execute(select(RuleFiring.fired_at, RuleFiring.latency_ms, RuleFiring.event)).all()
    engine.dispose()
    end_to_end, engine_ms = [], []
    for fired_at, latency_ms, event in firings:
        if not str((event or {}).get("id", "")).startswith(publisher.id_prefix):
            continue  # a firing of the warm-up
        sent = (event or {}).get("props", {}).get("sent")
        if sent:
            fired = fired_at if fired_at.tzinfo else fired_at.replace(tzinfo=UTC)
            end_to_end.append((fired - datetime.fromtimestamp(sent, UTC)).total_seconds() * 1000)
        if latency_ms is not None:
            engine_ms.append(latency_ms)
    print(
        f"  published {acked:,} at {acked / publish_seconds:,.0f}/s; {len(firings):,} firings "
        f"(expected {len(marked):,})"
    )
    print(f"  {'':44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    if end_to_end:
        print(
            f"  {'publish -> firing recorded':44} {pct(end_to_end, 50):8.1f} {pct(end_to_end, 99):8.1f} "
            f"{max(end_to_end):8.1f}"
        )
    if ingest_ms:
        print(
            f"  {'publish -> taken into an ingest batch (all)':44} {pct(ingest_ms, 50):8.1f} {pct(ingest_ms, 99):8.1f} "
            f"{max(ingest_ms):8.1f}"
        )
    if engine_ms:
        print(
            f"  {'received by ingest -> firing recorded':44} {pct(engine_ms, 50):8.1f} {pct(engine_ms, 99):8.1f} "
            f"{max(engine_ms):8.1f}"
        )
    print("  (target: p99 < 250 ms from publish)")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- main ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a check that everything runs")
    parser.add_argument(
        "--http-events", type=int, default=500_000, help="events sent over HTTP (default 500,000)"
    )
    parser.add_argument("--batch", type=int, default=10_000, help="events per HTTP request (default 10,000)")
    parser.add_argument("--clients", type=int, default=2, help="HTTP client threads (default 2)")
    parser.add_argument(
        "--processing",
        action="store_true",
        help="run enrichment and rules in the HTTP server too (default: store only)",
    )
    parser.add_argument("--mqtt-messages", type=int, default=200_000, help="MQTT messages (default 200,000)")
    parser.add_argument("--mqtt-url", help="use this broker instead of a private mosquitto")
    parser.add_argument(
        "--rule-rate", type=float, default=5000, help="events per second for (c) (default 5,000)"
    )
    parser.add_argument(
        "--rule-seconds", type=float, default=20, help="length of (c) in seconds (default 20)"
    )
    parser.add_argument("--rules", type=int, default=100, help="rules loaded for (c) (default 100)")
    parser.add_argument(
        "--one-type",
        action="store_true",
        help="in (c), put every rule and event on one event type (the worst case)",
    )
    parser.add_argument(
        "--rules-only", action="store_true", help="in (c), run the rules engine without live enrichment"
    )
    parser.add_argument(
        "--only", choices=("http", "mqtt", "rules"), action="append", help="run only these parts (repeatable)"
    )
    parser.add_argument("--devices", type=int, default=1000, help="devices in the fleet (default 1,000)")
    parser.add_argument("--publisher-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publisher_child:
        publisher_child(args.publisher_child)
        return 0
    if args.quick:
        args.http_events, args.batch, args.mqtt_messages, args.rule_seconds = 40_000, 5_000, 20_000, 4
    parts = set(args.only or ("http", "mqtt", "rules"))
    print(
        f"bench/ingest.py on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"DuckDB {duckdb.__version__}, paho-mqtt {paho_version}"
    )
    with tempfile.TemporaryDirectory(prefix="patron-bench-ingest-") as tmp:
        directory = Path(tmp)
        fleet = make_fleet(directory, args.devices)
        if "http" in parts:
            bench_http(
                directory,
                fleet,
                total=args.http_events,
                size=args.batch,
                clients=args.clients,
                processing=args.processing,
            )
        if parts & {"mqtt", "rules"}:
            broker = start_broker(directory, args.mqtt_url)
            try:
                if "mqtt" in parts:
                    bench_mqtt(directory, fleet, broker, messages=args.mqtt_messages)
                if "rules" in parts:
                    bench_rules(
                        directory,
                        fleet,
                        broker,
                        per_second=args.rule_rate,
                        seconds=args.rule_seconds,
                        rules=args.rules,
                        rules_only=args.rules_only,
                        one_type=args.one_type,
                    )
            finally:
                gc.unfreeze()
                if broker.process is not None:
                    broker.process.terminate()
                    broker.process.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
