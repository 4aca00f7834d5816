"""API shapes of messages, their history, the suppression list and Web Push subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from patron.core.api import Schema

Channel = Literal["email", "push", "sms", "device", "in_app"]
Status = Literal["queued", "sending", "sent", "delivered", "failed", "opened", "clicked", "suppressed"]
Purpose = Literal["marketing", "service"]
_PURPOSE_HELP = ("marketing (an offer or campaign: held in quiet hours and counted against frequency caps) or "
                 "service (a ticket reply, a receipt: sent at once).")
SuppressionKind = Literal["email", "phone", "customer"]
MAX_DATA_BYTES = 8 * 1024

_CHANNEL_HELP = ("email, push (Web Push to the customer's browsers), sms, device (MQTT to the customer's "
                 "connected devices) or in_app (the inbox).")  # fmt: skip
_STATUS_HELP = ("queued, sending, sent (the provider took it), delivered, opened, clicked, failed or suppressed "
                "(not sent: see `reason`).")  # fmt: skip


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _data(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise ValueError("must be storable as JSON") from None
    if size > MAX_DATA_BYTES:
        raise ValueError(f"larger than {MAX_DATA_BYTES} bytes as JSON")
    return value


Text = Annotated[str, AfterValidator(_text)]
Data = Annotated[dict[str, Any], AfterValidator(_data)]


class MessageCreate(Schema):
    customer_id: int = Field(ge=1, le=2**31 - 1, description="The customer to send to.")
    channel: Channel = Field(description=_CHANNEL_HELP)
    subject: Text = Field("", max_length=200, description="Subject (e-mail) or title (push, in-app).")
    body: Text = Field(min_length=1, max_length=10_000, description="The text; its http(s) links are tracked.")
    data: Data = Field(default_factory=dict, description="Extra JSON for the channel; `url` is the link to open.")
    idempotency_key: Text | None = Field(
        None, min_length=1, max_length=200,
        description="Sending again with the same key returns the first message and sends nothing more.",
    )  # fmt: skip
    campaign_id: int | None = Field(None, ge=1, le=2**31 - 1, description="The campaign it belongs to, if any.")
    purpose: Purpose = Field("service", description=_PURPOSE_HELP)


class MessageOut(Schema):
    id: int
    customer_id: int
    channel: Channel = Field(description=_CHANNEL_HELP)
    subject: str
    body: str
    data: dict[str, Any]
    idempotency_key: str | None = Field(description="The key it was sent with, if any (unique per organisation).")
    status: Status = Field(description=_STATUS_HELP)
    reason: str | None = Field(description="Why it was suppressed or failed: no_consent, suppressed, no_address, ...")
    attempts: int = Field(description="How many times a worker tried to send it.")
    next_attempt_at: datetime | None = Field(description="When it is tried (again), while queued.")
    last_error: str | None = Field(description="What went wrong at the last failed attempt.")
    provider_id: str | None = Field(description="The provider's id: Message-ID, push service location, gateway id.")
    address: str | None = Field(description="Where it went: the e-mail address, phone number, subscriptions.")
    campaign_id: int | None = Field(description="The campaign it belongs to, if any.")
    purpose: Purpose = Field(description=_PURPOSE_HELP)
    created_at: datetime
    sent_at: datetime | None = Field(description="When the provider took it (UTC).")
    delivered_at: datetime | None = Field(description="When it reached the customer, where the channel tells (UTC).")
    opened_at: datetime | None = Field(description="First open: e-mail pixel or inbox read (UTC).")
    clicked_at: datetime | None = Field(description="First click on a tracked link (UTC).")
    failed_at: datetime | None = Field(description="When it failed for good (UTC).")


class HistoryOut(Schema):
    status: str
    at: datetime
    detail: str


class MessageDetail(MessageOut):
    history: list[HistoryOut] = Field(description="Every status change, oldest first.")


class InboxItem(Schema):
    id: int
    subject: str
    body: str
    data: dict[str, Any]
    read: bool = Field(description="True once the customer opened it.")
    created_at: datetime
    opened_at: datetime | None = Field(description="When the customer read it (UTC).")


class SuppressionCreate(Schema):
    kind: SuppressionKind = Field(description="email (an address), phone (a number) or customer (an id).")
    value: Text = Field(min_length=1, max_length=254, description="The address, number or customer id.")
    reason: Text = Field("", max_length=200, description="Why (a complaint, a bounce, a request).")


class SuppressionOut(Schema):
    id: int
    kind: SuppressionKind
    value: str
    reason: str
    created_at: datetime


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(min_length=1, max_length=200, description="The browser's P-256 public key (base64url).")
    auth: str = Field(min_length=1, max_length=60, description="The subscription's 16-byte auth secret (base64url).")


class PushSubscriptionIn(BaseModel):
    """A browser's ``PushSubscription.toJSON()`` (``expirationTime`` and other extras are ignored)."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(min_length=8, max_length=1000, description="The push service URL of the subscription.")
    keys: SubscriptionKeys = Field(description="The keys the payload is encrypted for.")


class PushSubscriptionOut(Schema):
    id: int
    customer_id: int
    endpoint: str = Field(description="The push service URL of the subscription.")
    user_agent: str = Field(description="The browser that subscribed.")
    created_at: datetime
    last_success_at: datetime | None = Field(description="When a push to it was last accepted (UTC).")


class CustomerLinkOut(BaseModel):
    url: str = Field(description="The customer's personal link to the push opt-in page.")
    expires_at: datetime = Field(description="When the link stops working (UTC).")


class VapidKeyOut(BaseModel):
    public_key: str | None = Field(description="The VAPID public key (base64url) for `pushManager.subscribe`; "
                                   "null when Web Push is not configured.")  # fmt: skip


class SmsStatusIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: int = Field(ge=1, le=2**31 - 1)
    status: Literal["delivered", "failed"]
    error: str | None = Field(None, max_length=500)


class Ok(BaseModel):
    ok: bool = Field(True, description="Always true: the request was accepted.")


Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class ChannelPolicyIn(Schema):
    quiet_start: Clock | None = Field(
        None, description="Start of the quiet hours, HH:MM in each customer's own time zone (null: none)."
    )
    quiet_end: Clock | None = Field(
        None, description="End of the quiet hours, HH:MM; may be earlier than the start (the window wraps midnight)."
    )
    daily_cap: int | None = Field(
        None, ge=0, le=1000, description="At most this many marketing messages per customer in 24 hours (null: no cap)."
    )
    weekly_cap: int | None = Field(
        None, ge=0, le=1000, description="At most this many marketing messages per customer in 7 days (null: no cap)."
    )


class ChannelPolicyOut(ChannelPolicyIn):
    channel: Channel = Field(description=_CHANNEL_HELP)
    updated_at: datetime = Field(description="When the policy was last changed (UTC).")
