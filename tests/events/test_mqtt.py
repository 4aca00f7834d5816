"""MQTT ingest against the real broker: storing, acknowledging, duplicates, dead letters, shared
subscriptions, sessions that survive a restart, and a store that fails for a while."""

from __future__ import annotations

import uuid

import orjson
import pytest
from fastapi.testclient import TestClient

from patron.app import create_app
from patron.core.errors import Invalid
from patron.events import mqtt_client
from patron.events.mqtt import MqttIngest, device_topic, parse_topic, parse_url, redact, topic_filter
from patron.events.mqtt_client import FastClient, PlainClient
from patron.events.runtime import EventRuntime

from .conftest import wait_until

pytestmark = pytest.mark.mqtt


def _event(key: str | None = None, **fields) -> dict:
    event = {"id": uuid.uuid4().hex, "type": "telemetry", "props": {"speed": 42}} | fields
    if key is not None:
        event["key"] = key
    return event


def _sentinel(worker, publisher, device, prefix) -> None:
    """Publish one more good event and wait until it is stored and acknowledged: everything published
    before it on the same connection has been handled (stored or kept as a dead letter) by then."""
    event = _event(device.key, type="sentinel")
    publisher.publish(device.topic(prefix), orjson.dumps(event))
    stats = worker.ingest.stats
    wait_until(
        lambda: (
            worker.count("SELECT count(*) FROM events WHERE id = ?", [event["id"]]) == 1
            and stats.handled == stats.received
        ),
        what="the sentinel event",
    )


