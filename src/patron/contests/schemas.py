"""Request and response bodies of the referrals, contests and games API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from patron.core.api import Schema

_WHEN = "(UTC, ISO 8601 with a time zone)"
_KEY_HELP = "Sending again with the same key returns the first score and changes nothing more."


# --- referrals -------------------------------------------------------------------------------------


class ReferralCodeOut(Schema):
    customer_id: int = Field(description="The customer who owns the code.")
    code: str = Field(description="The personal code (8 characters of an alphabet without look-alikes).")
    created_at: datetime = Field(description=f"When the code was issued {_WHEN}.")


class ReferralProgramIn(Schema):
    referrer_points: int = Field(ge=0, le=1_000_000, description="Points to the customer who referred.")
    referred_points: int = Field(ge=0, le=1_000_000, description="Points to the new customer.")
    max_referrals: int = Field(ge=0, le=10_000, description="The most referrals one code may bring.")


class ReferralProgramOut(ReferralProgramIn):
    pass


class ReferralIn(Schema):
    code: str = Field(min_length=1, max_length=32, description="The referral code the new customer gave.")
    customer_id: int = Field(ge=1, le=2**31 - 1, description="The new (referred) customer.")


class ReferralOut(Schema):
    id: int = Field(description="Identifier of the referral.")
    referrer_id: int = Field(description="The customer whose code was used.")
    referred_id: int = Field(description="The customer who came with it.")
    code: str = Field(description="The code used.")
    status: Literal["pending", "qualified", "rewarded"] = Field(
        description="pending until the referred customer's first order is paid; then qualified, and "
        "rewarded once both sides have their points."
    )
    order_id: int | None = Field(description="The paid order that qualified the referral.")
    referrer_points: int = Field(description="Points given to the referrer (0 until rewarded).")
    referred_points: int = Field(description="Points given to the referred customer (0 until rewarded).")
    created_at: datetime = Field(description=f"When the referral was recorded {_WHEN}.")
    qualified_at: datetime | None = Field(description=f"When it qualified {_WHEN}.")
    rewarded_at: datetime | None = Field(description=f"When the points were given {_WHEN}.")


class ReferralPage(Schema):
    items: list[ReferralOut] = Field(description="Referrals, newest first (one page).")
    total: int = Field(description="Number of matching referrals over all pages.")
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of items skipped before this page.")


class Ambassador(Schema):
    rank: int = Field(description="Position on the board (1 = most rewarded referrals).")
    customer_id: int = Field(description="The referrer.")
    name: str = Field(description="The referrer's display name.")
    rewarded: int = Field(description="Referrals that brought a paying customer.")
    referrals: int = Field(description="All referrals recorded with the code.")


# --- contests --------------------------------------------------------------------------------------


class PrizeIn(Schema):
    name: str = Field(min_length=1, max_length=200, description="What the winner gets, in words.")
    points: int = Field(0, ge=0, le=1_000_000, description="Points added to each winner of this prize.")
    quantity: int = Field(1, ge=1, le=1000, description="How many winners get this prize.")


class PrizeOut(Schema):
    id: int = Field(description="Identifier of the prize.")
    position: int = Field(description="Order of the prize: the first winners drawn get the first prize.")
    name: str = Field(description="What the winner gets.")
    points: int = Field(description="Points added to each winner.")
    quantity: int = Field(description="How many winners get it.")


class ContestIn(Schema):
    name: str = Field(min_length=1, max_length=120, description="Name shown to staff and customers.")
    description: str = Field("", max_length=2000, description="Rules and details, shown to customers.")
    entry_rule: Literal["opt_in", "per_order", "per_points", "per_survey"] = Field(
        "opt_in",
        description="opt_in: one entry by signing up; per_order: one entry per paid order placed in "
        "the window; per_points: one entry per points_per_entry points earned in the window; per_survey: one "
        "entry per survey answered in the window.",
    )
    points_per_entry: int | None = Field(
        None, ge=1, le=1_000_000, description="For per_points: points per entry."
    )
    max_entries_per_customer: int | None = Field(
        None, ge=1, le=100_000, description="Cap on one customer's earned entries."
    )
    opens_at: datetime = Field(description=f"Start of the entry window {_WHEN}, included.")
    closes_at: datetime = Field(description=f"End of the entry window {_WHEN}, excluded.")
    consent_channel: Literal["email", "sms", "push", "in_app", "phone", "data_processing"] | None = Field(
        None, description="When set, only customers who consented to this channel may take part."
    )
    min_age: int | None = Field(
        18, ge=0, le=120, description="Minimum age, checked when the birth year is known (null: no age rule)."
    )
    prizes: list[PrizeIn] = Field(min_length=1, max_length=50, description="The prizes, first prize first.")


class ContestOut(Schema):
    id: int = Field(description="Identifier of the contest.")
    name: str = Field(description="Name of the contest.")
    description: str = Field(description="Rules and details.")
    status: Literal["draft", "open", "closed", "drawn"] = Field(description="Where the contest stands.")
    entry_rule: str = Field(description="How entries are got: opt_in, per_order, per_points or per_survey.")
    points_per_entry: int | None = Field(description="Points per entry (per_points).")
    max_entries_per_customer: int | None = Field(description="Cap on one customer's earned entries.")
    opens_at: datetime = Field(description=f"Start of the entry window {_WHEN}.")
    closes_at: datetime = Field(description=f"End of the entry window {_WHEN}.")
    consent_channel: str | None = Field(description="Consent required to take part, if any.")
    min_age: int | None = Field(description="Minimum age, if any.")
    seed_hash: str | None = Field(
        description="SHA-256 of the secret seed (hex), published when the contest opens."
    )
    seed: str | None = Field(description="The seed (64 hex digits), published only after the draw.")
    entries_hash: str | None = Field(
        description="SHA-256 of the entry list the draw ran on (after the draw)."
    )
    opened_at: datetime | None = Field(description=f"When the contest opened {_WHEN}.")
    drawn_at: datetime | None = Field(description=f"When the winners were drawn {_WHEN}.")
    prizes: list[PrizeOut] = Field(description="The prizes, first prize first.")
    entrants: int = Field(description="Customers holding entries.")
    entries: int = Field(description="Entries in all (the sum of the customers' counts).")


class ContestPage(Schema):
    items: list[ContestOut] = Field(description="Contests, newest first (one page).")
    total: int = Field(description="Number of matching contests over all pages.")
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of items skipped before this page.")


class EntryIn(Schema):
    customer_id: int = Field(ge=1, le=2**31 - 1, description="The customer who opts in.")


class EntryOut(Schema):
    customer_id: int = Field(description="The customer.")
    count: int = Field(description="Entries held (the weight in the draw).")
    source: str = Field(description="How they were got: opt_in, per_order, per_points or per_survey.")
    created_at: datetime = Field(description=f"When the customer first entered {_WHEN}.")


class EntryPage(Schema):
    items: list[EntryOut] = Field(description="Entries by customer id (one page).")
    total: int = Field(description="Number of customers holding entries.")
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of items skipped before this page.")


class WinnerOut(Schema):
    position: int = Field(description="Order in which the winner was drawn (1 = first).")
    customer_id: int | None = Field(description="The winner (null if the profile was deleted since).")
    prize_id: int | None = Field(description="The prize won.")
    points: int = Field(description="Points given with the prize.")


class DrawOut(Schema):
    contest_id: int = Field(description="The contest.")
    seed_hash: str = Field(description="The commitment published when the contest opened.")
    seed: str = Field(description="The seed, published at the draw.")
    entries_hash: str = Field(description="SHA-256 of the canonical entry list.")
    entries: list[list[int]] = Field(
        description="The eligible entries the draw ran on: [customer_id, count] by id."
    )
    prizes: int = Field(description="Number of winners the draw was for (the prizes' quantities added up).")
    winners: list[WinnerOut] = Field(description="The winners in the order drawn.")


class VerificationOut(Schema):
    contest_id: int = Field(description="The contest.")
    ok: bool = Field(description="True when every recomputed value equals the published one.")
    seed_hash_matches: bool = Field(
        description="SHA-256 of the published seed equals the published commitment."
    )
    entries_hash_matches: bool = Field(
        description="The hash of the published entries equals the published hash."
    )
    winners_match: bool = Field(description="Re-running the draw gives the published winners, in order.")
    recomputed_seed_hash: str = Field(description="SHA-256 of the published seed.")
    recomputed_entries_hash: str = Field(description="Hash of the published entry list.")
    recomputed_winners: list[int] = Field(description="Customer ids the re-run draw gives, in order.")
    published_winners: list[int] = Field(description="Customer ids published as winners, in order.")


# --- games -----------------------------------------------------------------------------------------


class GamePrizeIn(Schema):
    rank: int = Field(ge=1, le=1000, description="The rank that wins these points.")
    points: int = Field(
        ge=1, le=1_000_000, description="Points to each customer at that rank when a period closes."
    )


class GamePrizeOut(GamePrizeIn):
    pass


class GameIn(Schema):
    name: str = Field(min_length=1, max_length=120, description="Name shown to staff and customers.")
    description: str = Field("", max_length=2000, description="What to do to score.")
    source: Literal["manual", "orders", "events"] = Field(
        "manual", description="What scores: manual submissions (quiz points), paid orders, or device events."
    )
    event_type: str | None = Field(None, max_length=100, description="For events: the event type counted.")
    event_prop: str | None = Field(
        None,
        max_length=100,
        description="For events: a numeric property to add up (e.g. steps); without it, events are counted.",
    )
    period: Literal["day", "week", "month", "all"] = Field(
        "month",
        description="Leaderboard periods (UTC calendar; weeks are ISO weeks), or one for the whole game.",
    )
    rank_method: Literal["competition", "dense"] = Field(
        "competition", description="Ranks of ties: competition 1,2,2,4 or dense 1,2,2,3."
    )
    starts_at: datetime = Field(description=f"When the game starts {_WHEN}.")
    ends_at: datetime | None = Field(None, description=f"When it ends {_WHEN}; null: open-ended.")
    max_group_size: int = Field(10, ge=1, le=1000, description="The most members a group may have.")
    prizes: list[GamePrizeIn] = Field([], max_length=100, description="Points per rank at each period close.")


class GameOut(Schema):
    id: int = Field(description="Identifier of the game.")
    name: str = Field(description="Name of the game.")
    description: str = Field(description="What to do to score.")
    source: str = Field(description="manual, orders or events.")
    event_type: str | None = Field(description="Event type counted (events games).")
    event_prop: str | None = Field(description="Numeric property added up (events games), if any.")
    period: str = Field(description="Leaderboard period: day, week, month or all.")
    rank_method: str = Field(description="competition or dense.")
    starts_at: datetime = Field(description=f"Start {_WHEN}.")
    ends_at: datetime | None = Field(description=f"End {_WHEN}, if any.")
    max_group_size: int = Field(description="The most members of a group.")
    current_period: str = Field(description="Key of the period running now (e.g. 2026-11, 2026-W48).")
    prizes: list[GamePrizeOut] = Field(description="Points per rank at each period close.")


class GamePage(Schema):
    items: list[GameOut] = Field(description="Games, newest first (one page).")
    total: int = Field(description="Number of games over all pages.")
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of items skipped before this page.")


class ScoreIn(Schema):
    customer_id: int = Field(ge=1, le=2**31 - 1, description="The customer who scored.")
    points: int = Field(ge=1, le=1_000_000, description="Points scored.")
    note: str = Field("", max_length=200, description="What for (e.g. the quiz).")
    scored_at: datetime | None = Field(None, description=f"When {_WHEN}; now when left out.")
    idempotency_key: str | None = Field(None, min_length=1, max_length=200, description=_KEY_HELP)


class ScoreOut(Schema):
    id: int = Field(description="Identifier of the score.")
    customer_id: int = Field(description="The customer who scored.")
    points: int = Field(description="Points scored.")
    note: str = Field(description="What for.")
    scored_at: datetime = Field(description=f"When {_WHEN}.")


class StandingOut(Schema):
    rank: int = Field(description="Rank by the game's rank method (ties share a rank).")
    id: int = Field(description="The customer (or group) id.")
    name: str = Field(description="Display name of the customer or group.")
    score: float = Field(description="Score in the period.")


class LeaderboardOut(Schema):
    game_id: int = Field(description="The game.")
    period: str = Field(description="The period's key.")
    start: datetime = Field(description=f"Start of the period {_WHEN}, included.")
    end: datetime | None = Field(description=f"End of the period {_WHEN}, excluded; null if open-ended.")
    rank_method: str = Field(description="competition (1,2,2,4) or dense (1,2,2,3).")
    customers: list[StandingOut] = Field(description="Customers, best first; ties by the lower id.")
    groups: list[StandingOut] = Field(description="Groups (sum of current members' scores), best first.")


class GroupIn(Schema):
    name: str = Field(min_length=1, max_length=80, description="Name of the group, unique in the game.")


class GroupOut(Schema):
    id: int = Field(description="Identifier of the group.")
    name: str = Field(description="Name of the group.")
    members: list[int] = Field(description="Customer ids of the members, in order of joining.")


class MemberIn(Schema):
    customer_id: int = Field(ge=1, le=2**31 - 1, description="The customer joining.")


class AwardOut(Schema):
    period_key: str = Field(description="The period closed.")
    customer_id: int = Field(description="The customer given the prize.")
    rank: int = Field(description="Their rank in the period.")
    score: float = Field(description="Their score in the period.")
    points: int = Field(description="Points given.")
    awarded_at: datetime = Field(description=f"When {_WHEN}.")
