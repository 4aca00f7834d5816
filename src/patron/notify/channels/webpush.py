"""Web Push (RFC 8030) to each of the customer's browser subscriptions, with VAPID (RFC 8292) and an
``aes128gcm`` encrypted payload (RFC 8291).

Per subscription: 201/202 accepted; 404/410 the subscription is gone (it is removed); 429 and 5xx are
passing failures. The message is ``sent`` when any subscription accepted it, retried when none did but
one may later, and failed (``gone``) when every subscription is gone.

Each delivery thread keeps one HTTP client (its connections to the push services stay open between
messages), and a VAPID token signed for a push service is used again for that service for
:data:`VAPID_REUSE` seconds of its 12-hour life (RFC 8292 §2 lets a sender reuse a token), instead of a
new client, TLS set-up and signature per message.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx

from patron.core.config import Settings
from patron.notify import crypto
from patron.notify.channels import Job, Outcome


@dataclass(frozen=True)
class Subscription:
    id: int
    endpoint: str
    p256dh: str
    auth: str


def payload(job: Job) -> bytes:
    """What the service worker receives: title, body, the (tracked) URL to open, the message id."""
    url = job.data.get("url")
    content = {
        "title": job.subject,
        "body": job.body,
        "url": job.tracked(url) if isinstance(url, str) and url else None,
        "message_id": job.message_id,
        "data": {k: v for k, v in job.data.items() if k != "url"},
    }
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


#: seconds a signed VAPID header is used again for the same push service, key and subject
VAPID_REUSE = 3600.0
_signed: dict[tuple[str, str, str], tuple[str, float]] = {}
_signed_lock = threading.Lock()
_local = threading.local()


def authorization(endpoint: str, settings: Settings) -> str:
    """The ``Authorization`` header for a request to ``endpoint``: a VAPID token for its push service, signed
    at most :data:`VAPID_REUSE` seconds ago."""
    key = (crypto.audience(endpoint), settings.vapid_private_key or "", settings.vapid_subject)
    now = time.time()
    with _signed_lock:
        found = _signed.get(key)
    if found is not None and now - found[1] < VAPID_REUSE:
        return found[0]
    header = crypto.vapid_header(endpoint=endpoint, private_key=key[1], subject=key[2], now=now)
    with _signed_lock:
        if len(_signed) >= 256:  # keys rotated many times over: start afresh
            _signed.clear()
        _signed[key] = (header, now)
    return header


def _client(timeout: float) -> httpx.Client:
    """This thread's HTTP client (made again when the timeout setting changes)."""
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None or getattr(_local, "timeout", None) != timeout:
        if client is not None:
            client.close()
        client = httpx.Client(timeout=timeout)
        _local.client, _local.timeout = client, timeout
    return client


def send(job: Job, settings: Settings) -> Outcome:
    if not settings.vapid_private_key:
        return Outcome("failed", reason="not_configured", error="PATRON_VAPID_PRIVATE_KEY is not set.")
    subscriptions: list[Subscription] = job.target
    body = payload(job)
    accepted: list[str] = []
    gone: list[int] = []
    errors: list[str] = []
    client = _client(settings.notify_http_timeout_seconds)
    for sub in subscriptions:
        encrypted = crypto.encrypt(body, p256dh=crypto.b64url_decode(sub.p256dh), auth=crypto.b64url_decode(sub.auth))
        headers = {
            "Authorization": authorization(sub.endpoint, settings),
            "TTL": str(settings.push_ttl_seconds),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Urgency": "normal",
        }
        try:
            response = client.post(sub.endpoint, content=encrypted, headers=headers)
        except httpx.HTTPError as exc:
            errors.append(f"subscription {sub.id}: {exc.__class__.__name__}")
            continue
        if response.status_code in (200, 201, 202):
            accepted.append(response.headers.get("location", ""))
        elif response.status_code in (404, 410):
            gone.append(sub.id)
        else:
            errors.append(f"subscription {sub.id}: HTTP {response.status_code}")
    address = f"{len(subscriptions)} subscription(s)"
    if accepted:
        return Outcome("sent", provider_id=(accepted[0] or None), address=address, gone_subscription_ids=gone,
                       error="; ".join(errors)[:500] or None)
    if errors:
        return Outcome("retry", error="; ".join(errors)[:500], address=address, gone_subscription_ids=gone)
    return Outcome("failed", reason="gone", error="Every push subscription is gone (404/410).",
                   address=address, gone_subscription_ids=gone)
