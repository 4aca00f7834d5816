"""API shapes for pipelines, stages, leads, deals, tasks and staff activity."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    computed_field,
    field_validator,
)

from patron.core.api import Schema
from patron.core.db import utcnow

StageKind = Literal["open", "won", "lost"]
LeadStatus = Literal["new", "contacted", "qualified", "disqualified", "converted"]
LeadStatusIn = Literal["new", "contacted", "qualified", "disqualified"]
DealStatus = Literal["open", "won", "lost"]

#: money leaves the API as a JSON number with two decimals (values fit a double exactly: 14 digits at most)
Money = Annotated[Decimal, PlainSerializer(lambda v: float(v), return_type=float, when_used="json")]
MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
StageName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
PipelineName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()./\- ]{3,40}$")
]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{3}$")]

#: a reference to a record: ids are 32-bit integers, so larger numbers are refused at the edge
MAX_ID = 2**31 - 1
RefId = Annotated[int, Field(ge=1, le=MAX_ID)]

CURRENCY_DESCRIPTION = (
    "ISO 4217 code, three letters (EUR, USD, ...); defaults to the organisation's currency."
)


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


# --- pipelines and stages ------------------------------------------------------------------------


class StageIn(Schema):
    name: StageName
    probability: int = Field(
        0,
        ge=0,
        le=100,
        description="Chance to win a deal in this stage, in percent. "
        "A won stage is always 100, a lost stage 0.",
    )
    kind: StageKind = Field("open", description="open, won (closing here wins the deal) or lost.")


class StageCreate(StageIn):
    position: int | None = Field(
        None,
        ge=1,
        le=100,
        description="1-based place among the stages; by default "
        "after the last open stage (before won and lost).",
    )


class StageUpdate(Schema):
    name: StageName | None = None
    probability: int | None = Field(None, ge=0, le=100, description="Chance to win, in percent.")


class StageOut(Schema):
    id: int
    pipeline_id: int
    name: str
    position: int = Field(description="1-based order of the stage on the board.")
    probability: int = Field(description="Chance to win a deal in this stage, in percent.")
    kind: StageKind


class PipelineCreate(Schema):
    name: PipelineName
    is_default: bool = Field(False, description="Make this the organisation's default pipeline.")
    stages: list[StageIn] | None = Field(
        None,
        min_length=2,
        max_length=30,
        description="Stages in board order; "
        "exactly one won and one lost stage. Omit for the standard six stages.",
    )


class PipelineUpdate(Schema):
    name: PipelineName | None = None
    is_default: Literal[True] | None = Field(
        None,
        description="Make this the default pipeline (the previous "
        "default stops being one). A default cannot be unset directly.",
    )


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool = Field(description="New deals without a pipeline go here.")
    stages: list[StageOut] = Field(description="Stages in board order.")
    created_at: datetime


class StageOrder(Schema):
    stage_ids: list[RefId] = Field(
        min_length=1,
        max_length=100,
        description="Every stage id of the pipeline, each once, in the new order.",
    )


# --- leads ---------------------------------------------------------------------------------------


class LeadBase(Schema):
    first_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    last_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    email: EmailStr | None = Field(None, max_length=254)
    phone: Phone | None = None
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = Field(
        "", description="Where the lead came from: web form, fair, referral, ..."
    )
    notes: Notes = ""
    owner_id: RefId | None = Field(None, description="Staff member who works the lead.")


class LeadCreate(LeadBase):
    status: LeadStatusIn = "new"


class LeadUpdate(Schema):
    first_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    last_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    email: EmailStr | None = Field(None, max_length=254)
    phone: Phone | None = None
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = None
    notes: Notes | None = None
    owner_id: RefId | None = None
    status: LeadStatusIn | None = Field(None, description="Use the convert action to mark a lead converted.")


class LeadOut(Schema):
    id: int
    first_name: str
    last_name: str
    company: str
    email: str | None
    phone: str | None
    source: str
    status: LeadStatus
    notes: str
    owner_id: int | None
    customer_id: int | None = Field(description="The customer the lead became, once converted.")
    created_at: datetime
    updated_at: datetime


class DealFromLead(Schema):
    title: Title
    value: MoneyIn = Decimal("0")
    currency: Currency | None = Field(None, description=CURRENCY_DESCRIPTION)
    pipeline_id: RefId | None = Field(None, description="Defaults to the organisation's default pipeline.")
    stage_id: RefId | None = Field(None, description="Defaults to the pipeline's first open stage.")
    expected_close: date | None = None

    _currency = field_validator("currency")(_upper)


class LeadConvert(Schema):
    customer_id: RefId | None = Field(
        None, description="Attach the lead to this existing customer instead of creating a new one."
    )
    deal: DealFromLead | None = Field(None, description="Also open a deal for the customer.")


class LeadConverted(Schema):
    lead: LeadOut
    customer_id: int = Field(description="The customer created (or attached) for the lead.")
    deal: DealOut | None = Field(None, description="The deal opened, if one was asked for.")


# --- deals ---------------------------------------------------------------------------------------


class DealCreate(Schema):
    title: Title
    customer_id: RefId | None = None
    pipeline_id: RefId | None = Field(
        None, description="Defaults to the stage's pipeline, else the default one."
    )
    stage_id: RefId | None = Field(None, description="Defaults to the pipeline's first open stage.")
    value: MoneyIn = Decimal("0")
    currency: Currency | None = Field(None, description=CURRENCY_DESCRIPTION)
    expected_close: date | None = None
    owner_id: RefId | None = Field(
        None, description="Staff member who owns the deal; defaults to the caller."
    )
    lead_id: RefId | None = Field(None, description="The lead the deal came from.")

    _currency = field_validator("currency")(_upper)


class DealUpdate(Schema):
    title: Title | None = None
    customer_id: RefId | None = None
    value: MoneyIn | None = None
    currency: Currency | None = Field(None, description="ISO 4217 code, three letters.")
    expected_close: date | None = None
    owner_id: RefId | None = None
    lost_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = Field(
        None, description="Only for a lost deal."
    )

    _currency = field_validator("currency")(_upper)


class DealMove(Schema):
    stage_id: RefId = Field(description="A stage of the deal's own pipeline.")
    lost_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = Field(
        None, description="Why the deal was lost; only when moving to the lost stage."
    )


class DealOut(Schema):
    id: int
    title: str
    customer_id: int | None
    lead_id: int | None
    pipeline_id: int
    stage_id: int
    value: Money = Field(description="Amount in `currency`, two decimals.")
    currency: str
    status: DealStatus = Field(description="open, won or lost; follows the kind of the stage.")
    expected_close: date | None
    owner_id: int | None
    closed_at: datetime | None = Field(description="When the deal was won or lost; null while open.")
    lost_reason: str
    created_at: datetime
    updated_at: datetime


class CurrencyTotal(Schema):
    currency: str
    count: int
    total_value: Money
    weighted_value: Money = Field(description="Total value x stage probability / 100, rounded to cents.")


class BoardStage(Schema):
    id: int
    name: str
    position: int
    probability: int
    kind: StageKind
    count: int = Field(description="Deals in the stage (all currencies), not only those listed.")
    total_value: Money = Field(description="Sum of the values of the stage's deals in the board currency.")
    weighted_value: Money = Field(description="total_value x probability / 100, rounded to cents.")
    other_currencies: list[CurrencyTotal] = Field(
        description="Totals of deals in other currencies, not converted."
    )
    deals: list[DealOut] = Field(
        description="The stage's deals, soonest expected close first, capped at `limit_per_stage`."
    )


class BoardTotals(Schema):
    open_count: int
    open_value: Money = Field(description="Value of the open deals in the board currency.")
    weighted_value: Money = Field(description="Sum of the open stages' weighted values (the forecast).")
    won_count: int
    won_value: Money
    lost_count: int
    lost_value: Money


class BoardOut(Schema):
    pipeline_id: int
    pipeline_name: str
    currency: str = Field(description="The organisation's currency, in which the totals are given.")
    stages: list[BoardStage]
    totals: BoardTotals


# --- tasks ---------------------------------------------------------------------------------------


class TaskCreate(Schema):
    title: Title
    notes: Notes = ""
    due_at: AwareDatetime | None = Field(None, description="When the task is due (with a time zone).")
    remind_at: AwareDatetime | None = Field(None, description="When to remind the assignee in the app.")
    assignee_id: RefId | None = Field(None, description="Staff member who does it; defaults to the caller.")
    customer_id: RefId | None = None
    deal_id: RefId | None = Field(
        None,
        description="The deal the task belongs to; its customer is used when `customer_id` is not given.",
    )


class TaskUpdate(Schema):
    title: Title | None = None
    notes: Notes | None = None
    due_at: AwareDatetime | None = None
    remind_at: AwareDatetime | None = Field(None, description="Changing it arms a new reminder.")
    assignee_id: RefId | None = None
    customer_id: RefId | None = None
    deal_id: RefId | None = None
    done: bool | None = Field(None, description="true completes the task, false reopens it.")


class TaskOut(Schema):
    id: int
    title: str
    notes: str
    due_at: datetime | None
    remind_at: datetime | None
    reminded_at: datetime | None = Field(description="When the reminder was sent; null until then.")
    done_at: datetime | None
    assignee_id: int | None
    created_by_id: int | None
    customer_id: int | None
    deal_id: int | None
    created_at: datetime
    updated_at: datetime

    @computed_field(description="True once the task is done.")  # type: ignore[prop-decorator]
    @property
    def done(self) -> bool:
        return self.done_at is not None

    @computed_field(description="Not done and past its due time.")  # type: ignore[prop-decorator]
    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < utcnow()


# --- staff activity ------------------------------------------------------------------------------


class StaffActivityOut(Schema):
    user_id: int
    full_name: str
    email: str
    role: str
    interactions: int = Field(description="Interactions logged by the staff member in the period.")
    tasks_completed: int = Field(description="Tasks assigned to them and completed in the period.")
    deals_won: int = Field(description="Deals they own that were won in the period.")
    deals_won_value: Money = Field(
        description="Value of those deals in the organisation's currency "
        "(deals in other currencies are counted, not summed)."
    )
    deals_lost: int = Field(description="Deals they own that were lost in the period.")
    tickets_resolved: int = Field(description="Tickets assigned to them and resolved in the period.")
    open_pipeline_value: Money = Field(
        description="Value of the open deals they own now, in the organisation's currency."
    )


class ActivityReport(Schema):
    since: datetime = Field(description="Start of the period (inclusive).")
    until: datetime = Field(description="End of the period (exclusive).")
    currency: str
    items: list[StaffActivityOut]


class ActivityBucket(Schema):
    start: datetime
    end: datetime
    interactions: int
    tasks_completed: int
    deals_won: int
    deals_won_value: Money
    deals_lost: int
    tickets_resolved: int


class ActivitySeries(Schema):
    user_id: int | None = Field(description="The staff member, or null for the whole organisation.")
    period: Literal["week", "month"]
    currency: str
    buckets: list[ActivityBucket] = Field(
        description="Oldest first; weeks start on Monday 00:00 UTC, months on the 1st."
    )


LeadConverted.model_rebuild()
