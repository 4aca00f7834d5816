"""The fast way through ingest (:meth:`EventChecker.check_json`) must store exactly what the general
way (:func:`parse_body` + :meth:`EventChecker.check`) stores, and must hand every body it is not sure
of to the general way, which gives each event its own reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from patron.events.ingest import Credential, DeviceInfo, EventChecker, parse_body

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
T = NOW.timestamp() - 60
DEVICES = {
    7: DeviceInfo(7, 1, 70, "active", None, False),
    8: DeviceInfo(8, 1, None, "active", None, False),
    9: DeviceInfo(9, 1, 90, "inactive", None, False),
    11: DeviceInfo(11, 2, 110, "active", None, False),
}
ORG_KEY = Credential(org_id=1, ingest_key_id=3)
DEVICE_KEY = Credential(org_id=1, device_id=7)


def _checker() -> EventChecker:
    return EventChecker(
        device_lookup=DEVICES.get,
        devices_lookup=lambda ids: {i: DEVICES.get(i) for i in ids},
        customer_lookup=lambda org_id, refs: {ref: 70 for ref in refs if ref in (70, "a@b.example")},
        max_event_bytes=200,
    )


def _columns(checked) -> dict:
    batch = checked.batch
    columns = {name: list(getattr(batch, name)) for name in
               ("org_id", "id", "device_id", "customer_id", "type", "ts", "received_at", "source", "lat", "lon")}
    columns["props"] = [orjson.loads(text) for text in batch.props]
    return columns


def _both(body: bytes, credential: Credential = ORG_KEY):
    checker = _checker()
    fast = checker.check_json(body, credential=credential, source="http", received_at=NOW)
    general = checker.check(parse_body(body), credential=credential, source="http", received_at=NOW)
    return fast, general


SAME = {
    "telemetry with a position": [
        {"id": "a", "device_id": 7, "type": "telemetry", "ts": T, "props": {"speed": 3, "lat": 52.5, "lon": 13.4}},
        {"id": "b", "device_id": 8, "type": "trip.end", "ts": int(T), "props": {"km": 1.5}},
    ],
    "no ts, no props, null props, empty props": [
        {"id": "c", "device_id": 7, "type": "ping"},
        {"id": "d", "device_id": 7, "type": "ping", "props": None},
        {"id": "e", "device_id": 7, "type": "ping", "props": {}, "ts": None},
    ],
    "an ISO time, nested props, unicode": [
        {"id": "f", "device_id": 7, "type": "fault", "ts": "2026-05-04T11:59:00+02:00",
         "props": {"code": "P0301", "detail": {"cyl": [1, 2]}, "note": "Zündung"}},
    ],
    "lat and lon null": [{"id": "g", "device_id": 7, "type": "gps", "props": {"lat": None, "lon": None}}],
    "an integer latitude": [{"id": "n", "device_id": 7, "type": "t", "props": {"lat": 52, "lon": 13.25}}],
    "some with a time, some without, one with a position": [
        {"id": "k", "device_id": 7, "type": "t", "ts": T},
        {"id": "l", "device_id": 8, "type": "t"},
        {"id": "m", "device_id": 7, "type": "t", "ts": T + 0.5, "props": {"lat": -33.9, "lon": 151.2}},
    ],
}


@pytest.mark.parametrize("events", SAME.values(), ids=SAME.keys())
def test_the_fast_way_stores_what_the_general_way_stores(events):
    fast, general = _both(orjson.dumps(events))
    assert fast is not None, "this body should take the fast way"
    assert not general.rejected
    assert _columns(fast) == _columns(general)


def test_props_with_spaces_or_escapes_are_stored_compact_as_the_general_way_does():
    body = b'[{"id":"h","device_id":7,"type":"t","props":{"a": 1, "b":"x\\"y", "c":"\\u00fc"}}]'
    fast, general = _both(body)
    assert fast is not None
    assert fast.batch.props == general.batch.props == ['{"a":1,"b":"x\\"y","c":"\xfc"}']


def test_a_device_key_sends_its_own_events_on_the_fast_way():
    body = orjson.dumps([{"id": "i", "type": "t", "ts": T}, {"id": "j", "type": "t", "device_id": 7}])
    fast, general = _both(body, DEVICE_KEY)
    assert fast is not None
    assert _columns(fast) == _columns(general)
    assert fast.batch.device_id == [7, 7] and fast.batch.customer_id == [70, 70]


def test_ids_are_generated_for_events_without_one():
    fast, _ = _both(orjson.dumps([{"device_id": 7, "type": "t"}, {"device_id": 7, "type": "t", "id": None}]))
    assert fast is not None
    assert len(set(fast.batch.id)) == 2 and all(len(i) == 32 for i in fast.batch.id)


UNSURE = {
    "bad type": [{"id": "x", "device_id": 7, "type": "no spaces allowed"}],
    "missing type": [{"id": "x", "device_id": 7}],
    "unknown field": [{"id": "x", "device_id": 7, "type": "t", "colour": "red"}],
    "empty id": [{"id": "", "device_id": 7, "type": "t"}],
    "bool device": [{"id": "x", "device_id": True, "type": "t"}],
    "unknown device": [{"id": "x", "device_id": 12345, "type": "t"}],
    "inactive device": [{"id": "x", "device_id": 9, "type": "t"}],
    "another organisation's device": [{"id": "x", "device_id": 11, "type": "t"}],
    "no device": [{"id": "x", "type": "t"}],
    "a customer reference": [{"id": "x", "device_id": 7, "type": "t", "customer": 70}],
    "ts far ahead": [{"id": "x", "device_id": 7, "type": "t", "ts": T + 3 * 86400}],
    "ts before 2000": [{"id": "x", "device_id": 7, "type": "t", "ts": 5}],
    "ts not a time": [{"id": "x", "device_id": 7, "type": "t", "ts": "yesterday"}],
    "ts seconds written as text": [{"id": "x", "device_id": 7, "type": "t", "ts": "1777895940"}],
    "ts a bool": [{"id": "x", "device_id": 7, "type": "t", "ts": True}],
    "props a list": [{"id": "x", "device_id": 7, "type": "t", "props": [1]}],
    "props too large": [{"id": "x", "device_id": 7, "type": "t", "props": {"blob": "z" * 300}}],
    "lat out of range": [{"id": "x", "device_id": 7, "type": "t", "props": {"lat": 91.0, "lon": 1.0}}],
    "lat without lon": [{"id": "x", "device_id": 7, "type": "t", "props": {"lat": 1.0}}],
    "latitude spelt out": [{"id": "x", "device_id": 7, "type": "t", "props": {"latitude": 52.0, "longitude": 1.0}}],
    "lat a bool": [{"id": "x", "device_id": 7, "type": "t", "props": {"lat": True, "lon": 13.0}}],
    "props a string": [{"id": "x", "device_id": 7, "type": "t", "props": "{}"}],
    "props a number": [{"id": "x", "device_id": 7, "type": "t", "props": 5}],
    "lat a string": [{"id": "x", "device_id": 7, "type": "t", "props": {"lat": "52", "lon": 13.0}}],
}


@pytest.mark.parametrize("body", UNSURE.values(), ids=UNSURE.keys())
def test_anything_unusual_goes_the_general_way(body):
    payload = orjson.dumps([{"id": "ok", "device_id": 7, "type": "t"}, *body])
    checker = _checker()
    assert checker.check_json(payload, credential=ORG_KEY, source="http", received_at=NOW) is None
    general = checker.check(parse_body(payload), credential=ORG_KEY, source="http", received_at=NOW)
    assert general.batch.id[0] == "ok"  # the general way answers per event: the good one is kept


def test_a_body_that_is_not_an_array_goes_the_general_way():
    checker = _checker()
    for body in (b'{"id": "x", "device_id": 7, "type": "t"}', b'{"type":"t"}\n{"type":"u"}', b"[1, 2", b"  "):
        assert checker.check_json(body, credential=ORG_KEY, source="http", received_at=NOW) is None


def test_a_device_key_naming_another_device_goes_the_general_way_and_is_refused():
    checker = _checker()
    body = orjson.dumps([{"id": "x", "type": "t", "device_id": 8}])
    assert checker.check_json(body, credential=DEVICE_KEY, source="http", received_at=NOW) is None
    general = checker.check(parse_body(body), credential=DEVICE_KEY, source="http", received_at=NOW)
    assert [r.reason for r in general.rejected] == ["device_id: a device key may only send its own device's events"]
