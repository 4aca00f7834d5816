"""Real local endpoints for the channel tests: an SMTP server (aiosmtpd) and a Web Push service that checks
the VAPID signature and decrypts the payload with the subscription's own keys (both from
:mod:`patron.notify.testing`, which the benchmarks use too), and an SMS gateway that checks the HMAC
signature. Plus helpers to make customers with consents through the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from patron.notify import crypto, testing
from patron.notify.testing import (  # noqa: F401 - re-exported for the tests
    BrowserSubscription,
    PushService,
    SmtpServer,
    decrypt_aes128gcm,
    free_port,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("PATRON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def wait_until(condition, *, timeout: float = 20.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --- SMTP and Web Push: the local stand-ins of patron.notify.testing -----------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with testing.smtp_server() as box:
        yield box


@pytest.fixture
def vapid_keys() -> crypto.VapidKeys:
    return crypto.generate_vapid_keys()


@pytest.fixture
def push_service(vapid_keys) -> Iterator[PushService]:
    with testing.push_service(vapid_keys.public_key) as service:
        yield service


def _serve(handler_factory) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# --- SMS gateway ---------------------------------------------------------------------------------------

SMS_SECRET = "sms-test-secret-" + uuid.uuid4().hex


@dataclass
class SmsGateway:
    url: str
    secret: str
    received: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    holder: dict[str, SmsGateway] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            gateway = holder["gateway"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            timestamp = self.headers.get("X-Patron-Timestamp", "")
            expected = "sha256=" + hmac.new(gateway.secret.encode(), timestamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
            with gateway.lock:
                if gateway.script:
                    status = gateway.script.pop(0)
                elif not hmac.compare_digest(expected, self.headers.get("X-Patron-Signature", "")):
                    gateway.refused.append("bad signature")
                    status = 401
                elif abs(time.time() - int(timestamp or 0)) > 300:
                    gateway.refused.append("stale timestamp")
                    status = 401
                else:
                    gateway.received.append(json.loads(body))
                    status = 200
            answer = json.dumps({"id": f"gw-{len(gateway.received)}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server, base = _serve(Handler)
    holder["gateway"] = SmsGateway(f"{base}/sms", SMS_SECRET)
    try:
        yield holder["gateway"]
    finally:
        server.shutdown()
        server.server_close()


# --- customers -----------------------------------------------------------------------------------------


@pytest.fixture
def make_customer(client):
    """``make_customer(tenant, consents=("email",), email=..., phone=...)`` — a customer made through the
    API, with the given channels consented. Returns its id."""

    def make(tenant, *, consents: tuple[str, ...] = (), email: str | None = "", phone: str | None = None,
             first_name: str = "Ada") -> int:
        if email == "":
            email = f"c-{uuid.uuid4().hex[:8]}@example.com"
        body = {"first_name": first_name, "last_name": "Lovelace", "email": email}
        if phone:
            body["phone"] = phone
        response = client.post("/api/v1/customers", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        customer_id = response.json()["id"]
        for channel in consents:
            grant(client, tenant, customer_id, channel, True)
        return customer_id

    return make


def grant(client, tenant, customer_id: int, channel: str, granted: bool) -> None:
    response = client.post(f"/api/v1/customers/{customer_id}/consents", headers=tenant.headers,
                           json={"channel": channel, "granted": granted, "source": "web_form"})
    assert response.status_code == 201, response.text


def send(client, tenant, customer_id: int, channel: str, **fields):
    body = {"customer_id": customer_id, "channel": channel, "subject": "Hello", "body": "Hi there"} | fields
    return client.post("/api/v1/messages", json=body, headers=tenant.headers)


def message(client, tenant, message_id: int) -> dict:
    response = client.get(f"/api/v1/messages/{message_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def redis_url() -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=2):
            pass
    except OSError:
        reason = f"Redis not reachable at {REDIS_URL}"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return REDIS_URL
