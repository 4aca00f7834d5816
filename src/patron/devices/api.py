"""HTTP API of the device registry: devices, binding to customers, device keys, ingest keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from patron.accounts import service as accounts_service
from patron.accounts.deps import Allowed, Principal
from patron.core.api import Page, PageDep, SessionDep, SettingsDep
from patron.devices import schemas
from patron.devices import service as devices_service
from patron.devices.models import Device

router = APIRouter(prefix="/api/v1", tags=["devices"])

DEVICE_FIELDS = tuple(name for name in schemas.DeviceOut.model_fields if name != "mqtt_topic")


class _Topics:
    """Builds each device's MQTT topic; looks the organisation's slug up once per request."""

    def __init__(self, session, settings, org_id: int) -> None:
        self.session = session
        self.prefix = settings.mqtt_topic_prefix
        self.org_id = org_id
        self._slug: str | None = None

    def __call__(self, device: Device) -> str:
        if self._slug is None:
            org = accounts_service.get_organisation(self.session, org_id=self.org_id)
            self._slug = org.slug if org is not None else str(self.org_id)
        return devices_service.mqtt_topic(prefix=self.prefix, org_slug=self._slug, device_id=device.id)


def device_out(device: Device, topics: _Topics, *, key: str | None = None) -> dict:
    data = {name: getattr(device, name) for name in DEVICE_FIELDS}
    data["mqtt_topic"] = topics(device)
    if key is not None:
        data["key"] = key
    return data


def _device(session, principal: Principal, device_id: int) -> Device:
    return devices_service.get_device_or_raise(session, org_id=principal.org_id, device_id=device_id)


# --- ingest keys -----------------------------------------------------------------------------------
# Declared first: fixed paths before parameterised ones.


@router.get(
    "/ingest-keys", response_model=list[schemas.IngestKeyOut], tags=["ingest"], summary="List ingest keys"
)
def list_ingest_keys(principal: Allowed("ingest.manage"), session: SessionDep) -> list:
    """The organisation's ingest keys, newest first (prefix only; the secret is never shown again)."""
    return devices_service.list_ingest_keys(session, org_id=principal.org_id)


@router.post(
    "/ingest-keys",
    response_model=schemas.IngestKeyCreated,
    status_code=201,
    tags=["ingest"],
    summary="Create an ingest key",
)
def create_ingest_key(
    body: schemas.IngestKeyCreate, principal: Allowed("ingest.manage"), session: SessionDep
):
    """A key that may send events for any device or customer of the organisation (a gateway, a back end).
    The `key` is in this response only."""
    secret, key = devices_service.create_ingest_key(
        session, org_id=principal.org_id, name=body.name, created_by_id=principal.user_id
    )
    return {**schemas.IngestKeyOut.model_validate(key).model_dump(), "key": secret}


@router.delete(
    "/ingest-keys/{key_id}",
    response_model=schemas.IngestKeyOut,
    tags=["ingest"],
    summary="Revoke an ingest key",
)
def revoke_ingest_key(key_id: int, principal: Allowed("ingest.manage"), session: SessionDep):
    """Requests with the key are refused (401) from now on."""
    key = devices_service.get_ingest_key_or_raise(session, org_id=principal.org_id, key_id=key_id)
    return devices_service.revoke_ingest_key(session, key=key)


# --- devices ---------------------------------------------------------------------------------------


