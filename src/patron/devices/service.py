"""The device registry: devices, their binding to customers (with history), device keys and
organisation ingest keys. The only module that queries these tables.

Every change to a device's binding, key or status is announced to the ingest directory
(:func:`patron.events.directory.invalidate`) twice: at once, and again when the transaction commits,
so a concurrent ingest that re-read the old row before the commit does not keep it cached.

The customer hooks at the end (:func:`reassign_customer`, :func:`erase_customer`,
:func:`export_customer`) are called by the customers domain on merge, erasure and privacy export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, or_, select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.core.reassign import reassign_customer_rows
from patron.core.security import new_secret, secret_hash
from patron.customers import service as customers_service
from patron.devices.models import (
    DEVICE_KEY_PREFIX,
    DEVICE_STATUSES,
    DEVICE_TYPES,
    HEALTH_STATES,
    INGEST_KEY_PREFIX,
    Device,
    DeviceBinding,
    IngestKey,
)
from patron.events import directory

__all__ = [
    "DeviceFilter",
    "create_device",
    "create_ingest_key",
    "delete_device",
    "device_names",
    "do_bind_device",
    "do_revoke_device_key",
    "do_rotate_device_key",
    "erase_customer",
    "export_customer",
    "get_device",
    "get_device_or_raise",
    "get_ingest_key_or_raise",
    "list_bindings",
    "list_customer_devices",
    "list_devices",
    "list_ingest_keys",
    "mqtt_topic",
    "reassign_customer",
    "revoke_ingest_key",
    "update_device",
]

KEY_PREFIX_LENGTH = 12
UPDATABLE_FIELDS = ("name", "serial", "model", "firmware", "attributes", "status")
_FORGET_KEY = "devices.forget"
_LISTENING_KEY = "devices.forget_listening"


# --- telling ingest about changes ------------------------------------------------------------------


def _forget_pending(session: Session, *_args: Any) -> None:
    pending = session.info.pop(_FORGET_KEY, None)
    for device_id in pending or ():
        directory.invalidate(device_id)


def _forget(session: Session, device_id: int | None) -> None:
    """Drop the ingest directory's cached view of a device now and again after the commit (or rollback).
    ``None`` forgets everything (ingest keys)."""
    directory.invalidate(device_id)
    if not session.info.get(_LISTENING_KEY):
        session.info[_LISTENING_KEY] = True
        event.listen(session, "after_commit", _forget_pending)
        event.listen(session, "after_soft_rollback", _forget_pending)
    session.info.setdefault(_FORGET_KEY, set()).add(device_id)


# --- reads -----------------------------------------------------------------------------------------


def get_device(session: Session, *, org_id: int, device_id: int) -> Device | None:
    return session.scalar(select(Device).where(Device.org_id == org_id, Device.id == device_id))


def get_device_or_raise(session: Session, *, org_id: int, device_id: int, field: str = "device_id") -> Device:
    """The device, or NotFound (also when it belongs to another organisation)."""
    device = get_device(session, org_id=org_id, device_id=device_id)
    if device is None:
        raise NotFound(f"No device {device_id}.", field=field)
    return device


@dataclass(frozen=True)
class DeviceFilter:
    type: str | None = None
    status: str | None = None
    customer_id: int | None = None
    health: str | None = None
    q: str | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_devices(
    session: Session, *, org_id: int, filters: DeviceFilter | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Device], int]:
    """Devices matching ``filters``, newest first, and the total that match."""
    filters = filters or DeviceFilter()
    query = select(Device).where(Device.org_id == org_id)
    if filters.type is not None:
        _check_choice(filters.type, DEVICE_TYPES, "type")
        query = query.where(Device.type == filters.type)
    if filters.status is not None:
        _check_choice(filters.status, DEVICE_STATUSES, "status")
        query = query.where(Device.status == filters.status)
    if filters.health is not None:
        _check_choice(filters.health, HEALTH_STATES, "health")
        query = query.where(Device.health == filters.health)
    if filters.customer_id is not None:
        query = query.where(Device.customer_id == filters.customer_id)
    text = (filters.q or "").strip()
    if text:
        pattern = _like(text.lower())
        query = query.where(
            or_(
                func.lower(Device.name).like(pattern, escape="\\"),
                func.lower(Device.serial).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Device.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def list_customer_devices(session: Session, *, org_id: int, customer_id: int) -> list[Device]:
    """The devices bound to the customer now (NotFound for another organisation's customer)."""
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    return list(
        session.scalars(
            select(Device)
            .where(Device.org_id == org_id, Device.customer_id == customer_id)
            .order_by(Device.id)
        )
    )


def device_names(session: Session, *, org_id: int, device_ids: Iterable[int]) -> dict[int, str]:
    """``{device_id: name}`` for showing events; a device without a name is ``device <id>``."""
    ids = [i for i in dict.fromkeys(device_ids) if i is not None]
    names: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Device.id, Device.name).where(
                Device.org_id == org_id, Device.id.in_(ids[start : start + 500])
            )
        )
        for device_id, name in rows:
            names[device_id] = name or f"device {device_id}"
    return names


