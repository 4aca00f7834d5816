"""The fleet simulator: the generator on its own (determinism, realistic values, trips between the
customer's places, faults at the set rate), the pacing loop, `patron simulate` over HTTP to a real
server and as NDJSON, and the demo's devices, history and rules."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from patron.accounts import service as accounts_service
from patron.app import create_app
from patron.cli import app as cli_app
from patron.core.audit import Actor
from patron.core.cli_support import cli_sessionmaker
from patron.core.config import get_settings
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.customers.places import create_place
from patron.devices import service as devices_service
from patron.devices.models import Device, IngestKey
from patron.events.models import CustomerSignals
from patron.predictions.models import PredictionRun
from patron.rules.models import Rule, RuleFiring
from patron.simulate import iot
from patron.simulate.fleet import Fleet, FleetOptions, SimDevice, SimEvent, density_for_rate, distance_m
from patron.simulate.sender import SimulationStats, StdoutTransport, run_simulation
from patron.tickets.models import Ticket

HOME = (52.5200, 13.4050)
WORK = (52.5096, 13.3760)
GYM = (52.4730, 13.4010)
SHOP = (52.5016, 13.3411)
START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday


def person(device_id: int, kind: str, **fields) -> SimDevice:
    fields.setdefault("customer_id", 100 + device_id)
    return SimDevice(
        id=device_id, type=kind, home=HOME, work=WORK, places=(GYM, SHOP), timezone="Europe/Berlin", **fields
    )


FLEET = [
    person(1, "vehicle"),
    person(2, "wearable", fitness=True),
    person(3, "smart_meter"),
    person(4, "smart_home_hub"),
    SimDevice(
        id=5,
        type="beacon",
        home=SHOP,
        shop="KaDeWe",
        regulars=(101, 106),
        passers=(102, 103),
        timezone="Europe/Berlin",
    ),
    person(6, "phone_app"),
]


def week(devices=FLEET, **kwargs) -> list[SimEvent]:
    kwargs.setdefault("seed", 7)
    return list(Fleet(devices, start=START, **kwargs).events(until=START + timedelta(days=7)))


# --- the generator ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_traffic_whatever_the_start():
    first, again = week(), week()
    assert [e.as_ingest() for e in first] == [e.as_ingest() for e in again]
    assert [e.ts for e in first] == sorted(e.ts for e in first)
    assert len({e.id for e in first}) == len(first)
    assert all(START <= e.ts < START + timedelta(days=7) for e in first)

    # a later start yields the same events for the period both cover (ids too: a resend is a duplicate)
    later = list(
        Fleet(FLEET, seed=7, start=START + timedelta(days=3, hours=5)).events(until=START + timedelta(days=7))
    )
    overlap = [e for e in first if e.ts >= START + timedelta(days=3, hours=5)]
    assert [e.as_ingest() for e in later] == [e.as_ingest() for e in overlap]

    other = week(seed=8)
    assert [e.as_ingest() for e in other] != [e.as_ingest() for e in first]
    # another density samples differently, and its events get other ids
    denser = week(density=2.0)
    assert not {e.id for e in denser} & {e.id for e in first}


def test_every_kind_of_device_sends_realistic_values():
    events = week()
    kinds = Counter((e.device_id, e.type) for e in events)
    for device_id, event_type in [
        (1, "trip.start"),
        (1, "trip.end"),
        (1, "location"),
        (1, "heartbeat"),
        (2, "telemetry"),
        (3, "telemetry"),
        (4, "telemetry"),
        (4, "door.open"),
        (4, "alarm.armed"),
        (5, "heartbeat"),
        (5, "beacon.visit"),
        (6, "app.open"),
    ]:
        assert kinds[(device_id, event_type)] > 0, (device_id, event_type)

    for event in events:
        props = event.props
        if "lat" in props:
            assert distance_m((props["lat"], props["lon"]), HOME) < 15_000
        if event.type == "location":
            assert 0 <= props["speed"] < 80 and 0 <= props["heading"] < 360
        if event.device_id == 2:
            assert 40 <= props["heart_rate"] <= 200 and 0 <= props["battery"] <= 100 and props["steps"] >= 0
        if event.device_id == 3 and event.type == "telemetry":
            assert 220 < props["voltage"] < 240 and props["kwh"] > 0
        if event.device_id == 4 and event.type == "telemetry":
            assert 15 < props["temperature"] < 25 and -120 < props["rssi"] < -40
        if event.type == "beacon.visit":
            assert event.customer_id in (101, 106, 102, 103) and props["shop"] == "KaDeWe"
            assert distance_m((props["lat"], props["lon"]), SHOP) < 100

    # a household uses more power in the evening than at night, in its own time zone (CET)
    meter = [e for e in events if e.device_id == 3 and e.type == "telemetry"]
    evening = [e.props["power_w"] for e in meter if 18 <= e.ts.hour < 20]  # 19:00-21:00 CET
    night = [e.props["power_w"] for e in meter if 1 <= e.ts.hour < 3]
    assert sum(evening) / len(evening) > 2 * sum(night) / len(night)
    # the wearable's heart rate is lower at night than by day
    band = [e for e in events if e.device_id == 2]
    asleep = [e.props["heart_rate"] for e in band if 1 <= e.ts.hour < 4]
    awake = [e.props["heart_rate"] for e in band if 9 <= e.ts.hour < 15]
    assert sum(asleep) / len(asleep) + 10 < sum(awake) / len(awake)


def test_trips_start_and_end_at_the_customers_places():
    events = [e for e in week() if e.device_id == 1]
    starts = [e for e in events if e.type == "trip.start"]
    ends = [e for e in events if e.type == "trip.end"]
    assert len(starts) == len(ends) >= 10  # to work and back on weekdays, outings at the weekend
    places = (HOME, WORK, GYM, SHOP)
    for event in starts + ends:
        assert min(distance_m((event.props["lat"], event.props["lon"]), p) for p in places) < 60
    assert {e.props["trip_id"] for e in starts} == {e.props["trip_id"] for e in ends}
    weekday_ends = [e for e in ends if e.ts.weekday() < 5]
    assert sum(distance_m((e.props["lat"], e.props["lon"]), WORK) < 60 for e in weekday_ends) >= 4
    for end in ends:
        assert end.props["distance_km"] > 0 and end.props["fare_eur"] > 3.9
    # GPS fixes only while driving, and no heartbeat in the middle of a trip
    for start, end in zip(starts, ends, strict=True):
        during = [e for e in events if start.ts < e.ts < end.ts]
        assert during and {e.type for e in during} <= {"location", "harsh_brake", "fault", "fault.cleared"}


def test_faults_and_dropouts_come_at_the_set_rates():
    apps = [person(i, "phone_app") for i in range(1, 11)]
    days = 60
    options = FleetOptions(fault_rate=0.5, fault_cleared_share=0.7, dropout_rate=0.0)
    events = list(
        Fleet(apps, seed=1, start=START, options=options).events(until=START + timedelta(days=days))
    )
    faults = [e for e in events if e.type == "fault"]
    expected = 0.5 * days * len(apps)
    assert 0.8 * expected < len(faults) < 1.2 * expected
    assert {e.props["code"] for e in faults} <= {"APP_CRASH", "SYNC_FAILED"}
    cleared = sum(e.type == "fault.cleared" for e in events)
    assert 0.55 < cleared / len(faults) < 0.85
    assert not [e for e in week(options=FleetOptions(fault_rate=0)) if e.type == "fault"]

    # drop-outs: a meter that reports every 15 minutes falls silent for half an hour or more
    meter = [person(3, "smart_meter")]
    silent = FleetOptions(dropout_rate=1.0, fault_rate=0)
    times = [
        e.ts
        for e in Fleet(meter, seed=2, start=START, options=silent).events(until=START + timedelta(days=10))
    ]
    gaps = [(b - a) for a, b in zip(times, times[1:], strict=False) if b - a > timedelta(minutes=16)]
    assert len(gaps) >= 5 and all(gap >= timedelta(minutes=30) for gap in gaps)


def test_engagement_trends_show_in_the_use():
    falling = [person(i, "phone_app", engagement="falling") for i in range(1, 21)]
    rising = [person(i, "phone_app", engagement="rising") for i in range(21, 41)]
    events = list(
        Fleet(falling + rising, seed=3, start=START, options=FleetOptions(fault_rate=0)).events(
            until=START + timedelta(days=21)
        )
    )

    def opens(devices, first_day):
        ids = {d.id for d in devices}
        window = (START + timedelta(days=first_day), START + timedelta(days=first_day + 7))
        return sum(
            e.type == "app.open" and e.device_id in ids and window[0] <= e.ts < window[1] for e in events
        )

    assert opens(falling, 14) < 0.6 * opens(falling, 0)
    assert opens(rising, 14) > 1.3 * opens(rising, 0)


def test_density_reaches_a_wanted_rate():
    assert density_for_rate(FLEET, 0.001) == 1.0  # the natural traffic is already more
    density = density_for_rate(FLEET, 2.0)
    assert density > 1
    fleet = Fleet(FLEET, seed=1, start=START, density=density)
    assert fleet.nominal_rate() == pytest.approx(2.0, rel=0.05)
    sent = sum(1 for _ in fleet.events(until=START + timedelta(days=1)))
    assert sent / 86_400 == pytest.approx(2.0, rel=0.25)


def test_bad_fleet_arguments():
    with pytest.raises(ValueError, match="timezone-aware"):
        Fleet(FLEET, start=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="density"):
        Fleet(FLEET, start=START, density=0)


# --- the pacing loop --------------------------------------------------------------------------------


class Collect:
    def __init__(self) -> None:
        self.batches: list[list[SimEvent]] = []

    def send(self, events):
        self.batches.append(list(events))
        return len(events), 0

    def close(self):
        return None


def test_past_traffic_is_sent_in_order_as_fast_as_asked_and_never_ahead_of_the_clock():
    now = datetime.now(UTC)
    start = now - timedelta(hours=6)
    fleet = Fleet(FLEET[:4], seed=5, start=start)
    transport = Collect()
    stats = run_simulation(
        fleet.events(until=now + timedelta(hours=1)),
        transport,
        start=start,
        speed=0,
        duration=5,
        batch_size=200,
    )
    sent = [e for batch in transport.batches for e in batch]
    expected = [e for e in fleet.events(until=now)]
    assert [e.id for e in sent[: len(expected)]] == [e.id for e in expected]
    assert all(e.ts <= datetime.now(UTC) for e in sent)  # the hour ahead waited for the real clock
    assert stats.sent == len(sent) and stats.accepted == len(sent) and stats.rejected == 0
    assert max(len(batch) for batch in transport.batches) <= 200
    assert isinstance(stats, SimulationStats) and stats.by_type["telemetry"] > 0


def test_a_stop_request_ends_the_run():
    stop = threading.Event()
    stop.set()
    stats = run_simulation(iter(week()), Collect(), start=START, speed=0, stop=stop)
    assert stats.sent == 0


# --- patron simulate ---------------------------------------------------------------------------------


@pytest.fixture
def cli(database, settings, tmp_path, monkeypatch):
    """``cli(*args)``: the ``patron`` command against the test database."""
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("PATRON_DATABASE_URL", database.url)
    monkeypatch.delenv("PATRON_INGEST_KEY", raising=False)

    def fresh() -> None:
        get_settings.cache_clear()
        if cli_sessionmaker.cache_info().currsize:
            cli_sessionmaker().kw["bind"].dispose()
        cli_sessionmaker.cache_clear()

    fresh()
    runner = CliRunner()
    yield lambda *args, **kwargs: runner.invoke(cli_app, list(args), **kwargs)
    fresh()


def small_fleet(db, tenant) -> str:
    """Three customers with places and devices (a taxi, a hub, an app) and a beacon; returns an ingest key."""
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        for number, kind in enumerate(("vehicle", "smart_home_hub", "phone_app")):
            customer = customers_service.create_customer(
                session,
                org_id=tenant.org_id,
                data={"first_name": f"Rider {number}", "timezone": "Europe/Berlin"},
            )
            create_place(
                session,
                org_id=tenant.org_id,
                customer_id=customer.id,
                label="home",
                latitude=HOME[0] + number / 100,
                longitude=HOME[1],
            )
            create_place(
                session,
                org_id=tenant.org_id,
                customer_id=customer.id,
                label="work",
                latitude=WORK[0],
                longitude=WORK[1],
            )
            create_place(
                session,
                org_id=tenant.org_id,
                customer_id=customer.id,
                label="KaDeWe",
                latitude=SHOP[0],
                longitude=SHOP[1],
            )
            devices_service.create_device(
                session, org_id=tenant.org_id, type=kind, customer_id=customer.id, name=f"{kind} {number}"
            )
        devices_service.create_device(
            session,
            org_id=tenant.org_id,
            type="beacon",
            name="Beacon KaDeWe",
            attributes={"shop": "KaDeWe", "lat": SHOP[0], "lon": SHOP[1]},
        )
        key, _ = devices_service.create_ingest_key(session, org_id=tenant.org_id, name="simulator")
    return key


def test_the_fleet_of_an_organisation_comes_from_its_records(db, tenant):
    small_fleet(db, tenant)
    with db() as session:
        fleet = iot.load_fleet(session, org_id=tenant.org_id)
    assert sorted(d.type for d in fleet) == ["beacon", "phone_app", "smart_home_hub", "vehicle"]
    taxi = next(d for d in fleet if d.type == "vehicle")
    assert taxi.home == HOME and taxi.work == WORK and taxi.places == (SHOP,)
    assert taxi.timezone == "Europe/Berlin" and taxi.customer_id is not None
    beacon = next(d for d in fleet if d.type == "beacon")
    assert beacon.home == SHOP and beacon.shop == "KaDeWe" and beacon.customer_id is None
    assert len(beacon.regulars) == 3 and beacon.passers == ()
    with db() as session:
        assert len(iot.load_fleet(session, org_id=tenant.org_id, limit=2)) == 2


@pytest.fixture
def server(app):
    """The test app served by a real uvicorn on a free port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(30)


