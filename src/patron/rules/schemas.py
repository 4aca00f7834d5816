"""API shapes of real-time rules, their firings, triggers and rule tests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from patron.core.api import Schema

NAME_MAX = 120
DESCRIPTION_MAX = 2000
DEFAULT_TEST_EVENTS = 1000
MAX_TEST_EVENTS = 100_000

DEFINITION_HELP = (
    "The rule as data: `when` (event_types, device_types, device_ids), `conditions`, one of `window`, "
    "`inactivity` or `geofence`, `cooldown_minutes` and `actions` (see docs/iot.md). An object, or the same "
    "as JSON text (YAML text when PyYAML is installed)."
)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


Name = Annotated[str, AfterValidator(_no_nul), AfterValidator(_not_blank)]
Text = Annotated[str, AfterValidator(_no_nul)]
# checked by the service (object, or JSON/YAML text), which names the offending path
Definition = Annotated[Any, Field(json_schema_extra={"anyOf": [{"type": "object"}, {"type": "string"}]})]


class RuleCreate(Schema):
    name: Name = Field(max_length=NAME_MAX, description="Unique name of the rule in the organisation.")
    description: Text = Field("", max_length=DESCRIPTION_MAX, description="What the rule is for.")
    enabled: bool = Field(True, description="Only enabled rules are evaluated on arriving events.")
    definition: Definition = Field(description=DEFINITION_HELP)


class RuleUpdate(Schema):
    """Fields to change; omitted fields stay."""

    name: Name | None = Field(
        None, max_length=NAME_MAX, description="Unique name of the rule in the organisation."
    )
    description: Text | None = Field(None, max_length=DESCRIPTION_MAX, description="What the rule is for.")
    enabled: bool | None = Field(None, description="Only enabled rules are evaluated on arriving events.")
    definition: Definition | None = Field(None, description=DEFINITION_HELP)

    @field_validator("name", "description", "enabled", "definition", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class RuleOut(Schema):
    id: int
    name: str
    description: str
    enabled: bool = Field(description="Only enabled rules are evaluated on arriving events.")
    definition: dict[str, Any] = Field(description="The rule as data (see docs/iot.md).")
    fire_count: int = Field(description="How many times the rule has fired.")
    last_fired_at: datetime | None = Field(description="When it last fired (UTC); null if never.")
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


class FiringOut(Schema):
    id: int
    rule_id: int = Field(description="The rule that fired.")
    fired_at: datetime = Field(description="When the firing was recorded, after its actions ran (UTC).")
    event_id: str | None = Field(
        description="The sender's id of the event that caused it; null for inactivity."
    )
    event_seq: int | None = Field(description="Position of that event in the event store.")
    event_type: str | None = Field(description="Type of that event.")
    device_id: int | None = Field(description="The device concerned, if any.")
    customer_id: int | None
    event: dict[str, Any] = Field(description="Snapshot of the event as it was evaluated.")
    reason: str = Field(description="Why the rule fired, in words.")
    actions: list[dict[str, Any]] = Field(
        description="What each action did: `type`, `status` (created, deduplicated, tagged, untagged, "
        "unchanged, emitted, notified, queued, sent, failed, skipped, error) and details."
    )
    latency_ms: float | None = Field(
        description="Milliseconds from the event's arrival to the firing's record."
    )


class TriggerOut(Schema):
    id: int
    name: str = Field(description="What happened, e.g. `nearby_shop_offer`; campaigns pick triggers by name.")
    rule_id: int | None = Field(description="The rule that emitted it (null once that rule is deleted).")
    firing_id: int | None = Field(description="The firing that emitted it.")
    customer_id: int | None
    device_id: int | None = Field(description="The device whose event caused it, if any.")
    data: dict[str, Any]
    created_at: datetime
    consumed_at: datetime | None = Field(
        description="When a consumer (a campaign) claimed it; null while waiting."
    )
    consumed_by: str | None = Field(description="Who claimed it, e.g. `campaign:12`.")


class ConsumeBody(Schema):
    by: Text | None = Field(
        None,
        min_length=1,
        max_length=120,
        description="Who claims the trigger (default: the caller's label).",
    )


class RuleTestBody(Schema):
    last: int = Field(
        DEFAULT_TEST_EVENTS,
        ge=1,
        le=MAX_TEST_EVENTS,
        description=f"How many of the organisation's latest stored events to replay (1-{MAX_TEST_EVENTS}).",
    )


class DefinitionTestBody(RuleTestBody):
    definition: Definition = Field(description=DEFINITION_HELP)


class WouldFire(Schema):
    event: dict[str, Any] | None = Field(
        description="The event that would make the rule fire; for inactivity, the silent subject."
    )
    reason: str = Field(description="Why the rule would fire, in words.")
    actions: list[dict[str, Any]] = Field(description="The actions it would run, with their texts filled in.")


class RuleTestOut(Schema):
    evaluated: int = Field(description="Number of stored events replayed, oldest first.")
    would_fire: list[WouldFire] = Field(description="Firings the rule would have made (at most 1000 shown).")
    would_fire_count: int = Field(description="Number of firings in all, also beyond those shown.")
