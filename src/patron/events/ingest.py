"""Checking incoming events: parse a body (JSON array or NDJSON), authorise the sender, validate each
event and turn the good ones into an :class:`~patron.events.store.EventBatch`.

Each event is ``{"id"?, "device_id"?, "customer"?, "type", "ts"?, "props"?}``:

* ``id`` — the sender's id (1-128 characters); an id seen before is not stored twice. Without one,
  an id is generated (and such an event cannot be de-duplicated on a resend).
* ``device_id`` — the Patron id of the device. With a device key it may be left out (it is the key's
  device) and must not name another device.
* ``customer`` — with an organisation ingest key, the customer the event is about: their Patron id
  (an integer) or e-mail address. Otherwise the device's bound customer is used.
* ``type`` — 1-64 characters of letters, digits and ``_ . : -`` (``telemetry``, ``trip.end``, ``fault``).
* ``ts`` — when it happened: ISO 8601 (a time without a zone is read as UTC) or seconds since the
  epoch; default the time of arrival. At most one day ahead of the server's clock, not before 2000.
* ``props`` — an object of anything else (at most ``ingest_max_event_bytes`` as JSON); ``lat``/``lon``
  (or ``latitude``/``longitude``) in it are checked and kept as the event's position.

A bad event is rejected on its own with its index and reason; the others are stored.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson

from patron.core.errors import Invalid
from patron.events.store import EventBatch, micros

ALLOWED_FIELDS = frozenset({"id", "device_id", "customer", "type", "ts", "props", "key"})
TYPE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
EARLIEST = micros(datetime(2000, 1, 1, tzinfo=UTC))
MAX_FUTURE = timedelta(days=1)
MAX_FUTURE_US = int(MAX_FUTURE.total_seconds() * 1_000_000)
LATITUDE_NAMES = ("lat", "latitude")
LONGITUDE_NAMES = ("lon", "lng", "longitude")
MAX_ID_LENGTH = 128
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Credential:
    """Who sends: a device (by its own key) or an organisation (by an ingest key)."""

    org_id: int
    device_id: int | None = None
    ingest_key_id: int | None = None

    @property
    def label(self) -> str:
        return f"device {self.device_id}" if self.device_id is not None else f"ingest key {self.ingest_key_id}"


@dataclass(frozen=True)
class DeviceInfo:
    """What ingest needs to know of a device (cached, see :class:`patron.events.directory.Directory`)."""

    id: int
    org_id: int
    customer_id: int | None
    status: str
    key_hash: str | None
    revoked: bool


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason}


@dataclass
class Checked:
    """The outcome of checking a list of events: the batch to store and the rejected ones."""

    batch: EventBatch = field(default_factory=EventBatch)
    rejected: list[Rejection] = field(default_factory=list)
    rejected_items: list[Any] = field(default_factory=list)


def parse_body(body: bytes, content_type: str | None = None) -> list[Any]:
    """A JSON array (or one JSON object) or NDJSON (one JSON value per line) as a list of items.

    Raises :class:`Invalid` (field ``body``) when the body is none of these.
    """
    text = body.strip()
    if not text:
        raise Invalid("The body is empty; send a JSON array of events or NDJSON.", field="body")
    ndjson = content_type is not None and "ndjson" in content_type
    if not ndjson:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if b"\n" not in text:
                raise Invalid(f"The body is not valid JSON: {exc}.", field="body") from None
            ndjson = True
        else:
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return [value]
            raise Invalid("The body must be a JSON array of events, one event object, or NDJSON.", field="body")
    items: list[Any] = []
    for number, line in enumerate(text.split(b"\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            # one unreadable line is that item's problem, not the whole body's
            items.append(Unparsable(number, str(exc), line[:200].decode("utf-8", "replace")))
    return items


@dataclass(frozen=True)
class Unparsable:
    line: int
    error: str
    text: str


class _Event(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The shape of a well-formed event, decoded in C by the fast path (:meth:`EventChecker.check_json`).

    Only what every such event satisfies is declared here; anything else makes the whole body go the
    general way, which gives each event its own reason. ``props`` stays raw JSON text: it is stored as
    such, and decoded again only by whoever reads it."""

    type: str
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    device_id: Annotated[int, msgspec.Meta(gt=0, le=INT32_MAX)] | None = None
    ts: float | str | None = None
    props: msgspec.Raw = msgspec.Raw(b"null")  # any JSON value, checked below
    customer: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    key: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


