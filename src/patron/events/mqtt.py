"""MQTT ingest: take device events from a broker, store them durably, then acknowledge them.

A worker subscribes with QoS 1 to ``<prefix>/+/devices/+/events`` (or, with
``PATRON_MQTT_SHARED_GROUP`` set, to ``$share/<group>/<prefix>/+/devices/+/events``, so that several
workers split the messages between them). The topic names the organisation (its slug) and the
device: ``<prefix>/<org slug>/devices/<device id>/events``. The payload is

* one event object, with the sender's key in it: ``{"key": "pdk_…", "type": "telemetry", ...}``;
* a JSON array of events, each with its ``key``;
* or an envelope ``{"key": "pdk_…", "events": [...]}``.

The key is the device's own key (``pdk_…``: it must be the key of the topic's device) or an ingest
key of the organisation (``pik_…``: the topic's device is then each event's device). The events
themselves are checked as in HTTP ingest (:mod:`patron.events.ingest`).

The MQTT network thread only puts each message in a buffer. A writer thread takes what has arrived
(up to :data:`BATCH_MAX` messages, or whatever came within :data:`LINGER_SECONDS`), stores all the
good events in one transaction, keeps every refused message or event as a dead letter with its
reason and topic, and only **then** sends the PUBACKs of the whole batch. A worker killed before that
has acknowledged nothing of the batch, and the broker delivers those messages again; events carry
ids and an id already stored is not stored twice, so a redelivered message is stored once.

Sessions: the worker connects with clean start off and a session expiry of
:data:`SESSION_EXPIRY_SECONDS`, so the broker keeps its subscription and queues QoS 1 messages while
it is down, and delivers them (with the unacknowledged ones) when it comes back **with the same
client id**. That id is ``PATRON_MQTT_CLIENT_ID``, or by default one derived from the host name and
the event store's path: a worker restarted on the same machine with the same store resumes its own
session, and two workers never share an id (a store belongs to one process). A random id per
process would leave the messages queued for a killed worker's session stranded until it expires.

The broker limits what it queues for a session: Mosquitto keeps ``max_queued_messages`` (1000 by
default) and drops the rest while a worker is away, so raise it for ingest workers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from patron.core.errors import Invalid
from patron.events.ingest import INT32_MAX, Credential
from patron.events.mqtt_client import BrokerAddress, make_client, parse_url
from patron.events.runtime import EventRuntime, IngestGroup, error_reason
from patron.events.store import MAX_DEAD_LETTER_PAYLOAD, DeadLetter

__all__ = ["BrokerAddress", "MqttIngest", "device_topic", "parse_topic", "parse_url", "topic_filter"]

log = logging.getLogger("patron.events.mqtt")

SOURCE = "mqtt"
#: how long the broker keeps a worker's session (subscription and queued messages) while it is away
SESSION_EXPIRY_SECONDS = 24 * 3600
#: how many unacknowledged messages the broker may have in flight to one worker (the MQTT maximum)
RECEIVE_MAXIMUM = 65535
#: most messages stored in one transaction
BATCH_MAX = 5000
#: how long the writer lets a batch gather when few messages are waiting
LINGER_SECONDS = 0.01
#: a message may be this many times ``ingest_max_event_bytes`` (it may hold many events)
MESSAGE_SIZE_FACTOR = 16
#: back-off between attempts while the stores fail
RETRY_MIN_SECONDS = 0.25
RETRY_MAX_SECONDS = 10.0
#: after a stop is asked for, how long the writer keeps storing what is buffered
DRAIN_SECONDS = 5.0
KEEPALIVE_SECONDS = 30

ENVELOPE_FIELDS = frozenset({"key", "events"})
_SECRET_RE = re.compile(r"\b(pdk|pik)_([A-Za-z0-9_-]{4})[A-Za-z0-9_-]*")


class Message(NamedTuple):
    """One received PUBLISH, as the network thread hands it to the writer."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # which connection it came on: a PUBACK goes back only on that one


