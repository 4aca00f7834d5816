"""API shapes of the device registry: devices, their bindings and keys, and organisation ingest keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, Field, field_validator

from patron.core.api import Schema

DeviceType = Literal["vehicle", "wearable", "smart_meter", "smart_home_hub", "beacon", "phone_app"]
DeviceStatus = Literal["active", "inactive", "retired"]
Health = Literal["unknown", "ok", "warning", "fault", "offline"]

NAME_MAX = 120
SERIAL_MAX = 120
MODEL_MAX = 120
FIRMWARE_MAX = 60
MAX_ATTRIBUTE_KEYS = 100
MAX_ATTRIBUTES_BYTES = 16 * 1024


def _printable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip()


def _serial(value: str | None) -> str | None:
    if value is None:
        return None
    value = _printable(value)
    return value or None


def _attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTE_KEYS:
        raise ValueError(f"at most {MAX_ATTRIBUTE_KEYS} attributes")
    for key in value:
        if not key or len(key) > 64:
            raise ValueError("attribute names must be 1-64 characters")
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise ValueError("must be storable as JSON") from None
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"larger than {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return value


Text = Annotated[str, AfterValidator(_printable)]
Serial = Annotated[str | None, AfterValidator(_serial)]
Attributes = Annotated[dict[str, Any], AfterValidator(_attributes)]

_TYPE_HELP = "What the device is: vehicle (taxis, connected cars), wearable, smart_meter, smart_home_hub, beacon or phone_app."
_STATUS_HELP = "active (its events are accepted), inactive or retired (its events are refused)."


class DeviceCreate(Schema):
    type: DeviceType = Field(description=_TYPE_HELP)
    customer_id: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="The customer to bind the device to at once (opens its first binding).",
    )
    name: Text = Field("", max_length=NAME_MAX, description="Name shown in the app, e.g. `Taxi 12`.")
    serial: Serial = Field(
        None,
        max_length=SERIAL_MAX,
        description="Manufacturer's serial number; unique within the organisation.",
    )
    model: Text = Field("", max_length=MODEL_MAX, description="Make and model.")
    firmware: Text = Field("", max_length=FIRMWARE_MAX, description="Firmware version it runs.")
    attributes: Attributes = Field(
        default_factory=dict,
        description="Anything else about the device, as an object (at most 100 keys, 16 KB).",
    )
    status: DeviceStatus = Field("active", description=_STATUS_HELP)


class DeviceUpdate(Schema):
    """Fields to change; omitted fields stay. ``serial: null`` clears the serial number."""

    name: Text | None = Field(None, max_length=NAME_MAX, description="Name shown in the app.")
    serial: Serial = Field(None, max_length=SERIAL_MAX, description="Serial number; null clears it.")
    model: Text | None = Field(None, max_length=MODEL_MAX, description="Make and model.")
    firmware: Text | None = Field(None, max_length=FIRMWARE_MAX, description="Firmware version it runs.")
    attributes: Attributes | None = Field(None, description="Replaces the device's attributes.")
    status: DeviceStatus | None = Field(None, description=_STATUS_HELP)

    @field_validator("name", "model", "firmware", "attributes", "status", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class DeviceOut(Schema):
    id: int
    type: DeviceType = Field(description=_TYPE_HELP)
    name: str
    serial: str | None = Field(description="Manufacturer's serial number.")
    model: str = Field(description="Make and model.")
    firmware: str = Field(description="Firmware version it runs.")
    attributes: dict[str, Any] = Field(description="Anything else about the device.")
    status: DeviceStatus = Field(description=_STATUS_HELP)
    customer_id: int | None = Field(description="The customer the device is bound to; null when unbound.")
    key_prefix: str = Field(
        description="First characters of the device key, to recognise it; never the key itself."
    )
    key_rotated_at: datetime | None = Field(
        description="When the key was last replaced (UTC); null if never."
    )
    key_revoked_at: datetime | None = Field(
        description="When the key was revoked (UTC); its events are refused until a new key is issued."
    )
    last_seen_at: datetime | None = Field(description="Time of the device's latest event (UTC).")
    last_event_type: str | None = Field(description="Type of the device's latest event.")
    message_rate: float = Field(description="Events per minute over the last five minutes.")
    health: Health = Field(
        description="unknown, ok, warning, fault (after a fault event) or offline (silent too long)."
    )
    health_reason: str = Field(description="Why the health is what it is, in words.")
    last_fault_code: str | None = Field(description="Code of the latest fault the device reported.")
    mqtt_topic: str = Field(description="The MQTT topic the device publishes its events on.")
    created_at: datetime
    updated_at: datetime


class DeviceCreated(DeviceOut):
    key: str = Field(
        description="The device key (`pdk_...`) to send events with. Shown only in this response: store it now."
    )


class BindBody(Schema):
    customer_id: int | None = Field(
        ge=1, le=2**31 - 1, description="The customer to bind the device to; null unbinds it."
    )


class BindingOut(Schema):
    id: int
    device_id: int = Field(description="The device.")
    customer_id: int | None = Field(description="The customer the device belonged to in this period.")
    bound_at: datetime = Field(description="Start of the period (UTC).")
    unbound_at: datetime | None = Field(description="End of the period (UTC); null while the binding holds.")
    bound_by_id: int | None = Field(
        description="Staff member who bound it; null for API keys and the system."
    )


class IngestKeyCreate(Schema):
    name: Text = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="What the key is for, e.g. `fleet gateway` or `app back end`.",
    )

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be blank")
        return value


class IngestKeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(
        description="First characters of the key, to recognise it; the key itself is never shown again."
    )
    created_by_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IngestKeyCreated(IngestKeyOut):
    key: str = Field(description="The ingest key (`pik_...`). Shown only in this response: store it now.")