def stored(app, org_id: int) -> tuple[int, int]:
    """(events, dead letters) of the organisation in the app's event store."""
    store = app.state.events.store
    events = store.query("SELECT count(*) FROM events WHERE org_id = ?", [org_id])[0][0]
    dead = store.query("SELECT count(*) FROM dead_letters WHERE org_id = ?", [org_id])[0][0]
    return events, dead


HISTORY_DAYS = "0.05"


def test_simulate_over_http_stores_the_events(cli, server, app, db, tenant):
    # 72 minutes of history, about 2,200 events: replayed well within the first run's 4 seconds even on a
    # busy machine, so the second run finds all of them stored and adds only the minutes in between
    key = small_fleet(db, tenant)
    result = cli(
        "simulate",
        "--org",
        tenant.slug,
        "--url",
        server,
        "--key",
        key,
        "--history",
        HISTORY_DAYS,
        "--speed",
        "0",
        "--duration",
        "4",
        "--rate",
        "0.5",
        "--fault-rate",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert "Simulating 4 devices" in result.output
    done = result.output.strip().splitlines()[-1]
    assert done.startswith("Done: sent ") and "rejected 0" in done
    sent = int(done.split()[2].replace(",", ""))
    assert sent > 100
    events, dead = stored(app, tenant.org_id)
    assert events == sent and dead == 0
    types = {
        row[0]
        for row in app.state.events.store.query(
            "SELECT DISTINCT type FROM events WHERE org_id = ?", [tenant.org_id]
        )
    }
    assert {"heartbeat", "telemetry"} <= types

    # the same seed again: the events are the same, and stored once
    again = cli(
        "simulate",
        "--org",
        tenant.slug,
        "--url",
        server,
        "--key",
        key,
        "--history",
        HISTORY_DAYS,
        "--speed",
        "0",
        "--duration",
        "2",
        "--rate",
        "0.5",
        "--fault-rate",
        "2",
    )
    assert again.exit_code == 0, again.output
    assert stored(app, tenant.org_id)[0] <= sent + 50  # only the minutes since the first run are new


def test_simulate_refuses_what_it_cannot_do(cli, server, app, db, tenant, other_tenant):
    key = small_fleet(db, tenant)
    cases = [
        (("--org", "no-such-org", "--url", server, "--key", key), "no-such-org"),
        (("--org", other_tenant.slug, "--url", server, "--key", key), "no active devices"),
        (("--org", tenant.slug, "--url", server), "--key"),
        (("--org", tenant.slug, "--url", server, "--key", "pik_wrong"), "refused the ingest key"),
        (("--org", tenant.slug, "--url", "http://127.0.0.1:9", "--key", key), "Cannot reach"),
        (("--org", tenant.slug, "--via", "pigeon", "--key", key), "pigeon"),
        (("--org", tenant.slug, "--rate", "0", "--key", key), "rate"),
    ]
    for args, message in cases:
        result = cli("simulate", *args, "--history", "0.1", "--speed", "0", "--duration", "3")
        assert result.exit_code != 0, (args, result.output[-600:])
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert stored(app, tenant.org_id) == (0, 0)


def test_simulate_to_stdout_prints_ingest_ready_ndjson(cli, db, tenant):
    small_fleet(db, tenant)
    result = cli(
        "simulate",
        "--org",
        tenant.slug,
        "--via",
        "stdout",
        "--history",
        "0.2",
        "--speed",
        "0",
        "--duration",
        "2",
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    events = [orjson.loads(line) for line in lines]
    assert len(events) > 50
    assert all(set(e) <= {"id", "device_id", "customer", "type", "ts", "props"} for e in events)
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)


def test_new_key_is_created_and_shown_once(cli, db, tenant):
    small_fleet(db, tenant)
    result = cli("simulate", "--org", tenant.slug, "--new-key", "--via", "stdout", "--duration", "0.5")
    assert result.exit_code == 0, result.output
    assert "pik_" in result.output
    with db() as session:
        names = session.scalars(select(IngestKey.name).where(IngestKey.org_id == tenant.org_id)).all()
    assert sorted(names) == ["Fleet simulator (CLI)", "simulator"]


def test_stdout_transport_writes_lines():
    import io

    stream = io.StringIO()
    StdoutTransport(stream).send(week()[:3])
    assert len(stream.getvalue().splitlines()) == 3


# --- the demo's devices --------------------------------------------------------------------------


def test_demo_iot_seeding_gives_devices_history_signals_and_rules(db, settings, tenant, make_tenant):
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        for number in range(30):
            customer = customers_service.create_customer(
                session,
                org_id=tenant.org_id,
                data={
                    "first_name": f"Ann {number}",
                    "timezone": "Europe/Berlin",
                    "tags": ["rides", "smart-home"],
                    "lifestyle_tags": ["fitness"] if number % 3 == 0 else [],
                },
            )
            create_place(
                session,
                org_id=tenant.org_id,
                customer_id=customer.id,
                label="home",
                latitude=HOME[0] + number / 500,
                longitude=HOME[1],
            )
            create_place(
                session,
                org_id=tenant.org_id,
                customer_id=customer.id,
                label="work",
                latitude=WORK[0],
                longitude=WORK[1] + number / 500,
            )
    now = datetime.now(UTC)
    summary = iot.seed_iot(db, settings, org_id=tenant.org_id, share=0.5, seed=3, history_days=2, now=now)
    assert summary.created and summary.rules == len(iot.DEMO_RULES)
    assert sum(summary.devices.values()) >= 15 + 1  # about half a device per customer, and beacons
    assert summary.devices["beacon"] >= 1 and {"vehicle", "smart_home_hub"} <= set(summary.devices)
    assert summary.events > 1000

    with db() as session:
        devices = session.scalars(select(Device).where(Device.org_id == tenant.org_id)).all()
        assert all(d.customer_id is not None for d in devices if d.type != "beacon")
        seen = [d for d in devices if d.last_seen_at is not None]
        assert len(seen) >= len(devices) - 2
        assert {d.health for d in seen} <= {"ok", "warning", "fault", "offline"}
        signals = session.scalars(
            select(CustomerSignals).where(CustomerSignals.org_id == tenant.org_id)
        ).all()
        assert signals and all(s.events_30d > 0 for s in signals)
        rules = session.scalars(select(Rule).where(Rule.org_id == tenant.org_id)).all()
        assert len(rules) == len(iot.DEMO_RULES)
        assert all(r.fire_count == 0 for r in rules)  # the history came before the rules: it fires none
        keys = session.scalars(select(IngestKey).where(IngestKey.org_id == tenant.org_id)).all()
        assert [k.name for k in keys] == [iot.SIMULATOR_KEY_NAME]

    # a second call finds the devices and changes nothing
    again = iot.seed_iot(db, settings, org_id=tenant.org_id, share=0.5, seed=3, history_days=2, now=now)
    assert not again.created
    with db() as session:
        count = len(session.scalars(select(Device).where(Device.org_id == tenant.org_id)).all())
        assert count == len(devices)


def test_demo_command_seeds_devices_and_its_live_fleet_makes_rules_fire(cli, app, db):
    result = cli("demo", "--customers", "40", "--no-serve", "--history-days", "1")
    assert result.exit_code == 0, result.output
    assert "Connected devices:" in result.output and "5 rules" in result.output
    with db() as session:
        org = accounts_service.get_organisation_by_slug_or_raise(session, slug="patron-demo")
        assert session.scalars(select(Device).where(Device.org_id == org.id)).first() is not None
        fault_rule = session.scalar(
            select(Rule).where(Rule.org_id == org.id, Rule.name.startswith("Device fault"))
        )
        # the last prediction run came after the devices' history: churn risk weighs device usage
        latest = session.scalars(
            select(PredictionRun).where(PredictionRun.org_id == org.id).order_by(PredictionRun.id.desc())
        ).first()
        assert latest.summary["device_usage"].get("events", 0) > 0, latest.summary["device_usage"]

    # faults by the thousand a day, so some come within seconds: the fault rule opens tickets
    live = iot.LiveSimulation(app, org_id=org.id, rate=100, seed=1, fault_rate=5000)
    with TestClient(app):
        live.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with db() as session:
                    firings = session.scalars(
                        select(RuleFiring).where(RuleFiring.rule_id == fault_rule.id)
                    ).all()
                if any(action.get("type") == "open_ticket" and action.get("status") == "created"
                       for firing in firings for action in firing.actions):
                    break
                time.sleep(0.5)
        finally:
            live.stop()
        assert stored(app, org.id)[0] > 0
        assert firings, "no fault rule firing from the live fleet"
        with db() as session:
            tickets = session.scalars(
                select(Ticket).where(Ticket.org_id == org.id, Ticket.category == "device")
            ).all()
        assert tickets, [firing.actions for firing in firings]
        assert all(t.subject.startswith("Fault ") for t in tickets)
    assert not live._thread.is_alive()


def test_the_live_fleet_stops_when_the_app_shuts_down(app, db, tenant):
    small_fleet(db, tenant)
    live = iot.LiveSimulation(app, org_id=tenant.org_id, rate=100, seed=1)
    with TestClient(app):
        live.start()
        deadline = time.monotonic() + 30
        while stored(app, tenant.org_id)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    # the app has shut down (its event store is closed): the fleet notices and ends by itself
    live._thread.join(10)
    assert not live._thread.is_alive()


def broker_reachable(host: str = "127.0.0.1", port: int = 1883) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_simulate_over_mqtt_reaches_the_ingest_worker(cli, settings, db, tenant):
    if not broker_reachable():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but no MQTT broker at 127.0.0.1:1883", pytrace=False)
        pytest.skip("MQTT broker not reachable at 127.0.0.1:1883")
    key = small_fleet(db, tenant)
    prefix = f"patron-test-{uuid.uuid4().hex[:12]}"
    served = create_app(
        settings.model_copy(
            update={
                "mqtt_url": "mqtt://127.0.0.1:1883",
                "mqtt_topic_prefix": prefix,
                "mqtt_shared_group": None,
            }
        )
    )
    with TestClient(served):
        result = cli(
            "simulate",
            "--org",
            tenant.slug,
            "--via",
            "mqtt",
            "--mqtt-url",
            "mqtt://127.0.0.1:1883",
            "--topic-prefix",
            prefix,
            "--key",
            key,
            "--history",
            "0.1",
            "--speed",
            "0",
            "--duration",
            "3",
            "--rate",
            "0.5",
        )
        assert result.exit_code == 0, result.output
        done = result.output.strip().splitlines()[-1]
        sent = int(done.split()[2].replace(",", ""))
        assert sent > 50
        deadline = time.monotonic() + 60
        while stored(served, tenant.org_id)[0] < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored(served, tenant.org_id) == (sent, 0)


def test_demo_reset_drops_the_old_demos_events_and_processes_the_new(cli, tmp_path, db):
    from patron.events.runtime import CURSOR_KEY
    from patron.events.store import EventStore

    def store_state() -> tuple[dict[int, int], int, int]:
        """(org -> events, highest seq, the processors' cursor)"""
        store = EventStore(str(tmp_path / "cli" / "events.duckdb"))
        try:
            counts = dict(store.query("SELECT org_id, count(*) FROM events GROUP BY org_id"))
            return counts, store.last_seq, int(store.get_meta(CURSOR_KEY) or 0)
        finally:
            store.close()

    def history_count(output: str) -> int:
        return int(re.search(r"([\d,]+)\s+events\s+of\s+history", output).group(1).replace(",", ""))

    result = cli("demo", "--customers", "20", "--no-serve", "--history-days", "0.5")
    assert result.exit_code == 0, result.output
    counts, last, cursor = store_state()
    assert list(counts.values()) == [history_count(result.output)] and cursor == last

    result = cli("demo", "--customers", "20", "--no-serve", "--history-days", "0.5", "--reset")
    assert result.exit_code == 0, result.output
    with db() as session:
        second = accounts_service.get_organisation_by_slug_or_raise(session, slug="patron-demo").id
        signals = session.scalars(select(CustomerSignals).where(CustomerSignals.org_id == second)).all()
    counts, last, cursor = store_state()
    assert counts == {second: history_count(result.output)}  # nothing of the dropped demo is left
    assert cursor == last and signals  # and every new event was processed
