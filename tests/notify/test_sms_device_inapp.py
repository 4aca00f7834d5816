"""SMS through a local gateway that checks the HMAC signature, signed delivery reports, MQTT commands to
the customer's devices on the real broker, and the in-app inbox."""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest

from patron.notify.channels import sms
from patron.notify.delivery import deliver_message, run_due

from .conftest import message, send, wait_until


@pytest.fixture
def sms_settings(settings, sms_gateway):
    return settings.model_copy(update={
        "sms_webhook_url": sms_gateway.url, "sms_webhook_secret": sms_gateway.secret,
        "public_url": "https://crm.example", "notify_retry_base_seconds": 0.01, "notify_retry_max_seconds": 0.02,
    })  # fmt: skip


def test_sms_goes_to_the_gateway_signed(client, db, tenant, make_customer, sms_gateway, sms_settings):
    customer_id = make_customer(tenant, consents=("sms",), phone="+49 30 1234567")
    message_id = send(client, tenant, customer_id, "sms", body="Your code is 4711").json()["id"]
    assert run_due(db, sms_settings) == {"sent": 1}
    assert sms_gateway.refused == []
    (got,) = sms_gateway.received
    assert got["body"] == "Your code is 4711" and got["message_id"] == message_id
    sent = message(client, tenant, message_id)
    assert got["to"] == sent["address"] and got["to"].replace(" ", "").endswith("301234567")
    assert sent["provider_id"] == "gw-1"


def test_sms_with_a_wrong_secret_is_refused_by_the_gateway_and_fails(
    client, db, tenant, make_customer, sms_gateway, sms_settings
):
    wrong = sms_settings.model_copy(update={"sms_webhook_secret": "not-the-secret"})
    customer_id = make_customer(tenant, consents=("sms",), phone="+4930999888")
    message_id = send(client, tenant, customer_id, "sms").json()["id"]
    assert run_due(db, wrong) == {"failed": 1}
    assert sms_gateway.refused == ["bad signature"] and sms_gateway.received == []
    assert message(client, tenant, message_id)["reason"] == "rejected"


def test_sms_gateway_errors_are_retried_and_sms_without_consent_suppressed(
    client, db, tenant, make_customer, sms_gateway, sms_settings
):
    consented = make_customer(tenant, consents=("sms",), phone="+4930111222")
    not_consented = make_customer(tenant, consents=("email",), phone="+4930111333")
    retried = send(client, tenant, consented, "sms").json()["id"]
    suppressed = send(client, tenant, not_consented, "sms").json()["id"]
    sms_gateway.script = [502]
    assert run_due(db, sms_settings) == {"queued": 1, "suppressed": 1}
    time.sleep(0.05)
    assert run_due(db, sms_settings) == {"sent": 1}
    assert [r["message_id"] for r in sms_gateway.received] == [retried]
    assert message(client, tenant, suppressed)["reason"] == "no_consent"


def _report(client, body: dict, *, secret: str, timestamp: float | None = None):
    raw = json.dumps(body).encode()
    return client.post("/api/v1/notify/sms/status", content=raw,
                       headers=sms.signed_headers(secret, raw, now=timestamp))  # fmt: skip


def test_signed_delivery_reports_set_delivered_or_failed(client, app, db, tenant, make_customer, sms_gateway,
                                                         sms_settings):  # fmt: skip
    app.state.settings = app.state.settings.model_copy(update={"sms_webhook_secret": sms_gateway.secret})
    first = make_customer(tenant, consents=("sms",), phone="+4930100001")
    second = make_customer(tenant, consents=("sms",), phone="+4930100002")
    delivered_id = send(client, tenant, first, "sms").json()["id"]
    failed_id = send(client, tenant, second, "sms").json()["id"]
    run_due(db, sms_settings)

    # unsigned, wrongly signed and stale reports are refused and change nothing
    raw = json.dumps({"message_id": delivered_id, "status": "delivered"}).encode()
    assert client.post("/api/v1/notify/sms/status", content=raw).status_code == 401
    assert _report(client, {"message_id": delivered_id, "status": "delivered"}, secret="wrong").status_code == 401
    stale = _report(client, {"message_id": delivered_id, "status": "delivered"}, secret=sms_gateway.secret,
                    timestamp=time.time() - 3600)  # fmt: skip
    assert stale.status_code == 401 and stale.json()["field"] == "X-Patron-Signature"
    assert message(client, tenant, delivered_id)["status"] == "sent"

    ok = _report(client, {"message_id": delivered_id, "status": "delivered"}, secret=sms_gateway.secret)
    assert ok.status_code == 200, ok.text
    assert message(client, tenant, delivered_id)["status"] == "delivered"
    bad = _report(client, {"message_id": failed_id, "status": "failed", "error": "unknown number"},
                  secret=sms_gateway.secret)  # fmt: skip
    assert bad.status_code == 200
    failed = message(client, tenant, failed_id)
    assert (failed["status"], failed["last_error"]) == ("failed", "unknown number")
    wrong = _report(client, {"message_id": delivered_id, "status": "read"}, secret=sms_gateway.secret)
    assert wrong.status_code == 422 and wrong.json()["field"] == "status"
    unknown = _report(client, {"message_id": 999_999, "status": "delivered"}, secret=sms_gateway.secret)
    assert unknown.status_code == 404


# --- device (MQTT) -----------------------------------------------------------------------------------


