"""Run the predictive models over an organisation and keep one row of results per customer.

A run reads the organisation's purchase history (orders that count as spending) and its customers' own
words (inbound interactions), up to ``as_of``, and computes per customer:

- lifetime value, P(alive) and expected purchases over 12 months: BG/NBD + Gamma-Gamma
  (:mod:`patron.analytics.clv`), in weeks;
- churn risk (no purchase in the next ``horizon_days``) and its three strongest drivers
  (:mod:`patron.analytics.churn`): purchase features plus the numeric columns of the organisation's
  feature table (:mod:`patron.features.service`: service, engagement, surveys, age), each as it stood
  at the cutoff; trained on the window that starts two horizons before ``as_of``, tested on the next
  one (the summary's hold-out AUC and Brier score, beside a recency-only baseline), then trained again
  on that latest complete window and applied at ``as_of``;
- ten recommended products (:mod:`patron.analytics.recommend`): item-item collaborative filtering on
  order lines with a popularity fallback, evaluated by precision@10 and recall@10 on the purchases of the
  last ``horizon_days`` beside the popularity baseline;
- sentiment: mean VADER compound score of the customer's texts and its trend (rising, falling, steady).

The organisation's rows are replaced in one transaction; the run and its metrics are kept in
``prediction_runs`` and recorded once in the audit log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.analytics.churn import (
    ChurnModel,
    evaluate,
    purchase_features,
    recency_baseline,
    time_based_holdout,
)
from patron.analytics.clv import BetaGeoModel, GammaGammaModel, customer_lifetime_value
from patron.analytics.errors import AnalyticsError
from patron.analytics.features import NUMERIC_FEATURES
from patron.analytics.recommend import (
    ItemKNNRecommender,
    PopularityRecommender,
    precision_at_k,
    recall_at_k,
    time_based_split,
)
from patron.analytics.rfm import summarize_transactions
from patron.analytics.sentiment import score_texts, sentiment_trend
from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.customers import service as customers_service
from patron.events.source import EventSource, event_store_for_run
from patron.features import service as features_service
from patron.interactions import service as interactions_service
from patron.orders import service as orders_service
from patron.predictions.models import CustomerPrediction, PredictionRun

log = logging.getLogger("patron.predictions")

DEFAULT_HORIZON_DAYS = 90
HORIZON_RANGE = (14, 365)
TOP_DRIVERS = 3
RECOMMENDED = 10
SENTIMENT_POINTS = 12
CLV_MONTHS = 12
#: below this many labelled customers the churn model is a logistic regression (steadier on little data)
GBM_MIN_CUSTOMERS = 500
#: the nightly run starts after this hour (UTC)
NIGHTLY_HOUR_UTC = 2
#: the library's trend names -> the ones stored
TRENDS = {"improving": "rising", "worsening": "falling", "stable": "steady"}
#: how the purchase features read on a page
FEATURE_LABELS = {
    "recency_days": "days since the last order",
    "tenure_days": "days since the first order",
    "frequency": "number of orders",
    "orders_30d": "orders in the last 30 days",
    "orders_90d": "orders in the last 90 days",
    "monetary_mean": "mean order value",
    "spend_90d": "spend in the last 90 days",
    "mean_gap_days": "usual days between orders",
    "overdue_ratio": "time since the last order, in usual gaps",
    "monetary": "total spend",
    "avg_order_value": "mean order value",
    "monetary_90d": "spend in the last 90 days",
    "basket_size": "items per order",
    "distinct_products": "different products bought",
    "channels_used": "sales channels used",
    "return_rate": "share of orders cancelled or refunded",
    "events_30d": "device events in the last 30 days",
    "active_days_30d": "days with device use in the last 30 days",
    "usage_trend": "device use trend",
    "days_since_last_event": "days since the last device event",
    "interactions_90d": "contacts in the last 90 days",
    "tickets_total": "tickets opened",
    "tickets_open": "tickets still open",
    "csat_mean": "mean satisfaction with support",
    "nps_last": "last NPS answer",
    "age": "age",
}
EXPORT_FIELDS = (
    "clv", "p_alive", "expected_purchases", "churn_risk", "churn_drivers", "recommended_products", "sentiment",
    "sentiment_trend", "computed_at",
)  # fmt: skip


# --- reads ------------------------------------------------------------------------------------------------


def get_prediction(session: Session, *, org_id: int, customer_id: int) -> CustomerPrediction | None:
    return session.scalar(
        select(CustomerPrediction).where(
            CustomerPrediction.org_id == org_id, CustomerPrediction.customer_id == customer_id
        )
    )


def get_prediction_or_raise(session: Session, *, org_id: int, customer_id: int) -> CustomerPrediction:
    prediction = get_prediction(session, org_id=org_id, customer_id=customer_id)
    if prediction is None:
        raise NotFound(
            "No predictions for this customer yet: they come with the next run (POST /api/v1/predictions/run).",
            code="not_computed",
        )
    return prediction


def latest_run(session: Session, *, org_id: int) -> PredictionRun | None:
    return session.scalar(
        select(PredictionRun)
        .where(PredictionRun.org_id == org_id, PredictionRun.finished_at.is_not(None))
        .order_by(PredictionRun.started_at.desc(), PredictionRun.id.desc())
        .limit(1)
    )


def recommended_with_names(session: Session, *, org_id: int, prediction: CustomerPrediction) -> list[dict]:
    """The prediction's recommended products with each product's current name and SKU (products deleted
    since the run are left out)."""
    items = prediction.recommended_products or []
    products = orders_service.products_by_id(
        session, org_id=org_id, product_ids=[i["product_id"] for i in items]
    )
    return [
        {**item, "name": products[item["product_id"]].name, "sku": products[item["product_id"]].sku}
        for item in items
        if item["product_id"] in products
    ]


def recommended_products(session: Session, *, org_id: int, customer_id: int) -> list[str]:
    """Names of the products recommended to the customer by the latest run, best first; empty when the
    customer has no prediction yet (the seam campaign templates use for ``recommended_products``)."""
    prediction = get_prediction(session, org_id=org_id, customer_id=customer_id)
    if prediction is None:
        return []
    return [item["name"] for item in recommended_with_names(session, org_id=org_id, prediction=prediction)]


def recommended_products_many(
    session: Session, *, org_id: int, customer_ids: Iterable[int]
) -> dict[int, list[str]]:
    """:func:`recommended_products` of many customers by one read of their predictions per 500 of them and
    one read of the products named: ``{customer_id: names}`` with every customer asked about (an empty
    list for one without a prediction)."""
    ids = list(dict.fromkeys(customer_ids))
    items_by_customer: dict[int, list] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(CustomerPrediction.customer_id, CustomerPrediction.recommended_products).where(
            CustomerPrediction.org_id == org_id, CustomerPrediction.customer_id.in_(ids[start : start + 500])))  # fmt: skip
        items_by_customer.update({customer_id: items or [] for customer_id, items in rows})
    products = orders_service.products_by_id(session, org_id=org_id, product_ids=[
        item["product_id"] for items in items_by_customer.values() for item in items])  # fmt: skip
    return {
        customer_id: [products[item["product_id"]].name for item in items_by_customer.get(customer_id, [])
                      if item["product_id"] in products]
        for customer_id in ids
    }  # fmt: skip


# --- the run ----------------------------------------------------------------------------------------------


def _naive_utc(value: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (SQLite returns naive UTC, PostgreSQL aware ones)."""
    stamps = pd.to_datetime(value)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz is not None else stamps


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_run(as_of: datetime | None, horizon_days: int) -> datetime:
    if as_of is None:
        as_of = utcnow()
    elif as_of.tzinfo is None:
        raise Invalid("as_of needs a time zone (e.g. 2025-06-30T23:59:59Z).", field="as_of")
    if as_of > utcnow() + timedelta(minutes=5):
        raise Invalid(
            "as_of lies in the future; predictions are made from the history up to it.", field="as_of"
        )
    low, high = HORIZON_RANGE
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or not low <= horizon_days <= high:
        raise Invalid(f"horizon_days must be a whole number from {low} to {high}.", field="horizon_days")
    return as_of.astimezone(UTC)