@dataclass
class MqttStats:
    """Counters since start (read them from any thread; they only grow)."""

    received: int = 0
    handled: int = 0  # stored or kept as dead letters (durably)
    acknowledged: int = 0
    events_accepted: int = 0
    events_stored: int = 0
    dead_letters: int = 0
    batches: int = 0
    failures: int = 0
    subscriptions: int = 0  # confirmed by the broker: one per (re)connection


def topic_filter(prefix: str, shared_group: str | None) -> str:
    """What a worker subscribes to: every device's events topic under ``prefix``."""
    topic = f"{prefix}/+/devices/+/events"
    return f"$share/{shared_group}/{topic}" if shared_group else topic


def device_topic(prefix: str, org_slug: str, device_id: int) -> str:
    """The topic a device publishes its events on."""
    return f"{prefix}/{org_slug}/devices/{device_id}/events"


def parse_topic(topic: str, prefix: str) -> tuple[str, int] | str:
    """``(org slug, device id)`` of a device events topic, or the reason it is not one."""
    head = prefix + "/"
    parts = topic[len(head) :].split("/") if topic.startswith(head) else []
    if len(parts) != 4 or parts[1] != "devices" or parts[3] != "events" or not parts[0]:
        return f"topic: expected {prefix}/<org>/devices/<device id>/events"
    device = parts[2]
    if not device.isascii() or not device.isdigit() or not 0 < int(device) <= INT32_MAX:
        return "topic: the device id must be a positive integer"
    return parts[0], int(device)


def default_client_id(store_path: str) -> str:
    """Stable per machine and event store, so a restarted worker resumes its own session."""
    digest = hashlib.sha256(f"{socket.gethostname()}\0{store_path}".encode()).hexdigest()[:12]
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:24]
    return f"patron-ingest-{host}-{digest}"


def redact(text: str) -> str:
    """Hide the secret part of any key in a payload kept as a dead letter."""
    return _SECRET_RE.sub(r"\1_\2…", text)


def _payload_text(payload: bytes) -> str:
    return redact(payload[:MAX_DEAD_LETTER_PAYLOAD].decode("utf-8", "replace"))


