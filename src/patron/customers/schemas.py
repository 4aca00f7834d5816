"""API shapes of the customers domain: validated at the edge with limits on every size."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from patron.core.api import Schema
from patron.customers.models import (
    ATTRIBUTE_TYPES,
    CONSENT_CHANNELS,
    EDUCATION_LEVELS,
    GENDERS,
    IDENTITY_TYPES,
    INCOME_BANDS,
)
from patron.customers.normalise import (
    check_birth_year,
    normalise_country,
    normalise_email,
    normalise_phone,
    normalise_timezone,
    to_birth_date,
)

Gender = Literal[GENDERS]  # type: ignore[valid-type]
Education = Literal[EDUCATION_LEVELS]  # type: ignore[valid-type]
IncomeBand = Literal[INCOME_BANDS]  # type: ignore[valid-type]
IdentityType = Literal[IDENTITY_TYPES]  # type: ignore[valid-type]
ConsentChannel = Literal[CONSENT_CHANNELS]  # type: ignore[valid-type]
AttributeType = Literal[ATTRIBUTE_TYPES]  # type: ignore[valid-type]


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _converter(function, code: str):
    def convert(value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None or not isinstance(value, str):
            return value
        try:
            return function(value)
        except ValueError as exc:
            raise PydanticCustomError(code, str(exc)) from None

    return BeforeValidator(convert)


Email = Annotated[str, _converter(normalise_email, "email"), Field(max_length=254)]
Phone = Annotated[str, _converter(normalise_phone, "phone"), Field(max_length=16)]
Country = Annotated[
    str,
    _converter(normalise_country, "country"),
    Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 code, e.g. DE."),
]
TimeZone = Annotated[
    str,
    _converter(normalise_timezone, "timezone"),
    Field(max_length=64, description="IANA time zone, e.g. Europe/Berlin."),
]


def _birth_year(value: int) -> int:
    try:
        return check_birth_year(value)
    except ValueError as exc:
        raise PydanticCustomError("birth_year", str(exc)) from None


BirthYear = Annotated[int, AfterValidator(_birth_year)]


def _birth_date(value: Any) -> Any:
    """A date of birth from ``YYYY-MM-DD`` text (or a date), checked; anything else is refused here rather
    than read loosely (a number of seconds, a date and time)."""
    try:
        return to_birth_date(value)
    except ValueError as exc:
        raise PydanticCustomError("birth_date", str(exc)) from None


BirthDate = Annotated[date, BeforeValidator(_birth_date)]
Tag = Annotated[str, Field(min_length=1, max_length=60)]
LifestyleTag = Annotated[str, Field(min_length=1, max_length=40)]
ShortText = Annotated[str, BeforeValidator(_blank_to_none), Field(max_length=100)]

MAX_PREFERENCES_BYTES = 8192


def _check_json_size(value: dict | None, limit: int, what: str) -> dict | None:
    if value is not None and len(json.dumps(value, default=str)) > limit:
        raise PydanticCustomError("too_large", f"{what} may hold at most {limit} bytes of JSON")
    return value


class _ProfileFields(Schema):
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    email: Email | None = Field(
        None, description="Stored lower-cased; kept in step with an `email` identity."
    )
    phone: Phone | None = Field(
        None,
        description="Any common notation; stored as `+` and digits, kept in step with a `phone` identity.",
    )
    birth_year: BirthYear | None = Field(
        None, description="Between 1900 and the current year; taken from `birth_date` when that is set."
    )
    birth_date: BirthDate | None = Field(
        None,
        description="Date of birth, YYYY-MM-DD: from 1900 on, not in the future. Sets `birth_year` to its "
        "year; a `birth_year` sent with it (or already stored, when only the year is sent) must agree. "
        "Birthday campaigns use it.",
    )
    gender: Gender | None = None
    education: Education | None = Field(None, description="Highest completed level of education.")
    occupation: ShortText | None = None
    income_band: IncomeBand | None = Field(None, description="Household income band used by segmentation.")
    lifestyle_tags: list[LifestyleTag] | None = Field(
        None, max_length=30, description="Lifestyle words such as commuter, outdoors."
    )
    preferences: dict[str, Any] | None = Field(
        None,
        max_length=50,
        description="Free-form preferences "
        "(at most 50 keys, 8 KB of JSON). On PATCH merged into the stored "
        "ones; a key set to null is removed.",
    )
    attributes: dict[str, Any] | None = Field(
        None,
        max_length=100,
        description="Custom attributes defined at "
        "/api/v1/customer-attributes, typed. On PATCH merged like "
        "preferences.",
    )
    tags: list[Tag] | None = Field(
        None, max_length=50, description="Lower-cased labels; on PATCH they replace the customer's tags."
    )
    owner_id: int | None = Field(None, ge=1, description="Staff member (user id) who owns the relationship.")
    city: ShortText | None = None
    country: Country | None = None
    timezone: TimeZone | None = None

    @field_validator("preferences")
    @classmethod
    def _preferences_size(cls, value: dict | None) -> dict | None:
        return _check_json_size(value, MAX_PREFERENCES_BYTES, "preferences")

    @field_validator("attributes")
    @classmethod
    def _attributes_size(cls, value: dict | None) -> dict | None:
        return _check_json_size(value, 32768, "attributes")


class CustomerCreate(_ProfileFields):
    """A new profile: at least one of a name, an e-mail or a phone."""


class CustomerUpdate(_ProfileFields):
    """Only the fields sent change; send null to clear a field."""


class CustomerOut(Schema):
    id: int
    first_name: str
    last_name: str
    name: str = Field(description="Display name: first and last name, else e-mail or phone.")
    email: str | None
    phone: str | None
    birth_year: int | None
    birth_date: date | None = Field(description="Date of birth, when known.")
    gender: str | None
    education: str | None
    occupation: str | None
    income_band: str | None
    lifestyle_tags: list[str]
    preferences: dict[str, Any]
    attributes: dict[str, Any]
    tags: list[str] = Field(default_factory=list)
    owner_id: int | None
    city: str | None
    country: str | None
    timezone: str | None
    consents: dict[str, bool] | None = Field(
        None, description="Current consent per channel (single-customer reads only; null in lists)."
    )
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None = Field(description="Set when the personal data was erased on request.")


class AttributeDefinitionCreate(Schema):
    key: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Lower-case letters, digits and _; used as `attributes.<key>` and `attr.<key>`.",
    )
    label: str = Field(min_length=1, max_length=120)
    type: AttributeType = Field(description="string, number, integer, boolean or date (YYYY-MM-DD).")
    description: str = Field("", max_length=2000)


class AttributeDefinitionUpdate(Schema):
    label: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)


class AttributeDefinitionOut(Schema):
    id: int
    key: str
    label: str
    type: str
    description: str
    created_at: datetime


class TagCount(Schema):
    tag: str
    customers: int


class IdentityCreate(Schema):
    type: IdentityType = Field(description="Channel of the identity.")
    value: str = Field(
        min_length=1, max_length=254, description="Normalised: e-mail lower-cased, phone as +digits."
    )


class IdentityOut(Schema):
    id: int
    customer_id: int
    type: str
    value: str
    created_at: datetime


class ConsentChange(Schema):
    channel: ConsentChannel
    granted: bool
    source: str = Field(
        min_length=1,
        max_length=60,
        description="Where the statement came from: web_form, app, call, import...",
    )
    method: str = Field("", max_length=60, description="How it was given: checkbox, double_opt_in, verbal...")
    note: str = Field("", max_length=500)


class ConsentStateOut(Schema):
    channel: str
    granted: bool
    since: datetime | None = Field(description="When the current state was recorded; null if never.")
    source: str | None
    method: str | None


class ConsentRecordOut(Schema):
    id: int
    customer_id: int
    channel: str
    granted: bool
    source: str
    method: str
    note: str
    recorded_at: datetime
    recorded_by_id: int | None


class PlaceCreate(Schema):
    label: str = Field(min_length=1, max_length=100, description="Home, Work, Gym...")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: str = Field("", max_length=300)


class PlaceUpdate(Schema):
    label: str | None = Field(None, min_length=1, max_length=100)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    address: str | None = Field(None, max_length=300)


class PlaceVisit(Schema):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    label: str | None = Field(
        None, max_length=100, description="Label for a new place if none is within 150 m."
    )


class PlaceOut(Schema):
    id: int
    customer_id: int
    label: str
    latitude: float
    longitude: float
    address: str
    visit_count: int
    last_visited_at: datetime | None
    source: str = Field(description='"manual" (entered by staff) or "learned" (clustered from device GPS stops).')
    kind: str = Field(description="home, work or other (learned places are labelled from when they are visited).")
    created_at: datetime


class PlaceVisitOut(Schema):
    place: PlaceOut
    created: bool = Field(description="True when no saved place was within 150 m and a new one was saved.")
    distance_m: float | None = Field(
        description="Distance to the matched place in metres; null when created."
    )


class TimelineItemOut(Schema):
    occurred_at: datetime
    kind: str = Field(description="<domain>.<event>, e.g. ticket.created, consent.revoked.")
    summary: str
    ref_type: str | None = Field(description="Kind of record the item is about, e.g. ticket.")
    ref_id: int | None
    data: dict[str, Any]
    actor_user_id: int | None = Field(description="Staff member who caused it, if any.")
    source: str = Field(description="`timeline` for stored entries, else the provider's name.")
    id: int | None = Field(description="Id of the stored entry; null for provider items.")


class TimelinePageOut(Schema):
    items: list[TimelineItemOut]
    next_before: str | None = Field(
        description="Pass as `before` for the next (older) page; null at the end."
    )
    unavailable: list[str] = Field(
        description="Providers that failed for this request (their items are missing)."
    )


class RejectedRowOut(Schema):
    row: int = Field(description="Row number in the file; the header is row 1.")
    field: str | None = Field(description="Field at fault, if one.")
    column: str | None = Field(description="CSV column at fault, if one.")
    reason: str


class ImportReportOut(Schema):
    created: int
    updated: int
    unchanged: int = Field(description="Rows that matched a customer and changed nothing.")
    rejected: list[RejectedRowOut] = Field(description="Rejected rows (the first 1,000).")
    rejected_count: int
    total: int = Field(description="Data rows in the file (blank lines not counted).")
    dry_run: bool
    mapping: dict[str, str] = Field(description="CSV column -> field actually used.")
    ignored_columns: list[str] = Field(description="Columns that were not imported.")


class MergeRequest(Schema):
    duplicate_id: int = Field(
        ge=1, description="The customer folded into this one (it disappears from lists)."
    )


class MergeOut(Schema):
    survivor: CustomerOut
    duplicate_id: int
    moved: dict[str, int] = Field(description="How many records moved, per kind and per other domain.")
    filled: list[str] = Field(description="Profile fields filled from the duplicate.")
