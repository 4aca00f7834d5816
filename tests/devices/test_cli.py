"""``patron devices``: provisioning from the command line, checked against the API and ingest."""

from __future__ import annotations

import json
import re

import pytest

from tests.devices.support import accepted, problem, send

EVENT = [{"type": "trip.end"}]




def key_in(output: str, prefix: str) -> str:
    found = re.search(rf"\b{prefix}_[A-Za-z0-9_-]+", output)
    assert found, output
    return found.group(0)


def test_provision_bind_rotate_and_revoke_from_the_command_line(api, client, cli, tenant):
    ada = api.customer(first_name="Ada")
    result = cli(
        "devices",
        "create",
        "--org",
        tenant.slug,
        "--type",
        "vehicle",
        "--name",
        "Taxi 7",
        "--serial",
        "VIN-7",
        "--customer",
        ada,
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["mqtt_topic"] == f"patron/{tenant.slug}/devices/{created['id']}/events"
    device = api.get(f"/devices/{created['id']}").json()
    assert (device["name"], device["serial"], device["customer_id"]) == ("Taxi 7", "VIN-7", ada)
    accepted(send(client, created["key"], EVENT), 1)

    listed = cli("devices", "list", "--org", tenant.slug)
    assert listed.exit_code == 0 and f"{created['id']}\tvehicle\tactive" in listed.output
    assert "1 device(s)" in listed.output

    unbound = cli("devices", "bind", created["id"], "--org", tenant.slug)
    assert unbound.exit_code == 0, unbound.output
    assert api.get(f"/devices/{created['id']}").json()["customer_id"] is None
    assert len(api.get(f"/devices/{created['id']}/bindings").json()) == 1

    rotated = cli("devices", "rotate-key", created["id"], "--org", tenant.slug)
    assert rotated.exit_code == 0, rotated.output
    new_key = key_in(rotated.output, "pdk")
    problem(send(client, created["key"], EVENT), 401)
    accepted(send(client, new_key, EVENT), 1)

    revoked = cli("devices", "revoke-key", created["id"], "--org", tenant.slug)
    assert revoked.exit_code == 0, revoked.output
    problem(send(client, new_key, EVENT), 401)


def test_an_ingest_key_from_the_command_line(api, client, cli, tenant):
    ada = api.customer(first_name="Ada")
    result = cli("devices", "ingest-key", "--org", tenant.slug, "--name", "gateway")
    assert result.exit_code == 0, result.output
    accepted(send(client, key_in(result.output, "pik"), [{"type": "app.open", "customer": ada}]), 1)
    assert [k["name"] for k in api.get("/ingest-keys").json()] == ["gateway"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "--org", "acme", "--type", "toaster"), "type"),
        (("create", "--org", "acme", "--type", "vehicle", "--name", "x" * 121), "name"),
        (("create", "--org", "acme", "--type", "vehicle", "--customer", 999999), "No customer 999999"),
        (("create", "--org", "nowhere", "--type", "vehicle"), "nowhere"),
        (("bind", 999999, "--org", "acme"), "No device 999999"),
        (("rotate-key", 999999, "--org", "acme"), "No device 999999"),
        (("ingest-key", "--org", "acme", "--name", "  "), "name"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(api, cli, tenant, args, message):
    result = cli("devices", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert api.get("/devices").json()["total"] == 0
    assert api.get("/ingest-keys").json() == []
