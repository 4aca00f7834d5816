"""Web Push (RFC 8030) to each of the customer's browser subscriptions, with VAPID (RFC 8292) and an
``aes128gcm`` encrypted payload (RFC 8291).

Per subscription: 201/202 accepted; 404/410 the subscription is gone (it is removed); 429 and 5xx are
passing failures. The message is ``sent`` when any subscription accepted it, retried when none did but
one may later, and failed (``gone``) when every subscription is gone.
"""

from __future__ import annotations

import json
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


def send(job: Job, settings: Settings) -> Outcome:
    if not settings.vapid_private_key:
        return Outcome("failed", reason="not_configured", error="PATRON_VAPID_PRIVATE_KEY is not set.")
    subscriptions: list[Subscription] = job.target
    body = payload(job)
    accepted: list[str] = []
    gone: list[int] = []
    errors: list[str] = []
    with httpx.Client(timeout=settings.notify_http_timeout_seconds) as client:
        for sub in subscriptions:
            encrypted = crypto.encrypt(
                body, p256dh=crypto.b64url_decode(sub.p256dh), auth=crypto.b64url_decode(sub.auth)
            )
            headers = {
                "Authorization": crypto.vapid_header(
                    endpoint=sub.endpoint, private_key=settings.vapid_private_key, subject=settings.vapid_subject
                ),
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
