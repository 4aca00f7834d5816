"""Local stand-ins for the services the channels talk to, for the test suite, the benchmarks and trying
Patron on one machine without a mail provider or a browser.

- :func:`push_service`: a Web Push service on ``127.0.0.1`` that checks each request as a real one
  does (``aes128gcm``, a TTL, a VAPID signature by the expected key with the right audience, expiry and
  subject) and decrypts the payload with the subscription's own private key (the user agent's side of
  RFC 8291, written apart from :mod:`patron.notify.crypto`). It hands out subscriptions like a browser
  (:meth:`PushService.subscribe`) and keeps what it accepted, with the moment it accepted it.
- :func:`smtp_server`: an SMTP server (``aiosmtpd``, from the ``test`` extra) that accepts every
  message, or refuses the next few with a passing error, or every one with a permanent one.

Neither is meant to face the internet: no TLS, no limits, everything kept in memory.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from patron.notify import crypto

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


# --- SMTP -------------------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    """What the server got. ``fail_next`` refuses that many messages with 451 (a passing error),
    ``reject_all`` every one with 550. With ``keep`` False, accepted mail is counted, not parsed or kept."""

    host: str
    port: int
    keep: bool = True
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    accepted: int = 0
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


class _MailHandler:
    def __init__(self, box: SmtpServer) -> None:
        self.box = box

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        box = self.box
        with box.lock:
            if box.fail_next > 0:
                box.fail_next -= 1
                box.refused += 1
                return "451 4.3.0 Try again later"
            if box.reject_all:
                return "550 5.1.1 No such mailbox"
            box.accepted += 1
            if box.keep:
                box.received.append(
                    (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
                )
        return "250 OK"


@contextmanager
def smtp_server(*, host: str = LOCALHOST, port: int | None = None, keep: bool = True) -> Iterator[SmtpServer]:
    """An SMTP server on a thread of its own for the ``with`` block (needs ``aiosmtpd``)."""
    from aiosmtpd.controller import Controller

    box = SmtpServer(host, port or free_port(), keep=keep)
    controller = Controller(_MailHandler(box), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- Web Push ---------------------------------------------------------------------------------------


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def decrypt_aes128gcm(body: bytes, *, private_key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """The user agent's side of RFC 8291 §3.4 / RFC 8188 for a body of one record: the plain payload, or
    ValueError (``cryptography``'s InvalidTag when the keys do not fit)."""
    if len(body) < 21:
        raise ValueError("the body is shorter than the aes128gcm header")
    salt, record_size, id_len = body[:16], struct.unpack("!I", body[16:20])[0], body[20]
    sender_public = body[21 : 21 + id_len]
    ciphertext = body[21 + id_len :]
    if record_size < len(ciphertext):
        raise ValueError("more than one record")
    receiver_public = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = private_key.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    )
    prk_key = _hmac_sha256(auth, shared)
    ikm = _hmac_sha256(prk_key, b"WebPush: info\x00" + receiver_public + sender_public + b"\x01")
    prk = _hmac_sha256(salt, ikm)
    cek = _hmac_sha256(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac_sha256(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    plain = AESGCM(cek).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
    if not plain.endswith(b"\x02"):
        raise ValueError("the last-record delimiter is missing")
    return plain[:-1]


@dataclass
class BrowserSubscription:
    """What a browser holds: its private key and auth secret; and what it hands out (:meth:`as_json`)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def as_json(self) -> dict:
        public = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": crypto.b64url_encode(public), "auth": crypto.b64url_encode(self.auth)}}  # fmt: skip


@dataclass
class PushService:
    """The push service's state. ``received`` holds ``{"subscription", "ttl", "payload", "at"}`` per
    accepted message (``at``: ``time.time()`` when it was accepted); ``refused`` the reasons of the
    requests it turned down; ``script`` answers to give per subscription id, in order, before the
    default 201."""

    base: str
    vapid_public_key: str
    subscriptions: dict[str, BrowserSubscription] = field(default_factory=dict)
    received: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self) -> BrowserSubscription:
        sub_id = uuid.uuid4().hex[:12]
        sub = BrowserSubscription(f"{self.base}/push/{sub_id}", ec.generate_private_key(ec.SECP256R1()),
                                  os.urandom(16))  # fmt: skip
        with self.lock:
            self.subscriptions[sub_id] = sub
        return sub

    def handle(self, path: str, headers, body: bytes) -> int:
        """The HTTP status for one push request."""
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
            payload = json.loads(plain)
        except Exception as exc:
            with self.lock:
                self.refused.append(f"decrypt: {exc.__class__.__name__}")
            return 400
        with self.lock:
            self.received.append({"subscription": sub_id, "ttl": headers.get("TTL"), "payload": payload,
                                  "at": time.time()})  # fmt: skip
        return 201

    def _check(self, headers) -> str | None:
        if headers.get("Content-Encoding") != "aes128gcm":
            return "Content-Encoding is not aes128gcm"
        if headers.get("TTL") is None or not headers["TTL"].isdigit():
            return "TTL missing"
        auth = headers.get("Authorization", "")
        if not auth.startswith("vapid "):
            return "Authorization is not vapid"
        try:
            params = dict(part.strip().split("=", 1) for part in auth[len("vapid ") :].split(","))
        except ValueError:
            return "Authorization is not t=..., k=..."
        if params.get("k") != self.vapid_public_key:
            return "Authorization k is not the expected VAPID key"
        try:
            claims = crypto.verify_vapid_jwt(params["t"], params["k"])
        except (ValueError, KeyError) as exc:
            return f"Authorization JWT: {exc}"
        if claims.get("aud") != self.base:
            return f"Authorization aud {claims.get('aud')} != {self.base}"
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            return "Authorization exp out of range"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "Authorization sub missing"
        return None


@contextmanager
def push_service(vapid_public_key: str, *, host: str = LOCALHOST) -> Iterator[PushService]:
    """A push service accepting messages signed with ``vapid_public_key``'s private key, served on
    threads of its own for the ``with`` block."""
    holder: dict[str, PushService] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = holder["service"].handle(self.path, self.headers, body)
            self.send_response(status)
            if status == 201:
                self.send_header("Location", f"{holder['service'].base}/msg/{uuid.uuid4().hex[:8]}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    holder["service"] = PushService(f"http://{host}:{server.server_address[1]}", vapid_public_key)
    thread = threading.Thread(target=server.serve_forever, name="patron-test-push", daemon=True)
    thread.start()
    try:
        yield holder["service"]
    finally:
        server.shutdown()
        server.server_close()