def _lifetime_value(orders: pd.DataFrame, as_of: pd.Timestamp, rows: dict[int, dict]) -> dict:
    summary = summarize_transactions(orders, customer="customer_id", date="ordered_at", amount="total",
                                     calibration_end=as_of.normalize(), time_unit="week")  # fmt: skip
    purchases = BetaGeoModel().fit(summary)
    spend = GammaGammaModel().fit(summary)
    value = customer_lifetime_value(purchases, spend, summary, time_unit="week", months=CLV_MONTHS)
    finite = 0
    for customer_id, row in zip(value.index, value.itertuples(index=False), strict=True):
        numbers = {"clv": float(row.clv), "p_alive": float(row.p_alive),
                   "expected_purchases": float(row.expected_purchases)}  # fmt: skip
        finite += all(np.isfinite(v) for v in numbers.values())
        rows.setdefault(int(customer_id), {}).update(
            {name: (round(v, 4) if np.isfinite(v) else None) for name, v in numbers.items()}
        )
    return {
        "customers": finite,
        "months": CLV_MONTHS,
        "bgnbd": {k: round(v, 6) for k, v in purchases.params_.items()},
        "gamma_gamma": {k: round(v, 6) for k, v in spend.params_.items()},
    }


def _features_at(session: Session, org_id: int, orders: pd.DataFrame, until: datetime, events_store: Any,
                 summary: dict[str, Any]):  # fmt: skip
    """``cutoff -> features`` as they stood at the cutoff: the purchase features of the churn library and
    the other numeric columns of the organisation's feature table (device usage when ``events_store`` is
    given, service, engagement, surveys, age). The records and events are read once, on the first call;
    each cutoff then sees only what is dated before it."""
    inputs = None

    def at(cutoff: pd.Timestamp) -> pd.DataFrame:
        nonlocal inputs
        if inputs is None:
            inputs = features_service.read_feature_inputs(
                session, org_id=org_id, events_store=events_store, until=until
            )
            if inputs.events is not None:
                summary["device_usage"] = {"events": int(inputs.events.count().execute())}
        purchases = purchase_features(orders, cutoff=cutoff)
        table = features_service.feature_table_at(inputs, as_of=cutoff.to_pydatetime().replace(tzinfo=UTC))
        extra = [c for c in NUMERIC_FEATURES if c not in purchases.columns and c in table.columns]
        return purchases.join(table.set_index("customer_id")[extra].astype(float), how="left")

    return at


