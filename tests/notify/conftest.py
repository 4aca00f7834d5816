"""Real local endpoints for the channel tests: an SMTP server (aiosmtpd), a Web Push service that checks
the VAPID signature and decrypts the payload with the subscription's own keys, and an SMS gateway that
checks the HMAC signature. Plus helpers to make customers with consents through the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from patron.notify import crypto

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("PATRON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, *, timeout: float = 20.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --- SMTP -------------------------------------------------------------------------------------------


class _MailHandler:
    def __init__(self, box: SmtpServer) -> None:
        self.box = box

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.box.lock:
            if self.box.fail_next > 0:
                self.box.fail_next -= 1
                self.box.refused += 1
                return "451 4.3.0 Try again later"
            if self.box.reject_all:
                return "550 5.1.1 No such mailbox"
            mail = message_from_bytes(envelope.content, policy=policy.default)
            self.box.received.append((envelope.rcpt_tos, mail))
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    fail_next: int = 0
    refused: int = 0
    reject_all: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def mails(self) -> list[EmailMessage]:
        with self.lock:
            return [mail for _rcpt, mail in self.received]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    box = SmtpServer("127.0.0.1", free_port())
    controller = Controller(_MailHandler(box), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- Web Push service --------------------------------------------------------------------------------


def decrypt_aes128gcm(body: bytes, *, private_key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """The user agent's side of RFC 8291 §3.4 / RFC 8188, written apart from the sending code."""
    salt, record_size, id_len = body[:16], struct.unpack("!I", body[16:20])[0], body[20]
    sender_public = body[21 : 21 + id_len]
    ciphertext = body[21 + id_len :]
    assert record_size >= len(ciphertext), "one record expected"
    receiver_public = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = private_key.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    )

    def hmac_sha256(key: bytes, data: bytes) -> bytes:
        mac = crypto_hmac.HMAC(key, hashes.SHA256())
        mac.update(data)
        return mac.finalize()

    prk_key = hmac_sha256(auth, shared)
    ikm = hmac_sha256(prk_key, b"WebPush: info\x00" + receiver_public + sender_public + b"\x01")
    prk = hmac_sha256(salt, ikm)
    cek = hmac_sha256(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = hmac_sha256(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    plain = AESGCM(cek).decrypt(nonce, ciphertext, None)
    plain = plain.rstrip(b"\x00")
    assert plain.endswith(b"\x02"), "last-record delimiter missing"
    return plain[:-1]


@dataclass
class BrowserSubscription:
    """What a browser holds: its private key and auth secret; and what it hands out (``as_json``)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def as_json(self) -> dict:
        public = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": crypto.b64url_encode(public), "auth": crypto.b64url_encode(self.auth)}}


@dataclass
class PushService:
    base: str
    vapid_public_key: str
    subscriptions: dict[str, BrowserSubscription] = field(default_factory=dict)
    received: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: answers to give per subscription id, in order, before the default 201
    script: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self) -> BrowserSubscription:
        sub_id = uuid.uuid4().hex[:12]
        sub = BrowserSubscription(f"{self.base}/push/{sub_id}", ec.generate_private_key(ec.SECP256R1()),
                                  os.urandom(16))
        self.subscriptions[sub_id] = sub
        return sub

    def handle(self, path: str, headers, body: bytes) -> int:
        sub_id = path.rsplit("/", 1)[-1]
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return 404
        with self.lock:
            scripted = self.script.get(sub_id) or []
            if scripted:
                return scripted.pop(0)
        problem = self._check(headers)
        if problem:
            with self.lock:
                self.refused.append(problem)
            return 401 if "Authorization" in problem else 400
        try:
            plain = decrypt_aes128gcm(body, private_key=sub.private_key, auth=sub.auth)
        except Exception as exc:
            with self.lock:
                self.refused.append(f"decrypt: {exc.__class__.__name__}")
            return 400
        with self.lock:
            self.received.append({"subscription": sub_id, "ttl": headers.get("TTL"),
                                  "payload": json.loads(plain)})
        return 201

    def _check(self, headers) -> str | None:
        if headers.get("Content-Encoding") != "aes128gcm":
            return "Content-Encoding is not aes128gcm"
        if headers.get("TTL") is None or not headers["TTL"].isdigit():
            return "TTL missing"
        auth = headers.get("Authorization", "")
        if not auth.startswith("vapid "):
            return "Authorization is not vapid"
        params = dict(part.strip().split("=", 1) for part in auth[len("vapid "):].split(","))
        if params.get("k") != self.vapid_public_key:
            return "Authorization k is not the expected VAPID key"
        try:
            claims = crypto.verify_vapid_jwt(params["t"], params["k"])
        except (ValueError, KeyError) as exc:
            return f"Authorization JWT: {exc}"
        if claims.get("aud") != self.base:
            return f"Authorization aud {claims.get('aud')} != {self.base}"
        if not time.time() < claims["exp"] <= time.time() + 24 * 3600:
            return "Authorization exp out of range"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "Authorization sub missing"
        return None


def _serve(handler_factory) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def vapid_keys() -> crypto.VapidKeys:
    return crypto.generate_vapid_keys()


@pytest.fixture
def push_service(vapid_keys) -> Iterator[PushService]:
    holder: dict[str, PushService] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = holder["service"].handle(self.path, self.headers, body)
            self.send_response(status)
            if status == 201:
                self.send_header("Location", f"{holder['service'].base}/msg/{uuid.uuid4().hex[:8]}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server, base = _serve(Handler)
    holder["service"] = PushService(base, vapid_keys.public_key)
    try:
        yield holder["service"]
    finally:
        server.shutdown()
        server.server_close()


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
