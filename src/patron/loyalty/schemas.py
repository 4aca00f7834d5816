"""Request and response bodies of the loyalty API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from patron.core.api import Schema

_KEY_HELP = "Sending again with the same key returns the first entry and changes nothing more."


class PointsChange(Schema):
    points: int = Field(description="How many points: positive to earn; either sign for an adjustment.",
                        ge=-10_000_000, le=10_000_000)  # fmt: skip
    kind: Literal["earn", "adjust"] = Field(
        "earn", description="earn (a purchase, a referral, a survey answered) or adjust (a correction by staff)."
    )
    reason: str = Field("", max_length=200, description="Why, in words the customer may see in their history.")
    source: str | None = Field(None, min_length=1, max_length=60,
                               description="What it came from, e.g. `order:1042` or `survey:7`.")  # fmt: skip
    idempotency_key: str | None = Field(None, min_length=1, max_length=200, description=_KEY_HELP)


class PointsRedemption(Schema):
    points: int = Field(ge=1, le=10_000_000, description="How many points to take off the balance.")
    reason: str = Field("", max_length=200, description="What they were spent on.")
    source: str | None = Field(None, min_length=1, max_length=60,
                               description="What it is for, e.g. `reward:3` or `order:1042`.")  # fmt: skip
    idempotency_key: str | None = Field(None, min_length=1, max_length=200, description=_KEY_HELP)


class PointsEntryOut(Schema):
    id: int
    customer_id: int
    kind: Literal["earn", "redeem", "adjust", "merge"] = Field(description="What kind of change it was.")
    delta: int = Field(description="Points added (positive) or taken off (negative).")
    balance_after: int = Field(description="The balance this change left.")
    reason: str = Field(description="Why.")
    source: str | None = Field(description="What it came from, if given.")
    created_at: datetime = Field(description="When (UTC).")


class PointsAccount(Schema):
    customer_id: int
    balance: int = Field(description="Points the customer has now (never below zero).")
    lifetime_earned: int = Field(description="All points ever earned (for tiers).")
    items: list[PointsEntryOut] = Field(description="The history, newest first (one page).")
    total: int = Field(description="Number of entries in the history, over all pages.")
    limit: int = Field(description="Largest number of entries in one page.")
    offset: int = Field(description="Number of entries skipped before this page.")
