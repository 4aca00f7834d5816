"""Request and response bodies of the campaigns API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from patron.core.api import Schema

Channel = Literal["email", "push", "sms", "device", "in_app"]


class AudienceFilter(Schema):
    q: str | None = Field(
        None, max_length=200, description="Words that must appear in the name, e-mail or phone."
    )
    tags: list[str] = Field(
        default_factory=list, max_length=20, description="Tags the customer must all have."
    )
    country: str | None = Field(None, max_length=2, description="ISO 3166 country code.")
    gender: str | None = Field(None, max_length=20, description="Gender as recorded on the profile.")
    income_band: str | None = Field(
        None, max_length=20, description="Income band as recorded on the profile."
    )
    education: str | None = Field(
        None, max_length=20, description="Education level as recorded on the profile."
    )
    owner_id: int | None = Field(None, ge=1, description="The staff member who owns the customer.")


class Audience(Schema):
    kind: Literal["all", "filter", "segment"] = Field(
        description="`all` customers, those a `filter` finds, or the members of a `segment`."
    )
    filter: AudienceFilter | None = Field(None, description="The customer search's filters (kind `filter`).")
    segment_id: int | None = Field(None, ge=1, le=2_147_483_647, description="The segment (kind `segment`).")


class Recurrence(Schema):
    every: Literal["daily", "weekly", "monthly"] = Field(description="How often it sends.")
    time: str = Field(max_length=5, description="Local time of day in the campaign's time zone, HH:MM.")
    weekday: int | None = Field(None, ge=0, le=6, description="Weekly: 0 = Monday ... 6 = Sunday.")
    day: int | None = Field(None, ge=1, le=28, description="Monthly: the day of the month, 1-28.")


class TriggerSpec(Schema):
    name: str = Field(
        min_length=1, max_length=120,
        description="The rule trigger's name, e.g. `entered_shop_17`; or a trigger the campaign job evaluates "
                    "itself: `no_purchase` (no order for `conditions.days`, default 60) or `birthday` (the "
                    "customer's birthday in their time zone, `conditions.days_before` 0-30 days ahead).",
    )  # fmt: skip
    conditions: dict[str, Any] = Field(
        default_factory=dict, max_length=10,
        description="Trigger data keys and the values (text, numbers or true/false) they must have, compared as "
                    "text; for `no_purchase` `days`, for `birthday` only `days_before`.",
    )  # fmt: skip
    cooldown_hours: int = Field(24, ge=0, le=24 * 365,
                                description="A customer gets the offer at most once in this many hours.")  # fmt: skip


class Conversion(Schema):
    kind: Literal["order", "visit", "event"] = Field(
        "order",
        description="What counts: an order, a visit (a rule trigger), or an app or device `event` of a type "
                    "from the event store.",
    )  # fmt: skip
    name: str | None = Field(None, max_length=120, description="Visit: the trigger that records the visit.")
    type: str | None = Field(
        None, max_length=64, description="Event: the event type that counts, e.g. `app_purchase`."
    )
    where: dict[str, Any] | None = Field(
        None, max_length=10,
        description="Event: props the event must have with exactly these values (text of at most 200 "
                    "characters, numbers or true/false), e.g. `{\"plan\": \"gold\"}`.",
    )  # fmt: skip
    value_prop: str | None = Field(
        None, max_length=64,
        description="Event: the numeric prop holding the conversion's value (e.g. `amount`); without it an "
                    "event conversion is worth 0.",
    )  # fmt: skip
    window_hours: int = Field(72, ge=1, le=24 * 90, description="Hours after assignment a conversion counts.")


class VariantIn(Schema):
    name: str = Field(min_length=1, max_length=40, description="The variant's name, e.g. `A`.")
    weight: int = Field(
        1, ge=1, le=1000, description="Its share of the non-hold-out audience, relative to the others."
    )
    subject: str = Field("", max_length=200, description="Subject template (e-mail; a title elsewhere).")
    body: str = Field(
        min_length=1, max_length=10_000, description="Body template (plain text, sandboxed Jinja)."
    )


class VariantOut(VariantIn):
    id: int = Field(description="The variant's id.")


class CampaignIn(Schema):
    name: str = Field(min_length=1, max_length=120, description="Unique within the organisation.")
    description: str = Field("", max_length=2000, description="What the campaign is for.")
    kind: Literal["one_off", "recurring", "triggered"] = Field("one_off", description="When it sends.")
    channels: list[Channel] = Field(min_length=1, max_length=5,
                                    description="Channels in order of preference; each customer gets the first "
                                                "they consented to.")  # fmt: skip
    audience: Audience = Field(description="Who it is for.")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the schedule.")
    send_at: datetime | None = Field(
        None, description="One-off: when to send (with offset); none sends at launch."
    )
    recurrence: Recurrence | None = Field(None, description="Recurring: the clock it sends on.")
    trigger: TriggerSpec | None = Field(None, description="Triggered: the rule trigger it answers.")
    conversion: Conversion = Field(default_factory=Conversion, description="What counts as a conversion.")
    budget: Decimal | None = Field(
        None, ge=0, le=1_000_000_000, description="Most it may spend; none for no limit."
    )
    costs: dict[Channel, Decimal] = Field(
        default_factory=dict, description="Cost of one message per channel."
    )
    holdout_percent: int = Field(0, ge=0, le=50, description="Share of the audience held out (sent nothing).")
    variants: list[VariantIn] = Field(
        min_length=1, max_length=10, description="A/B variants with their templates."
    )


class CampaignUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=120, description="New name.")
    description: str | None = Field(None, max_length=2000, description="New description.")
    kind: Literal["one_off", "recurring", "triggered"] | None = Field(None, description="New kind.")
    channels: list[Channel] | None = Field(None, min_length=1, max_length=5, description="New channels.")
    audience: Audience | None = Field(None, description="New audience.")
    timezone: str | None = Field(None, max_length=64, description="New time zone.")
    send_at: datetime | None = Field(None, description="New send time (one-off).")
    recurrence: Recurrence | None = Field(None, description="New recurrence.")
    trigger: TriggerSpec | None = Field(None, description="New trigger.")
    conversion: Conversion | None = Field(None, description="New conversion definition.")
    budget: Decimal | None = Field(None, ge=0, le=1_000_000_000, description="New budget.")
    costs: dict[Channel, Decimal] | None = Field(None, description="New costs per channel.")
    holdout_percent: int | None = Field(None, ge=0, le=50, description="New hold-out share.")
    variants: list[VariantIn] | None = Field(None, min_length=1, max_length=10,
                                             description="New variants (only before anyone was assigned).")  # fmt: skip


class CampaignOut(Schema):
    id: int = Field(description="The campaign's id.")
    name: str = Field(description="Its name.")
    description: str = Field(description="What it is for.")
    kind: str = Field(description="one_off, recurring or triggered.")
    status: str = Field(
        description="draft, scheduled, launching (a one-off being sent in the background), running, "
        "paused or done."
    )
    channels: list[str] = Field(description="Channels in order of preference.")
    audience: dict = Field(description="The audience definition.")
    timezone: str = Field(description="Time zone of the schedule.")
    send_at: datetime | None = Field(description="One-off send time.")
    recurrence: dict | None = Field(description="Recurring clock.")
    trigger: dict | None = Field(description="The trigger it answers.")
    conversion: dict = Field(description="What counts as a conversion, and the window.")
    budget: Decimal | None = Field(description="Most it may spend.")
    costs: dict = Field(description="Cost of one message per channel.")
    spent: Decimal = Field(description="What its queued messages cost so far.")
    holdout_percent: int = Field(description="Share held out.")
    next_run_at: datetime | None = Field(description="When it sends next (scheduled and recurring).")
    last_run_at: datetime | None = Field(description="When it last sent.")
    launched_at: datetime | None = Field(description="When it was first launched.")
    stop_reason: str | None = Field(description="Why it stopped by itself (`budget`).")
    created_at: datetime = Field(description="When it was created.")
    updated_at: datetime = Field(description="When it last changed.")
    variants: list[VariantOut] = Field(default_factory=list, description="Its A/B variants.")
    launch_progress: int | None = Field(None, description="While it is launching: how many customers of the "
                                        "audience it has taken in so far (null otherwise).")  # fmt: skip


class AudienceCountIn(Schema):
    audience: Audience = Field(description="The audience to count.")
    channels: list[Channel] = Field(
        min_length=1, max_length=5, description="The channels it would go out on."
    )


class AudienceCountOut(Schema):
    total: int = Field(description="Customers in the audience.")
    reachable: int = Field(description="Of them, those with a current consent for one of the channels.")
    by_channel: dict[str, int] = Field(
        description="Reachable customers by the first channel they consented to."
    )


class PreviewIn(Schema):
    size: int = Field(5, ge=1, le=20, description="How many customers of the audience to preview.")
    trigger_data: dict[str, str] = Field(default_factory=dict, max_length=20,
                                         description="Trigger data to preview a triggered offer with.")  # fmt: skip


class PreviewOut(Schema):
    customer_id: int = Field(description="The customer.")
    name: str = Field(description="Their name.")
    group: str = Field(
        description="The variant they are assigned to, or `holdout` (shown the first variant)."
    )
    channel: str | None = Field(description="The channel they would get it on; none without consent.")
    subject: str = Field(description="The personalised subject.")
    body: str = Field(description="The personalised body.")


class LaunchOut(Schema):
    campaign: CampaignOut = Field(description="The campaign after the launch.")
    assigned: int = Field(description="Customers assigned by a send at launch (a one-off sent now).")
    queued: int = Field(description="Messages queued at launch.")
    held_out: int = Field(description="Customers put in the hold-out at launch.")
    skipped: dict[str, int] = Field(description="Customers sent nothing at launch, by reason.")


class GroupOut(Schema):
    group: str = Field(description="The variant's name, or `holdout`.")
    variant_id: int | None = Field(description="The variant's id (none for the hold-out).")
    assigned: int = Field(description="Customers assigned to the group.")
    messaged: int = Field(description="Messages queued for them.")
    sent: int = Field(description="Messages that went out.")
    delivered: int = Field(description="Messages known delivered (a delivery report, an open or a click).")
    opened: int = Field(description="Messages opened.")
    clicked: int = Field(description="Messages clicked.")
    converted: int = Field(description="Assigned customers with at least one conversion in the window.")
    conversions: int = Field(description="Conversions in all.")
    value: Decimal = Field(description="Sum of the conversions' values: the orders' totals, or the events' "
                                       "`value_prop`.")  # fmt: skip
    cost: Decimal = Field(description="Cost of the group's messages.")
    conversion_rate: float | None = Field(description="converted / assigned.")
    uplift: float | None = Field(description="conversion_rate minus the hold-out's (absolute).")
    relative_uplift: float | None = Field(description="conversion_rate / the hold-out's - 1.")
    cost_per_conversion: Decimal | None = Field(description="cost / converted.")


class ResultsOut(Schema):
    campaign_id: int = Field(description="The campaign.")
    groups: list[GroupOut] = Field(description="The funnel per variant, then the hold-out.")
    cost_by_channel: dict[str, Decimal] = Field(description="What the messages cost per channel.")
    skipped: dict[str, int] = Field(description="Assigned customers sent nothing, by reason.")
    spent: Decimal = Field(description="What the campaign spent.")
    budget: Decimal | None = Field(description="Its budget.")


class RecipientOut(Schema):
    id: int = Field(description="The assignment's id.")
    customer_id: int = Field(description="The customer.")
    occurrence: str = Field(description="`once`, the local date of a recurring send, or `trigger:<id>`.")
    group: str = Field(description="The variant's name, or `holdout`.")
    channel: str | None = Field(description="The channel of their message.")
    message_id: int | None = Field(description="Their message.")
    message_status: str | None = Field(description="Its status now.")
    skipped: str | None = Field(description="Why nothing was sent: no_consent, budget, template.")
    cost: Decimal = Field(description="Cost of their message.")
    assigned_at: datetime = Field(description="When they were assigned.")
    converted: bool = Field(description="Whether a conversion was credited to this assignment.")
