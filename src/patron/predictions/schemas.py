"""Request and response bodies of the predictions API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from patron.core.api import Schema


class ChurnDriver(Schema):
    feature: str = Field(description="The purchase feature, e.g. `recency_days` or `orders_90d`.")
    value: float | None = Field(description="The customer's value of the feature (null when unknown).")
    contribution: float = Field(
        description="What the feature adds to the churn log-odds (see docs/analytics.md)."
    )
    direction: Literal["raises", "lowers"] = Field(description="Whether it raises or lowers the churn risk.")


class RecommendedProduct(Schema):
    product_id: int = Field(description="The catalogue product.")
    name: str = Field(description="The product's current name.")
    sku: str = Field(description="The product's SKU.")
    score: float = Field(
        description="Similarity score (`cf`) or number of buyers (`popular`); higher is better."
    )
    source: Literal["cf", "popular"] = Field(
        description="`cf`: like what the customer bought; `popular`: a best seller (new customers, short lists)."
    )


class PredictionOut(Schema):
    customer_id: int = Field(description="The customer.")
    clv: float | None = Field(description="Expected spend over the next 12 months, discounted 1 % a month.")
    p_alive: float | None = Field(description="Probability that the customer still buys (BG/NBD).")
    expected_purchases: float | None = Field(description="Expected purchases in the next 12 months (BG/NBD).")
    churn_risk: float | None = Field(
        description="Calibrated probability of no purchase in the run's horizon."
    )
    churn_drivers: list[ChurnDriver] = Field(description="The three features moving the churn risk most.")
    recommended_products: list[RecommendedProduct] = Field(description="Up to ten products, best first.")
    sentiment: float | None = Field(description="Mean VADER compound score of the customer's texts, -1 to 1.")
    sentiment_trend: Literal["rising", "falling", "steady"] | None = Field(
        description="How the sentiment moves over time (null with too few texts)."
    )
    computed_at: datetime = Field(description="When the run computed these predictions (UTC).")


class RunRequest(Schema):
    as_of: AwareDatetime | None = Field(
        None, description="Predict from the history up to this moment (default now)."
    )
    horizon_days: int = Field(
        90, ge=14, le=365, description="Churn horizon: no purchase in this many days is churn."
    )


class RunOut(Schema):
    id: int = Field(description="The run.")
    as_of: datetime = Field(description="The history up to this moment was used (UTC).")
    started_at: datetime = Field(description="When the run started (UTC).")
    finished_at: datetime | None = Field(description="When it finished (UTC).")
    customers: int = Field(description="Customers with predictions after the run.")
    trigger: str = Field(description="`manual` (API, CLI) or `nightly` (the scheduled run).")
    summary: dict = Field(
        description="Per model (`clv`, `churn`, `recommendations`, `sentiment`): hold-out metrics, or `skipped` "
        "with the reason. `churn` has `auc`, `baseline_auc`, `brier`, `baseline_brier`, `log_loss` and the "
        "`features` it used; `recommendations` has `precision_at_10`, `recall_at_10` and the popularity "
        "baseline's; `device_usage` has the number of device `events` the churn features were computed "
        "from, or `skipped` with the reason (no event store)."
    )
