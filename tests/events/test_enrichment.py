"""Live profile enrichment: stops and frequent places on planted data, the usage trend, and the
processor keeping devices, customer signals and learned places current from ingested events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.core.security import new_secret, secret_hash
from patron.customers.models import Place
from patron.devices.models import Device
from patron.events import enrichment
from patron.events.enrichment import enrichment_of
from patron.events.models import CustomerSignals
from patron.events.places import Position, cluster_places, detect_stops, haversine_m
from patron.events.signals import usage_trend

BERLIN = ZoneInfo("Europe/Berlin")
HOME = (52.5200, 13.4050)
WORK = (52.5096, 13.3760)
GYM = (52.4730, 13.4010)
SHOPS = ((52.5016, 13.3411), (52.5024, 13.4318), (52.5196, 13.4149))
INGEST = "/ingest/v1/events"


def jitter(rng: random.Random, point: tuple[float, float], metres: float = 15.0) -> tuple[float, float]:
    lat, lon = point
    return (lat + rng.gauss(0, metres) / 111_320, lon + rng.gauss(0, metres) / (111_320 * 0.61))


def travel(rng, start, end, leave: datetime, minutes: int, device_id=1) -> list[Position]:
    """GPS fixes every minute on the straight way from start to end, at 18 km/h or faster."""
    minutes = min(minutes, max(2, round(haversine_m(*start, *end) / 300)))
    fixes = []
    for step in range(1, minutes):
        share = step / minutes
        point = (start[0] + (end[0] - start[0]) * share, start[1] + (end[1] - start[1]) * share)
        lat, lon = jitter(rng, point, 5)
        fixes.append(Position(leave + timedelta(minutes=step), lat, lon, device_id))
    return fixes


def stay(
    rng, place, arrive: datetime, leave: datetime, every=timedelta(minutes=30), device_id=1
) -> list[Position]:
    fixes, moment = [], arrive
    while moment <= leave:
        lat, lon = jitter(rng, place)
        fixes.append(Position(moment, lat, lon, device_id))
        moment += every
    return fixes


def planted_person(seed: int = 7, weeks: int = 3) -> list[Position]:
    """A phone's GPS over ``weeks`` weeks in Berlin: nights at home, weekdays at work, a gym on
    Wednesday evenings, a shop on weekend middays, and 5 % stray fixes anywhere in town."""
    rng = random.Random(seed)
    fixes: list[Position] = []
    monday = datetime(2024, 3, 4, tzinfo=BERLIN)
    for day in range(weeks * 7):
        date = monday + timedelta(days=day)

        def at(hour, minute=0, _date=date):
            return _date.replace(hour=hour, minute=minute)

        if date.weekday() < 5:
            fixes += stay(rng, HOME, at(0), at(7, 50))
            fixes += travel(rng, HOME, WORK, at(7, 50), 25)
            fixes += stay(rng, WORK, at(8, 15), at(17, 20))
            if date.weekday() == 2:
                fixes += travel(rng, WORK, GYM, at(17, 30), 20)
                fixes += stay(rng, GYM, at(17, 50), at(19, 10), every=timedelta(minutes=10))
                fixes += travel(rng, GYM, HOME, at(19, 15), 20)
                fixes += stay(rng, HOME, at(19, 35), at(23, 59))
            else:
                fixes += travel(rng, WORK, HOME, at(17, 30), 25)
                fixes += stay(rng, HOME, at(17, 55), at(23, 59))
        else:
            shop = SHOPS[day % len(SHOPS)] if rng.random() < 0.5 else SHOPS[0]
            fixes += stay(rng, HOME, at(0), at(10, 40))
            fixes += travel(rng, HOME, shop, at(10, 40), 20)
            fixes += stay(rng, shop, at(11), at(12, 30), every=timedelta(minutes=15))
            fixes += travel(rng, shop, HOME, at(12, 30), 20)
            fixes += stay(rng, HOME, at(12, 50), at(23, 59))
    strays = [
        Position(
            monday + timedelta(minutes=rng.uniform(0, weeks * 7 * 1440)),
            52.52 + rng.uniform(-0.05, 0.05),
            13.40 + rng.uniform(-0.08, 0.08),
            1,
        )
        for _ in range(len(fixes) // 20)
    ]
    return fixes + strays


# --- pure functions ----------------------------------------------------------------------------------


def test_planted_home_and_work_are_recovered_with_their_labels():
    positions = planted_person()
    stops = detect_stops(positions)
    places = cluster_places(stops, tz="Europe/Berlin")

    home = [p for p in places if p.kind == "home"]
    work = [p for p in places if p.kind == "work"]
    assert len(home) == 1 and len(work) == 1
    assert haversine_m(home[0].lat, home[0].lon, *HOME) < 100
    assert haversine_m(work[0].lat, work[0].lon, *WORK) < 100
    assert home[0].label == "Home" and work[0].label == "Work"
    assert work[0].visit_count == 15  # every weekday of three weeks
    assert home[0].night_hours > work[0].night_hours
    gym = [p for p in places if haversine_m(p.lat, p.lon, *GYM) < 100]
    assert len(gym) == 1 and gym[0].kind == "other" and gym[0].label == "Frequent place"
    assert gym[0].visit_count == 3
    # stray fixes never become places
    assert all(
        min(haversine_m(p.lat, p.lon, *spot) for spot in (HOME, WORK, GYM, *SHOPS)) < 100 for p in places
    )


def test_labels_follow_the_customers_local_time():
    """A night-shift worker sleeps by day: in their own time zone the daytime place is home."""
    rng = random.Random(3)
    tokyo = ZoneInfo("Asia/Tokyo")
    fixes = []
    start = datetime(2024, 5, 6, tzinfo=tokyo)
    for day in range(14):
        date = start + timedelta(days=day)
        fixes += stay(rng, HOME, date.replace(hour=8), date.replace(hour=19))  # sleeps by day
        fixes += stay(rng, WORK, date.replace(hour=21), date.replace(hour=23, minute=59))
        fixes += stay(
            rng, WORK, date.replace(hour=0) + timedelta(days=1), date.replace(hour=6) + timedelta(days=1)
        )
    in_tokyo = {p.kind: p for p in cluster_places(detect_stops(fixes), tz="Asia/Tokyo")}
    assert haversine_m(in_tokyo["home"].lat, in_tokyo["home"].lon, *WORK) < 100  # nights at the workplace
    assert haversine_m(in_tokyo["work"].lat, in_tokyo["work"].lon, *HOME) < 100


def test_stops_from_explicit_reports_dwell_and_visits():
    t0 = datetime(2024, 3, 4, 18, 30, tzinfo=UTC)
    positions = [
        Position(t0, *HOME, device_id=1, kind="stop"),  # trip.end at home
        Position(t0 + timedelta(hours=13), HOME[0] + 0.0003, HOME[1], device_id=1),  # trip.start next morning
        Position(t0 + timedelta(hours=13, minutes=1), HOME[0] + 0.01, HOME[1], device_id=1),  # driving off
        # two minutes at a traffic light: not a stop
        Position(t0 + timedelta(hours=13, minutes=2), 52.50, 13.40, device_id=1),
        Position(t0 + timedelta(hours=13, minutes=4), 52.50, 13.40, device_id=1),
        Position(t0 + timedelta(hours=13, minutes=6), 52.49, 13.40, device_id=1),
        # a beacon saw the customer twice at the same shop: two visits
        Position(t0 + timedelta(hours=20), *SHOPS[0], device_id=9, kind="visit"),
        Position(t0 + timedelta(hours=30), *SHOPS[0], device_id=9, kind="visit"),
    ]
    stops = detect_stops(reversed(positions))  # any order
    assert [(s.device_id, s.explicit) for s in stops] == [(1, True), (9, True), (9, True)]
    night = stops[0]
    assert night.start == t0 and night.duration == timedelta(hours=13) and night.positions == 2
    # a five-minute dwell without a report is a stop; a shorter one is not
    dwell = [Position(t0 + timedelta(minutes=m), 52.5, 13.4, 2) for m in range(0, 6)]
    assert len(detect_stops(dwell)) == 1
    assert detect_stops(dwell[:5]) == []


def test_too_few_stops_make_no_places():
    assert cluster_places([]) == []
    one = detect_stops([Position(datetime(2024, 1, 1, tzinfo=UTC), *HOME, 1, "stop")])
    assert cluster_places(one) == []


NOW = datetime(2024, 6, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("weekly", "first_days_ago", "last_days_ago", "trend"),
    [
        ([10, 20, 30, 40], 40, 0, "rising"),
        ([40, 30, 20, 10], 40, 0, "falling"),
        ([20, 22, 19, 21], 40, 0, "steady"),
        ([0, 0, 0, 5], 5, 0, "new"),
        ([0, 0, 6, 3], 15, 1, "falling"),  # two weeks of data: only those two count
        ([30, 10, 0, 0], 40, 20, "inactive"),
        ([0, 0, 0, 0], 2, 16, "inactive"),
    ],
)
def test_usage_trend(weekly, first_days_ago, last_days_ago, trend):
    result, slope = usage_trend(
        weekly,
        first_seen=NOW - timedelta(days=first_days_ago),
        last_seen=NOW - timedelta(days=last_days_ago),
        now=NOW,
    )
    assert result == trend
    if trend == "new":
        assert slope is None


def test_usage_trend_slope_is_relative_to_the_mean():
    _, slope = usage_trend([40, 30, 20, 10], first_seen=NOW - timedelta(days=60), last_seen=NOW, now=NOW)
    assert slope == pytest.approx(-10 / 25)
    assert usage_trend([], first_seen=None, last_seen=None, now=NOW) == ("new", None)


# --- the processor, end to end -----------------------------------------------------------------------


@pytest.fixture
def enrich(client, app, monkeypatch):
    """The app's enrichment processor, with background writes off so each test flushes itself."""
    monkeypatch.setattr(enrichment, "FLUSH_SECONDS", 1e9)
    monkeypatch.setattr(enrichment, "OFFLINE_SCAN_SECONDS", 0.0)
    processor = enrichment_of(app.state.events)
    assert processor is not None

    def flush(now: datetime | None = None) -> None:
        assert app.state.events.wait_processed(timeout=30)
        processor.flush(now)

    return flush