class _Batch:
    """Sorts the messages of one batch into credential groups and dead letters. Topics and keys are
    looked up once per batch."""

    def __init__(self, ingest: MqttIngest) -> None:
        self.runtime = ingest.runtime
        self.prefix = ingest.prefix
        self.max_bytes = ingest.max_message_bytes
        self.max_events = ingest.runtime.settings.ingest_max_events
        self.groups: list[IngestGroup] = []
        self.letters: list[DeadLetter] = []
        self._topics: dict[str, tuple[int | None, int | None, str | None]] = {}
        self._auth: dict[tuple[Any, int, int], tuple[IngestGroup | None, str | None]] = {}
        #: (message, org id, device id, key, items, their positions, a bad key refuses the whole message)
        self._pending: list[tuple[Message, int, int, Any, list[Any], list[int] | None, bool]] = []
        self._credentials: dict[str, Credential | None] = {}

    def letter(
        self,
        message: Message,
        reason: str,
        *,
        org_id=None,
        device_id=None,
        index=None,
        payload: str | None = None,
    ) -> None:
        self.letters.append(
            DeadLetter(
                reason=reason,
                source=SOURCE,
                payload=_payload_text(message.payload) if payload is None else payload,
                org_id=org_id,
                topic=message.topic,
                device_id=device_id,
                item_index=index,
            )
        )

    def where(self, topic: str) -> tuple[int | None, int | None, str | None]:
        """``(org id, device id, reason)`` of a topic; the reason is None for a good one."""
        found = self._topics.get(topic)
        if found is None:
            parsed = parse_topic(topic, self.prefix)
            if isinstance(parsed, str):
                found = (None, None, parsed)
            else:
                slug, device_id = parsed
                org_id = self.runtime.directory.org_id_for_slug(slug)
                reason = None if org_id is not None else f"topic: no organisation {slug!r}"
                found = (org_id, device_id, reason)
            self._topics[topic] = found
        return found

    def group(self, key: Any, org_id: int, device_id: int) -> tuple[IngestGroup | None, str | None]:
        """The group of events sent with ``key`` about the topic's device, or the reason the key may
        not send them (keys are looked up in :meth:`finish`, all at once)."""
        cache_key = (key if isinstance(key, str) else repr(key), org_id, device_id)
        found = self._auth.get(cache_key)
        if found is None:
            credential, reason = self._authorise(key, org_id, device_id)
            if credential is None:
                found = (None, reason)
            else:
                group = IngestGroup([], credential, origins=[], device_id=device_id)
                self.groups.append(group)
                found = (group, None)
            self._auth[cache_key] = found
        return found

    def _authorise(self, key: Any, org_id: int, device_id: int) -> tuple[Credential | None, str | None]:
        if not isinstance(key, str) or not key:
            return None, "key: must be a device key (pdk_…) or an ingest key (pik_…)"
        credential = (
            self._credentials.get(key) if key in self._credentials else self.runtime.authenticate(key)
        )
        if credential is None:
            return None, "key: unknown or revoked key"
        if credential.org_id != org_id:
            return None, "key: belongs to another organisation than the topic's"
        if credential.device_id is not None and credential.device_id != device_id:
            return None, f"key: not the key of device {device_id}"
        return credential, None

    def add(self, message: Message) -> None:
        """Parse one message; its events wait for :meth:`finish` (which knows the keys)."""
        org_id, device_id, reason = self.where(message.topic)
        if reason is not None:
            self.letter(message, reason, device_id=device_id)
            return
        payload = message.payload
        if len(payload) > self.max_bytes:
            self.letter(
                message, f"payload: larger than {self.max_bytes} bytes", org_id=org_id, device_id=device_id
            )
            return
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self.letter(message, f"payload: not valid JSON ({exc})", org_id=org_id, device_id=device_id)
            return
        if type(value) is dict and "events" not in value:  # the common case: one event, its key inside
            if "key" not in value:
                self.letter(
                    message,
                    "key: missing; send the device key (or an ingest key) in the event",
                    org_id=org_id,
                    device_id=device_id,
                )
                return
            self._pending.append((message, org_id, device_id, value.pop("key"), [value], None, True))
            return
        self._add_many(message, value, org_id, device_id)

    def _add_many(self, message: Message, value: Any, org_id: int, device_id: int) -> None:
        where = {"org_id": org_id, "device_id": device_id}
        if isinstance(value, dict):  # an envelope: one key for all its events
            unknown = set(value) - ENVELOPE_FIELDS
            if unknown:
                self.letter(
                    message,
                    f"{sorted(unknown)[0]}: unknown field of an envelope (it has only key and events)",
                    **where,
                )
                return
            items, message_key = value["events"], value.get("key")
            if not isinstance(items, list):
                self.letter(message, "events: must be a JSON array of events", **where)
                return
            if message_key is None:
                self.letter(
                    message, "key: missing; send the device key (or an ingest key) in the envelope", **where
                )
                return
        elif isinstance(value, list):  # an array: each event has its key
            items, message_key = value, None
        else:
            self.letter(
                message,
                'payload: must be an event object, an array of events, or {"key": ..., "events": [...]}',
                **where,
            )
            return
        if len(items) > self.max_events:
            self.letter(
                message,
                f"events: at most {self.max_events} events per message; this one has {len(items)}",
                **where,
            )
            return
        kept: list[Any] = []
        positions: list[int] = []
        for index, item in enumerate(items):
            key = message_key
            if isinstance(item, dict) and "key" in item:
                own_key = item.pop("key")
                if key is None:
                    key = own_key
                elif own_key != key:
                    self.letter(
                        message,
                        "key: differs from the envelope's key",
                        index=index,
                        payload=_item_text(item),
                        **where,
                    )
                    continue
            if key is None:
                self.letter(
                    message,
                    "key: missing; send the device key (or an ingest key) in each event",
                    index=index,
                    payload=_item_text(item),
                    **where,
                )
                continue
            if message_key is None:
                self._pending.append((message, org_id, device_id, key, [item], [index], False))
            else:
                kept.append(item)
                positions.append(index)
        if message_key is not None:
            self._pending.append((message, org_id, device_id, message_key, kept, positions, True))

    def finish(self) -> None:
        """Look up every key of the batch at once, then sort the events into their groups. A bad key
        of a single event or an envelope refuses the whole message; in an array, that event."""
        keys = {entry[3] for entry in self._pending if isinstance(entry[3], str)}
        if keys:
            self._credentials = self.runtime.directory.credentials(keys)
        for message, org_id, device_id, key, items, positions, whole in self._pending:
            group, reason = self.group(key, org_id, device_id)
            if group is None:
                if whole:
                    self.letter(message, reason, org_id=org_id, device_id=device_id)
                else:
                    self.letter(
                        message,
                        reason,
                        org_id=org_id,
                        device_id=device_id,
                        index=positions[0],
                        payload=_item_text(items[0]),
                    )
                continue
            ingest_key = group.credential.device_id is None
            for position, item in zip(positions or (None,), items, strict=True):
                if ingest_key and not _topic_device(item, device_id):
                    self.letter(
                        message,
                        "device_id: differs from the topic's device",
                        org_id=org_id,
                        device_id=device_id,
                        index=position,
                        payload=_item_text(item),
                    )
                    continue
                group.items.append(item)
                group.origins.append((message.topic, position))
        self._pending = []