@pytest.mark.mqtt
def test_device_message_is_published_to_each_active_device(client, db, tenant, make_customer, settings):
    from patron.events.mqtt_client import parse_url
    from tests.events.conftest import BROKER_URL, _reachable, require_server

    address = parse_url(BROKER_URL)
    require_server(_reachable(address.host, address.port), f"MQTT broker not reachable at {BROKER_URL}")
    prefix = f"patron-test-{uuid.uuid4().hex[:12]}"
    device_settings = settings.model_copy(update={"mqtt_url": BROKER_URL, "mqtt_topic_prefix": prefix})
    customer_id = make_customer(tenant, consents=("in_app",))
    devices = []
    for status in ("active", "active", "retired"):
        response = client.post("/api/v1/devices", headers=tenant.headers,
                               json={"type": "vehicle", "customer_id": customer_id, "status": status})  # fmt: skip
        assert response.status_code == 201, response.text
        devices.append(response.json()["id"])

    received: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    listener = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"listener-{uuid.uuid4().hex[:8]}")
    listener.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.on_message = lambda _c, _u, msg: received.append((msg.topic, json.loads(msg.payload)))
    listener.connect(address.host, address.port)
    listener.loop_start()
    try:
        assert subscribed.wait(10)
        message_id = send(client, tenant, customer_id, "device", subject="Service due",
                          body="Your car needs an oil change", data={"code": "OIL"}).json()["id"]
        assert run_due(db, device_settings) == {"sent": 1}
        wait_until(lambda: len(received) >= 2, what="two device commands")
        time.sleep(0.2)
    finally:
        listener.loop_stop()
        listener.disconnect()
    topics = sorted(topic for topic, _ in received)
    assert topics == sorted(f"{prefix}/{tenant.slug}/devices/{d}/commands" for d in devices[:2])
    assert {json.dumps(p, sort_keys=True) for _, p in received} == {json.dumps(
        {"type": "message", "message_id": message_id, "subject": "Service due",
         "body": "Your car needs an oil change", "data": {"code": "OIL"}}, sort_keys=True)}  # fmt: skip
    assert message(client, tenant, message_id)["address"] == "2 device(s)"


def test_device_message_without_devices_or_consent_is_suppressed(client, db, tenant, make_customer, settings):
    no_device = make_customer(tenant, consents=("in_app",))
    no_consent = make_customer(tenant)
    response = client.post("/api/v1/devices", headers=tenant.headers,
                           json={"type": "wearable", "customer_id": no_consent})  # fmt: skip
    assert response.status_code == 201
    first = send(client, tenant, no_device, "device").json()["id"]
    second = send(client, tenant, no_consent, "device").json()["id"]
    assert run_due(db, settings) == {"suppressed": 2}
    assert message(client, tenant, first)["reason"] == "no_address"
    assert message(client, tenant, second)["reason"] == "no_consent"


# --- in-app inbox ------------------------------------------------------------------------------------


def test_in_app_messages_reach_the_inbox_and_reading_marks_them_opened(client, db, tenant, make_customer, settings):
    customer_id = make_customer(tenant, consents=("in_app",))
    first = send(client, tenant, customer_id, "in_app", subject="Welcome", body="Thanks for joining").json()["id"]
    second = send(client, tenant, customer_id, "in_app", subject="Points", body="You earned 50 points").json()["id"]
    inbox = client.get(f"/api/v1/customers/{customer_id}/inbox", headers=tenant.headers).json()
    assert inbox["total"] == 0  # not delivered yet
    assert run_due(db, settings) == {"delivered": 2}

    inbox = client.get(f"/api/v1/customers/{customer_id}/inbox", headers=tenant.headers).json()
    assert [(i["id"], i["subject"], i["read"]) for i in inbox["items"]] == [
        (second, "Points", False), (first, "Welcome", False)]
    read = client.post(f"/api/v1/customers/{customer_id}/inbox/{first}/read", headers=tenant.headers)
    assert read.status_code == 200 and read.json()["read"] is True
    unread = client.get(f"/api/v1/customers/{customer_id}/inbox", params={"unread": True}, headers=tenant.headers)
    assert [i["id"] for i in unread.json()["items"]] == [second]
    opened = message(client, tenant, first)
    assert opened["status"] == "opened" and opened["delivered_at"] is not None
    # the inbox of another customer does not hold the message
    other = make_customer(tenant, consents=("in_app",))
    assert client.post(f"/api/v1/customers/{other}/inbox/{second}/read", headers=tenant.headers).status_code == 404


def test_in_app_without_consent_never_reaches_the_inbox(client, db, tenant, make_customer, settings):
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "in_app").json()["id"]
    assert run_due(db, settings) == {"suppressed": 1}
    assert client.get(f"/api/v1/customers/{customer_id}/inbox", headers=tenant.headers).json()["total"] == 0
    assert message(client, tenant, message_id)["reason"] == "no_consent"


def test_the_same_message_is_never_delivered_twice(client, db, tenant, make_customer, settings):
    customer_id = make_customer(tenant, consents=("in_app",))
    message_id = send(client, tenant, customer_id, "in_app").json()["id"]
    assert deliver_message(db, settings, message_id).status == "delivered"
    assert deliver_message(db, settings, message_id).status is None
    detail = message(client, tenant, message_id)
    assert detail["attempts"] == 1 and [h["status"] for h in detail["history"]] == ["queued", "delivered"]
