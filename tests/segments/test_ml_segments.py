"""ML segmentation through the API and the CLI on customers simulated from three planted groups (orders
written through the orders service, features computed by the real feature pipeline), and rule conditions on
those features."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sklearn.metrics import adjusted_rand_score

from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow
from patron.customers import service as customers_service
from patron.orders import service as orders_service
from patron.orders.bulk import PreparedLine, PreparedOrder
from patron.orders.pricing import order_totals
from tests.segments.conftest import SEGMENTS, created, post

PER_GROUP = 30
#: group -> (orders per customer, days ago of the orders, order value, items per order)
GROUPS = {
    "loyal": ((10, 14), (1, 80), (40, 60), (1, 2)),
    "lapsed": ((1, 2), (300, 400), (20, 30), (1, 1)),
    "big_basket": ((3, 4), (100, 200), (300, 400), (6, 8)),
}


@pytest.fixture
def planted(db, tenant) -> dict[int, str]:
    """``{customer_id: group}`` of 90 customers whose purchase histories come from three planted groups."""
    rng = random.Random(7)
    now = utcnow()
    groups: dict[int, str] = {}
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        orders = []
        for group, (count, days, value, items) in GROUPS.items():
            for i in range(PER_GROUP):
                customer = customers_service.create_customer(
                    session, org_id=tenant.org_id, data={"first_name": f"{group}-{i}", "tags": [group]}
                )
                groups[customer.id] = group
                for _ in range(rng.randint(*count)):
                    quantity = rng.randint(*items)
                    total = Decimal(rng.uniform(*value)).quantize(Decimal("0.01"))
                    line = PreparedLine(product_id=None, sku="SKU-1", name="Ride", quantity=quantity,
                                        unit_price=(total / quantity).quantize(Decimal("0.01")),
                                        discount=Decimal(0), line_total=total)  # fmt: skip
                    orders.append(PreparedOrder(
                        customer_id=customer.id, channel="app", status="delivered", currency="EUR",
                        ordered_at=now - timedelta(days=rng.uniform(*days)),
                        totals=order_totals([(quantity, total)]), lines=[line]))  # fmt: skip
        orders_service.create_orders_bulk(session, org_id=tenant.org_id, orders=orders)
    return groups


def members_of(client, tenant, segment_id) -> list[int]:
    response = client.get(f"{SEGMENTS}/{segment_id}/members", params={"limit": 500}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [m["customer_id"] for m in response.json()["items"]]


def test_an_ml_run_recovers_the_planted_groups(client, tenant, other_tenant, make_tenant, planted):
    run = created(post(client, tenant, f"{SEGMENTS}/ml-runs", {"k_min": 2, "k_max": 6}))
    assert run["k"] == 3 and run["criterion"] == "silhouette" and run["n_customers"] == 3 * PER_GROUP
    scores = {s["k"]: s["silhouette"] for s in run["scores"]}
    assert sorted(scores) == [2, 3, 4, 5, 6] and max(scores, key=scores.get) == 3
    assert run["stability_ari"] >= 0.9
    assert sum(c["size"] for c in run["clusters"]) == 3 * PER_GROUP

    found = {}
    for cluster in run["clusters"]:
        for customer_id in members_of(client, tenant, cluster["segment_id"]):
            found[customer_id] = cluster["cluster"]
    ids = sorted(planted)
    assert adjusted_rand_score([planted[i] for i in ids], [found[i] for i in ids]) >= 0.9

    # the cluster of the frequent, recent buyers is the loyal (communication) archetype, with its playbook
    loyal = max(run["clusters"], key=lambda c: c["z"]["frequency"])
    assert {planted[i] for i in members_of(client, tenant, loyal["segment_id"])} == {"loyal"}
    assert loyal["archetype"] == "communication" and loyal["playbook"]
    assert loyal["z"]["recency_days"] < 0 < loyal["z"]["frequency"]
    assert client.get(f"{SEGMENTS}/ml-runs/{run['id']}", headers=tenant.headers).json()["k"] == 3
    assert client.get(f"{SEGMENTS}/ml-runs/{run['id']}", headers=other_tenant.headers).status_code == 404
    viewer = make_tenant("Acme", role="viewer")
    assert client.get(f"{SEGMENTS}/ml-runs/{run['id']}", headers=viewer.headers).status_code == 200
    assert post(client, viewer, f"{SEGMENTS}/ml-runs", {}).status_code == 403

    # a second run retires the first run's segments: their memberships close, their history stays
    second = created(post(client, tenant, f"{SEGMENTS}/ml-runs", {"k_min": 2, "k_max": 4}))
    old = client.get(f"{SEGMENTS}/{loyal['segment_id']}", headers=tenant.headers).json()
    assert old["status"] == "retired" and old["size"] == 0
    history = client.get(f"{SEGMENTS}/{loyal['segment_id']}/history", headers=tenant.headers).json()
    assert history["total"] == PER_GROUP and all(r["left_at"] for r in history["items"])
    listed = client.get(SEGMENTS, params={"kind": "ml"}, headers=tenant.headers).json()["items"]
    assert sorted(s["id"] for s in listed) == sorted(c["segment_id"] for c in second["clusters"])


def test_feature_conditions_are_evaluated_on_the_feature_table(client, tenant, planted):
    loyal = sorted(i for i, g in planted.items() if g == "loyal")
    lapsed = sorted(i for i, g in planted.items() if g == "lapsed")
    body = {"definition": {"all": [{"field": "feature.frequency", "op": "gte", "value": 8}]}, "limit": 200}
    assert [
        m["customer_id"] for m in created(post(client, tenant, f"{SEGMENTS}/preview", body))["members"]
    ] == loyal
    mixed = {"definition": {"any": [{"field": "feature.recency_days", "op": "gt", "value": 250},
                                    {"all": [{"field": "tags", "op": "contains", "value": "loyal"},
                                             {"field": "feature.frequency", "op": "lt", "value": 0}]}]}, "limit": 200}  # fmt: skip
    assert [
        m["customer_id"] for m in created(post(client, tenant, f"{SEGMENTS}/preview", mixed))["members"]
    ] == lapsed
    unknown = post(client, tenant, f"{SEGMENTS}/count",
                   {"definition": {"all": [{"field": "city", "op": "is_set"}, {"field": "feature.shoe_size", "op": "gt", "value": 1}]}})  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["field"] == "definition.all[1].field"
    fields = {f["field"] for f in client.get(f"{SEGMENTS}/fields", headers=tenant.headers).json()}
    assert {"feature.recency_days", "feature.frequency", "consent.email", "device.type"} <= fields


def test_an_ml_run_without_customers_is_refused(client, tenant):
    response = post(client, tenant, f"{SEGMENTS}/ml-runs", {})
    assert response.status_code == 422 and response.json()["field"] == "features"
    assert post(client, tenant, f"{SEGMENTS}/ml-runs", {"method": "dbscan"}).status_code == 422
    viewer_response = client.post(f"{SEGMENTS}/ml-runs", json={}, headers={})
    assert viewer_response.status_code == 401




def test_segment_run_refreshes_rule_segments_and_runs_ml_segmentation(cli, client, tenant, planted):
    created(post(client, tenant, SEGMENTS, {"name": "Loyal tag", "definition": {
        "all": [{"field": "tags", "op": "contains", "value": "loyal"}]}}))  # fmt: skip
    created(post(client, tenant, SEGMENTS, {"name": "Frequent", "definition": {
        "all": [{"field": "feature.frequency", "op": "gte", "value": 8}]}}))  # fmt: skip
    result = cli("segment", "run", "--org", tenant.slug, "--all", "--ml", "--k-min", "2", "--k-max", "5")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        f"Frequent: {PER_GROUP} members (+0 -0)" in lines
        and f"Loyal tag: {PER_GROUP} members (+0 -0)" in lines
    )
    assert any(
        line.startswith("ML run ") and "k = 3 chosen by silhouette over 90 customers" in line
        for line in lines
    )
    assert sum("<- chosen" in line for line in lines) == 1 and "  k=3: silhouette" in next(
        line for line in lines if "<- chosen" in line)  # fmt: skip
    assert sum(line.startswith("  cluster ") for line in lines) == 3

    one = cli("segment", "run", "--org", tenant.slug, "--segment", "Loyal tag")
    assert one.exit_code == 0 and one.output.strip() == f"Loyal tag: {PER_GROUP} members (+0 -0)"
    for args, message in ((("--segment", "Nope"), "No segment called 'Nope'"), ((), "Say what to run"),
                          (("--all", "--segment", "Frequent"), "not both")):  # fmt: skip
        failed = cli("segment", "run", "--org", tenant.slug, *args)
        assert failed.exit_code == 1 and message in failed.output, failed.output
    assert cli("segment", "run", "--org", "nowhere", "--all").exit_code == 1


def test_the_nightly_job_repeats_the_latest_run_a_day_later(cli, db, client, tenant, planted):
    from datetime import timedelta

    from patron.core.db import utcnow
    from patron.jobs.scheduler import run_once

    first = created(post(client, tenant, f"{SEGMENTS}/ml-runs", {"k_min": 2, "k_max": 4}))
    now = utcnow()
    assert run_once(db, now=now + timedelta(hours=23))["segment-ml-nightly"] == 0
    assert run_once(db, now=now + timedelta(hours=25))["segment-ml-nightly"] == 1
    second = client.get(f"{SEGMENTS}/ml-runs/{first['id'] + 1}", headers=tenant.headers).json()
    assert (second["k_min"], second["k_max"], second["k"]) == (2, 4, 3)


def test_a_refresh_run_builds_each_organisations_feature_table_once(client, db, tenant, planted, monkeypatch):
    """The scheduler's refresh of several feature segments reads the organisation's features once for all
    of them; each segment still gets its own members."""
    from patron.features import service as features_service
    from patron.jobs.scheduler import run_once

    frequent = created(post(client, tenant, SEGMENTS, {"name": "Frequent", "definition": {
        "all": [{"field": "feature.frequency", "op": "gte", "value": 8}]}}))  # fmt: skip
    lapsed = created(post(client, tenant, SEGMENTS, {"name": "Lapsed", "definition": {
        "all": [{"field": "feature.recency_days", "op": "gt", "value": 250}]}}))  # fmt: skip
    built: list[int] = []
    build = features_service.build_feature_table

    def counted(session, **kwargs):
        built.append(kwargs["org_id"])
        return build(session, **kwargs)

    monkeypatch.setattr(features_service, "build_feature_table", counted)
    assert run_once(db, now=utcnow() + timedelta(minutes=61))["segment-refresh"] >= 2
    assert built.count(tenant.org_id) == 1
    for segment, group in ((frequent, "loyal"), (lapsed, "lapsed")):
        assert members_of(client, tenant, segment["id"]) == sorted(i for i, g in planted.items() if g == group)


def test_device_usage_conditions_read_the_event_store_as_of_the_refresh(client, db, tenant):
    """``feature.events_30d`` counts the server's device events of the 30 days before the moment the segment
    is evaluated: the events of now for a count or a refresh now, those of a past moment for a refresh as of
    that moment (later events do not count)."""
    from patron.events.store import EventBatch, micros
    from patron.segments import service as segments_service

    now = utcnow()
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        recent, earlier, idle = (customers_service.create_customer(
            session, org_id=tenant.org_id, data={"first_name": name}).id for name in ("Recent", "Earlier", "Idle"))  # fmt: skip
    batch = EventBatch()
    for customer_id, days_ago in [(recent, d) for d in range(1, 9)] + [(earlier, d) for d in range(40, 48)]:
        moment = now - timedelta(days=days_ago)
        batch.add(org_id=tenant.org_id, id=f"e{customer_id}-{days_ago}", device_id=None, customer_id=customer_id,
                  type="trip.end", ts=micros(moment), received_at=micros(moment), source="http", lat=None,
                  lon=None, props_json="{}", props={})  # fmt: skip
    client.app.state.events.store.append(batch)

    definition = {"all": [{"field": "feature.events_30d", "op": "gte", "value": 5}]}
    assert created(post(client, tenant, f"{SEGMENTS}/count", {"definition": definition}))["count"] == 1
    segment = created(post(client, tenant, SEGMENTS, {"name": "Using their device", "definition": definition}))
    assert members_of(client, tenant, segment["id"]) == [recent]

    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        stored = segments_service.get_segment(session, org_id=tenant.org_id, segment_id=segment["id"])
        segments_service.do_refresh_segment(session, segment=stored, settings=client.app.state.settings,
                                            now=now - timedelta(days=20))  # fmt: skip
    assert members_of(client, tenant, segment["id"]) == [earlier]
    assert idle not in members_of(client, tenant, segment["id"])


def test_a_refresh_that_cannot_read_the_event_store_refuses_device_usage_conditions(cli, db, tenant, settings):
    """On the command line the store file is read; while another process holds it, a segment on device usage
    is not refreshed on made-up zeros: the command says why and exits 1, and nothing is written. Segments on
    other features still refresh."""
    from patron.events.store import EventBatch, EventStore, micros
    from patron.segments import service as segments_service
    from patron.segments.models import Segment, SegmentMembership

    now = utcnow()
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        rider = customers_service.create_customer(session, org_id=tenant.org_id, data={"first_name": "Rider"}).id
        for name, field in (("Riding", "events_30d"), ("Buying", "frequency")):
            segments_service.create_segment(session, org_id=tenant.org_id, name=name, definition={
                "all": [{"field": f"feature.{field}", "op": "gte", "value": 5}]})  # fmt: skip
    batch = EventBatch()
    for day in range(1, 7):
        moment = now - timedelta(days=day)
        batch.add(org_id=tenant.org_id, id=f"ride-{day}", device_id=None, customer_id=rider, type="trip.end",
                  ts=micros(moment), received_at=micros(moment), source="http", lat=None, lon=None,
                  props_json="{}", props={})  # fmt: skip
    store = EventStore(str(settings.data_dir / "events.duckdb"))
    store.append(batch)
    try:  # this process holds the store open for writing, as a running server would
        busy = cli("segment", "run", "--org", tenant.slug, "--all")
        assert busy.exit_code == 1, busy.output
        assert busy.output.splitlines() == [
            "Buying: 0 members (+0 -0)",
            "Riding: not refreshed: definition.all[0].field: feature.events_30d cannot be read now: device "
            "usage is unknown (the event store is in use by another process).",
        ]
        one = cli("segment", "run", "--org", tenant.slug, "--segment", "Riding")
        assert one.exit_code == 1 and "feature.events_30d cannot be read now" in one.output
        assert one.output.startswith("Error: ") and one.output.count("\n") == 1, one.output
        with db() as session:
            assert session.query(SegmentMembership).count() == 0
            assert {s.name: s.refreshed_at is not None for s in session.query(Segment)} == {
                "Buying": True, "Riding": False}  # fmt: skip
    finally:
        store.close()
    done = cli("segment", "run", "--org", tenant.slug, "--all")
    assert done.exit_code == 0, done.output
    assert "Riding: 1 members (+1 -0)" in done.output.splitlines()