class _Position(msgspec.Struct, gc=False):
    """The position in an event's props, checked by the decoder as the general way checks it (a number
    in range, an integer taken as a float, null as none); the rest of the object is skipped unread."""

    lat: Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)] | None = None


_EVENTS = msgspec.json.Decoder(list[_Event])
_UNSET = msgspec.UNSET
_NOT_COMPACT = (b" ", b"\n", b"\t", b"\r", b"\\")  # whitespace or escapes: stored re-encoded, as the general way does
_SEPARATOR = b"\x1e"


class _PositionOnly(msgspec.Struct, gc=False):
    props: _Position | None = None


_POSITIONS = msgspec.json.Decoder(list[_PositionOnly])


def _positions(body: bytes) -> tuple[list[float | None], list[float | None]] | None:
    """The ``lat``/``lon`` of each event of a body the fast way took, decoded in a second pass that
    reads nothing but them; None if any position needs the general way (another spelling, a value
    that is not a number in range, one without the other)."""
    if b'"latitude"' in body or b'"lng"' in body or b'"longitude"' in body:
        return None
    try:
        events = _POSITIONS.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    places = [event.props for event in events]
    lats = [None if place is None else place.lat for place in places]
    lons = [None if place is None else place.lon for place in places]
    if any([(lat is None) != (lon is None) for lat, lon in zip(lats, lons, strict=True)]):
        return None
    return lats, lons


def _timestamp(value: Any, now_us: int) -> int | str:
    """Microseconds since the epoch, or the reason it is not a usable timestamp."""
    if isinstance(value, bool):
        return "ts: must be an ISO 8601 time or seconds since the epoch"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return "ts: must be a finite number"
        result = int(value * 1_000_000)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return "ts: not an ISO 8601 time"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        result = micros(moment)
    else:
        return "ts: must be an ISO 8601 time or seconds since the epoch"
    if result < EARLIEST:
        return "ts: before the year 2000"
    if result > now_us + int(MAX_FUTURE.total_seconds() * 1_000_000):
        return "ts: more than one day in the future"
    return result


def _coordinate(props: dict, names: tuple[str, str], bound: float) -> float | None | str:
    for name in names:
        if name in props:
            value = props[name]
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return f"props.{name}: must be a number"
            if not -bound <= value <= bound:
                return f"props.{name}: must be between -{bound:g} and {bound:g}"
            return float(value)
    return None


def new_ids(count: int) -> list[str]:
    """Random 32-character hex ids for events sent without one."""
    raw = os.urandom(16 * count).hex()
    return [raw[i : i + 32] for i in range(0, 32 * count, 32)]


