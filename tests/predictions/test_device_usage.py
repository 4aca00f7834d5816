"""Device usage in the churn model: a shop whose customers use a connected device, some of whom stop using
it weeks before they stop buying. The events go into the real event store (the server's, or the store
file for the command line), the orders through the orders service; the run must pick the usage up, see
only the events before each cutoff, and still work without an event store."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.events.store import EventBatch, EventStore, micros
from patron.orders import service as orders_service
from patron.orders.bulk import PreparedLine, PreparedOrder
from patron.orders.pricing import Totals
from patron.predictions import service as predictions_service
from patron.predictions.models import CustomerPrediction, PredictionRun

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAYS = 420
HORIZON = 60
#: device use stops this many days before the last purchase of a customer who leaves
WARNING_DAYS = 45
USAGE = {"events_30d", "active_days_30d", "usage_trend", "days_since_last_event"}


@dataclass
class Fleet:
    customers: list[int]
    steady: set[int]  # buy and use their device to the end
    fading: set[int]  # still buying at AS_OF, no device use in the 35-44 days before it
    events_before: int  # events of the organisation dated before AS_OF
    batch: EventBatch  # every event, for the store


def plant_fleet(session, *, org_id: int, n: int = 300, seed: int = 7) -> Fleet:
    rng = random.Random(seed)
    product = orders_service.create_product(
        session, org_id=org_id, sku="RIDE", name="Ride pass", price=Decimal("12")
    )
    start = AS_OF - timedelta(days=DAYS)
    batch, orders = EventBatch(), []
    customers, steady, fading, before = [], set(), set(), 0
    for i in range(n):
        customer = customers_service.create_customer(
            session, org_id=org_id, data={"first_name": f"R{i}", "last_name": "Rider"}
        )
        customers.append(customer.id)
        kind, first = i % 3, rng.uniform(0, 250)  # customers join over the first 250 days
        if kind == 0:  # stays
            stop = DAYS + 200
            steady.add(customer.id)
        elif kind == 1:  # leaves at some time in the history
            stop = rng.uniform(first + 60, DAYS - 5)
        else:  # leaves soon after AS_OF: the warning is visible at AS_OF, the purchases go on
            stop = DAYS + rng.uniform(1, 9)
            fading.add(customer.id)
        day, gap = first, rng.uniform(8, 16)
        while day < min(stop, DAYS):
            line = PreparedLine(
                product.id, product.sku, product.name, 1, product.price, Decimal("0"), product.price
            )
            orders.append(PreparedOrder(customer_id=customer.id, channel="app", status="delivered",
                                        ordered_at=start + timedelta(days=day), currency="EUR",
                                        totals=Totals(1, product.price, Decimal("0"), product.price),
                                        lines=[line]))  # fmt: skip
            day += rng.expovariate(1 / gap)
        # device use every day or two until the warning, and (fading customers) again for a while after
        # AS_OF: those later events must not count at AS_OF
        quiet = (stop - WARNING_DAYS, DAYS + 12) if kind == 2 else (stop - WARNING_DAYS, stop + 10_000)
        day = first + rng.uniform(0, 2)
        while day < DAYS + 20:
            if not quiet[0] <= day < quiet[1]:
                moment = start + timedelta(days=day)
                batch.add(org_id=org_id, id=f"u{customer.id}-{len(batch)}", device_id=None, customer_id=customer.id,
                          type="trip.end", ts=micros(moment), received_at=micros(moment), source="http",
                          lat=None, lon=None, props_json="{}", props={})  # fmt: skip
                before += moment < AS_OF
            day += rng.uniform(0.5, 2.0)
    orders_service.create_orders_bulk(session, org_id=org_id, orders=orders)
    return Fleet(customers, steady, fading, before, batch)


@pytest.fixture
def fleet(db, tenant) -> Fleet:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        return plant_fleet(session, org_id=tenant.org_id)


def risks_and_drivers(db, org_id: int) -> dict[int, tuple[float, list[dict]]]:
    with db() as session:
        rows = session.scalars(select(CustomerPrediction).where(CustomerPrediction.org_id == org_id))
        return {row.customer_id: (row.churn_risk, row.churn_drivers) for row in rows}


def test_device_usage_drives_the_churn_risk_of_customers_who_stop_using_their_device(
    client, db, tenant, fleet
):
    client.app.state.events.store.append(fleet.batch)  # the server's event store
    response = client.post("/api/v1/predictions/run", headers=tenant.headers,
                           json={"as_of": AS_OF.isoformat(), "horizon_days": HORIZON})  # fmt: skip
    assert response.status_code == 200, response.text
    summary = response.json()["summary"]
    assert summary["device_usage"] == {"events": fleet.events_before}  # nothing dated after AS_OF was read
    churn = summary["churn"]
    assert {"events_30d", "active_days_30d", "days_since_last_event"} <= set(churn["features"]), churn[
        "features"
    ]
    assert churn["auc"] > 0.8, churn

    results = risks_and_drivers(db, tenant.org_id)
    used = 0
    for customer_id in fleet.fading:
        _, drivers = results[customer_id]
        usage = [d for d in drivers if d["feature"] in USAGE]
        used += any(d["direction"] == "raises" for d in usage)
        for driver in usage:  # the values as they stood at AS_OF: the device was quiet for 35 days or more
            if driver["feature"] in ("events_30d", "active_days_30d"):
                assert driver["value"] == 0, driver
            if driver["feature"] == "days_since_last_event":
                assert driver["value"] >= WARNING_DAYS - 10, driver
    assert used >= 0.8 * len(fleet.fading), (used, len(fleet.fading))
    fading_risk = statistics.median(results[c][0] for c in fleet.fading)
    steady_risk = statistics.median(results[c][0] for c in fleet.steady)
    assert fading_risk > 0.3 > 0.1 > steady_risk, (fading_risk, steady_risk)

    # without the event store the same run works, without the usage columns, and cannot see the warning
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        run = predictions_service.run_predictions(
            session, org_id=tenant.org_id, as_of=AS_OF, horizon_days=HORIZON
        )
        blind = run.summary
    assert blind["device_usage"] == {"skipped": "no event store"}
    assert not USAGE & set(blind["churn"]["features"]) and blind["churn"]["auc"] < churn["auc"]
    results = risks_and_drivers(db, tenant.org_id)
    assert statistics.median(results[c][0] for c in fleet.fading) < fading_risk / 4
    assert all(d["feature"] not in USAGE for _, drivers in results.values() for d in drivers)


def test_the_nightly_job_reads_the_servers_event_store(client, db, tenant, fleet):
    client.app.state.events.store.append(fleet.batch)
    night = AS_OF + timedelta(days=1, hours=1)  # 02:00 UTC has passed: the job runs
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="job:nightly-predictions")
        assert predictions_service.run_due_predictions(session, now=night.replace(hour=3)) == 1
    with db() as session:
        (run,) = session.scalars(select(PredictionRun))
        assert run.trigger == "nightly"
        assert (
            run.summary["device_usage"]["events"] > 0
            and "days_since_last_event" in run.summary["churn"]["features"]
        )


def test_the_command_reads_the_store_file_and_refuses_a_busy_one(cli, db, tenant, fleet, settings):
    path = settings.data_dir / "events.duckdb"
    store = EventStore(str(path))
    store.append(fleet.batch)
    args = (
        "analytics",
        "predict",
        "--org",
        tenant.slug,
        "--as-of",
        AS_OF.isoformat(),
        "--horizon-days",
        str(HORIZON),
    )
    try:  # this process holds the store open for writing, as a running server would
        busy = cli(*args)
        assert busy.exit_code == 1 and busy.output.strip().startswith("Error: The event store is in use")
        assert "--no-events" in busy.output and busy.output.count("\n") == 1
        blind = cli(*args, "--no-events")
        assert blind.exit_code == 0, blind.output
        assert "device usage: not used (--no-events)" in " ".join(blind.output.split())
    finally:
        store.close()
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert f"device usage: {fleet.events_before} events read" in " ".join(result.output.split())
    with db() as session:
        runs = list(session.scalars(select(PredictionRun).order_by(PredictionRun.id)))
    assert [set(r.summary["churn"]["features"]) & USAGE != set() for r in runs] == [False, True]