def list_bindings(session: Session, *, device: Device) -> list[DeviceBinding]:
    """The device's binding history, newest first."""
    return list(
        session.scalars(
            select(DeviceBinding)
            .where(DeviceBinding.org_id == device.org_id, DeviceBinding.device_id == device.id)
            .order_by(DeviceBinding.bound_at.desc(), DeviceBinding.id.desc())
        )
    )


def mqtt_topic(*, prefix: str, org_slug: str, device_id: int) -> str:
    """The topic a device publishes its events on."""
    return f"{prefix}/{org_slug}/devices/{device_id}/events"


# --- writes ----------------------------------------------------------------------------------------


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise Invalid(f"Unknown {field} '{value}'; choose one of {', '.join(choices)}.", field=field)


def _check_serial_free(
    session: Session, *, org_id: int, serial: str | None, device_id: int | None = None
) -> None:
    if serial is None:
        return
    query = select(Device.id).where(Device.org_id == org_id, Device.serial == serial)
    if device_id is not None:
        query = query.where(Device.id != device_id)
    if session.scalar(query) is not None:
        raise Conflict(f"Another device of the organisation has serial '{serial}'.", field="serial")


def _bindable_customer(session: Session, *, org_id: int, customer_id: int) -> None:
    """NotFound for an unknown or foreign customer, Conflict for a merged-away or erased one."""
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)


def _issue_key() -> tuple[str, str, str]:
    secret = new_secret(DEVICE_KEY_PREFIX)
    return secret, secret[:KEY_PREFIX_LENGTH], secret_hash(secret)


