"""``patron analytics features`` on an organisation whose history was made through the API, on SQLite and
PostgreSQL: every value worked out by hand, another organisation's records left out, bad input refused
in one line with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from patron.analytics.features import FEATURE_COLUMNS
from patron.core.db import session_scope
from patron.events.store import EventBatch, EventStore, micros
from patron.features import service as features_service
from tests.orders.conftest import OrdersApi

# the features describe the start of tomorrow (UTC): everything made "now" by the API counts
AS_OF = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def days_ago(days: float) -> str:
    return (AS_OF - timedelta(days=days)).isoformat()




@pytest.fixture
def acme(client, tenant) -> dict:
    """Two customers of Acme: Ann with a history in every channel, Bob with none."""
    api = OrdersApi(client, tenant)
    ann = api.customer(first_name="Ann", birth_year=1990, gender="female", income_band="high")
    bob = api.customer(first_name="Bob")
    pass_ = api.product(sku="PASS", price="10.00")
    hub = api.product(sku="HUB", price="50.00")
    line = lambda product, quantity: {"product_id": product["id"], "quantity": quantity}  # noqa: E731
    api.order(ann, [line(pass_, 2), line(hub, 1)], status="delivered", ordered_at=days_ago(100))  # 70.00
    api.order(ann, [line(pass_, 3)], status="paid", ordered_at=days_ago(10))  # 30.00
    api.order(ann, [line(hub, 2)], status="cancelled", ordered_at=days_ago(5))  # does not count
    for kind, days in (("call", 3), ("email", 200)):
        response = api.post(
            "/interactions", json={"customer_id": ann, "kind": kind, "occurred_at": days_ago(days)}
        )
        assert response.status_code == 201, response.text
    ticket = api.post(
        "/tickets",
        json={"customer_id": ann, "subject": "Card declined", "kind": "complaint", "priority": "normal"},
    )
    assert ticket.status_code == 201, ticket.text
    survey = api.post("/surveys", json={"name": "Ride check", "template": "nps"}).json()
    assert api.post(f"/surveys/{survey['id']}/status", json={"status": "open"}).status_code == 200
    answer = api.post(f"/surveys/{survey['id']}/responses", json={"answers": {"nps": 9}, "customer_id": ann})
    assert answer.status_code == 201, answer.text
    return {"ann": ann, "bob": bob}


def test_the_table_of_an_organisation(cli, acme, client, other_tenant, tmp_path):
    other = OrdersApi(client, other_tenant)
    stranger = other.customer(first_name="Eve")
    other.order(stranger, [{"product_id": other.product(sku="X", price="999.00")["id"], "quantity": 1}])

    out = tmp_path / "features.parquet"
    # the app of this test process holds the event store open, as a running server would
    busy = cli("analytics", "features", "--org", "acme", "--out", out)
    assert busy.exit_code == 1 and busy.output.strip().startswith("Error: The event store is in use")
    assert "--no-events" in busy.output and not out.exists()

    result = cli(
        "analytics",
        "features",
        "--org",
        "acme",
        "--out",
        out,
        "--as-of",
        AS_OF.strftime("%Y-%m-%d"),
        "--no-events",
    )
    assert result.exit_code == 0, result.output
    assert "read 2 customers" in result.output and "read 3 orders" in result.output
    assert f"wrote {out} (2 customers, {len(FEATURE_COLUMNS)} features)" in result.output

    frame = pq.read_table(out).to_pandas().set_index("customer_id")
    assert list(frame.columns) == list(FEATURE_COLUMNS)
    assert sorted(frame.index) == sorted([acme["ann"], acme["bob"]])  # Globex's customer is not there
    ann, bob = frame.loc[acme["ann"]], frame.loc[acme["bob"]]
    assert ann["frequency"] == 2 and ann["monetary"] == 100.0 and ann["avg_order_value"] == 50.0
    assert ann["recency_days"] == pytest.approx(10.0)
    assert ann["orders_90d"] == 1 and ann["monetary_90d"] == 30.0
    assert ann["basket_size"] == 3.0 and ann["distinct_products"] == 2  # (2 + 1 + 3) items / 2 orders
    assert ann["return_rate"] == pytest.approx(1 / 3) and ann["channels_used"] == 1
    assert ann["tenure_days"] == pytest.approx(100.0)  # the first order is older than the record
    assert ann["interactions_90d"] == 1
    assert ann["tickets_total"] == 1 and ann["tickets_open"] == 1 and pd.isna(ann["csat_mean"])
    assert ann["nps_last"] == 9.0
    assert ann["age"] == AS_OF.year - 1990 and ann["gender"] == "female" and ann["income_band"] == "high"
    assert ann["events_30d"] == 0 and pd.isna(ann["usage_trend"])  # device usage left out
    assert bob["frequency"] == 0 and pd.isna(bob["recency_days"]) and bob["tickets_total"] == 0
    assert 0 < bob["tenure_days"] <= 1.0  # created today

    # before the second order only the first one counts
    earlier = tmp_path / "earlier.parquet"
    result = cli(
        "analytics", "features", "--org", "acme", "--out", earlier, "--as-of", days_ago(50), "--no-events"
    )
    assert result.exit_code == 0, result.output
    then = pq.read_table(earlier).to_pandas().set_index("customer_id").loc[acme["ann"]]
    assert then["frequency"] == 1 and then["monetary"] == 70.0 and then["recency_days"] == pytest.approx(50.0)
    assert then["tickets_total"] == 0 and pd.isna(then["nps_last"])


def test_bad_input_is_one_line_and_writes_nothing(cli, acme, tmp_path):
    out = tmp_path / "features.parquet"
    for args, message in (
        (("--org", "nope"), "Error: No organisation with slug 'nope'. [org]"),
        (("--org", "acme", "--as-of", "2024-13-01"), "Error: --as-of '2024-13-01' is not a date"),
    ):
        result = cli("analytics", "features", "--out", out, *args, "--no-events")
        assert result.exit_code == 1, result.output
        assert result.output.strip().startswith(message), result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    result = cli("analytics", "features", "--org", "acme", "--out", a_file / "f.parquet", "--no-events")
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"Error: Cannot write {a_file / 'f.parquet'}: {a_file} is a file. [out]"
    folder = cli("analytics", "features", "--org", "acme", "--out", tmp_path, "--no-events")
    assert folder.exit_code == 2 and "is a directory" in folder.output and "Traceback" not in folder.output


def test_help_reads_well(cli):
    result = cli("analytics", "features", "--help")
    assert result.exit_code == 0
    for words in ("--org SLUG", "--out FILE.parquet", "--as-of DATE", "--no-events", "one row per customer"):
        assert words.lower() in " ".join(result.output.lower().split()), words


def test_materialise_and_load_with_device_usage(acme, db, settings, tenant, tmp_path):
    store = EventStore(str(tmp_path / "events.duckdb"))
    batch = EventBatch()
    for number, days in enumerate((1.5, 1.2, 20, 45)):  # three in the last 30 days on two days, one before
        moment = datetime.fromisoformat(days_ago(days))
        batch.add(org_id=tenant.org_id, id=f"e{number}", device_id=None, customer_id=acme["ann"], type="trip.end",
                  ts=micros(moment), received_at=micros(moment), source="http", lat=None, lon=None,
                  props_json="{}", props={})  # fmt: skip
    batch.add(
        org_id=tenant.org_id + 1000,
        id="elsewhere",
        device_id=None,
        customer_id=acme["ann"],
        type="trip.end",
        ts=micros(AS_OF - timedelta(days=2)),
        received_at=micros(AS_OF),
        source="http",
        lat=None,
        lon=None,
        props_json="{}",
        props={},
    )  # fmt: skip  (another organisation's event, same customer id)
    store.append(batch)
    try:
        assert features_service.load_feature_table(settings, tenant.org_id) is None
        with session_scope(db) as session:
            path = features_service.materialise(
                session, org_id=tenant.org_id, settings=settings, as_of=AS_OF, events_store=store
            )
    finally:
        store.close()
    assert path == settings.data_dir / "features" / f"org-{tenant.org_id}.parquet"
    frame = features_service.load_feature_table(settings, tenant.org_id).set_index("customer_id")
    ann = frame.loc[acme["ann"]]
    assert ann["events_30d"] == 3 and ann["active_days_30d"] == 2
    assert ann["usage_trend"] == pytest.approx((3 - 1) / (3 + 1))
    assert ann["days_since_last_event"] == pytest.approx(1.2)
    assert frame.loc[acme["bob"], "events_30d"] == 0