@router.get("/devices", response_model=Page[schemas.DeviceOut], summary="List devices")
def list_devices(
    principal: Allowed("devices.read"),
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
    type: Annotated[schemas.DeviceType | None, Query(description="Only devices of this type.")] = None,
    status: Annotated[schemas.DeviceStatus | None, Query(description="Only devices in this status.")] = None,
    customer_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only devices bound to this customer.")
    ] = None,
    health: Annotated[schemas.Health | None, Query(description="Only devices in this health state.")] = None,
    q: Annotated[str | None, Query(max_length=120, description="Text in the name or serial number.")] = None,
) -> dict:
    """The organisation's devices, newest first."""
    filters = devices_service.DeviceFilter(
        type=type, status=status, customer_id=customer_id, health=health, q=q
    )
    items, total = devices_service.list_devices(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    topics = _Topics(session, settings, principal.org_id)
    return {
        "items": [device_out(d, topics) for d in items],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.post("/devices", response_model=schemas.DeviceCreated, status_code=201, summary="Register a device")
def create_device(
    body: schemas.DeviceCreate,
    principal: Allowed("devices.write"),
    session: SessionDep,
    settings: SettingsDep,
):
    """Registers the device and issues its key. The `key` is in this response only: store it now.
    With `customer_id` the device is bound to that customer at once."""
    secret, device = devices_service.create_device(
        session, org_id=principal.org_id, actor_user_id=principal.user_id, **body.model_dump()
    )
    return device_out(device, _Topics(session, settings, principal.org_id), key=secret)


@router.get("/devices/{device_id}", response_model=schemas.DeviceOut, summary="Get a device")
def get_device(
    device_id: int, principal: Allowed("devices.read"), session: SessionDep, settings: SettingsDep
):
    return device_out(_device(session, principal, device_id), _Topics(session, settings, principal.org_id))


@router.patch("/devices/{device_id}", response_model=schemas.DeviceOut, summary="Change a device")
def update_device(
    device_id: int,
    body: schemas.DeviceUpdate,
    principal: Allowed("devices.write"),
    session: SessionDep,
    settings: SettingsDep,
):
    """Name, serial, model, firmware, attributes or status. A status other than `active` makes ingest
    refuse the device's events."""
    device = devices_service.update_device(
        session, device=_device(session, principal, device_id), changes=body.model_dump(exclude_unset=True)
    )
    return device_out(device, _Topics(session, settings, principal.org_id))


@router.delete("/devices/{device_id}", status_code=204, summary="Delete a device")
def delete_device(device_id: int, principal: Allowed("devices.delete"), session: SessionDep) -> Response:
    """Deletes the device, its key and binding history; its stored events stay in the event store."""
    devices_service.delete_device(session, device=_device(session, principal, device_id))
    return Response(status_code=204)


@router.post(
    "/devices/{device_id}/bind", response_model=schemas.DeviceOut, summary="Bind a device to a customer"
)
def bind_device(
    device_id: int,
    body: schemas.BindBody,
    principal: Allowed("devices.write"),
    session: SessionDep,
    settings: SettingsDep,
):
    """Closes the current binding and opens one to the given customer (`null` unbinds). Events stored
    earlier keep the customer they had."""
    device = devices_service.do_bind_device(
        session,
        device=_device(session, principal, device_id),
        customer_id=body.customer_id,
        actor_user_id=principal.user_id,
    )
    return device_out(device, _Topics(session, settings, principal.org_id))


@router.get(
    "/devices/{device_id}/bindings",
    response_model=list[schemas.BindingOut],
    summary="A device's binding history",
)
def list_bindings(device_id: int, principal: Allowed("devices.read"), session: SessionDep) -> list:
    """Every period the device belonged to a customer, newest first."""
    return devices_service.list_bindings(session, device=_device(session, principal, device_id))


@router.post(
    "/devices/{device_id}/key", response_model=schemas.DeviceCreated, summary="Rotate a device's key"
)
def rotate_key(
    device_id: int, principal: Allowed("devices.write"), session: SessionDep, settings: SettingsDep
):
    """Issues a new key (in this response only); the old one stops working at once. Also lifts a
    revocation."""
    device = _device(session, principal, device_id)
    secret = devices_service.do_rotate_device_key(session, device=device)
    return device_out(device, _Topics(session, settings, principal.org_id), key=secret)


@router.delete("/devices/{device_id}/key", response_model=schemas.DeviceOut, summary="Revoke a device's key")
def revoke_key(
    device_id: int, principal: Allowed("devices.write"), session: SessionDep, settings: SettingsDep
):
    """The device's events are refused from now on, until a new key is issued (rotate)."""
    device = devices_service.do_revoke_device_key(session, device=_device(session, principal, device_id))
    return device_out(device, _Topics(session, settings, principal.org_id))


@router.get(
    "/customers/{customer_id}/devices", response_model=list[schemas.DeviceOut], summary="A customer's devices"
)
def list_customer_devices(
    customer_id: int, principal: Allowed("devices.read"), session: SessionDep, settings: SettingsDep
) -> list:
    """The devices bound to the customer now."""
    devices = devices_service.list_customer_devices(session, org_id=principal.org_id, customer_id=customer_id)
    topics = _Topics(session, settings, principal.org_id)
    return [device_out(d, topics) for d in devices]