def _churn(
    features_at, orders: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int, rows: dict[int, dict]
) -> dict:
    split = time_based_holdout(orders, horizon_days=horizon_days, end=as_of, features=features_at)
    # a column without values (or with one value) in either window teaches nothing and cannot be imputed
    usable = [
        c for c in split.X_train.columns
        if all(frame[c].notna().any() and frame[c].nunique() > 1 for frame in (split.X_train, split.X_test))
    ]  # fmt: skip
    split = replace(split, X_train=split.X_train[usable], X_test=split.X_test[usable])
    method = "gbm" if len(split.X_train) >= GBM_MIN_CUSTOMERS else "logistic"
    # the hold-out model is only scored: no explanation model for it
    model = ChurnModel(method=method, random_state=0, explainable=False).fit(split.X_train, split.y_train)
    result = evaluate(
        split.y_test, model.predict_risk(split.X_test),
        baseline=recency_baseline(split.X_train, split.y_train, split.X_test),
    )  # fmt: skip
    latest = ChurnModel(method=method, random_state=0).fit(split.X_test, split.y_test)
    now = features_at(as_of)[usable]
    risk = latest.predict_risk(now)
    drivers = latest.explain(now, top=TOP_DRIVERS)
    by_customer: dict[int, list[dict]] = {}
    for customer_id, feature, value, contribution, direction in zip(
        drivers["customer"].astype(int).tolist(), drivers["feature"].tolist(), drivers["value"].tolist(),
        drivers["contribution"].tolist(), drivers["direction"].tolist(), strict=True,
    ):  # fmt: skip
        by_customer.setdefault(customer_id, []).append(
            {
                "feature": feature,
                "value": None if math.isnan(value) else round(value, 4),
                "contribution": round(contribution, 4),
                "direction": direction,
            }  # fmt: skip
        )
    for customer_id, value in zip(risk.index.astype(int).tolist(), risk.tolist(), strict=True):
        rows.setdefault(customer_id, {}).update(
            churn_risk=value, churn_drivers=by_customer.get(customer_id, [])
        )
    return {
        "method": method,
        "horizon_days": horizon_days,
        "train_cutoff": split.train_cutoff.to_pydatetime().replace(tzinfo=UTC),
        "test_cutoff": split.test_cutoff.to_pydatetime().replace(tzinfo=UTC),
        "train_customers": len(split.X_train),
        "test_customers": len(split.X_test),
        "auc": result.auc,
        "baseline_auc": result.baseline_auc,
        "brier": result.brier,
        "baseline_brier": result.baseline_brier,
        "log_loss": result.log_loss,
        "churn_rate": result.churn_rate,
        "features": usable,
    }


