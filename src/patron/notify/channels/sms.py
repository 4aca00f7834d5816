"""SMS through an HTTP gateway: a JSON POST ``{to, body, message_id}`` signed with HMAC-SHA256.

Signature: ``X-Patron-Signature: sha256=<hex>`` over ``<timestamp>.<raw body>`` with the shared secret,
the timestamp (Unix seconds) in ``X-Patron-Timestamp``. The gateway's delivery reports come back the
same way to ``POST /api/v1/notify/sms/status`` and are refused unless signed and fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from patron.core.config import Settings
from patron.notify.channels import Job, Outcome

SIGNATURE_HEADER = "X-Patron-Signature"
TIMESTAMP_HEADER = "X-Patron-Timestamp"
#: how old (or how far ahead) a signed request may be
MAX_SKEW_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(secret: str, *, timestamp: str | None, sent: str | None, body: bytes, now: float | None = None) -> bool:
    """True when ``sent`` is the signature of ``body`` at ``timestamp`` and the timestamp is fresh."""
    if not timestamp or not sent or not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), sent)


def send(job: Job, settings: Settings) -> Outcome:
    if not settings.sms_webhook_url or not settings.sms_webhook_secret:
        return Outcome("failed", reason="not_configured",
                       error="PATRON_SMS_WEBHOOK_URL and PATRON_SMS_WEBHOOK_SECRET must both be set.")
    text = job.body
    url = job.data.get("url")
    if isinstance(url, str) and url:
        text += " " + job.tracked(url)
    body = json.dumps({"to": job.target, "body": text, "message_id": job.message_id}).encode()
    try:
        response = httpx.post(settings.sms_webhook_url, content=body,
                              headers=signed_headers(settings.sms_webhook_secret, body),
                              timeout=settings.notify_http_timeout_seconds)
    except httpx.HTTPError as exc:
        return Outcome("retry", error=f"SMS gateway: {exc.__class__.__name__}", address=job.target)
    if response.status_code == 429 or response.status_code >= 500:
        return Outcome("retry", error=f"SMS gateway: HTTP {response.status_code}", address=job.target)
    if response.status_code >= 400:
        return Outcome("failed", reason="rejected", error=f"SMS gateway: HTTP {response.status_code}",
                       address=job.target)
    provider_id = None
    try:
        answer = response.json()
        if isinstance(answer, dict) and answer.get("id") is not None:
            provider_id = str(answer["id"])[:200]
    except ValueError:
        pass
    return Outcome("sent", provider_id=provider_id, address=job.target)
