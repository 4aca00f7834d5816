"""Channel adapters. Each takes a :class:`Job` (plain values read from the database when the message was
claimed) and returns an :class:`Outcome`; none of them touches the database, so no transaction stays
open while a provider is talking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patron.core.config import Settings


@dataclass(frozen=True)
class Job:
    """One message, ready to go out: what to say, the link token, and where to (``target`` depends on
    the channel: an address, a phone number, push subscriptions, device topics)."""

    message_id: int
    org_id: int
    channel: str
    subject: str
    body: str
    data: dict[str, Any]
    links: list[str]
    token: str
    target: Any
    public_url: str

    def link(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    @property
    def unsubscribe_url(self) -> str:
        return self.link(f"/u/{self.token}")

    def tracked(self, url: str) -> str:
        """``url`` behind click tracking (only the message's own links redirect)."""
        from urllib.parse import quote

        return self.link(f"/c/{self.token}?u={quote(url, safe='')}")


@dataclass
class Outcome:
    """What happened: ``sent`` (the provider took it), ``delivered`` (it reached the customer),
    ``retry`` (a passing failure), ``failed`` (for good), ``suppressed`` (nothing was sent) or ``held``
    (nothing was sent yet: quiet hours, see :mod:`patron.notify.fatigue`)."""

    status: str
    reason: str | None = None
    error: str | None = None
    provider_id: str | None = None
    address: str | None = None
    #: push subscriptions the push service says are gone (404/410): removed when the outcome is recorded
    gone_subscription_ids: list[int] = field(default_factory=list)
    #: ``held`` (quiet hours): not sent now, queued again for this moment (aware UTC); not an attempt
    until: datetime | None = None


Sender = Callable[[Job, Settings], Outcome]


def sender(channel: str) -> Sender:
    if channel == "email":
        from patron.notify.channels.email import send
    elif channel == "push":
        from patron.notify.channels.webpush import send
    elif channel == "sms":
        from patron.notify.channels.sms import send
    elif channel == "device":
        from patron.notify.channels.mqtt import send
    else:
        from patron.notify.channels.inapp import send
    return send