# --- storing -------------------------------------------------------------------------------------
def test_published_events_are_stored_once_and_acknowledged(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    topic = device.topic(topic_prefix)
    single = _event(device.key, props={"lat": 52.52, "lon": 13.40, "speed": 31})
    array = [_event(device.key), _event(device.key, type="trip.end", ts="2024-05-01T10:00:00Z")]
    envelope = {"key": device.key, "events": [_event(), _event(type="fault", props={"code": "E42"})]}
    for payload in (single, array, envelope):
        publisher.publish(topic, orjson.dumps(payload))

    wait_until(lambda: worker.count() == 5, what="five stored events")
    rows = worker.runtime.store.query(
        "SELECT id, org_id, device_id, customer_id, type, source, lat, lon FROM events ORDER BY seq"
    )
    assert [row[0] for row in rows] == [
        single["id"],
        *(e["id"] for e in array),
        *(e["id"] for e in envelope["events"]),
    ]
    assert {row[1:4] for row in rows} == {(tenant.org_id, device.id, device.customer_id)}
    assert {row[5] for row in rows} == {"mqtt"}
    assert rows[0][6:] == (52.52, 13.40)
    (props,) = worker.runtime.store.query("SELECT props FROM events WHERE id = ?", [single["id"]])[0]
    assert "key" not in orjson.loads(props)  # the key is not kept with the event
    assert worker.dead_letters() == []
    stats = worker.ingest.stats
    wait_until(lambda: stats.acknowledged == 3, what="three acknowledgements")
    assert stats.received == 3 and stats.events_stored == 5


def test_duplicate_ids_are_stored_once(tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    event = _event(device.key)
    topic = device.topic(topic_prefix)
    publisher.publish(topic, orjson.dumps(event))
    publisher.publish(topic, orjson.dumps(event))  # resent, as after a lost PUBACK
    publisher.publish(topic, orjson.dumps([event, event]))  # twice in one message
    _sentinel(worker, publisher, device, topic_prefix)
    assert worker.count("SELECT count(*) FROM events WHERE id = ?", [event["id"]]) == 1
    assert worker.count() == 2
    assert worker.dead_letters() == []


def test_ingest_key_takes_the_device_from_the_topic(
    tenant, make_keyed_device, make_ingest_key, start_mqtt_worker, publisher, topic_prefix
):
    device, other = make_keyed_device(tenant), make_keyed_device(tenant)
    key = make_ingest_key(tenant)
    worker = start_mqtt_worker()
    good = _event(key)
    named = _event(key, device_id=device.id)
    wrong = _event(key, device_id=other.id)
    publisher.publish(device.topic(topic_prefix), orjson.dumps([good, named, wrong]))
    _sentinel(worker, publisher, device, topic_prefix)
    rows = worker.runtime.store.query(
        "SELECT id, device_id, customer_id FROM events WHERE type = 'telemetry'"
    )
    assert sorted(rows) == sorted(
        [(good["id"], device.id, device.customer_id), (named["id"], device.id, device.customer_id)]
    )
    (letter,) = worker.dead_letters()
    assert letter["reason"] == "device_id: differs from the topic's device"
    assert letter["item_index"] == 2 and letter["topic"] == device.topic(topic_prefix)
    assert key not in letter["payload"]


def test_events_reach_the_processors(tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    seen: list = []
    worker.runtime.listeners.append(seen.extend)
    event = _event(device.key)
    publisher.publish(device.topic(topic_prefix), orjson.dumps(event))
    wait_until(lambda: any(e.id == event["id"] for e in seen), what="the processors to see the event")
    (processed,) = [e for e in seen if e.id == event["id"]]
    assert processed.device_id == device.id and processed.source == "mqtt"


def test_patron_serve_ingests_mqtt_when_the_url_is_set(
    tenant, make_keyed_device, mqtt_settings, publisher, topic_prefix
):
    device = make_keyed_device(tenant)
    app = create_app(
        mqtt_settings.model_copy(update={"mqtt_client_id": f"patron-test-{uuid.uuid4().hex[:8]}"})
    )
    with TestClient(app):
        event = _event(device.key)
        # the subscription is made in the background: publish until the worker has it
        store = app.state.events.store

        def stored() -> bool:
            if not store.query("SELECT count(*) FROM events")[0][0]:
                publisher.publish(device.topic(topic_prefix), orjson.dumps(event))
                return False
            return True

        wait_until(stored, what="the app's MQTT worker to store the event")
        assert store.query("SELECT id, device_id FROM events") == [(event["id"], device.id)]


# --- what is refused -----------------------------------------------------------------------------
BAD_MESSAGES = {
    # name: (topic maker, payload maker, expected reason start, org of the dead letter)
    "bad JSON": ("own", lambda d, o, k: b'{"type": "telemetry", "key": ', "payload: not valid JSON", "own"),
    "not an event": ("own", lambda d, o, k: b'"hello"', "payload: must be an event object", "own"),
    "no key": ("own", lambda d, o, k: orjson.dumps(_event()), "key: missing", "own"),
    "unknown key": (
        "own",
        lambda d, o, k: orjson.dumps(_event("pdk_" + "x" * 43)),
        "key: unknown or revoked",
        "own",
    ),
    "key not a string": (
        "own",
        lambda d, o, k: orjson.dumps(_event(12345)),
        "key: must be a device key",
        "own",
    ),
    "key of another device": (
        "own",
        lambda d, o, k: orjson.dumps(_event(k.key)),
        "key: not the key of device",
        "own",
    ),
    "key of another org's device": (
        "own",
        lambda d, o, k: orjson.dumps(_event(o.key)),
        "key: belongs to another organisation",
        "own",
    ),
    "own key, other org's topic": (
        "other",
        lambda d, o, k: orjson.dumps(_event(d.key)),
        "key: belongs to another organisation",
        "other",
    ),
    "unknown device": (
        "unknown device",
        lambda d, o, k: orjson.dumps(_event(d.key)),
        "key: not the key of device",
        "own",
    ),
    "unknown org slug": (
        "unknown org",
        lambda d, o, k: orjson.dumps(_event(d.key)),
        "topic: no organisation",
        None,
    ),
    "device id not a number": (
        "bad device id",
        lambda d, o, k: orjson.dumps(_event(d.key)),
        "topic: the device id must be a positive integer",
        None,
    ),
    "oversize payload": (
        "own",
        lambda d, o, k: orjson.dumps(_event(d.key, props={"blob": "x" * 2_000_000})),
        "payload: larger than",
        "own",
    ),
    "bad event": (
        "own",
        lambda d, o, k: orjson.dumps(_event(d.key, type="no spaces allowed")),
        "type: required",
        "own",
    ),
    "envelope with an extra field": (
        "own",
        lambda d, o, k: orjson.dumps({"key": d.key, "events": [], "x": 1}),
        "x: unknown field of an envelope",
        "own",
    ),
    "envelope events not a list": (
        "own",
        lambda d, o, k: orjson.dumps({"key": d.key, "events": {}}),
        "events: must be a JSON array",
        "own",
    ),
    "inactive device": (
        "inactive",
        lambda d, o, k: orjson.dumps(_event(k.key)),
        "device_id: the device is not active",
        "own",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
def test_a_bad_message_becomes_a_dead_letter_and_the_worker_keeps_going(
    case, tenant, other_tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    topic_kind, payload_of, reason, letter_org = BAD_MESSAGES[case]
    device = make_keyed_device(tenant)
    theirs = make_keyed_device(other_tenant)
    second = make_keyed_device(tenant, status="inactive" if topic_kind == "inactive" else "active")
    worker = start_mqtt_worker()
    topic = {
        "own": device.topic(topic_prefix),
        "inactive": second.topic(topic_prefix),
        "other": device_topic(topic_prefix, other_tenant.slug, theirs.id),
        "unknown device": device_topic(topic_prefix, tenant.slug, 999_999),
        "unknown org": device_topic(topic_prefix, "no-such-org", device.id),
        "bad device id": f"{topic_prefix}/{tenant.slug}/devices/taxi-7/events",
    }[topic_kind]
    payload = payload_of(device, theirs, second)
    publisher.publish(topic, payload)
    _sentinel(worker, publisher, device, topic_prefix)

    assert worker.count() == 1  # only the sentinel: nothing of the bad message, in any organisation
    (letter,) = worker.dead_letters()
    assert letter["reason"].startswith(reason), letter["reason"]
    assert letter["topic"] == topic
    assert letter["org_id"] == {"own": tenant.org_id, "other": other_tenant.org_id, None: None}[letter_org]
    for secret in (device.key, theirs.key, second.key):
        assert secret not in (letter["payload"] or "")
    stats = worker.ingest.stats
    wait_until(lambda: stats.acknowledged == 2, what="both messages acknowledged")


def test_one_bad_event_in_an_array_is_refused_alone(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    good, bad, keyless = _event(device.key), _event(device.key, ts="yesterday"), _event()
    publisher.publish(device.topic(topic_prefix), orjson.dumps([good, bad, keyless]))
    _sentinel(worker, publisher, device, topic_prefix)
    assert worker.count("SELECT count(*) FROM events WHERE id = ?", [good["id"]]) == 1
    letters = worker.dead_letters()
    assert [(x["item_index"], x["reason"].split(":")[0]) for x in letters] == [(2, "key"), (1, "ts")]
    assert all(x["device_id"] == device.id and x["org_id"] == tenant.org_id for x in letters)


def test_a_qos0_message_is_stored_without_an_acknowledgement(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    publisher.publish(device.topic(topic_prefix), orjson.dumps(_event(device.key)), qos=0)
    _sentinel(worker, publisher, device, topic_prefix)
    assert worker.count() == 2
    assert worker.ingest.stats.received == 2 and worker.ingest.stats.acknowledged == 1


# --- sessions, sharing, failures ------------------------------------------------------------------
def test_messages_published_while_the_worker_is_stopped_arrive_after_restart(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix, tmp_path
):
    device = make_keyed_device(tenant)
    client_id = f"patron-test-{uuid.uuid4().hex[:8]}"
    first = start_mqtt_worker(client_id=client_id, data_dir=tmp_path / "w")
    _sentinel(first, publisher, device, topic_prefix)
    first.stop()
    missed = [_event(device.key) for _ in range(20)]
    for event in missed:
        publisher.publish(device.topic(topic_prefix), orjson.dumps(event))
    again = start_mqtt_worker(client_id=client_id, data_dir=tmp_path / "w")
    wait_until(lambda: again.count() == 21, what="the messages queued while the worker was away")
    assert again.count("SELECT count(DISTINCT id) FROM events") == 21


def test_a_shared_subscription_splits_the_messages_and_stores_each_once(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    devices = [make_keyed_device(tenant) for _ in range(4)]
    group = f"g-{uuid.uuid4().hex[:6]}"
    one = start_mqtt_worker(mqtt_shared_group=group)
    two = start_mqtt_worker(mqtt_shared_group=group)
    assert one.ingest.subscription.startswith(f"$share/{group}/")
    events = []
    for n in range(200):
        device = devices[n % 4]
        event = _event(device.key)
        events.append(event["id"])
        publisher.publish(device.topic(topic_prefix), orjson.dumps(event))

    def ids(worker) -> list[str]:
        return [row[0] for row in worker.runtime.store.query("SELECT id FROM events")]

    wait_until(lambda: len(ids(one)) + len(ids(two)) >= 200, what="all 200 events stored")
    first, second = ids(one), ids(two)
    assert first and second  # both workers took a share
    assert sorted(first + second) == sorted(events)  # together: every event exactly once


def test_nothing_is_acknowledged_until_the_store_takes_the_batch(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    store = worker.runtime.store
    real_append = store.append
    failures = {"left": 3}

    def failing_append(batch):  # the disk is full, three times over
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("No space left on device")
        return real_append(batch)

    store.append = failing_append
    event = _event(device.key)
    publisher.publish(device.topic(topic_prefix), orjson.dumps(event))
    wait_until(lambda: worker.ingest.stats.failures >= 1, what="the first failed attempt")
    assert worker.ingest.stats.acknowledged == 0
    wait_until(lambda: worker.count() == 1, what="the event stored once the store recovers")
    wait_until(lambda: worker.ingest.stats.acknowledged == 1, what="the acknowledgement")
    assert worker.dead_letters() == []  # a failing store is not the message's fault


def test_a_message_that_breaks_ingest_is_kept_as_a_dead_letter(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix
):
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    checker = worker.runtime.checker
    real_check = checker.check

    def check(items, **kwargs):  # a bug that only this event's content triggers
        if any(isinstance(item, dict) and item.get("type") == "poison" for item in items):
            raise ValueError("unexpected input")
        return real_check(items, **kwargs)

    checker.check = check
    topic = device.topic(topic_prefix)
    worker.ingest.linger = 0.3  # let both messages land in one batch
    poison, good = _event(device.key, type="poison"), _event(device.key)
    publisher.publish(topic, orjson.dumps(poison))
    publisher.publish(topic, orjson.dumps(good))
    wait_until(
        lambda: worker.count() == 1 and worker.dead_letters(), what="the good event and the dead letter"
    )
    (letter,) = worker.dead_letters()
    assert letter["reason"] == "could not be ingested: ValueError: unexpected input"
    assert letter["topic"] == topic
    assert worker.count("SELECT count(*) FROM events WHERE id = ?", [good["id"]]) == 1
    wait_until(lambda: worker.ingest.stats.acknowledged == 2, what="both acknowledged")


# --- pieces --------------------------------------------------------------------------------------
def test_topics_and_urls():
    assert topic_filter("patron", None) == "patron/+/devices/+/events"
    assert topic_filter("patron", "workers") == "$share/workers/patron/+/devices/+/events"
    assert parse_topic("patron/acme/devices/7/events", "patron") == ("acme", 7)
    assert parse_topic("a/b/acme/devices/7/events", "a/b") == ("acme", 7)
    for bad in (
        "patron/acme/devices/7",
        "other/acme/devices/7/events",
        "patron//devices/7/events",
        "patron/acme/things/7/events",
        "patron/acme/devices/0/events",
        "patron/acme/devices/99999999999/events",
        "patron/acme/devices/7/events/x",
    ):
        assert isinstance(parse_topic(bad, "patron"), str), bad
    address = parse_url("mqtt://ingest:s%40cret@broker.example:1884")
    assert (address.host, address.port, address.tls, address.username, address.password) == (
        "broker.example",
        1884,
        False,
        "ingest",
        "s@cret",
    )
    assert parse_url("mqtts://broker.example").port == 8883
    for bad in ("http://broker", "mqtt://", "broker:1883", "mqtt://host:notaport"):
        with pytest.raises(Invalid) as info:
            parse_url(bad)
        assert info.value.field == "mqtt_url"
    assert redact('{"key": "pdk_AbCdEfGhIjKlMnOp"}') == '{"key": "pdk_AbCd…"}'


def test_a_worker_needs_a_broker_url(settings, db):
    runtime = EventRuntime(settings, db, processors=())
    with pytest.raises(Invalid) as info:
        MqttIngest(runtime)
    assert info.value.field == "mqtt_url"
    runtime.stop()


# --- the client ------------------------------------------------------------------------------------
def _publish_packet(
    topic: str, mid: int, payload: bytes, *, qos: int = 1, properties: bytes = b"\x00"
) -> bytes:
    variable = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    if qos:
        variable += mid.to_bytes(2, "big")
    variable += properties
    body = variable + payload
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x30 | (qos << 1)]) + bytes(encoded) + body


def test_the_fast_client_frames_packets_split_anywhere():
    import socket

    delivered: list[tuple] = []
    client = FastClient("frame-test", lambda *args: delivered.append(args))
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    client._sock = ours
    big = b"x" * 70_000  # a remaining length of three bytes
    packets = [
        _publish_packet("p/acme/devices/1/events", 1, b'{"a": 1}'),
        _publish_packet("p/acme/devices/2/events", 2, big, properties=b"\x03\x23\x00\x05"),  # with properties
        _publish_packet("p/acme/devices/3/events", 0, b"qos0", qos=0),
        b"\xd0\x00",  # a PINGRESP, handled by paho
        _publish_packet("p/acme/devices/4/events", 65535, b""),
    ]
    stream = b"".join(packets)
    for start in range(0, len(stream), 7):  # seven bytes at a time: every header split somewhere
        broker.sendall(stream[start : start + 7])
        assert client.loop_read() == 0
    assert delivered == [
        ("p/acme/devices/1/events", b'{"a": 1}', 1, 1),
        ("p/acme/devices/2/events", big, 2, 1),
        ("p/acme/devices/3/events", b"qos0", 0, 0),
        ("p/acme/devices/4/events", b"", 65535, 1),
    ]
    client.ack_many([1, 2, 65535])
    assert broker.recv(100) == b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\xff\xff"  # one write
    ours.close()
    broker.close()


def test_a_worker_on_the_plain_paho_client_works_too(
    tenant, make_keyed_device, start_mqtt_worker, publisher, topic_prefix, monkeypatch
):
    monkeypatch.setattr(mqtt_client, "_FAST", False)
    device = make_keyed_device(tenant)
    worker = start_mqtt_worker()
    assert isinstance(worker.ingest._client, PlainClient)
    publisher.publish(device.topic(topic_prefix), orjson.dumps([_event(device.key), _event(device.key)]))
    publisher.publish(device.topic(topic_prefix), b"not json")
    _sentinel(worker, publisher, device, topic_prefix)
    assert worker.count() == 3
    assert [x["reason"].split(" (")[0] for x in worker.dead_letters()] == ["payload: not valid JSON"]
    wait_until(lambda: worker.ingest.stats.acknowledged == 3, what="three acknowledgements")


def test_this_paho_version_takes_the_fast_path(tenant, start_mqtt_worker):
    assert mqtt_client.fast_client_supported()
    assert isinstance(start_mqtt_worker().ingest._client, FastClient)


def test_the_worker_reconnects_after_the_broker_went_away(
    tenant, make_keyed_device, start_mqtt_worker, private_broker, topic_prefix
):
    from .conftest import Publisher

    device = make_keyed_device(tenant)
    worker = start_mqtt_worker(mqtt_url=private_broker.url)
    publisher = Publisher(private_broker.url)
    _sentinel(worker, publisher, device, topic_prefix)
    publisher.close()
    private_broker.restart()  # a new broker knows no session: the worker must connect and subscribe again
    wait_until(lambda: worker.ingest.stats.subscriptions == 2, timeout=60, what="the worker to subscribe again")
    publisher = Publisher(private_broker.url)
    try:
        after = _event(device.key)
        publisher.publish(device.topic(topic_prefix), orjson.dumps(after))
        wait_until(
            lambda: worker.count("SELECT count(*) FROM events WHERE id = ?", [after["id"]]) == 1,
            what="an event published after the broker came back",
        )
    finally:
        publisher.close()