def _recommendations(lines: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int, customers: list[int],
                     rows: dict[int, dict]) -> dict:  # fmt: skip
    summary: dict[str, Any] = {"products": int(lines["product_id"].nunique())}
    try:
        train, test = time_based_split(lines, test_start=as_of - pd.Timedelta(days=horizon_days))
        if len(test) == 0:
            raise AnalyticsError("no customer bought a product new to them in the hold-out period")
        holdout = test["customer_id"].unique()
        cf = ItemKNNRecommender().fit(train, weight="quantity").recommend(holdout, n=RECOMMENDED)
        popular = PopularityRecommender().fit(train, weight="quantity").recommend(holdout, n=RECOMMENDED)
        summary.update(
            holdout_customers=len(holdout),
            precision_at_10=precision_at_k(cf, test, RECOMMENDED),
            recall_at_10=recall_at_k(cf, test, RECOMMENDED),
            popularity_precision_at_10=precision_at_k(popular, test, RECOMMENDED),
            popularity_recall_at_10=recall_at_k(popular, test, RECOMMENDED),
        )
    except AnalyticsError as exc:
        summary["evaluation_skipped"] = exc.detail
    recommended = ItemKNNRecommender().fit(lines, weight="quantity").recommend(customers, n=RECOMMENDED)
    lists: dict[int, list[dict]] = {}
    for item in recommended.itertuples(index=False):
        lists.setdefault(int(item.customer_id), []).append(
            {"product_id": int(item.product_id), "score": round(float(item.score), 4), "source": item.source}
        )
    for customer_id, items in lists.items():
        rows.setdefault(customer_id, {})["recommended_products"] = items
    return summary


def _sentiment(texts: list[tuple], rows: dict[int, dict]) -> dict:
    frame = pd.DataFrame(texts, columns=["customer_id", "at", "text"])
    frame["at"] = _naive_utc(frame["at"])
    frame["score"] = score_texts(frame["text"]).to_numpy()
    trend = sentiment_trend(frame, customer="customer_id", date="at", score="score")
    # each customer's last SENTIMENT_POINTS texts, in the order given, grouped once
    recent = frame.groupby("customer_id", sort=False).tail(SENTIMENT_POINTS)
    history: dict[int, list[list]] = {}
    for customer_id, at, score in zip(
        recent["customer_id"].astype(int).tolist(), recent["at"], recent["score"].tolist(), strict=True
    ):
        history.setdefault(customer_id, []).append([at.date().isoformat(), round(float(score), 3)])
    for customer_id, row in trend.iterrows():
        rows.setdefault(int(customer_id), {}).update(
            sentiment=round(float(row["mean"]), 4),
            sentiment_trend=TRENDS.get(row["trend"]),
            sentiment_history=history.get(int(customer_id), []),
        )
    return {"customers": len(trend), "texts": len(frame)}


def _section(name: str, summary: dict, compute) -> None:
    """Run one model; bad or too little data skips it with the reason, the other models still run."""
    try:
        summary[name] = compute()
    except AnalyticsError as exc:
        summary[name] = {"skipped": exc.detail}


