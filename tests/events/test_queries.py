"""Queries over the event store through the API: a customer's and a device's events with filters and
paging, telemetry downsampled into buckets, device figures, and the dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.devices.support import Api, accepted, problem, send, without_processors

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings):
    return without_processors(settings)


@pytest.fixture
def api(client, tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> Api:
    return Api(client, other_tenant)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def fleet(api, client) -> dict:
    """Ada with a taxi and a watch, each with a few events at known times after ``T0``."""
    ada = api.customer(first_name="Ada")
    taxi = api.device(name="Taxi 12", customer_id=ada)
    watch = api.device(name="Watch", type="wearable", customer_id=ada)
    accepted(
        send(
            client,
            taxi["key"],
            [
                {"id": "t1", "type": "trip.start", "ts": at(0)},
                {"id": "t2", "type": "telemetry", "ts": at(1), "props": {"speed": 30}},
                {"id": "t3", "type": "fault", "ts": at(2), "props": {"code": "E42"}},
                {"id": "t4", "type": "trip.end", "ts": at(3), "props": {"fare": 9.5}},
            ],
        ),
        4,
    )
    accepted(send(client, watch["key"], [{"id": "w1", "type": "workout", "ts": at(1.5)}]), 1)
    return {"ada": ada, "taxi": taxi, "watch": watch}


def ids(page: dict) -> list[str]:
    return [e["id"] for e in page["items"]]


def test_a_customer_s_events_newest_first_with_filters_and_paging(api, fleet):
    url = f"/customers/{fleet['ada']}/events"
    everything = api.events(url)
    assert ids(everything) == ["t4", "t3", "w1", "t2", "t1"]
    assert (everything["total"], everything["limit"], everything["offset"]) == (5, 50, 0)
    first = everything["items"][0]
    assert set(first) == {
        "seq",
        "id",
        "device_id",
        "customer_id",
        "type",
        "ts",
        "received_at",
        "source",
        "lat",
        "lon",
        "props",
    }
    assert (first["device_id"], first["customer_id"], first["props"]) == (
        fleet["taxi"]["id"],
        fleet["ada"],
        {"fare": 9.5},
    )

    assert ids(api.events(url, type="fault")) == ["t3"]
    assert ids(api.events(url, type=["fault", "trip.start"])) == ["t3", "t1"]
    assert ids(api.events(url, device_id=fleet["watch"]["id"])) == ["w1"]
    assert ids(api.events(url, since=at(1), until=at(3))) == ["t3", "w1", "t2"]
    assert ids(api.events(url, since=at(2))) == ["t4", "t3"]
    assert ids(api.events(url, until="2024-03-04T10:01:00")) == ["t1"]  # no zone: UTC
    assert ids(api.events(url, since="2024-03-04T11:01:00+01:00", until=at(2))) == ["w1", "t2"]
    page = api.events(url, limit=2, offset=1)
    assert (ids(page), page["total"]) == (["t3", "w1"], 5)
    assert api.events(url, type="nothing")["total"] == 0


def test_a_device_s_events_stay_with_the_device_across_bindings(api, client, fleet):
    bob = api.customer(first_name="Bob")
    api.post(f"/devices/{fleet['taxi']['id']}/bind", json={"customer_id": bob})
    accepted(send(client, fleet["taxi"]["key"], [{"id": "t5", "type": "trip.start", "ts": at(10)}]), 1)
    device = api.events(f"/devices/{fleet['taxi']['id']}/events")
    assert ids(device) == ["t5", "t4", "t3", "t2", "t1"]
    assert [e["customer_id"] for e in device["items"]] == [bob] + [fleet["ada"]] * 4
    assert ids(api.events(f"/customers/{bob}/events")) == ["t5"]
    assert ids(api.events(f"/devices/{fleet['taxi']['id']}/events", type="trip.start", until=at(5))) == ["t1"]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"type": "bad type"}, 422, "type"),
        ({"type": [f"t{i}" for i in range(21)]}, 422, "type"),
        ({"since": "yesterday"}, 422, "since"),
        ({"until": "2024-13-01"}, 422, "until"),
        ({"since": "2024-03-04T10:00:00Z", "until": "2024-03-04T10:00:00Z"}, 422, "until"),
        ({"since": "2024-03-05T00:00:00Z", "until": "2024-03-04T00:00:00Z"}, 422, "until"),
        ({"device_id": 0}, 422, "device_id"),
        ({"limit": 501}, 422, "limit"),
        ({"offset": -1}, 422, "offset"),
    ],
)
def test_bad_event_filters_are_refused(api, fleet, params, status, field):
    problem(api.get(f"/customers/{fleet['ada']}/events", params=params), status, field)
    if "device_id" not in params:  # the device route takes no device filter
        problem(api.get(f"/devices/{fleet['taxi']['id']}/events", params=params), status, field)


def test_unknown_or_foreign_customers_and_devices_are_not_found(api, other_api, fleet):
    problem(api.get("/customers/999999/events"), 404, "customer_id")
    problem(api.get("/devices/999999/events"), 404, "device_id")
    problem(other_api.get(f"/customers/{fleet['ada']}/events"), 404, "customer_id")
    problem(other_api.get(f"/devices/{fleet['taxi']['id']}/events"), 404, "device_id")
    problem(other_api.get(f"/devices/{fleet['taxi']['id']}/telemetry"), 404, "device_id")
    problem(other_api.get(f"/devices/{fleet['taxi']['id']}/stats"), 404, "device_id")


def test_telemetry_is_bucketed_with_avg_min_max_and_count(api, client):
    meter = api.device(name="Meter", type="smart_meter")
    readings = [
        (0, {"kwh": 1.0, "volts": 230}),
        (30, {"kwh": 3.0, "volts": 232}),
        (60, {"kwh": 2.0}),
        (125, {"kwh": 5.0, "volts": 228, "label": "peak", "on": True, "lat": 52.5, "lon": 13.4}),
        (599, {"kwh": 4.0, "nested": {"x": 1}}),
        (600, {"kwh": 100.0}),  # at `until`: outside the window
    ]
    events = [
        {"id": f"r{i}", "type": "reading", "ts": (T0 + timedelta(seconds=s)).isoformat(), "props": props}
        for i, (s, props) in enumerate(readings)
    ]
    accepted(send(client, meter["key"], events), len(events))

    params = {"since": T0.isoformat(), "until": (T0 + timedelta(minutes=10)).isoformat(), "points": 5}
    result = api.events(f"/devices/{meter['id']}/telemetry", **params)
    assert result["device_id"] == meter["id"]
    assert result["bucket_seconds"] == 120
    assert datetime.fromisoformat(result["since"]) == T0
    assert datetime.fromisoformat(result["until"]) == T0 + timedelta(minutes=10)
    assert sorted(result["series"]) == ["kwh", "volts"]  # numbers only; no strings, booleans or positions
    kwh = result["series"]["kwh"]
    assert [datetime.fromisoformat(p["t"]) for p in kwh] == [
        T0,
        T0 + timedelta(seconds=120),
        T0 + timedelta(seconds=480),
    ]
    assert kwh[0] == {"t": kwh[0]["t"], "avg": 2.0, "min": 1.0, "max": 3.0, "count": 3}
    assert (kwh[1]["avg"], kwh[1]["count"]) == (5.0, 1)
    assert (kwh[2]["avg"], kwh[2]["count"]) == (4.0, 1)
    volts = result["series"]["volts"]
    assert [(p["avg"], p["min"], p["max"], p["count"]) for p in volts] == [
        (231.0, 230.0, 232.0, 2),
        (228.0, 228.0, 228.0, 1),
    ]

    chosen = api.events(f"/devices/{meter['id']}/telemetry", metric=["volts", "lat", "missing"], **params)
    assert sorted(chosen["series"]) == ["lat", "missing", "volts"]
    assert chosen["series"]["missing"] == []
    assert [p["avg"] for p in chosen["series"]["lat"]] == [52.5]

    fine = api.events(
        f"/devices/{meter['id']}/telemetry",
        metric="kwh",
        since=T0.isoformat(),
        until=(T0 + timedelta(minutes=10)).isoformat(),
        points=2000,
    )
    assert fine["bucket_seconds"] == 1
    assert [p["count"] for p in fine["series"]["kwh"]] == [1, 1, 1, 1, 1]


def test_telemetry_defaults_to_the_last_24_hours(api, client):
    watch = api.device(name="Watch", type="wearable")
    now = datetime.now(UTC)
    accepted(
        send(
            client,
            watch["key"],
            [
                {
                    "id": "old",
                    "type": "telemetry",
                    "ts": (now - timedelta(hours=25)).isoformat(),
                    "props": {"heart_rate": 200},
                },
                {
                    "id": "new",
                    "type": "telemetry",
                    "ts": (now - timedelta(hours=1)).isoformat(),
                    "props": {"heart_rate": 70},
                },
            ],
        ),
        2,
    )
    result = api.events(f"/devices/{watch['id']}/telemetry")
    until, since = datetime.fromisoformat(result["until"]), datetime.fromisoformat(result["since"])
    assert until - since == timedelta(hours=24)
    assert result["bucket_seconds"] == 720  # 24 h in 120 buckets
    assert [(p["avg"], p["count"]) for p in result["series"]["heart_rate"]] == [(70.0, 1)]
    empty = api.events(f"/devices/{api.device(type='beacon')['id']}/telemetry")
    assert empty["series"] == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"points": 0}, "points"),
        ({"points": 2001}, "points"),
        ({"points": "many"}, "points"),
        ({"metric": "speed;drop table events"}, "metric"),
        ({"metric": "$.speed"}, "metric"),
        ({"metric": "x" * 65}, "metric"),
        ({"metric": [f"m{i}" for i in range(21)]}, "metric"),
        ({"since": "2024-03-04T10:00:00Z", "until": "2024-03-04T09:00:00Z"}, "until"),
        ({"since": "2999-01-01T00:00:00Z"}, "since"),
        ({"until": "soon"}, "until"),
    ],
)
def test_bad_telemetry_requests_are_refused(api, fleet, params, field):
    problem(api.get(f"/devices/{fleet['taxi']['id']}/telemetry", params=params), 422, field)


def test_device_stats(api, client):
    taxi = api.device(name="Taxi")
    now = datetime.now(UTC)

    def ago(**delta) -> str:
        return (now - timedelta(**delta)).isoformat()

    accepted(
        send(
            client,
            taxi["key"],
            [
                {"id": "a", "type": "telemetry", "ts": ago(days=3)},
                {"id": "b", "type": "telemetry", "ts": ago(hours=5)},
                {"id": "c", "type": "telemetry", "ts": ago(minutes=10)},
                {"id": "d", "type": "fault", "ts": ago(minutes=5), "props": {"code": "E1"}},
            ],
        ),
        4,
    )
    stats = api.events(f"/devices/{taxi['id']}/stats")
    assert (stats["events_total"], stats["events_last_hour"], stats["events_last_24h"]) == (4, 2, 3)
    assert datetime.fromisoformat(stats["first_seen_at"]) < datetime.fromisoformat(stats["last_seen_at"])
    assert abs(datetime.fromisoformat(stats["first_seen_at"]) - (now - timedelta(days=3))) < timedelta(
        seconds=1
    )
    assert [(t["type"], t["count"], t["count_last_24h"]) for t in stats["types"]] == [
        ("telemetry", 3, 2),
        ("fault", 1, 1),
    ]
    silent = api.events(f"/devices/{api.device()['id']}/stats")
    assert (silent["events_total"], silent["first_seen_at"], silent["types"]) == (0, None, [])


def test_dead_letters_newest_first_filtered_and_paged(api, other_api, client, fleet):
    key = fleet["taxi"]["key"]
    send(client, key, [{"type": "bad type"}, {"type": "ok"}, {"type": "trip.end", "zzz": 1}])
    send(client, key, b"{broken", headers={"Content-Type": "application/json"})
    letters = api.dead_letters()
    assert [letter["item_index"] for letter in letters] == [None, 2, 0]
    assert letters[0]["reason"].startswith("The body is not valid JSON")
    assert api.dead_letters(source="http") == letters
    assert api.dead_letters(source="mqtt") == []
    page = api.get("/ingest/dead-letters", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and [letter["item_index"] for letter in page["items"]] == [2]
    problem(api.get("/ingest/dead-letters", params={"source": "ftp"}), 422, "source")
    assert other_api.get("/ingest/dead-letters").json()["total"] == 0