def create_device(
    session: Session,
    *,
    org_id: int,
    type: str,
    customer_id: int | None = None,
    name: str = "",
    serial: str | None = None,
    model: str = "",
    firmware: str = "",
    attributes: dict[str, Any] | None = None,
    status: str = "active",
    actor_user_id: int | None = None,
) -> tuple[str, Device]:
    """Register a device and issue its key. Returns ``(key, device)``: the key exists only here, the
    device keeps its hash. With a customer, the device's first binding opens at once."""
    _check_choice(type, DEVICE_TYPES, "type")
    _check_choice(status, DEVICE_STATUSES, "status")
    if customer_id is not None:
        _bindable_customer(session, org_id=org_id, customer_id=customer_id)
    _check_serial_free(session, org_id=org_id, serial=serial)
    secret, prefix, digest = _issue_key()
    now = utcnow()
    device = Device(
        org_id=org_id,
        type=type,
        name=name,
        serial=serial,
        model=model,
        firmware=firmware,
        attributes=attributes or {},
        status=status,
        customer_id=customer_id,
        key_prefix=prefix,
        key_hash=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(device)
    session.flush()
    if customer_id is not None:
        session.add(
            DeviceBinding(
                org_id=org_id,
                device_id=device.id,
                customer_id=customer_id,
                bound_at=now,
                bound_by_id=actor_user_id,
            )
        )
        session.flush()
    return secret, device


def update_device(session: Session, *, device: Device, changes: dict[str, Any]) -> Device:
    """Change name, serial, model, firmware, attributes or status. A status other than ``active``
    makes ingest refuse the device's events from now on."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise Invalid(f"{field} cannot be changed here.", field=field)
    if "status" in changes:
        _check_choice(changes["status"], DEVICE_STATUSES, "status")
    if "serial" in changes and changes["serial"] != device.serial:
        _check_serial_free(session, org_id=device.org_id, serial=changes["serial"], device_id=device.id)
    status_changed = "status" in changes and changes["status"] != device.status
    for name, value in changes.items():
        setattr(device, name, value)
    device.updated_at = utcnow()
    session.flush()
    if status_changed:
        _forget(session, device.id)
    return device


def delete_device(session: Session, *, device: Device) -> None:
    """Delete the device, its key and binding history. Its stored events stay (history of the customer)."""
    device_id = device.id
    session.delete(device)
    session.flush()
    _forget(session, device_id)


def do_bind_device(
    session: Session, *, device: Device, customer_id: int | None, actor_user_id: int | None = None
) -> Device:
    """Bind the device to a customer (or unbind it with ``None``): the open binding closes, a new one
    opens. Events stored earlier keep the customer they had; new ones go to the new customer.
    Binding to the customer it already has changes nothing."""
    if customer_id is not None:
        _bindable_customer(session, org_id=device.org_id, customer_id=customer_id)
    if customer_id == device.customer_id:
        return device
    now = utcnow()
    _close_open_bindings(session, org_id=device.org_id, device_ids=[device.id], now=now)
    if customer_id is not None:
        session.add(
            DeviceBinding(
                org_id=device.org_id,
                device_id=device.id,
                customer_id=customer_id,
                bound_at=now,
                bound_by_id=actor_user_id,
            )
        )
    device.customer_id = customer_id
    device.updated_at = now
    session.flush()
    _forget(session, device.id)
    return device


def _close_open_bindings(session: Session, *, org_id: int, device_ids: list[int], now: datetime) -> int:
    if not device_ids:
        return 0
    result = session.execute(
        update(DeviceBinding)
        .where(
            DeviceBinding.org_id == org_id,
            DeviceBinding.device_id.in_(device_ids),
            DeviceBinding.unbound_at.is_(None),
        )
        .values(unbound_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def do_rotate_device_key(session: Session, *, device: Device) -> str:
    """Issue a new key; the old one stops working at once. Also lifts a revocation. Returns the key."""
    secret, prefix, digest = _issue_key()
    now = utcnow()
    device.key_prefix = prefix
    device.key_hash = digest
    device.key_rotated_at = now
    device.key_revoked_at = None
    device.updated_at = now
    session.flush()
    _forget(session, device.id)
    return secret


def do_revoke_device_key(session: Session, *, device: Device) -> Device:
    """Revoke the device's key: its events are refused until a new key is issued (rotate)."""
    if device.key_revoked_at is None:
        now = utcnow()
        device.key_revoked_at = now
        device.updated_at = now
        session.flush()
    _forget(session, device.id)
    return device


# --- ingest keys -----------------------------------------------------------------------------------


def create_ingest_key(
    session: Session, *, org_id: int, name: str, created_by_id: int | None = None
) -> tuple[str, IngestKey]:
    """An organisation-wide key for sending events of any of its devices or customers (a gateway, a back
    end). Returns ``(key, record)``; only the hash is stored."""
    name = name.strip()
    if not name:
        raise Invalid("The name must not be blank.", field="name")
    secret = new_secret(INGEST_KEY_PREFIX)
    key = IngestKey(
        org_id=org_id,
        name=name,
        prefix=secret[:KEY_PREFIX_LENGTH],
        key_hash=secret_hash(secret),
        created_by_id=created_by_id,
    )
    session.add(key)
    session.flush()
    return secret, key


def list_ingest_keys(session: Session, *, org_id: int) -> list[IngestKey]:
    return list(
        session.scalars(select(IngestKey).where(IngestKey.org_id == org_id).order_by(IngestKey.id.desc()))
    )


def get_ingest_key_or_raise(session: Session, *, org_id: int, key_id: int) -> IngestKey:
    key = session.scalar(select(IngestKey).where(IngestKey.org_id == org_id, IngestKey.id == key_id))
    if key is None:
        raise NotFound(f"No ingest key {key_id}.", field="key_id")
    return key


def revoke_ingest_key(session: Session, *, key: IngestKey) -> IngestKey:
    """Revoke the key: requests with it are refused (401) from now on."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    _forget(session, None)
    return key


# --- customer hooks (merge, erasure, privacy export) -----------------------------------------------

DEVICE_EXPORT_FIELDS = (
    "id",
    "type",
    "name",
    "serial",
    "model",
    "firmware",
    "attributes",
    "status",
    "customer_id",
    "last_seen_at",
    "last_event_type",
    "health",
    "health_reason",
    "last_fault_code",
    "created_at",
    "updated_at",
)
BINDING_EXPORT_FIELDS = ("id", "device_id", "customer_id", "bound_at", "unbound_at")


def _device_ids_of(session: Session, *, org_id: int, customer_id: int) -> list[int]:
    return list(
        session.scalars(select(Device.id).where(Device.org_id == org_id, Device.customer_id == customer_id))
    )


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move a merged duplicate's devices and binding history to the customer it was merged into.
    Returns how many devices moved."""
    device_ids = _device_ids_of(session, org_id=org_id, customer_id=from_customer_id)
    moved = reassign_customer_rows(
        session, Device, org_id=org_id, from_customer_id=from_customer_id, to_customer_id=to_customer_id
    )
    reassign_customer_rows(
        session,
        DeviceBinding,
        org_id=org_id,
        from_customer_id=from_customer_id,
        to_customer_id=to_customer_id,
    )
    for device_id in device_ids:
        _forget(session, device_id)
    return moved


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Unbind the customer's devices (the devices stay, without a customer) and close their bindings.
    Returns how many devices were unbound."""
    device_ids = _device_ids_of(session, org_id=org_id, customer_id=customer_id)
    if not device_ids:
        return 0
    now = utcnow()
    _close_open_bindings(session, org_id=org_id, device_ids=device_ids, now=now)
    session.execute(
        update(Device)
        .where(Device.org_id == org_id, Device.id.in_(device_ids))
        .values(customer_id=None, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    audit.record(
        session,
        action="erase",
        entity="devices",
        org_id=org_id,
        after={"customer_id": customer_id, "unbound": len(device_ids)},
    )
    for device_id in device_ids:
        _forget(session, device_id)
    return len(device_ids)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's devices and every period a device was bound to them."""
    devices = session.scalars(
        select(Device).where(Device.org_id == org_id, Device.customer_id == customer_id).order_by(Device.id)
    )
    bindings = session.scalars(
        select(DeviceBinding)
        .where(DeviceBinding.org_id == org_id, DeviceBinding.customer_id == customer_id)
        .order_by(DeviceBinding.bound_at, DeviceBinding.id)
    )
    return {
        "devices": [
            {name: audit.jsonable(getattr(d, name)) for name in DEVICE_EXPORT_FIELDS} for d in devices
        ],
        "device_bindings": [
            {name: audit.jsonable(getattr(b, name)) for name in BINDING_EXPORT_FIELDS} for b in bindings
        ],
    }
