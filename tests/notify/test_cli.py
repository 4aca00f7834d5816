"""``patron notify``: VAPID keys, delivering what is due, and the worker's readable refusal without Redis."""

from __future__ import annotations

import pytest

from patron.core.config import get_settings
from patron.notify import crypto

from .conftest import message, send


@pytest.fixture
def cli(cli, monkeypatch):
    """The shared ``cli``, without a queue URL from the environment."""
    monkeypatch.delenv("PATRON_QUEUE_URL", raising=False)
    return cli


def test_vapid_keys_prints_a_matching_pair(cli):
    result = cli("notify", "vapid-keys")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    private = lines[0].removeprefix("PATRON_VAPID_PRIVATE_KEY=")
    public = lines[1].removeprefix("public key: ")
    assert crypto.vapid_public_key(private) == public


def test_worker_without_a_queue_url_is_one_readable_line(cli):
    result = cli("notify", "worker")
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: PATRON_QUEUE_URL is not set")
    assert "Traceback" not in result.output


def test_worker_with_a_bad_queue_url_is_one_readable_line(cli, monkeypatch):
    monkeypatch.setenv("PATRON_QUEUE_URL", "http://not-redis")
    get_settings.cache_clear()
    result = cli("notify", "worker")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: PATRON_QUEUE_URL must be a redis:// URL. [queue_url]"


def test_send_due_delivers_in_this_process(cli, client, tenant, make_customer):
    customer_id = make_customer(tenant, consents=("in_app",))
    message_id = send(client, tenant, customer_id, "in_app").json()["id"]
    result = cli("notify", "send-due")
    assert result.exit_code == 0, result.output
    assert "delivered: 1" in result.output
    assert message(client, tenant, message_id)["status"] == "delivered"
