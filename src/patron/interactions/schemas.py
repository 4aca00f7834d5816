"""API shapes of interactions: calls, e-mails, chats, meetings, social messages, notes and SMS."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, field_validator

from patron.core.api import Schema

Kind = Literal["call", "email", "chat", "meeting", "social", "note", "sms"]
Direction = Literal["inbound", "outbound", "internal"]

SUBJECT_MAX = 300
BODY_MAX = 50_000
MAX_DURATION_SECONDS = 86_400


def _printable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_printable)]

CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$|^$"


class InteractionCreate(Schema):
    customer_id: int = Field(ge=1, description="The customer the interaction was with.")
    kind: Kind = Field(description="What happened: call, email, chat, meeting, social, note or sms.")
    channel: str = Field(
        "",
        max_length=40,
        pattern=CHANNEL_PATTERN,
        description="Where it happened, e.g. `phone`, `whatsapp`, `twitter`, `store`; "
        "empty means the usual channel of the kind (call -> phone, note -> internal, ...).",
    )
    direction: Direction = Field(
        "outbound",
        description="Who started it: the customer (inbound), staff "
        "(outbound), or nobody outside (internal, e.g. a note).",
    )
    user_id: int | None = Field(
        None, ge=1, description="Staff member who handled it; defaults to the caller."
    )
    subject: Text = Field("", max_length=SUBJECT_MAX)
    body: Text = Field("", max_length=BODY_MAX, description="Transcript, message text or notes.")
    outcome: Text = Field(
        "", max_length=60, description="Short result, e.g. `resolved`, `callback`, `no answer`."
    )
    duration_seconds: int | None = Field(
        None,
        ge=0,
        le=MAX_DURATION_SECONDS,
        description="Length of a call or meeting in seconds (at most a day).",
    )
    occurred_at: AwareDatetime | None = Field(
        None, description="When it happened, with a time zone; defaults to now."
    )


class InteractionUpdate(Schema):
    """Fields to change; omitted fields stay as they are."""

    kind: Kind | None = None
    channel: str | None = Field(None, max_length=40, pattern=CHANNEL_PATTERN)
    direction: Direction | None = None
    user_id: int | None = Field(None, ge=1, description="Staff member who handled it; null clears it.")
    subject: Text | None = Field(None, max_length=SUBJECT_MAX)
    body: Text | None = Field(None, max_length=BODY_MAX)
    outcome: Text | None = Field(None, max_length=60)
    duration_seconds: int | None = Field(None, ge=0, le=MAX_DURATION_SECONDS)
    occurred_at: AwareDatetime | None = None

    @field_validator(
        "kind", "channel", "direction", "subject", "body", "outcome", "occurred_at", mode="before"
    )
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class InteractionOut(Schema):
    id: int
    customer_id: int
    kind: Kind
    channel: str
    direction: Direction
    user_id: int | None = Field(description="Staff member who handled it.")
    subject: str
    body: str
    outcome: str
    duration_seconds: int | None
    occurred_at: datetime
    sentiment: float | None = Field(
        description="Sentiment of an inbound message's words in [-1, 1] (VADER's compound score: "
        "<= -0.05 negative, >= 0.05 positive); null for outbound and internal interactions and "
        "messages without words."
    )
    ticket_id: int | None = Field(
        description="The complaint ticket this message opened or was added to: a written inbound "
        "message (e-mail, chat, social post, SMS) scoring -0.3 or less and worded like a complaint."
    )
    created_at: datetime
    updated_at: datetime