class EventChecker:
    """Validates items for one sender. ``device_lookup(device_id)`` returns a :class:`DeviceInfo`
    (or None), ``customer_lookup(org_id, refs)`` maps customer references (ids or e-mails) to ids."""

    def __init__(self, *, device_lookup, customer_lookup, max_event_bytes: int, devices_lookup=None) -> None:
        self.device_lookup = device_lookup
        self.devices_lookup = devices_lookup  # optional: many device ids -> {id: DeviceInfo | None}
        self.customer_lookup = customer_lookup
        self.max_event_bytes = max_event_bytes
        self._valid_types: dict[str, bool] = {}  # event types seen, and whether they are well-formed

    def check(
        self,
        items: list[Any],
        *,
        credential: Credential,
        source: str,
        received_at: datetime,
        start_index: int = 0,
    ) -> Checked:
        checked = Checked()
        batch, rejected, rejected_items = checked.batch, checked.rejected, checked.rejected_items
        org_id = credential.org_id
        now_us = micros(received_at)
        latest_us = now_us + MAX_FUTURE_US
        max_bytes = self.max_event_bytes
        own_device = self.device_lookup(credential.device_id) if credential.device_id is not None else None
        own_ok = own_device is not None and not own_device.revoked and own_device.status == "active"
        customer_refs: dict[Any, int | None] = {}
        if credential.device_id is None:
            refs = {
                ref
                for item in items
                if isinstance(item, dict)
                for ref in (item.get("customer"),)
                if isinstance(ref, int | str) and not isinstance(ref, bool)
            }
            if refs:
                customer_refs = self.customer_lookup(org_id, refs)
        # an id for each event sent without one (or with "id": null)
        generated = iter(new_ids(sum(1 for item in items if isinstance(item, dict) and item.get("id") is None)))
        device_cache: dict[int, DeviceInfo | None] = {}
        if credential.device_id is None and self.devices_lookup is not None:  # the devices named, at once
            named = {
                ref
                for item in items
                if isinstance(item, dict)
                for ref in (item.get("device_id"),)
                if type(ref) is int and 0 < ref <= INT32_MAX
            }
            if named:
                device_cache.update(self.devices_lookup(named))
        valid_types = self._valid_types
        if len(valid_types) > 10_000:
            valid_types.clear()
        dumps = orjson.dumps
        # the batch's columns, appended to directly (one call per event would cost more than the checks)
        add_org, add_id, add_device = batch.org_id.append, batch.id.append, batch.device_id.append
        add_customer, add_type, add_ts = batch.customer_id.append, batch.type.append, batch.ts.append
        add_received, add_source = batch.received_at.append, batch.source.append
        add_lat, add_lon, add_props, add_object = batch.lat.append, batch.lon.append, batch.props.append, (
            batch.props_objects.append
        )

        for offset, item in enumerate(items):
            reason = None
            if not isinstance(item, dict):
                if isinstance(item, Unparsable):
                    reason = f"line {item.line}: not valid JSON ({item.error})"
                else:
                    reason = "event: must be a JSON object"
            elif not ALLOWED_FIELDS.issuperset(item):
                reason = f"{sorted(set(item) - ALLOWED_FIELDS)[0]}: unknown field"
            else:
                event_id = item.get("id")
                if event_id is None:
                    event_id = next(generated)
                elif not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
                    reason = f"id: must be a string of 1-{MAX_ID_LENGTH} characters"
            if reason is None:
                event_type = item.get("type")
                known = valid_types.get(event_type) if type(event_type) is str else None
                if known is None:
                    known = isinstance(event_type, str) and TYPE_RE.match(event_type) is not None
                    if type(event_type) is str:
                        valid_types[event_type] = known
                if not known:
                    reason = "type: required, 1-64 letters, digits or _ . : -"
            if reason is None:
                ts = item.get("ts")
                if ts is None:
                    ts_us = now_us
                else:
                    ts_us = None
                    if (type(ts) is float or type(ts) is int) and -1e15 < ts < 1e15:
                        ts_us = int(ts * 1_000_000)
                        if not EARLIEST <= ts_us <= latest_us:
                            ts_us = None
                    if ts_us is None:  # anything else: the full rules, with their reasons
                        ts_us = _timestamp(ts, now_us)
                        if isinstance(ts_us, str):
                            reason = ts_us
            if reason is None:
                props = item.get("props")
                if props is None:
                    props = {}
                if not isinstance(props, dict):
                    reason = "props: must be a JSON object"
                else:
                    try:
                        props_json = dumps(props).decode()
                    except (TypeError, orjson.JSONEncodeError):
                        reason = "props: cannot be stored as JSON"
                    else:
                        if len(props_json) > max_bytes:
                            reason = f"props: larger than {max_bytes} bytes"
            if reason is None:
                lat = lon = None
                if props:
                    value = props.get("lat")
                    if type(value) is float and -90.0 <= value <= 90.0:
                        lat = value
                    elif "lat" in props or "latitude" in props:
                        lat = _coordinate(props, LATITUDE_NAMES, 90)
                    value = props.get("lon")
                    if type(value) is float and -180.0 <= value <= 180.0:
                        lon = value
                    elif "lon" in props or "lng" in props or "longitude" in props:
                        lon = _coordinate(props, LONGITUDE_NAMES, 180)
                    if lat is not None or lon is not None:
                        if isinstance(lat, str):
                            reason = lat
                        elif isinstance(lon, str):
                            reason = lon
                        elif (lat is None) != (lon is None):
                            reason = "props: a position needs both lat and lon"
            if reason is None:
                device_ref = item.get("device_id")
                if own_device is not None:
                    if device_ref is None and own_ok and "customer" not in item:
                        device_id, customer_id = own_device.id, own_device.customer_id
                    else:
                        device_id, customer_id, reason = self._subject(
                            item, credential, own_device, device_cache, customer_refs
                        )
                else:
                    device = device_cache.get(device_ref) if type(device_ref) is int else None
                    if (
                        device is not None
                        and device.org_id == org_id
                        and device.status == "active"
                        and "customer" not in item
                        and 0 < device_ref <= INT32_MAX
                    ):
                        device_id, customer_id = device_ref, device.customer_id
                    else:
                        device_id, customer_id, reason = self._subject(
                            item, credential, own_device, device_cache, customer_refs
                        )
            if reason is not None:
                rejected.append(Rejection(start_index + offset, reason))
                rejected_items.append(item)
                continue
            add_org(org_id)
            add_id(event_id)
            add_device(device_id)
            add_customer(customer_id)
            add_type(event_type)
            add_ts(ts_us)
            add_received(now_us)
            add_source(source)
            add_lat(lat)
            add_lon(lon)
            add_props(props_json)
            add_object(props)
        return checked

    def check_json(self, body: bytes, *, credential: Credential, source: str, received_at: datetime) -> Checked | None:
        """The fast way for the common body: a JSON array of well-formed events, all of which pass.

        The events are decoded straight into typed records (no dict per event, no second encoding of
        ``props``), and the checks the decoder cannot make run column by column. Returns None as soon as
        anything is unusual - a body that is not a JSON array, an event that would be rejected, a
        ``customer`` reference, a position that needs converting - and the caller then takes the general
        way (:func:`parse_body` and :meth:`check`), which gives every event its own answer. What is
        stored is the same either way (``props`` as compact JSON with the same values)."""
        if body[:1] != b"[":
            return None
        try:
            events = _EVENTS.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        count = len(events)
        if not count or any([event.customer is not _UNSET for event in events]):
            return None
        now_us = micros(received_at)
        types = [event.type for event in events]
        if not self._types_valid(set(types)):
            return None
        stamps = self._stamps([event.ts for event in events], now_us)
        if stamps is None:
            return None
        subjects = self._subjects([event.device_id for event in events], credential)
        if subjects is None:
            return None
        texts = self._props_texts([event.props for event in events])
        if texts is None:
            return None
        lats = lons = [None] * count
        if b'"la' in body or b'"lo' in body or b'"ln' in body:
            positions = _positions(body)
            if positions is None:
                return None
            lats, lons = positions
        ids = [event.id for event in events]
        if None in ids:
            generated = iter(new_ids(ids.count(None)))
            ids = [next(generated) if event_id is None else event_id for event_id in ids]
        checked = Checked()
        batch = checked.batch
        batch.org_id = [credential.org_id] * count
        batch.id = ids
        batch.device_id, batch.customer_id = subjects
        batch.type = types
        batch.ts = stamps
        batch.received_at = [now_us] * count
        batch.source = [source] * count
        batch.lat, batch.lon = lats, lons
        batch.props = texts
        batch.props_objects = [None] * count  # decoded from the text when processed
        return checked

    def _types_valid(self, types: set[str]) -> bool:
        valid_types = self._valid_types
        if len(valid_types) > 10_000:
            valid_types.clear()
        for event_type in types:
            known = valid_types.get(event_type)
            if known is None:
                known = valid_types[event_type] = TYPE_RE.match(event_type) is not None
            if not known:
                return False
        return True

    @staticmethod
    def _stamps(values: list[float | str | None], now_us: int) -> list[int] | None:
        """Microseconds since the epoch for each ``ts`` (numbers checked at once), or None if any is
        out of range or not a time."""
        latest_us = now_us + MAX_FUTURE_US
        if set(map(type, values)) != {float}:  # some left out or written as text: one by one
            stamps = []
            for value in values:
                if value is None:
                    stamps.append(now_us)
                    continue
                if type(value) is float:
                    stamp = int(value * 1_000_000) if -1e15 < value < 1e15 else -1
                    stamp = stamp if EARLIEST <= stamp <= latest_us else "out of range"
                else:
                    stamp = _timestamp(value, now_us)
                if type(stamp) is str:
                    return None
                stamps.append(stamp)
            return stamps
        seconds = np.array(values, dtype=np.float64)
        if not (np.abs(seconds) < 1e15).all():
            return None
        micro = (seconds * 1_000_000).astype(np.int64)  # truncated toward zero, as int() does
        if not ((micro >= EARLIEST) & (micro <= latest_us)).all():
            return None
        return micro.tolist()

    def _subjects(
        self, refs: list[int | None], credential: Credential
    ) -> tuple[list[int], list[int | None]] | None:
        """(device ids, customer ids) of the events, or None if any device is not the sender's own
        (device key) or not an active device of the organisation (ingest key)."""
        count = len(refs)
        named = set(refs)
        if credential.device_id is not None:
            own = self.device_lookup(credential.device_id)
            if own is None or own.revoked or own.status != "active" or not named <= {None, own.id}:
                return None
            return [own.id] * count, [own.customer_id] * count
        if None in named or self.devices_lookup is None:
            return None
        customer_of = {}
        for device_id, device in self.devices_lookup(named).items():
            if device is None or device.org_id != credential.org_id or device.status != "active":
                return None
            customer_of[device_id] = device.customer_id
        if len(customer_of) != len(named):
            return None
        return refs, [customer_of[ref] for ref in refs]

    def _props_texts(self, raws: list[msgspec.Raw]) -> list[str] | None:
        """Each event's props as compact JSON text (``{}`` for none), or None if any is not an object
        or is too large. Works on all of them joined (a raw 0x1e cannot occur in JSON text), with
        the scans done in C."""
        joined = _SEPARATOR.join(raws)
        if any([mark in joined for mark in _NOT_COMPACT]):  # re-encoded compact, as the general way stores it
            raws = [bytes(raw) for raw in raws]
            raws = [orjson.dumps(orjson.loads(raw)) if any([m in raw for m in _NOT_COMPACT]) else raw for raw in raws]
            joined = _SEPARATOR.join(raws)
        if max(map(len, raws)) > self.max_event_bytes:
            return None
        texts = joined.decode().split("\x1e")
        if len(texts) != len(raws):  # a raw 0x1e, which JSON text cannot hold
            return None
        if joined.count(b"\x1e{") + (joined[:1] == b"{") != len(texts):  # not all objects: nulls, or worse
            if not all([text[:1] == "{" or text == "null" for text in texts]):
                return None
            texts = ["{}" if text == "null" else text for text in texts]
        return texts

    def _subject(self, item, credential, own_device, device_cache, customer_refs):
        """(device_id, customer_id, reason): which device and customer the event belongs to."""
        device_ref = item.get("device_id")
        if device_ref is not None and (
            isinstance(device_ref, bool) or not isinstance(device_ref, int) or not 0 < device_ref <= INT32_MAX
        ):
            return None, None, "device_id: must be a positive integer"
        if credential.device_id is not None:
            if device_ref is not None and device_ref != credential.device_id:
                return None, None, "device_id: a device key may only send its own device's events"
            if "customer" in item:
                return None, None, "customer: a device's events belong to its bound customer"
            if own_device is None or own_device.revoked or own_device.status != "active":
                return None, None, "device_id: the device is not active"
            return own_device.id, own_device.customer_id, None
        customer_id = None
        if device_ref is not None:
            if device_ref not in device_cache:
                device_cache[device_ref] = self.device_lookup(device_ref)
            device = device_cache[device_ref]
            if device is None or device.org_id != credential.org_id:
                return None, None, "device_id: no such device"
            if device.status != "active":
                return None, None, "device_id: the device is not active"
            customer_id = device.customer_id
        if "customer" in item:
            ref = item["customer"]
            found = customer_refs.get(ref) if isinstance(ref, int | str) and not isinstance(ref, bool) else None
            if found is None:
                return None, None, "customer: no such customer"
            if device_ref is not None and customer_id is not None and customer_id != found:
                return None, None, "customer: the device is bound to another customer"
            customer_id = found
        if device_ref is None and customer_id is None:
            return None, None, "device_id: an ingest key needs device_id or customer on each event"
        return device_ref, customer_id, None