def run_predictions(
    session: Session,
    *,
    org_id: int,
    as_of: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    trigger: str = "manual",
    events_store: Any = None,
    events_missing: str | None = None,
) -> PredictionRun:
    """Compute every customer's predictions from the history up to ``as_of`` (default now) and replace the
    organisation's rows with them. Returns the run, whose ``summary`` holds each model's hold-out metrics
    (or why it was skipped).

    ``events_store`` (an :class:`~patron.events.store.EventStore` or a DuckDB connection to its file) adds
    the customers' device usage to the churn features; without it the run goes on without them and the
    summary's ``device_usage`` says why (``events_missing``, default "no event store")."""
    as_of = _check_run(as_of, horizon_days)
    # reads first, writes last: on SQLite the first write takes the database's write lock, which must not
    # be held while the models fit
    started_at = utcnow()
    cut = pd.Timestamp(as_of).tz_convert("UTC").tz_localize(None)
    orders = pd.DataFrame(orders_service.purchase_history(session, org_id=org_id, until=as_of),
                          columns=["customer_id", "ordered_at", "total"])  # fmt: skip
    orders["ordered_at"] = _naive_utc(orders["ordered_at"])
    orders["total"] = orders["total"].astype(float)
    lines = pd.DataFrame(orders_service.purchased_products(session, org_id=org_id, until=as_of),
                         columns=["customer_id", "product_id", "ordered_at", "quantity"])  # fmt: skip
    lines["ordered_at"] = _naive_utc(lines["ordered_at"])
    texts = interactions_service.customer_texts(session, org_id=org_id, until=as_of)

    rows: dict[int, dict] = {}
    summary: dict[str, Any] = {"as_of": as_of, "horizon_days": horizon_days, "orders": len(orders)}
    # replaced by the number of events read when the churn model reads them
    summary["device_usage"] = {
        "skipped": (events_missing or "no event store")
        if events_store is None
        else "the churn model did not run"
    }
    empty = {"skipped": "no orders up to as_of"}
    if len(orders):
        _section("clv", summary, lambda: _lifetime_value(orders, cut, rows))
        features_at = _features_at(session, org_id, orders, as_of, events_store, summary)
        _section("churn", summary, lambda: _churn(features_at, orders, cut, horizon_days, rows))
    else:
        summary["clv"] = summary["churn"] = empty
    if texts:
        _section("sentiment", summary, lambda: _sentiment(texts, rows))
    else:
        summary["sentiment"] = {"skipped": "no inbound interactions with text up to as_of"}
    erased = customers_service.erased_customer_ids(session, org_id=org_id)
    customers = sorted((set(orders["customer_id"].astype(int)) | set(rows)) - erased)
    if len(lines) and customers:
        _section(
            "recommendations", summary, lambda: _recommendations(lines, cut, horizon_days, customers, rows)
        )
    else:
        summary["recommendations"] = {"skipped": "no order lines with catalogue products up to as_of"}

    run = PredictionRun(org_id=org_id, as_of=as_of, started_at=started_at, trigger=trigger)
    session.add(run)
    session.execute(delete(CustomerPrediction).where(CustomerPrediction.org_id == org_id))
    computed_at = utcnow()
    records = [
        {
            "org_id": org_id,
            "customer_id": customer_id,
            "computed_at": computed_at,
            "churn_drivers": [],
            "recommended_products": [],
            "sentiment_history": [],
            **values,
        }  # fmt: skip
        for customer_id, values in sorted(rows.items())
        if customer_id not in erased
    ]
    for start in range(0, len(records), 1000):
        session.execute(insert(CustomerPrediction), records[start : start + 1000])
    run.customers = len(records)
    run.summary = audit.jsonable(summary)
    run.finished_at = utcnow()
    session.flush()
    audit.record(session, action="run", entity="prediction_runs", entity_id=run.id, org_id=org_id,
                 after={"as_of": as_of, "customers": len(records), "trigger": trigger})  # fmt: skip
    return run


def run_due_predictions(session: Session, *, now: datetime | None = None) -> int:
    """The nightly job: after ``NIGHTLY_HOUR_UTC`` each organisation with orders gets one run a day (unless a
    run as of a later moment exists).
    Returns the number of organisations run; one organisation's failure is logged and does not stop the
    others. Device usage comes from the event store when this process or the store file gives one
    (:func:`patron.events.source.event_store_for_run`); without it the runs go on."""
    now = now or utcnow()
    since = datetime.combine(now.date(), time(NIGHTLY_HOUR_UTC), tzinfo=UTC)
    if now < since:
        return 0
    done = 0
    with ExitStack() as stack:
        events: EventSource | None = None
        for org in accounts_service.list_organisations(session):
            last = latest_run(session, org_id=org.id)
            if last is not None and _aware(last.as_of) >= since:
                continue
            if not orders_service.purchase_history(session, org_id=org.id, until=now)[:1]:
                continue
            if events is None:  # opened once, for the first organisation that runs
                events = stack.enter_context(event_store_for_run(session, if_busy="skip"))
            try:
                with session.begin_nested():
                    run_predictions(session, org_id=org.id, as_of=now, trigger="nightly",
                                    events_store=events.store, events_missing=events.missing)  # fmt: skip
                done += 1
            except Exception:  # one organisation's data must not stop the others' runs
                log.exception("nightly predictions for organisation %s failed", org.id)
    return done


# --- customer hooks ---------------------------------------------------------------------------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """A merge changes the survivor's history, so neither row holds: the duplicate's predictions go, the
    survivor's stay until the next run recomputes them from the merged history. Returns rows deleted."""
    result = session.execute(
        delete(CustomerPrediction).where(
            CustomerPrediction.org_id == org_id, CustomerPrediction.customer_id == from_customer_id
        )
    )
    return int(result.rowcount or 0)


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Predictions are personal data (profiling): an erasure deletes them."""
    result = session.execute(
        delete(CustomerPrediction).where(
            CustomerPrediction.org_id == org_id, CustomerPrediction.customer_id == customer_id
        )
    )
    return int(result.rowcount or 0)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    prediction = get_prediction(session, org_id=org_id, customer_id=customer_id)
    if prediction is None:
        return {"predictions": []}
    return {"predictions": [audit.jsonable({f: getattr(prediction, f) for f in EXPORT_FIELDS})]}
