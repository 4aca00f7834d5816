"""Request and response bodies of the loyalty API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from patron.core.api import Schema
from patron.orders.schemas import Money, MoneyIn

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
RecordId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]

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
    kind: Literal["earn", "redeem", "adjust", "merge", "expire", "reverse"] = Field(
        description="What kind of change it was: expire (unspent points past their date), reverse (an "
        "earning taken back when its order was cancelled or refunded)."
    )
    delta: int = Field(description="Points added (positive) or taken off (negative).")
    balance_after: int = Field(description="The balance this change left.")
    reason: str = Field(description="Why.")
    source: str | None = Field(description="What it came from, if given.")
    created_at: datetime = Field(description="When (UTC).")
    expires_at: datetime | None = Field(None, description="For an earning: when its unspent part expires.")


class PointsAccount(Schema):
    customer_id: int
    balance: int = Field(description="Points the customer has now (never below zero).")
    lifetime_earned: int = Field(description="All points ever earned (for tiers).")
    items: list[PointsEntryOut] = Field(description="The history, newest first (one page).")
    total: int = Field(description="Number of entries in the history, over all pages.")
    limit: int = Field(description="Largest number of entries in one page.")
    offset: int = Field(description="Number of entries skipped before this page.")


# --- programme ---------------------------------------------------------------------------------------


class ProgrammeOut(Schema):
    enabled: bool = Field(description="Whether purchases earn points.")
    points_per_unit: Money = Field(description="Points earned per unit of currency spent (before the tier multiplier).")
    expiry_months: int | None = Field(description="Earned points expire this many months later; null: never.")
    tier_basis: Literal["rolling_12m", "lifetime"] = Field(
        description="Tiers are decided on points earned in the last 12 months, or over the whole history."
    )


class ProgrammeUpdate(Schema):
    enabled: bool | None = Field(None, description="Switch earning on purchases on or off.")
    points_per_unit: Decimal | None = Field(None, ge=0, le=1000, max_digits=6, decimal_places=2,
                                            description="Points per unit of currency spent (0-1000).")  # fmt: skip
    expiry_months: int | None = Field(None, ge=1, le=120, description="Months until earned points expire; null: never.")
    tier_basis: Literal["rolling_12m", "lifetime"] | None = Field(None, description="What tiers are measured on.")


class EarnRuleIn(Schema):
    kind: Literal["purchase_bonus", "survey_answered", "app_streak", "referral"] = Field(
        description="purchase_bonus (extra points on orders of at least min_amount), survey_answered, "
        "app_streak (streak_days days in a row with app use), referral (a friend brought in)."
    )
    name: Name = Field(description="A name staff and customers recognise.")
    points: int = Field(ge=1, le=1_000_000, description="Points the rule gives each time.")
    streak_days: int | None = Field(None, ge=2, le=365, description="For app_streak: days in a row.")
    min_amount: MoneyIn | None = Field(None, description="For purchase_bonus: the smallest order total that earns it.")
    active: bool = Field(True, description="Only active rules give points.")


class EarnRuleUpdate(Schema):
    name: Name | None = Field(None, description="New name.")
    points: int | None = Field(None, ge=1, le=1_000_000, description="Points the rule gives each time.")
    streak_days: int | None = Field(None, ge=2, le=365, description="For app_streak: days in a row.")
    min_amount: MoneyIn | None = Field(None, description="For purchase_bonus: the smallest order total.")
    active: bool | None = Field(None, description="Switch the rule on or off.")


class EarnRuleOut(Schema):
    id: int
    kind: str = Field(description="What the rule rewards.")
    name: str = Field(description="The rule's name.")
    points: int = Field(description="Points given each time.")
    streak_days: int | None = Field(description="For app_streak: days in a row.")
    min_amount: Money | None = Field(description="For purchase_bonus: the smallest order total.")
    active: bool = Field(description="Whether it gives points now.")


class TierIn(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] = Field(
        description="e.g. Silver, Gold."
    )
    threshold: int = Field(ge=1, le=100_000_000, description="Qualifying points that reach the tier.")
    multiplier: Decimal = Field(Decimal("1"), ge=1, le=10, max_digits=4, decimal_places=2,
                                description="Purchase points are multiplied by this for the tier's members.")  # fmt: skip
    benefits: str = Field("", max_length=2000, description="What members enjoy, in words customers read.")


class TierUpdate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = Field(
        None, description="New name."
    )
    threshold: int | None = Field(None, ge=1, le=100_000_000, description="Qualifying points that reach the tier.")
    multiplier: Decimal | None = Field(None, ge=1, le=10, max_digits=4, decimal_places=2,
                                       description="Multiplier on purchase points.")  # fmt: skip
    benefits: str | None = Field(None, max_length=2000, description="What members enjoy.")


class TierOut(Schema):
    id: int
    name: str = Field(description="The tier's name.")
    threshold: int = Field(description="Qualifying points that reach it.")
    multiplier: Money = Field(description="Multiplier on purchase points.")
    benefits: str = Field(description="What members enjoy.")


class TierChangeOut(Schema):
    from_tier: str | None = Field(description="The tier before (null: none).")
    to_tier: str | None = Field(description="The tier after (null: none).")
    direction: Literal["up", "down"] = Field(description="An upgrade or a downgrade.")
    qualifying_points: int = Field(description="The qualifying points the change was decided on.")
    changed_at: datetime = Field(description="When (UTC).")


class TierStatusOut(Schema):
    customer_id: int
    tier: TierOut | None = Field(description="The customer's tier; null below the first threshold.")
    qualifying_points: int = Field(description="Points counting towards tiers now.")
    next_tier: TierOut | None = Field(description="The next tier up; null at the top.")
    points_to_next: int | None = Field(description="Qualifying points still needed for the next tier.")
    progress_percent: int = Field(description="How far from this tier's threshold to the next one's, 0-100.")
    history: list[TierChangeOut] = Field(description="Upgrades and downgrades, newest first.")


# --- rewards -----------------------------------------------------------------------------------------


class RewardIn(Schema):
    name: Name = Field(description="What the customer gets.")
    description: str = Field("", max_length=2000, description="More words about it.")
    cost_points: int = Field(ge=1, le=10_000_000, description="Points it costs.")
    stock: int | None = Field(None, ge=0, le=10_000_000, description="Units left; null: unlimited.")
    active: bool = Field(True, description="Only active rewards can be taken.")


class RewardUpdate(Schema):
    name: Name | None = Field(None, description="New name.")
    description: str | None = Field(None, max_length=2000, description="More words about it.")
    cost_points: int | None = Field(None, ge=1, le=10_000_000, description="Points it costs.")
    stock: int | None = Field(None, ge=0, le=10_000_000, description="Units left.")
    active: bool | None = Field(None, description="Offer it or not.")


class RewardOut(Schema):
    id: int
    name: str = Field(description="What the customer gets.")
    description: str = Field(description="More words about it.")
    cost_points: int = Field(description="Points it costs.")
    stock: int | None = Field(description="Units left; null: unlimited.")
    active: bool = Field(description="Whether it can be taken.")


class RewardRedemptionIn(Schema):
    reward_id: RecordId = Field(description="The reward taken.")


class RewardRedemptionOut(Schema):
    id: int
    reward_id: int = Field(description="The reward taken.")
    customer_id: int = Field(description="Who took it.")
    points: int = Field(description="Points it cost.")
    points_entry_id: int = Field(description="The ledger entry that took the points.")
    created_at: datetime = Field(description="When (UTC).")


# --- coupons -----------------------------------------------------------------------------------------


class CouponCampaignIn(Schema):
    name: Name = Field(description="The campaign's name.")
    kind: Literal["percent", "amount"] = Field(description="Percent off the order, or an amount off.")
    value: Decimal = Field(gt=0, le=1_000_000, max_digits=14, decimal_places=2,
                           description="The percentage (at most 100) or the amount.")  # fmt: skip
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="Currency of an amount and of min_order_value; the organisation's if omitted."
    )
    min_order_value: MoneyIn = Field(Decimal("0"), description="The smallest order the coupon applies to.")
    starts_at: datetime | None = Field(None, description="Valid from (with a time zone); now if omitted.")
    expires_at: datetime | None = Field(None, description="Valid until (with a time zone); never if omitted.")
    per_customer_limit: int = Field(1, ge=1, le=1000, description="How many of the campaign's codes one customer may use.")


class CouponCampaignOut(Schema):
    id: int
    name: str = Field(description="The campaign's name.")
    kind: str = Field(description="percent or amount.")
    value: Money = Field(description="The percentage or the amount.")
    currency: str = Field(description="Currency of amounts.")
    min_order_value: Money = Field(description="The smallest order the coupon applies to.")
    starts_at: datetime | None = Field(description="Valid from.")
    expires_at: datetime | None = Field(description="Valid until.")
    per_customer_limit: int = Field(description="Uses per customer.")
    active: bool = Field(description="Whether its codes can be used.")
    codes: int = Field(0, description="Codes generated.")
    redeemed: int = Field(0, description="Codes used.")


class CouponCampaignUpdate(Schema):
    active: bool = Field(description="False ends the campaign: its unused codes stop working.")


class CouponGenerateIn(Schema):
    count: int | None = Field(None, ge=1, le=10_000, description="How many codes (1-10,000), for anyone to use.")
    customer_ids: list[RecordId] | None = Field(None, min_length=1, max_length=10_000,
                                                description="One code per customer, usable by that customer only.")  # fmt: skip


class CouponCodesOut(Schema):
    campaign_id: int = Field(description="The campaign.")
    codes: list[str] = Field(description="The new codes.")


class CouponOut(Schema):
    id: int
    campaign_id: int = Field(description="The campaign.")
    code: str = Field(description="The code.")
    customer_id: int | None = Field(description="The only customer who may use it; null: anyone.")
    redeemed_at: datetime | None = Field(description="When it was used; null: not yet.")


class CouponPage(Schema):
    items: list[CouponOut]
    total: int = Field(description="Codes over all pages.")
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of items skipped before this page.")


class CouponRedeemIn(Schema):
    code: Code = Field(description="The coupon code (any case, dashes optional).")
    customer_id: RecordId = Field(description="Who uses it.")
    order_value: MoneyIn = Field(description="The order's value before the coupon.")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="The order's currency; the organisation's if omitted."
    )


class CouponUseOut(Schema):
    id: int
    campaign_id: int = Field(description="The campaign.")
    coupon_id: int = Field(description="The code used.")
    customer_id: int = Field(description="Who used it.")
    order_id: int | None = Field(description="The order it was used on, if any.")
    discount: Money = Field(description="What it took off.")
    used_at: datetime = Field(description="When (UTC).")


# --- gift certificates -------------------------------------------------------------------------------


class GiftIssueIn(Schema):
    amount: Decimal = Field(gt=0, le=100_000, max_digits=14, decimal_places=2, description="Value, at most 100,000.")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="Currency; the organisation's if omitted."
    )
    expires_at: datetime | None = Field(None, description="Valid until (future, with a time zone); never if omitted.")
    customer_id: RecordId | None = Field(None, description="The customer it was given to, if known.")


class GiftCertificateOut(Schema):
    id: int
    code: str = Field(description="The code the holder spends it with.")
    currency: str = Field(description="Currency.")
    initial_amount: Money = Field(description="What it was worth when issued.")
    balance: Money = Field(description="What is left.")
    customer_id: int | None = Field(description="The customer it was given to, if known.")
    expires_at: datetime | None = Field(description="Valid until; null: never.")
    issued_at: datetime = Field(description="When it was issued (UTC).")


class GiftCodeIn(Schema):
    code: Code = Field(description="The certificate's code.")


class GiftSpendIn(Schema):
    code: Code = Field(description="The certificate's code.")
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2, description="How much to take off.")
    reference: str | None = Field(None, min_length=1, max_length=60, description="What it paid for, e.g. `order:1042`.")


class GiftEntryOut(Schema):
    id: int
    certificate_id: int = Field(description="The certificate.")
    kind: Literal["issue", "spend"] = Field(description="Issued or spent.")
    amount: Money = Field(description="Added (positive) or taken off (negative).")
    balance_after: Money = Field(description="The balance this movement left.")
    reference: str | None = Field(description="What it paid for.")
    created_at: datetime = Field(description="When (UTC).")


# --- promotions --------------------------------------------------------------------------------------


class PromotionIn(Schema):
    name: Name = Field(description="The promotion's name.")
    kind: Literal["percent", "amount", "three_for_two", "gift"] = Field(
        description="percent off, amount off each unit, three_for_two (the cheapest of three free), gift "
        "(a free product line)."
    )
    value: Decimal = Field(Decimal("0"), ge=0, le=1_000_000, max_digits=14, decimal_places=2,
                           description="The percentage or the amount per unit (not used by three_for_two and gift).")  # fmt: skip
    product_ids: list[RecordId] = Field(default_factory=list, max_length=500, description="Products covered.")
    category_ids: list[RecordId] = Field(default_factory=list, max_length=500, description="Categories covered.")
    gift_product_id: RecordId | None = Field(None, description="For gift: the product given away.")
    min_order_value: MoneyIn = Field(Decimal("0"), description="Covered lines must be worth at least this.")
    starts_at: datetime | None = Field(None, description="Runs from (with a time zone).")
    ends_at: datetime | None = Field(None, description="Runs until (with a time zone).")
    stackable: bool = Field(False, description="May be combined with other promotions on a line.")
    active: bool = Field(True, description="Switched on.")


class PromotionUpdate(Schema):
    name: Name | None = Field(None, description="New name.")
    value: Decimal | None = Field(None, ge=0, le=1_000_000, max_digits=14, decimal_places=2, description="New value.")
    product_ids: list[RecordId] | None = Field(None, max_length=500, description="Products covered.")
    category_ids: list[RecordId] | None = Field(None, max_length=500, description="Categories covered.")
    gift_product_id: RecordId | None = Field(None, description="For gift: the product given away.")
    min_order_value: MoneyIn | None = Field(None, description="Covered lines must be worth at least this.")
    starts_at: datetime | None = Field(None, description="Runs from.")
    ends_at: datetime | None = Field(None, description="Runs until.")
    stackable: bool | None = Field(None, description="May be combined.")
    active: bool | None = Field(None, description="Switched on.")


class PromotionOut(Schema):
    id: int
    name: str = Field(description="The promotion's name.")
    kind: str = Field(description="percent, amount, three_for_two or gift.")
    value: Money = Field(description="The percentage or amount per unit.")
    product_ids: list[int] = Field(description="Products covered.")
    category_ids: list[int] = Field(description="Categories covered (both empty: everything).")
    gift_product_id: int | None = Field(description="The product given away.")
    min_order_value: Money = Field(description="Covered lines must be worth at least this.")
    starts_at: datetime | None = Field(description="Runs from.")
    ends_at: datetime | None = Field(description="Runs until.")
    stackable: bool = Field(description="May be combined with other promotions.")
    active: bool = Field(description="Switched on.")


# --- customer-facing link, referral seam, jobs -------------------------------------------------------


class PortalLinkOut(Schema):
    url: str = Field(description="The customer's personal loyalty page (a path; no sign-in needed).")
    expires_at: datetime = Field(description="When the link stops working.")


class ReferralIn(Schema):
    referred_customer_id: RecordId = Field(description="The friend the customer brought in.")


class SurveyAnsweredIn(Schema):
    response_id: RecordId = Field(description="The survey response.")


class JobRunOut(Schema):
    expired_points: int = Field(description="Points written off by the expiry job.")
    tier_changes: int = Field(description="Customers whose tier changed.")
    streak_awards: int = Field(description="App streak awards given.")
