"""Web Push cryptography: payload encryption (RFC 8291, ``aes128gcm`` of RFC 8188) and VAPID (RFC 8292).

Keys travel as base64url without padding, as browsers hand them out: a subscription's ``p256dh`` is an
uncompressed P-256 point (65 bytes), its ``auth`` a 16-byte secret; the VAPID private key is the 32-byte
scalar and its public key the uncompressed point.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from patron.core.errors import Invalid

RECORD_SIZE = 4096
#: seconds a VAPID token is valid; RFC 8292 §2 allows at most 24 hours
VAPID_LIFETIME = 12 * 3600


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    mac = hmac.HMAC(salt, hashes.SHA256())
    mac.update(ikm)
    return mac.finalize()


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    # one block is enough for every length used here (at most 32 bytes)
    mac = hmac.HMAC(prk, hashes.SHA256())
    mac.update(info + b"\x01")
    return mac.finalize()[:length]


def public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def load_private_key(raw: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def private_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def check_subscription_keys(p256dh: str, auth: str) -> None:
    """Invalid (naming the field) unless ``p256dh`` is a P-256 point and ``auth`` a 16-byte secret."""
    try:
        raw = b64url_decode(p256dh)
        if len(raw) != 65:
            raise ValueError
        load_public_key(raw)
    except (ValueError, TypeError):
        raise Invalid("keys.p256dh must be a base64url uncompressed P-256 public key.", field="keys.p256dh") from None
    try:
        secret = b64url_decode(auth)
    except (ValueError, TypeError):
        secret = b""
    if len(secret) != 16:
        raise Invalid("keys.auth must be a base64url 16-byte secret.", field="keys.auth")


def encrypt(
    payload: bytes,
    *,
    p256dh: bytes,
    auth: bytes,
    salt: bytes | None = None,
    sender_key: ec.EllipticCurvePrivateKey | None = None,
    record_size: int = RECORD_SIZE,
) -> bytes:
    """The ``aes128gcm`` body for one subscription (RFC 8291 §3.4, RFC 8188 §2): header (salt, record size,
    the sender's public key) followed by one encrypted record. ``salt`` and ``sender_key`` are fresh
    randoms unless given (for the RFC's test vector)."""
    if len(payload) + 17 + 86 > record_size:
        raise Invalid(f"The push payload is too large ({len(payload)} bytes).", field="body")
    salt = salt if salt is not None else os.urandom(16)
    sender_key = sender_key or ec.generate_private_key(ec.SECP256R1())
    receiver = load_public_key(p256dh)
    sender_public = public_bytes(sender_key.public_key())
    shared = sender_key.exchange(ec.ECDH(), receiver)
    # RFC 8291 §3.3: the auth secret salts the combination of the ECDH secret and both public keys
    prk_key = _hkdf_extract(auth, shared)
    ikm = _hkdf_expand(prk_key, b"WebPush: info\x00" + p256dh + sender_public, 32)
    # RFC 8188 §2.2/2.3: content-encryption key and nonce from the salt
    prk = _hkdf_extract(salt, ikm)
    cek = _hkdf_expand(prk, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf_expand(prk, b"Content-Encoding: nonce\x00", 12)
    record = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)  # 0x02: last record, no padding
    header = salt + struct.pack("!IB", record_size, len(sender_public)) + sender_public
    return header + record


# --- VAPID (RFC 8292) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VapidKeys:
    private_key: str
    public_key: str


def generate_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    return VapidKeys(b64url_encode(private_bytes(key)), b64url_encode(public_bytes(key.public_key())))


def vapid_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """The private key from its base64url form; Invalid naming the setting when it is not one."""
    try:
        raw = b64url_decode(text)
        if len(raw) != 32:
            raise ValueError
        return load_private_key(raw)
    except (ValueError, TypeError):
        raise Invalid(
            "PATRON_VAPID_PRIVATE_KEY must be a base64url P-256 private key (see `patron notify vapid-keys`).",
            field="vapid_private_key",
        ) from None


def vapid_public_key(text: str) -> str:
    return b64url_encode(public_bytes(vapid_private_key(text).public_key()))


def audience(endpoint: str) -> str:
    """The origin of a push endpoint, the JWT's ``aud`` (RFC 8292 §2)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def vapid_header(*, endpoint: str, private_key: str, subject: str, now: float | None = None) -> str:
    """``vapid t=<ES256 JWT>, k=<public key>`` for the Authorization header of a push request."""
    key = vapid_private_key(private_key)
    now = time.time() if now is None else now
    header = b64url_encode(json.dumps({"typ": "JWT", "alg": "ES256"}, separators=(",", ":")).encode())
    claims = {"aud": audience(endpoint), "exp": int(now) + VAPID_LIFETIME, "sub": subject}
    body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))  # JWS raw R||S (RFC 7518 §3.4)
    public = b64url_encode(public_bytes(key.public_key()))
    return f"vapid t={header}.{body}.{signature}, k={public}"


def verify_vapid_jwt(token: str, public_key: str) -> dict:
    """The claims of a VAPID JWT after checking its ES256 signature with ``public_key`` (ValueError if
    it does not verify). The push-service side of RFC 8292, used to check what we send."""
    header, body, signature = token.split(".")
    raw = b64url_decode(signature)
    if len(raw) != 64:
        raise ValueError("signature is not 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        load_public_key(b64url_decode(public_key)).verify(
            der, f"{header}.{body}".encode("ascii"), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise ValueError("signature does not verify") from None
    if json.loads(b64url_decode(header)) != {"typ": "JWT", "alg": "ES256"}:
        raise ValueError("unexpected JWT header")
    return json.loads(b64url_decode(body))
