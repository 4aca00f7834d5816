"""``patron devices ...``: register devices, bind them, rotate or revoke their keys, and manage the
organisation's ingest keys from the command line (handy for provisioning a fleet from a script)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console

app = typer.Typer(
    help="Devices: register them, bind them to customers, rotate or revoke keys; organisation ingest keys.",
    no_args_is_help=True,
)

OrgOption = Annotated[str, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")]
DeviceId = Annotated[int, typer.Argument(metavar="DEVICE_ID", help="Id of the device.")]


def _open_org(session, slug: str, label: str):
    from patron.accounts import service as accounts_service

    org = accounts_service.get_organisation_by_slug_or_raise(session, slug=slug)
    session.info["actor"] = Actor(org_id=org.id, label=label)
    return org


def _checked(schema, **values):
    """The values checked by the API's schema, so the CLI refuses what the API refuses (one line, exit 1)."""
    from pydantic import ValidationError

    from patron.core.errors import Invalid

    try:
        return schema(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        raise Invalid(f"{field}: {error['msg']}", field=field) from None


def _topic(org, device_id: int) -> str:
    from patron.core.config import get_settings
    from patron.devices import service as devices_service

    return devices_service.mqtt_topic(
        prefix=get_settings().mqtt_topic_prefix, org_slug=org.slug, device_id=device_id
    )


@app.command("create")
def create_command(
    org: OrgOption,
    type: Annotated[
        str,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="vehicle, wearable, smart_meter, smart_home_hub, beacon or phone_app.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Name shown in the app, e.g. 'Taxi 12'.")] = "",
    serial: Annotated[
        str | None, typer.Option("--serial", help="Serial number (unique in the organisation).")
    ] = None,
    model: Annotated[str, typer.Option("--model", help="Make and model.")] = "",
    firmware: Annotated[str, typer.Option("--firmware", help="Firmware version.")] = "",
    customer: Annotated[
        int | None, typer.Option("--customer", metavar="CUSTOMER_ID", help="Bind to this customer at once.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the device and its key as JSON.")] = False,
) -> None:
    """Register a device and print its key (shown only now) and the MQTT topic it publishes on."""
    from patron.devices import schemas
    from patron.devices import service as devices_service

    body = _checked(
        schemas.DeviceCreate,
        type=type,
        customer_id=customer,
        name=name,
        serial=serial,
        model=model,
        firmware=firmware,
    )
    with cli_session(label="cli:devices create") as session:
        organisation = _open_org(session, org, "cli:devices create")
        secret, device = devices_service.create_device(session, org_id=organisation.id, **body.model_dump())
        topic = _topic(organisation, device.id)
        device_id = device.id
    if as_json:
        typer.echo(json.dumps({"id": device_id, "key": secret, "mqtt_topic": topic}))
        return
    console.print(f"registered device {device_id}")
    console.print(f"key (shown only now): {secret}", soft_wrap=True)
    console.print(f"MQTT topic: {topic}", soft_wrap=True)


@app.command("list")
def list_command(
    org: OrgOption,
    customer: Annotated[
        int | None, typer.Option("--customer", metavar="CUSTOMER_ID", help="Only this customer's devices.")
    ] = None,
) -> None:
    """List the organisation's devices, newest first, tab-separated: id, type, status, health, customer,
    name, last seen."""
    from patron.devices import service as devices_service

    with cli_session(label="cli:devices list") as session:
        organisation = _open_org(session, org, "cli:devices list")
        devices, total = devices_service.list_devices(
            session,
            org_id=organisation.id,
            filters=devices_service.DeviceFilter(customer_id=customer),
            limit=10_000,
        )
        rows = [(d.id, d.type, d.status, d.health, d.customer_id, d.name, d.last_seen_at) for d in devices]
    for device_id, kind, status, health, customer_id, name, seen in rows:
        seen_text = seen.isoformat(timespec="seconds") if seen else "never"
        typer.echo(f"{device_id}\t{kind}\t{status}\t{health}\t{customer_id or '-'}\t{name}\t{seen_text}")
    console.print(f"{total} device(s)")


@app.command("bind")
def bind_command(
    device_id: DeviceId,
    org: OrgOption,
    customer: Annotated[
        int | None,
        typer.Option("--customer", metavar="CUSTOMER_ID", help="The new customer; omit to unbind."),
    ] = None,
) -> None:
    """Bind a device to a customer (or unbind it), keeping the binding history."""
    from patron.devices import service as devices_service

    with cli_session(label="cli:devices bind") as session:
        organisation = _open_org(session, org, "cli:devices bind")
        device = devices_service.get_device_or_raise(session, org_id=organisation.id, device_id=device_id)
        devices_service.do_bind_device(session, device=device, customer_id=customer)
    console.print(
        f"device {device_id} bound to customer {customer}" if customer else f"device {device_id} unbound"
    )


@app.command("rotate-key")
def rotate_key_command(device_id: DeviceId, org: OrgOption) -> None:
    """Issue a new key for a device and print it (shown only now); the old key stops working at once."""
    from patron.devices import service as devices_service

    with cli_session(label="cli:devices rotate-key") as session:
        organisation = _open_org(session, org, "cli:devices rotate-key")
        device = devices_service.get_device_or_raise(session, org_id=organisation.id, device_id=device_id)
        secret = devices_service.do_rotate_device_key(session, device=device)
    console.print(f"new key for device {device_id} (shown only now): {secret}", soft_wrap=True)


@app.command("revoke-key")
def revoke_key_command(device_id: DeviceId, org: OrgOption) -> None:
    """Revoke a device's key: its events are refused until a new key is issued."""
    from patron.devices import service as devices_service

    with cli_session(label="cli:devices revoke-key") as session:
        organisation = _open_org(session, org, "cli:devices revoke-key")
        device = devices_service.get_device_or_raise(session, org_id=organisation.id, device_id=device_id)
        devices_service.do_revoke_device_key(session, device=device)
    console.print(f"revoked the key of device {device_id}")


@app.command("ingest-key")
def ingest_key_command(
    org: OrgOption,
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. 'fleet gateway'.")],
) -> None:
    """Create an organisation ingest key (sends events for any device or customer) and print it once."""
    from patron.devices import schemas
    from patron.devices import service as devices_service

    body = _checked(schemas.IngestKeyCreate, name=name)
    with cli_session(label="cli:devices ingest-key") as session:
        organisation = _open_org(session, org, "cli:devices ingest-key")
        secret, key = devices_service.create_ingest_key(session, org_id=organisation.id, name=body.name)
        key_id = key.id
    console.print(f"ingest key {key_id} (shown only now): {secret}", soft_wrap=True)
