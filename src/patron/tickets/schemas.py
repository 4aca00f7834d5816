"""API shapes of the service desk: tickets, their history, SLA policies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from patron.core.api import Schema

Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["new", "open", "pending", "resolved", "closed"]
Kind = Literal["complaint", "request", "question", "incident"]
EventKind = Literal[
    "acknowledgement", "comment", "status", "assignment", "escalation", "breach", "satisfaction"
]
SlaState = Literal["ok", "at_risk", "breached", "met", "paused"]
Sort = Literal["due", "-created", "created", "-number", "number", "priority"]

SUBJECT_MAX = 300
DESCRIPTION_MAX = 20_000
COMMENT_MAX = 20_000
MAX_TARGET_MINUTES = 366 * 24 * 60


def _printable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(_printable)]
Subject = Annotated[str, AfterValidator(_printable), AfterValidator(_not_blank)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


class TicketCreate(Schema):
    customer_id: int = Field(ge=1, description="The customer who complains or asks.")
    subject: Subject = Field(max_length=SUBJECT_MAX, description="One line saying what it is about.")
    description: Text = Field("", max_length=DESCRIPTION_MAX, description="The customer's full message.")
    kind: Kind = Field(description="complaint, request, question or incident.")
    category: Slug = Field(
        "general", max_length=60, description="Free category such as `billing` or `device`."
    )
    priority: Priority = Field(description="Sets the SLA targets through the organisation's SLA policy.")
    channel: Slug = Field(
        "web",
        max_length=20,
        description="Where the ticket came in: `web`, `email`, `phone`, `app`, `device`, ...",
    )
    assignee_id: int | None = Field(None, ge=1, description="Staff member to work on it (notified).")


class TicketUpdate(Schema):
    """Fields to change; omitted fields stay. ``status`` follows the workflow; ``assignee_id`` notifies."""

    subject: Subject | None = Field(None, max_length=SUBJECT_MAX)
    description: Text | None = Field(None, max_length=DESCRIPTION_MAX)
    kind: Kind | None = None
    category: Slug | None = Field(None, max_length=60)
    priority: Priority | None = Field(
        None, description="Changing it recomputes the SLA due times from creation."
    )
    status: Status | None = Field(
        None,
        description="new -> open -> pending -> resolved -> closed; resolved and "
        "closed tickets reopen to open.",
    )
    channel: Slug | None = Field(None, max_length=20)
    assignee_id: int | None = Field(None, ge=1, description="Staff member; null unassigns.")

    @field_validator(
        "subject", "description", "kind", "category", "priority", "status", "channel", mode="before"
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class SlaOut(Schema):
    first_response_due_at: datetime | None = Field(description="When the first staff reply is due.")
    resolution_due_at: datetime | None = Field(description="When the ticket must be resolved.")
    state: SlaState = Field(
        description="ok, at_risk (a quarter or less of the running clock's window left), "
        "breached, met (resolved in time) or paused (pending on the customer)."
    )
    minutes_left: int | None = Field(
        description="Whole minutes until the running clock is due; negative when "
        "overdue; null when no clock runs."
    )


class TicketOut(Schema):
    id: int
    number: int = Field(description="Sequential number within the organisation, shown to customers.")
    customer_id: int
    subject: str
    description: str
    kind: Kind
    category: str
    priority: Priority
    status: Status
    channel: str
    assignee_id: int | None
    escalated_to_id: int | None = Field(description="Manager the ticket was escalated to on an SLA breach.")
    acknowledged_at: datetime | None = Field(description="When the automatic acknowledgement went out.")
    first_response_at: datetime | None = Field(description="First public reply by staff.")
    first_response_breached_at: datetime | None
    resolution_breached_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    satisfaction: int | None = Field(description="Customer satisfaction, 1 (poor) to 5 (excellent).")
    satisfaction_comment: str
    created_at: datetime
    updated_at: datetime
    sla: SlaOut = Field(description="The SLA as of this response.")


class CommentCreate(Schema):
    body: Subject = Field(max_length=COMMENT_MAX, description="The reply or note.")
    public: bool = Field(
        False,
        description="True: a reply the customer sees (the first one stops the "
        "first-response clock). False: an internal note.",
    )


class AssignBody(Schema):
    assignee_id: int | None = Field(ge=1, description="Staff member to assign; null unassigns.")


class SatisfactionBody(Schema):
    satisfaction: int = Field(ge=1, le=5, strict=True, description="1 (poor) to 5 (excellent).")
    comment: Text = Field("", max_length=1000)


class CloseBody(Schema):
    satisfaction: int | None = Field(
        None, ge=1, le=5, strict=True, description="Customer satisfaction 1-5, if given."
    )
    comment: Text = Field("", max_length=1000, description="The customer's words on the rating.")


class TicketEventOut(Schema):
    id: int
    ticket_id: int
    kind: EventKind
    author_id: int | None = Field(description="Staff member; null for automatic events.")
    body: str
    public: bool = Field(description="Whether the customer sees it.")
    data: dict
    created_at: datetime


class CheckSlaOut(Schema):
    breached: int = Field(description="Tickets that newly breached an SLA target in this run.")


def _days(value: str) -> str:
    if not value or any(c not in "0123456" for c in value) or len(set(value)) != len(value):
        raise ValueError("use each weekday digit 0-6 (Monday=0) at most once, e.g. 01234")
    return "".join(sorted(value))


Days = Annotated[str, Field(min_length=1, max_length=7), AfterValidator(_days)]


class SlaPolicyCreate(Schema):
    priority: Priority
    first_response_minutes: int = Field(
        ge=1, le=MAX_TARGET_MINUTES, description="Minutes to the first reply."
    )
    resolution_minutes: int = Field(
        ge=1, le=MAX_TARGET_MINUTES, description="Minutes to resolution; at least the first-response target."
    )
    business_hours: bool = Field(
        False,
        description="Count only working minutes (hours and days below, in the "
        "organisation's time zone) instead of calendar time.",
    )
    business_start_hour: int = Field(9, ge=0, le=23, description="Start of the working day (local hour).")
    business_end_hour: int = Field(
        17, ge=1, le=24, description="End of the working day (local hour, 24 = midnight)."
    )
    business_days: Days = Field(
        "01234", description="Working weekdays as digits, Monday=0: `01234` is Mon-Fri."
    )


class SlaPolicyUpdate(Schema):
    first_response_minutes: int | None = Field(None, ge=1, le=MAX_TARGET_MINUTES)
    resolution_minutes: int | None = Field(None, ge=1, le=MAX_TARGET_MINUTES)
    business_hours: bool | None = None
    business_start_hour: int | None = Field(None, ge=0, le=23)
    business_end_hour: int | None = Field(None, ge=1, le=24)
    business_days: Days | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class SlaPolicyOut(Schema):
    id: int
    priority: Priority
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool
    business_start_hour: int
    business_end_hour: int
    business_days: str
    created_at: datetime
    updated_at: datetime


class QueueSummaryOut(Schema):
    by_status: dict[str, int] = Field(description="Tickets per status, all of them.")
    active: int = Field(description="Tickets new, open or pending.")
    unassigned: int = Field(description="Active tickets without an assignee.")
    breached: int = Field(description="Active tickets whose SLA is breached.")
    at_risk: int = Field(description="Active tickets whose running SLA clock is at risk.")
    by_priority: dict[str, int] = Field(description="Active tickets per priority.")