def make_device(db, tenant, customer_id: int | None, type_: str = "wearable") -> tuple[int, str]:
    """A device bound to the customer, with a device key (made through the ORM: the devices API is
    someone else's suite)."""
    key = new_secret("pdk")
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        device = Device(
            org_id=tenant.org_id,
            type=type_,
            name="Test device",
            customer_id=customer_id,
            key_hash=secret_hash(key),
            key_prefix=key[:12],
        )
        session.add(device)
        session.flush()
        return device.id, key


def new_customer(client, tenant, **fields) -> int:
    response = client.post("/api/v1/customers", headers=tenant.headers, json={"first_name": "Ann", **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(client, key: str, events: list[dict]) -> None:
    response = client.post(INGEST, headers={"Authorization": f"Bearer {key}"}, json=events)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


def device_row(db, device_id: int) -> Device:
    with db() as session:
        return session.get(Device, device_id)


def signals_of(client, tenant, customer_id: int) -> dict:
    response = client.get(f"/api/v1/customers/{customer_id}/signals", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_device_health_and_signals_follow_the_events(client, db, tenant, enrich):
    customer = new_customer(client, tenant, timezone="Europe/Berlin")
    device, key = make_device(db, tenant, customer)
    now = datetime.now(UTC)
    send(
        client,
        key,
        [
            {
                "id": f"t{i}",
                "type": "telemetry",
                "ts": iso(now - timedelta(minutes=i)),
                "props": {"heart_rate": 70 + i, "battery": 80},
            }
            for i in range(10)
        ],
    )
    enrich()
    row = device_row(db, device)
    assert row.health == "ok" and row.health_reason == ""
    assert row.last_event_type == "telemetry"
    assert abs((row.last_seen_at - now).total_seconds()) < 1
    assert row.message_rate == pytest.approx(5 / 5, abs=0.21)  # the minutes 0-4 ago, per minute
    signals = signals_of(client, tenant, customer)
    assert signals["device_count"] == 1 and signals["device_health"] == "ok"
    assert signals["events_30d"] == 10 and signals["usage_by_type"] == {"telemetry": 10}
    assert signals["usage_trend"] == "new" and signals["updated_at"] is not None

    send(client, key, [{"id": "f1", "type": "fault", "ts": iso(now), "props": {"code": "E42"}}])
    enrich()
    row = device_row(db, device)
    assert (row.health, row.last_fault_code, row.last_event_type) == ("fault", "E42", "fault")
    assert "E42" in row.health_reason
    assert signals_of(client, tenant, customer)["device_health"] == "fault"

    # a late, older event counts but does not move last seen
    send(client, key, [{"id": "old", "type": "telemetry", "ts": iso(now - timedelta(hours=3))}])
    enrich()
    row = device_row(db, device)
    assert row.last_event_type == "fault" and abs((row.last_seen_at - now).total_seconds()) < 1
    assert signals_of(client, tenant, customer)["events_30d"] == 12

    send(
        client,
        key,
        [
            {"id": "c1", "type": "fault.cleared", "ts": iso(now + timedelta(seconds=1))},
            {"id": "b1", "type": "telemetry", "ts": iso(now + timedelta(seconds=2)), "props": {"battery": 9}},
        ],
    )
    enrich()
    row = device_row(db, device)
    assert row.health == "warning" and "battery" in row.health_reason
    assert row.last_fault_code == "E42"  # the last code stays on record

    send(
        client,
        key,
        [
            {
                "id": "b2",
                "type": "telemetry",
                "ts": iso(now + timedelta(seconds=3)),
                "props": {"battery": 95, "rssi": -112},
            }
        ],
    )
    enrich()
    assert "weak signal" in device_row(db, device).health_reason

    # silent for much longer than a wearable's interval: offline, and the customer's health with it
    enrich(now + timedelta(hours=2))
    row = device_row(db, device)
    assert row.health == "offline" and "no event since" in row.health_reason
    assert row.message_rate == 0
    assert signals_of(client, tenant, customer)["device_health"] == "offline"

    send(
        client,
        key,
        [{"id": "back", "type": "heartbeat", "ts": iso(datetime.now(UTC)), "props": {"rssi": -70}}],
    )
    enrich()
    assert device_row(db, device).health == "ok"


def test_a_fault_lapses_after_the_hold_time(client, db, tenant, enrich):
    customer = new_customer(client, tenant)
    device, key = make_device(db, tenant, customer, type_="phone_app")  # expected once a day: stays online
    now = datetime.now(UTC)
    send(client, key, [{"id": "f", "type": "app.open", "ts": iso(now), "props": {"error": "CRASH_ON_START"}}])
    enrich()
    assert (device_row(db, device).health, device_row(db, device).last_fault_code) == (
        "fault",
        "CRASH_ON_START",
    )
    enrich(now + enrichment.FAULT_HOLD - timedelta(minutes=1))
    assert device_row(db, device).health == "fault"
    enrich(now + enrichment.FAULT_HOLD + timedelta(minutes=1))
    assert device_row(db, device).health == "ok"


def test_usage_trend_of_a_customer_whose_use_falls(client, db, tenant, enrich):
    """Events sent for the customer with an ingest key (no device): 40, 30, 20, 10 a week."""
    from patron.devices.models import IngestKey

    customer = new_customer(client, tenant)
    key = new_secret("pik")
    with session_scope(db) as session:
        session.add(
            IngestKey(org_id=tenant.org_id, name="backend", prefix=key[:12], key_hash=secret_hash(key))
        )
    now = datetime.now(UTC)
    events = []
    for week, count in enumerate((10, 20, 30, 40)):  # week 0 is the last seven days
        for i in range(count):
            moment = now - timedelta(days=7 * week + 0.5 + 6 * i / count)
            events.append({"id": f"w{week}-{i}", "customer": customer, "type": "app.open", "ts": iso(moment)})
    events.append(
        {"id": "first", "customer": customer, "type": "signup", "ts": iso(now - timedelta(days=35))}
    )
    send(client, key, events)
    enrich()
    signals = signals_of(client, tenant, customer)
    assert signals["usage_trend"] == "falling"
    assert signals["trend_slope"] == pytest.approx(-10 / 25)
    assert signals["events_7d"] == 10 and signals["events_30d"] == 100
    assert signals["device_count"] == 0 and signals["device_health"] == "unknown"
    assert signals["usage_by_type"] == {"app.open": 100}


def trips(start: datetime, days: int, *, prefix: str) -> list[dict]:
    """A car's trips: home -> work on weekday mornings, back in the evening, GPS every 20 s on the way."""
    events = []
    rng = random.Random(prefix)
    for day in range(days):
        date = (start + timedelta(days=day)).astimezone(BERLIN)
        if date.weekday() >= 5:
            continue
        for leg, (origin, target, hour) in enumerate(((HOME, WORK, 8), (WORK, HOME, 17))):
            leave = date.replace(hour=hour, minute=rng.randrange(0, 30), second=0, microsecond=0)
            tag = f"{prefix}-{day}-{leg}"
            lat, lon = jitter(rng, origin)
            events.append(
                {"id": f"{tag}-s", "type": "trip.start", "ts": iso(leave), "props": {"lat": lat, "lon": lon}}
            )
            for step in range(1, 60):
                share = step / 60
                point = (
                    origin[0] + (target[0] - origin[0]) * share,
                    origin[1] + (target[1] - origin[1]) * share,
                )
                events.append(
                    {
                        "id": f"{tag}-{step}",
                        "type": "location",
                        "ts": iso(leave + timedelta(seconds=20 * step)),
                        "props": {"lat": point[0], "lon": point[1], "speed": 30},
                    }
                )
            lat, lon = jitter(rng, target)
            events.append(
                {
                    "id": f"{tag}-e",
                    "type": "trip.end",
                    "ts": iso(leave + timedelta(minutes=20)),
                    "props": {"lat": lat, "lon": lon},
                }
            )
    return events


def test_frequent_places_are_learned_and_kept_up_to_date(client, db, tenant, other_tenant, enrich):
    customer = new_customer(client, tenant, timezone="Europe/Berlin")
    manual = client.post(
        f"/api/v1/customers/{customer}/places",
        headers=tenant.headers,
        json={"label": "Mum's", "latitude": HOME[0], "longitude": HOME[1]},
    )
    assert manual.status_code == 201, manual.text
    device, key = make_device(db, tenant, customer, type_="vehicle")
    now = datetime.now(UTC)
    send(client, key, trips(now - timedelta(days=22), 14, prefix="a"))
    enrich()

    learned = {p["kind"]: p for p in signals_of(client, tenant, customer)["learned_places"]}
    assert set(learned) == {"home", "work"}
    assert haversine_m(learned["home"]["latitude"], learned["home"]["longitude"], *HOME) < 100
    assert haversine_m(learned["work"]["latitude"], learned["work"]["longitude"], *WORK) < 100
    assert learned["home"]["label"] == "Home" and learned["work"]["label"] == "Work"
    first_visits = learned["work"]["visit_count"]
    assert first_visits >= 9  # ten weekdays in two weeks
    signals = signals_of(client, tenant, customer)
    assert signals["places_learned_at"] is not None

    # more trips: the same rows are updated (not re-created); the manual place is left alone
    send(
        client,
        key,
        trips(now - timedelta(days=8), 7, prefix="b"),
    )
    enrich(datetime.now(UTC) + enrichment.RELEARN_AFTER)
    again = {p["kind"]: p for p in signals_of(client, tenant, customer)["learned_places"]}
    assert again["home"]["id"] == learned["home"]["id"] and again["work"]["id"] == learned["work"]["id"]
    assert again["work"]["visit_count"] >= first_visits + 4  # five more weekdays
    assert again["home"]["visit_count"] > learned["home"]["visit_count"]
    with db() as session:
        places = session.scalars(select(Place).where(Place.customer_id == customer)).all()
        kept = [p for p in places if p.source == "manual"]
        assert [(p.label, p.latitude, p.longitude, p.kind) for p in kept] == [
            ("Mum's", HOME[0], HOME[1], "other")
        ]
        assert sorted(p.kind for p in places if p.source == "learned") == ["home", "work"]

    # the learned places are the customer's places for every reader of the places list
    listed = client.get(f"/api/v1/customers/{customer}/places", headers=tenant.headers).json()
    assert {p["label"] for p in listed} == {"Mum's", "Home", "Work"}
    # and another organisation sees none of it
    response = client.get(f"/api/v1/customers/{customer}/signals", headers=other_tenant.headers)
    assert response.status_code == 404


def test_signals_before_any_event_and_across_tenants(client, db, tenant, other_tenant, enrich):
    customer = new_customer(client, tenant)
    signals = signals_of(client, tenant, customer)
    assert signals == {
        "customer_id": customer,
        "last_seen_at": None,
        "events_today": 0,
        "events_7d": 0,
        "events_30d": 0,
        "usage_by_type": {},
        "usage_trend": "new",
        "trend_slope": None,
        "device_count": 0,
        "device_health": "unknown",
        "places_learned_at": None,
        "updated_at": None,
        "learned_places": [],
    }
    for headers, target in ((other_tenant.headers, customer), (tenant.headers, 999_999)):
        response = client.get(f"/api/v1/customers/{target}/signals", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == "customer_id"
    assert client.get(f"/api/v1/customers/{customer}/signals").status_code == 401
    with db() as session:
        assert session.scalar(select(CustomerSignals).where(CustomerSignals.customer_id == customer)) is None


def test_a_failed_write_is_written_again_by_the_next(client, db, tenant, enrich, app, monkeypatch):
    customer = new_customer(client, tenant)
    device, key = make_device(db, tenant, customer)
    now = datetime.now(UTC)
    send(
        client,
        key,
        [{"id": f"w{i}", "type": "telemetry", "ts": iso(now - timedelta(minutes=i))} for i in range(3)],
    )
    real = enrichment.signals.write_signals

    def broken(*args, **kwargs):
        raise RuntimeError("the records database is away")

    monkeypatch.setattr(enrichment.signals, "write_signals", broken)
    enrich()
    assert device_row(db, device).last_event_type == "telemetry"  # device rows went in first
    assert signals_of(client, tenant, customer)["events_30d"] == 0  # the signals did not
    monkeypatch.setattr(enrichment.signals, "write_signals", real)
    enrich()  # no new event since: the customer was given back to be written
    assert signals_of(client, tenant, customer)["events_30d"] == 3


def test_tick_writes_in_the_background(client, db, tenant, enrich, app, monkeypatch):
    customer = new_customer(client, tenant)
    device, key = make_device(db, tenant, customer)
    send(client, key, [{"id": "bg1", "type": "door", "props": {"battery": 50}}])
    assert app.state.events.wait_processed(timeout=30)
    processor = enrichment_of(app.state.events)
    monkeypatch.setattr(enrichment, "FLUSH_SECONDS", 0.0)
    processor.tick(datetime.now(UTC))
    writer = processor._writer
    assert writer is not None and writer.name == "patron-enrichment-writer"
    writer.join(timeout=30)
    assert device_row(db, device).last_event_type == "door"
    assert signals_of(client, tenant, customer)["events_30d"] == 1


def test_the_processed_cursor_reaches_the_store(client, db, tenant, app):
    import time

    from patron.events.runtime import CURSOR_KEY

    customer = new_customer(client, tenant)
    _, key = make_device(db, tenant, customer)
    send(client, key, [{"id": f"cur{i}", "type": "telemetry"} for i in range(3)])
    runtime = app.state.events
    assert runtime.wait_processed(timeout=30)
    target = runtime.store.last_seq
    deadline = time.monotonic() + 10
    while int(runtime.store.get_meta(CURSOR_KEY) or 0) < target and time.monotonic() < deadline:
        time.sleep(0.02)  # written by the cursor's own thread, as soon as the store is free
    assert int(runtime.store.get_meta(CURSOR_KEY) or 0) == target
