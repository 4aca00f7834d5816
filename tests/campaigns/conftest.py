"""Fixtures of the campaigns suite: the notify suite's real SMTP server and customer helper, the rules
suite's devices, rules and ingest, and helpers to build campaigns through the API."""

from __future__ import annotations

import uuid

import pytest

from tests.notify.conftest import grant, make_customer, smtp_server  # noqa: F401 - fixtures re-used
from tests.rules.conftest import engine, make_rule, new_device, send, triggers  # noqa: F401 - fixtures re-used
from tests.web.conftest import browser  # noqa: F401 - fixture re-used

CAMPAIGNS = "/api/v1/campaigns"


def campaign_body(**fields) -> dict:
    """A valid one-off e-mail campaign to everyone, with one variant; ``fields`` override."""
    body = {
        "name": f"Spring {uuid.uuid4().hex[:6]}",
        "channels": ["email"],
        "audience": {"kind": "all"},
        "variants": [
            {"name": "A", "subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }}, 10% off."}
        ],
    }
    body.update(fields)
    return body


@pytest.fixture
def make_campaign(client):
    """``make_campaign(tenant, **fields)`` — POST a campaign and return its JSON."""

    def make(tenant, **fields) -> dict:
        response = client.post(CAMPAIGNS, json=campaign_body(**fields), headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def mail_settings(settings, smtp_server):  # noqa: F811
    return settings.model_copy(update={"smtp_url": smtp_server.url, "public_url": "https://crm.example",
                                       "mail_from": "Shop <news@shop.example>"})  # fmt: skip


def launch(client, tenant, campaign_id: int) -> dict:
    response = client.post(f"{CAMPAIGNS}/{campaign_id}/launch", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def results(client, tenant, campaign_id: int) -> dict:
    response = client.get(f"{CAMPAIGNS}/{campaign_id}/results", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {g["group"]: g for g in response.json()["groups"]} | {"_": response.json()}