def _topic_device(item: Any, device_id: int) -> bool:
    """With an ingest key the topic names the device: fill it in, or check the event's own."""
    if type(item) is not dict:
        return True  # the event checks refuse it
    named = item.get("device_id")
    if named is None:
        item["device_id"] = device_id
        return True
    return named == device_id


def _item_text(item: Any) -> str:
    try:
        return redact(orjson.dumps(item).decode())[:MAX_DEAD_LETTER_PAYLOAD]
    except (TypeError, orjson.JSONEncodeError):
        return repr(item)[:MAX_DEAD_LETTER_PAYLOAD]


class MqttIngest:
    """Subscribes to the device events topics and ingests what arrives (see the module's notes).

    ``start()`` returns at once (the connection is made, and remade after a loss, in the
    background); ``stop()`` stores what is buffered, acknowledges it and disconnects, keeping the
    session for the next start.
    """

    def __init__(
        self,
        runtime: EventRuntime,
        *,
        client_id: str | None = None,
        session_expiry: int = SESSION_EXPIRY_SECONDS,
        batch_max: int = BATCH_MAX,
        linger: float = LINGER_SECONDS,
    ) -> None:
        settings = runtime.settings
        if not settings.mqtt_url:
            raise Invalid("Set PATRON_MQTT_URL to the broker to take device events from.", field="mqtt_url")
        self.runtime = runtime
        self.address = parse_url(settings.mqtt_url)
        self.prefix = settings.mqtt_topic_prefix.strip("/")
        self.subscription = topic_filter(self.prefix, settings.mqtt_shared_group or None)
        self.client_id = client_id or settings.mqtt_client_id or default_client_id(runtime.store.path)
        self.session_expiry = session_expiry
        self.batch_max = batch_max
        self.linger = linger
        self.max_message_bytes = settings.ingest_max_event_bytes * MESSAGE_SIZE_FACTOR
        self.stats = MqttStats()
        self._buffer: deque[Message] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._client: paho.Client | None = None
        self._writer: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._client is not None:
            return
        self._stopping.clear()
        client = make_client(self.client_id, self._deliver)
        if self.address.username is not None:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set()
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=KEEPALIVE_SECONDS,
            clean_start=False,
            properties=properties,
        )
        self._client = client
        self._writer = threading.Thread(target=self._run, name="patron-mqtt-writer", daemon=True)
        self._writer.start()
        client.loop_start()
        log.info(
            "MQTT ingest: connecting to %s:%d as %s, subscribing to %s",
            self.address.host,
            self.address.port,
            self.client_id,
            self.subscription,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Store and acknowledge what is buffered, then disconnect (the broker keeps the session)."""
        client = self._client
        if client is None:
            return
        self._stopping.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join(timeout)
            self._writer = None
        client.disconnect()
        client.loop_stop()
        self._client = None
        self._subscribed.clear()

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Block until the broker has confirmed the subscription (True) or the time is up (False)."""
        return self._subscribed.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    @property
    def pending(self) -> int:
        """Messages received and not yet handled by the writer."""
        return len(self._buffer)

    # --- network thread -------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT ingest: the broker refused the connection: %s", reason_code)
            return
        log.info("MQTT ingest: connected (session %s)", "resumed" if flags.session_present else "new")
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.error(
                "MQTT ingest: the broker refused the subscription to %s: %s", self.subscription, failed[0]
            )
            return
        self.stats.subscriptions += 1
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        # Acknowledgements of messages from the lost connection must not go out on the next one
        # (a packet id is only meaningful on its own connection): the broker redelivers those.
        with self._ack_lock:
            self._generation += 1
        self._subscribed.clear()
        if not self._stopping.is_set():
            log.warning("MQTT ingest: disconnected (%s); reconnecting", reason_code)

    def _deliver(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self._buffer.append(Message(topic, payload, mid, qos, self._generation))
        self.stats.received += 1
        if not self._wake.is_set():
            self._wake.set()

    # --- writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        retry: list[Message] = []
        delay = RETRY_MIN_SECONDS
        drain_until: float | None = None
        while True:
            if retry:
                self._stopping.wait(delay)
            else:
                self._wait_for_messages()
            if self._stopping.is_set() and drain_until is None:
                drain_until = time.monotonic() + DRAIN_SECONDS
            generation = self._generation
            batch = [message for message in retry if message.generation == generation]
            buffer = self._buffer
            for _ in range(min(self.batch_max - len(batch), len(buffer))):
                batch.append(buffer.popleft())
            retry = self._write(batch) if batch else []
            delay = min(delay * 2, RETRY_MAX_SECONDS) if retry else RETRY_MIN_SECONDS
            if drain_until is not None and (retry or not buffer or time.monotonic() > drain_until):
                return

    def _wait_for_messages(self) -> None:
        while not self._buffer and not self._stopping.is_set():
            self._wake.clear()
            if self._buffer:
                break
            self._wake.wait(0.5)
        if len(self._buffer) < self.batch_max and not self._stopping.is_set():
            time.sleep(self.linger)

    def _write(self, batch: list[Message]) -> list[Message]:
        """Store the batch and acknowledge it. Returns the messages that could not be stored (to try
        again: nothing of those is acknowledged)."""
        try:
            self._store(batch)
            return []
        except Exception:
            self.stats.failures += 1
            log.exception("MQTT ingest: storing a batch of %d messages failed; trying one by one", len(batch))
        failed: list[tuple[Message, Exception]] = []
        for message in batch:
            try:
                self._store([message])
            except Exception as exc:
                failed.append((message, exc))
        if not failed:
            return []
        if len(failed) == len(batch):  # nothing goes through: the stores are down, not the messages
            return [message for message, _ in failed]
        # the others were stored: these messages themselves are the trouble; keep them as dead letters
        left: list[Message] = []
        for message, exc in failed:
            letter = DeadLetter(
                reason=f"could not be ingested: {error_reason(exc)}"[:1000],
                source=SOURCE,
                payload=_payload_text(message.payload),
                topic=message.topic,
            )
            try:
                self.runtime.ingest_many([], source=SOURCE, dead_letters=[letter])
            except Exception:
                left.append(message)
                continue
            self.stats.dead_letters += 1
            self.stats.handled += 1
            self._acknowledge([message])
        return left

    def _store(self, batch: list[Message]) -> None:
        sorter = _Batch(self)
        for message in batch:
            sorter.add(message)
        sorter.finish()
        devices = {group.credential.device_id for group in sorter.groups} - {None}
        if devices:  # one query for the devices whose cache entries ran out, not one each
            self.runtime.directory.devices(devices)
        result = self.runtime.ingest_many(sorter.groups, source=SOURCE, dead_letters=sorter.letters)
        stats = self.stats
        stats.batches += 1
        stats.handled += len(batch)
        stats.events_accepted += result.accepted
        stats.events_stored += result.stored
        stats.dead_letters += len(sorter.letters) + len(result.rejected)
        self._acknowledge(batch)

    def _acknowledge(self, batch: list[Message]) -> None:
        client = self._client
        if client is None:
            return
        with self._ack_lock:
            generation = self._generation
            mids = [message.mid for message in batch if message.qos and message.generation == generation]
            client.ack_many(mids)
        self.stats.acknowledged += len(mids)
