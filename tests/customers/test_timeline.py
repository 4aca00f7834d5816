"""The timeline: newest first, keyset pages, kind filters, and providers merged from outside stores."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from patron.core.db import session_scope
from patron.customers import service as customer_service
from patron.customers.service import TimelineItem
from tests.customers.conftest import problem

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _record(db, tenant, customer_id, entries):
    with session_scope(db) as session:
        for minutes, kind in entries:
            customer_service.record_timeline(
                session,
                org_id=tenant.org_id,
                customer_id=customer_id,
                kind=kind,
                summary=f"{kind} at {minutes}",
                occurred_at=START + timedelta(minutes=minutes),
            )


def _all_pages(api, customer_id, **params):
    pages, before = [], None
    while True:
        query = dict(params, **({"before": before} if before else {}))
        body = api.get(f"/customers/{customer_id}/timeline", params=query).json()
        pages.append(body["items"])
        before = body["next_before"]
        if before is None:
            return pages


@pytest.fixture
def provider():
    """A device-event store stand-in, registered for one test."""
    events = []

    def device_events(session, *, org_id, customer_id, before, limit):
        chosen = [
            e
            for e in events
            if e.data["customer_id"] == customer_id and (before is None or e.occurred_at < before)
        ]
        return sorted(chosen, key=lambda e: e.occurred_at, reverse=True)[:limit]

    customer_service.register_timeline_provider("devices", device_events)
    yield events
    customer_service.unregister_timeline_provider("devices")


def test_newest_first_with_keyset_pages(api, db, tenant):
    cid = api.customer(first_name="Ann")["id"]
    _record(db, tenant, cid, [(m, "ticket.created" if m % 2 else "deal.won") for m in range(-30, -5)])
    # three entries at the very same instant must neither repeat nor vanish across pages
    _record(db, tenant, cid, [(-3, "interaction.call"), (-3, "interaction.call"), (-3, "interaction.call")])
    pages = _all_pages(api, cid, limit=4)
    items = [item for page in pages for item in page]
    assert len(items) == 25 + 3 + 1 and all(len(page) <= 4 for page in pages)
    assert len({item["id"] for item in items}) == len(items)
    times = [item["occurred_at"] for item in items]
    assert times == sorted(times, reverse=True)
    assert items[0]["kind"] == "customer.created"  # created now, the newest


def test_kind_filters_and_time_bound(api, db, tenant):
    cid = api.customer(first_name="Ann")["id"]
    _record(
        db,
        tenant,
        cid,
        [(1, "ticket.created"), (2, "ticket.closed"), (3, "deal.won"), (4, "consent.granted")],
    )
    body = api.get(f"/customers/{cid}/timeline", params={"kinds": "ticket.*,deal.won"}).json()
    assert [i["kind"] for i in body["items"]] == ["deal.won", "ticket.closed", "ticket.created"]
    older = api.get(
        f"/customers/{cid}/timeline", params={"before": (START + timedelta(minutes=2)).isoformat()}
    )
    assert [i["kind"] for i in older.json()["items"]] == ["ticket.created"]
    problem(api.get(f"/customers/{cid}/timeline", params={"before": "last tuesday"}), 422, "before")
    problem(api.get(f"/customers/{cid}/timeline", params={"kinds": "DROP TABLE"}), 422, "kinds")
    problem(api.get(f"/customers/{cid}/timeline", params={"limit": 201}), 422, "limit")


def test_providers_merge_into_the_timeline(api, db, tenant, provider):
    cid = api.customer(first_name="Ann")["id"]
    _record(db, tenant, cid, [(0, "ticket.created"), (10, "deal.won"), (20, "ticket.closed")])
    provider.extend(
        TimelineItem(
            occurred_at=START + timedelta(minutes=m),
            kind="device.fault",
            summary=f"fault {m}",
            data={"customer_id": cid},
        )
        for m in (5, 10, 15, 25)
    )
    pages = _all_pages(api, cid, limit=2)
    items = [item for page in pages for item in page][1:]  # skip customer.created (now)
    assert [(i["kind"], i["source"]) for i in items] == [
        ("device.fault", "devices"),
        ("ticket.closed", "timeline"),
        ("device.fault", "devices"),
        ("device.fault", "devices"),
        ("deal.won", "timeline"),
        ("device.fault", "devices"),
        ("ticket.created", "timeline"),
    ]
    only_devices = api.get(f"/customers/{cid}/timeline", params={"kinds": "device.*"}).json()
    assert [i["summary"] for i in only_devices["items"]] == ["fault 25", "fault 15", "fault 10", "fault 5"]


def test_a_failing_provider_does_not_break_the_timeline(api):
    def broken(session, **_):
        raise RuntimeError("store is down")

    cid = api.customer(first_name="Ann")["id"]
    customer_service.register_timeline_provider("broken", broken)
    try:
        body = api.get(f"/customers/{cid}/timeline").json()
    finally:
        customer_service.unregister_timeline_provider("broken")
    assert body["unavailable"] == ["broken"] and [i["kind"] for i in body["items"]] == ["customer.created"]


def test_provider_names_are_checked():
    with pytest.raises(ValueError):
        customer_service.register_timeline_provider("timeline", lambda *a, **k: [])
    with pytest.raises(ValueError):
        customer_service.register_timeline_provider("Bad Name", lambda *a, **k: [])


def test_pages_add_up_to_the_whole_merged_stream(api, db, tenant, provider):
    """Whatever the page size and kind filter, walking the pages yields every matching item once, in order."""
    generator = random.Random(7)
    cid = api.customer(first_name="Ann")["id"]
    minutes = generator.sample(range(1, 400), 60)
    _record(db, tenant, cid, [(m, generator.choice(["ticket.created", "deal.won"])) for m in minutes[:30]])
    provider.extend(
        TimelineItem(
            occurred_at=START + timedelta(minutes=m),
            summary=str(m),
            kind=generator.choice(["device.fault", "device.ok"]),
            data={"customer_id": cid},
        )
        for m in minutes[30:]
    )
    with db() as session:
        for kinds in (None, ["device.fault"], ["ticket.*", "device.ok"]):
            everything = customer_service.list_timeline(
                session, org_id=tenant.org_id, customer_id=cid, limit=500, kinds=kinds
            ).items
            for limit in (1, 3, 7, 50):
                walked, before = [], None
                while True:
                    page = customer_service.list_timeline(
                        session,
                        org_id=tenant.org_id,
                        customer_id=cid,
                        before=before,
                        limit=limit,
                        kinds=kinds,
                    )
                    walked += page.items
                    before = page.next_before
                    if before is None:
                        break
                assert [(i.occurred_at, i.kind) for i in walked] == [
                    (i.occurred_at, i.kind) for i in everything
                ]
            if kinds is None:
                assert len(everything) == 61
