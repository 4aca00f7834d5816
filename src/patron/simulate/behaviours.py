"""What each kind of simulated device does in one day (see :mod:`patron.simulate.fleet`).

:func:`make_day` returns one device's events of one local day as a few time-ordered streams (the
day's discrete events, and lazily generated series: telemetry, heartbeats, each trip's GPS fixes), so a
dense fleet never holds a whole day in memory; some events fall after midnight (a fault cleared in the
night). Each stream draws from its own seeded ``random.Random``, so what is generated does not
depend on how much of another stream was read. A customer's itinerary (trips between home, work and
other places) is drawn from the customer's own seed, so their taxi, phone and smart-home hub agree on
where they are.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from patron.simulate.fleet import (
    FleetOptions,
    Point,
    SimDevice,
    SimEvent,
    distance_m,
    engagement_factor,
    offset,
    poisson,
)

if TYPE_CHECKING:
    from patron.simulate.fleet import Fleet

FAULT_CODES = {
    "vehicle": ("P0300", "P0420", "P0171", "U0100", "B1318"),
    "wearable": ("HR_SENSOR", "BATTERY_HOT", "FW_CRASH"),
    "smart_meter": ("VOLTAGE_SAG", "COMM_ERROR", "TAMPER", "CLOCK_DRIFT"),
    "smart_home_hub": ("ZIGBEE_LOST", "SENSOR_OFFLINE", "FW_UPDATE_FAILED"),
    "beacon": ("ADV_STOPPED", "FW_CRASH"),
    "phone_app": ("APP_CRASH", "SYNC_FAILED"),
}
SCREENS = ("home", "book_ride", "orders", "offers", "account", "support", "thermostat")
#: battery per hour of wear, percent; below this it is flat and sends nothing
WEARABLE_DRAIN = 1.5
WEARABLE_FLAT = 3.0
#: the average trip (used for the rate estimate) and the day's trip count of a commuter
AVERAGE_TRIP_SECONDS = 900.0
AVERAGE_TRIPS = 2.3

Raw = tuple[datetime, str, dict[str, Any], int | None]
#: what a maker returns: the day's discrete events, and named lazy series (each time-ordered)
Made = tuple[list[Raw], list[tuple[str, Iterator[Raw]]]]


@dataclass(frozen=True)
class Trip:
    leave: datetime
    arrive: datetime
    origin: Point
    target: Point
    speed_kmh: float

    def position(self, moment: datetime) -> Point:
        share = (moment - self.leave) / (self.arrive - self.leave)
        share = min(1.0, max(0.0, share))
        return (
            self.origin[0] + (self.target[0] - self.origin[0]) * share,
            self.origin[1] + (self.target[1] - self.origin[1]) * share,
        )


def local_time(day: date, hours: float, zone: tzinfo) -> datetime:
    """``hours`` after local midnight of ``day`` (hours may pass 24), in UTC."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    return (midnight + timedelta(hours=hours)).astimezone(UTC)


def _rng(fleet: Fleet, *parts: Any) -> random.Random:
    return random.Random(":".join(str(part) for part in (fleet.seed, *parts)))


# --- the customer's day ---------------------------------------------------------------------------


def itinerary(fleet: Fleet, device: SimDevice, day: date, zone: tzinfo) -> list[Trip]:
    """The customer's trips of the day: to work and back on most weekdays (and sometimes out in the
    evening), one or two outings on other days; fewer as their engagement falls."""
    owner = device.customer_id if device.customer_id is not None else f"d{device.id}"
    rng = _rng(fleet, "itinerary", owner, day.isoformat())
    factor = engagement_factor(device.engagement, day, fleet.reference)
    home, work, places = device.home, device.work, device.places

    def trip(origin: Point, target: Point, leave: datetime) -> Trip:
        speed = rng.uniform(22, 38)
        seconds = distance_m(origin, target) * 1.3 / (speed / 3.6) + 120
        return Trip(leave, leave + timedelta(seconds=seconds), origin, target, speed)

    def somewhere() -> Point:
        return rng.choice(places) if places else offset(home, rng, 2500)

    trips: list[Trip] = []
    if day.weekday() < 5 and work is not None and rng.random() < min(0.97, 0.85 * factor + 0.1):
        there = trip(home, work, local_time(day, 7 + rng.uniform(0, 2), zone))
        back = trip(work, home, local_time(day, 16.5 + rng.uniform(0, 2.5), zone))
        trips += [there, back]
        if rng.random() < 0.3 * factor:
            spot = somewhere()
            out = trip(
                home,
                spot,
                max(back.arrive + timedelta(minutes=30), local_time(day, 19 + rng.uniform(0, 1.5), zone)),
            )
            trips += [out, trip(spot, home, out.arrive + timedelta(hours=rng.uniform(1, 2.5)))]
    else:
        outings = sum(rng.random() < chance * factor for chance in (0.75, 0.35))
        leave = local_time(day, 9.5 + rng.uniform(0, 2), zone)
        for _ in range(outings):
            spot = somewhere()
            out = trip(home, spot, leave)
            back = trip(spot, home, out.arrive + timedelta(hours=rng.uniform(0.75, 3)))
            trips += [out, back]
            leave = back.arrive + timedelta(hours=rng.uniform(0.5, 3))
    return trips


def whereabouts(trips: list[Trip], home: Point, moment: datetime) -> Point:
    """Where the customer is at ``moment``: on a trip, at the last trip's target, or at home."""
    place = home
    for trip in trips:
        if moment < trip.leave:
            break
        if moment <= trip.arrive:
            return trip.position(moment)
        place = trip.target
    return place


def _periodic(start: datetime, end: datetime, every: float, phase: float) -> Iterator[datetime]:
    first = start + timedelta(seconds=phase % every)
    k = 0
    while (moment := first + timedelta(seconds=k * every)) < end:
        yield moment
        k += 1


def _samples(
    fleet: Fleet,
    device: SimDevice,
    day: date,
    tag: str,
    begin: datetime,
    end: datetime,
    every: float,
    phase: float,
    since: datetime,
) -> Iterator[tuple[datetime, random.Random]]:
    """Sample times of a periodic series from ``since`` on, each with the random source of its hour
    (re-seeded every hour, so starting late skips the earlier samples without drawing them)."""
    first = begin + timedelta(seconds=phase % every)
    k = 0 if since <= first else math.ceil((since - first).total_seconds() / every)
    block, rng = -1, random.Random()
    while (moment := first + timedelta(seconds=k * every)) < end:
        hour = int((moment - begin).total_seconds() // 3600)
        if hour != block:
            block, rng = hour, _rng(fleet, device.id, day.isoformat(), tag, hour)
        yield moment, rng
        k += 1


def _stamped(
    fleet: Fleet, device: SimDevice, day: date, begin: datetime, tag: str, raws
) -> Iterator[SimEvent]:
    """Events with ids made of the day, the stream and the time within the day (so a run that starts
    later makes the same ids for the same events)."""
    stamp = f"sim{fleet.seed}-{fleet.variant}-{device.id}-{day:%Y%m%d}-{tag}"
    previous, repeat = None, 0
    for moment, event_type, props, customer_id in raws:
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        millis = int((moment - begin).total_seconds() * 1000)
        repeat = repeat + 1 if millis == previous else 0
        previous = millis
        yield SimEvent(
            ts=moment,
            device_id=device.id,
            type=event_type,
            props=props,
            id=f"{stamp}{millis}" + (f".{repeat}" if repeat else ""),
            customer_id=customer_id,
        )


# --- one day of one device ---------------------------------------------------------------------------


def make_day(
    fleet: Fleet, device: SimDevice, day: date, zone: tzinfo, since: datetime | None = None
) -> tuple[list[Iterator[SimEvent]], list[tuple[datetime, datetime]]]:
    """The device's events of local ``day`` as time-ordered streams, and its silent periods. Series
    may leave out what comes before ``since`` (the discrete events are all there)."""
    rng = _rng(fleet, device.id, day.isoformat())
    options = fleet.options
    begin, end = local_time(day, 0, zone), local_time(day + timedelta(days=1), 0, zone)
    phase = _rng(fleet, "phase", device.id).uniform(0, 3600)
    maker = MAKERS.get(device.type)
    since = since or begin
    discrete, series = maker(fleet, device, day, zone, rng, begin, end, phase, since) if maker else ([], [])

    for _ in range(poisson(rng, options.fault_rate)):
        moment = begin + timedelta(seconds=rng.uniform(0, (end - begin).total_seconds()))
        code = rng.choice(FAULT_CODES.get(device.type, ("E42",)))
        discrete.append((moment, "fault", {"code": code, "severity": rng.choice(("minor", "major"))}, None))
        if rng.random() < options.fault_cleared_share:
            discrete.append(
                (moment + timedelta(hours=rng.uniform(0.5, 6)), "fault.cleared", {"code": code}, None)
            )
    silences = []
    for _ in range(poisson(rng, options.dropout_rate)):
        silent_from = begin + timedelta(seconds=rng.uniform(0, (end - begin).total_seconds()))
        silences.append((silent_from, silent_from + timedelta(hours=rng.uniform(0.5, 6))))
    discrete.sort(key=lambda item: (item[0], item[1]))
    streams = [_stamped(fleet, device, day, begin, "e", discrete)]
    streams += [_stamped(fleet, device, day, begin, tag, raws) for tag, raws in series]
    return streams, silences


def _fixes(fleet: Fleet, device: SimDevice, day: date, number: int, trip: Trip) -> Iterator[Raw]:
    """GPS fixes along a trip (a gentle curve, not a ruler line), now and then a harsh brake."""
    rng = _rng(fleet, device.id, day.isoformat(), "gps", number)
    gps = fleet.options.interval(fleet.options.gps_seconds, fleet.density)
    bend = rng.uniform(-0.15, 0.15)
    control = (
        (trip.origin[0] + trip.target[0]) / 2 - (trip.target[1] - trip.origin[1]) * bend * 0.6,
        (trip.origin[1] + trip.target[1]) / 2 + (trip.target[0] - trip.origin[0]) * bend / 0.6,
    )
    seconds = (trip.arrive - trip.leave).total_seconds()
    braked = rng.random() < 0.08
    previous = trip.origin
    for moment in _periodic(trip.leave + timedelta(seconds=gps), trip.arrive, gps, rng.uniform(0, gps)):
        s = (moment - trip.leave).total_seconds() / seconds
        point = (
            (1 - s) ** 2 * trip.origin[0] + 2 * (1 - s) * s * control[0] + s**2 * trip.target[0],
            (1 - s) ** 2 * trip.origin[1] + 2 * (1 - s) * s * control[1] + s**2 * trip.target[1],
        )
        speed = 0.0 if rng.random() < 0.08 else trip.speed_kmh * rng.uniform(0.5, 1.4)
        east = (point[1] - previous[1]) * math.cos(math.radians(point[0]))
        heading = round(math.degrees(math.atan2(east, point[0] - previous[0]))) % 360
        previous = point
        props = {
            "lat": round(point[0], 6),
            "lon": round(point[1], 6),
            "speed": round(speed, 1),
            "heading": heading,
        }
        yield moment, "location", props, None
        if braked and rng.random() < 0.05:
            braked = False
            yield moment, "harsh_brake", {**props, "decel_g": round(rng.uniform(0.45, 0.8), 2)}, None


def vehicle_day(fleet, device, day, zone, rng, begin, end, phase, since) -> Made:
    """Trips (start, GPS fixes, end with distance and fare), heartbeats while parked."""
    options = fleet.options
    trips = itinerary(fleet, device, day, zone)
    discrete: list[Raw] = []
    series: list[tuple[str, Iterator[Raw]]] = []
    for number, trip in enumerate(trips):
        trip_id = f"{device.id}-{day:%Y%m%d}-{number}"
        lat, lon = offset(trip.origin, rng, 10)
        discrete.append((trip.leave, "trip.start", {"lat": lat, "lon": lon, "trip_id": trip_id}, None))
        km = distance_m(trip.origin, trip.target) * 1.3 / 1000
        minutes = (trip.arrive - trip.leave).total_seconds() / 60
        lat, lon = offset(trip.target, rng, 10)
        discrete.append(
            (
                trip.arrive,
                "trip.end",
                {
                    "lat": lat,
                    "lon": lon,
                    "trip_id": trip_id,
                    "distance_km": round(km, 2),
                    "duration_min": round(minutes, 1),
                    "fare_eur": round(3.9 + 2.0 * km + 0.3 * minutes, 2),
                },
                None,
            )
        )
        if trip.arrive >= since:
            series.append((f"g{number}-", _fixes(fleet, device, day, number, trip)))
    beat = options.interval(options.heartbeat_seconds.get("vehicle", 900.0), fleet.density)

    def heartbeats() -> Iterator[Raw]:
        for moment, sample in _samples(fleet, device, day, "beat", begin, end, beat, phase, since):
            if not any(trip.leave <= moment <= trip.arrive for trip in trips):
                yield moment, "heartbeat", {"battery_v": round(sample.gauss(12.55, 0.08), 2)}, None

    series.append(("h", heartbeats()))
    return discrete, series


def _load_watts(hour: float, weekend: bool, scale: float) -> float:
    """A household's load curve: a base, a morning and a larger evening peak, lunch at weekends."""

    def bump(centre: float, width: float, height: float) -> float:
        return height * math.exp(-(((hour - centre) / width) ** 2))

    watts = 180 + bump(7.3, 1.0, 700) + bump(19.5, 1.8, 1400) + (bump(12.5, 1.5, 700) if weekend else 0)
    return watts * scale


def meter_day(fleet, device, day, zone, rng, begin, end, phase, since) -> Made:
    every = fleet.options.interval(fleet.options.telemetry_seconds.get("smart_meter", 900.0), fleet.density)
    scale = _rng(fleet, "household", device.id).uniform(0.6, 1.8)
    weekend = day.weekday() >= 5

    def readings() -> Iterator[Raw]:
        for moment, sample in _samples(fleet, device, day, "meter", begin, end, every, phase, since):
            hour = (moment - begin).total_seconds() / 3600
            watts = _load_watts(hour, weekend, scale) * sample.uniform(0.8, 1.2)
            yield (
                moment,
                "telemetry",
                {
                    "kwh": round(watts * every / 3_600_000, 4),
                    "power_w": round(watts),
                    "voltage": round(sample.gauss(230, 2), 1),
                },
                None,
            )

    return [], [("t", readings())]


def _charges(fleet: Fleet, device: SimDevice, day: date, zone: tzinfo) -> list[datetime]:
    """When the wearable was put on the charger in the week up to ``day`` (newest first)."""
    moments = []
    for back in range(0, 8):
        night = day - timedelta(days=back)
        rng = _rng(fleet, "charge", device.id, night.isoformat())
        if rng.random() >= fleet.options.forget_charge_rate:
            moments.append(local_time(night, 21.5 + rng.uniform(0, 1.5), zone))
    return moments


def wearable_day(fleet, device, day, zone, rng, begin, end, phase, since) -> Made:
    """Heart rate and steps (asleep, awake, working out) and a battery charged on most nights; a flat
    band sends nothing."""
    every = fleet.options.interval(fleet.options.telemetry_seconds.get("wearable", 300.0), fleet.density)
    charges = _charges(fleet, device, day, zone)
    workout = device.fitness and rng.random() < 0.6
    workout_start = 17.5 + rng.uniform(0, 2)

    def samples() -> Iterator[Raw]:
        for moment, sample in _samples(fleet, device, day, "band", begin, end, every, phase, since):
            charged = next((c for c in charges if c <= moment), None)
            battery = (
                0.0 if charged is None else 100 - WEARABLE_DRAIN * (moment - charged).total_seconds() / 3600
            )
            if battery < WEARABLE_FLAT:
                continue
            hour = (moment - begin).total_seconds() / 3600
            if hour < 6.75 or hour >= 23.5:
                heart, steps_per_minute = sample.gauss(56, 3), 0.0
            elif workout and workout_start <= hour < workout_start + 0.75:
                heart, steps_per_minute = sample.uniform(128, 168), sample.uniform(120, 165)
            else:
                heart, steps_per_minute = sample.gauss(75, 7), sample.uniform(0, 18)
            yield (
                moment,
                "telemetry",
                {
                    "heart_rate": round(heart),
                    "steps": round(steps_per_minute * every / 60),
                    "battery": round(battery),
                },
                None,
            )

    return [], [("t", samples())]


def hub_day(fleet, device, day, zone, rng, begin, end, phase, since) -> Made:
    """Room climate and link quality; doors and the alarm as the household leaves and comes home."""
    every = fleet.options.interval(
        fleet.options.telemetry_seconds.get("smart_home_hub", 300.0), fleet.density
    )
    link = _rng(fleet, "link", device.id).uniform(-82, -58)
    weak_from = begin + timedelta(hours=rng.uniform(0, 22)) if rng.random() < 0.06 else None

    def climate() -> Iterator[Raw]:
        for moment, sample in _samples(fleet, device, day, "hub", begin, end, every, phase, since):
            hour = (moment - begin).total_seconds() / 3600
            setpoint = 21.0 if 6 <= hour < 22 else 18.0
            rssi = link + sample.gauss(0, 3)
            if weak_from is not None and weak_from <= moment < weak_from + timedelta(hours=2):
                rssi = sample.uniform(-112, -104)
            yield (
                moment,
                "telemetry",
                {
                    "temperature": round(setpoint + sample.gauss(0, 0.4), 1),
                    "humidity": round(sample.gauss(46, 3)),
                    "setpoint": setpoint,
                    "rssi": round(rssi),
                },
                None,
            )

    discrete: list[Raw] = []
    for trip in itinerary(fleet, device, day, zone):
        if trip.origin == device.home:
            discrete.append((trip.leave - timedelta(minutes=1), "door.open", {"door": "front"}, None))
            discrete.append((trip.leave + timedelta(minutes=1), "alarm.armed", {"mode": "away"}, None))
        if trip.target == device.home:
            discrete.append((trip.arrive + timedelta(minutes=1), "alarm.disarmed", {"mode": "home"}, None))
            discrete.append((trip.arrive + timedelta(minutes=2), "door.open", {"door": "front"}, None))
    return discrete, [("t", climate())]


def beacon_day(fleet, device, day, zone, rng, begin, end, phase, since) -> Made:
    """A shop's beacon: its regulars and passers-by visit in opening hours (Monday to Saturday,
    9:00-20:00); its coin cell runs down over months."""
    options = fleet.options
    beat = options.interval(options.heartbeat_seconds.get("beacon", 600.0), fleet.density)
    start_level = _rng(fleet, "cell", device.id).uniform(0, 100)
    level = round(100 - ((start_level + 0.5 * (day - date(2024, 1, 1)).days) % 100))
    heartbeats = (
        (moment, "heartbeat", {"battery": level}, None)
        for moment, _ in _samples(fleet, device, day, "cell", begin, end, beat, phase, since)
    )
    discrete: list[Raw] = []
    if day.weekday() < 6:
        visitors = [c for c in device.regulars if rng.random() < options.regular_visit_chance]
        visitors += [c for c in device.passers if rng.random() < options.passer_visit_chance]
        for customer_id in visitors:
            moment = local_time(day, rng.uniform(9, 20), zone)
            lat, lon = offset(device.home, rng, 15)
            discrete.append(
                (
                    moment,
                    "beacon.visit",
                    {
                        "shop": device.shop or device.name,
                        "lat": lat,
                        "lon": lon,
                        "dwell_s": round(rng.uniform(60, 1800)),
                    },
                    customer_id,
                )
            )
    return discrete, [("h", heartbeats)]


def app_day(fleet, device, day, zone, rng, begin, end, phase, since) -> Made:
    """The customer opens the app now and then (where they are at the time) and sometimes orders."""
    factor = engagement_factor(device.engagement, day, fleet.reference)
    trips = itinerary(fleet, device, day, zone)
    version = f"4.{_rng(fleet, 'app', device.id).randrange(2, 9)}"
    system = _rng(fleet, "os", device.id).choice(("android", "ios"))
    discrete: list[Raw] = []
    for _ in range(poisson(rng, fleet.options.app_opens_per_day * factor)):
        moment = local_time(day, rng.uniform(7, 23), zone)
        lat, lon = offset(whereabouts(trips, device.home, moment), rng, 30)
        discrete.append(
            (
                moment,
                "app.open",
                {
                    "screen": rng.choice(SCREENS),
                    "app_version": version,
                    "os": system,
                    "lat": lat,
                    "lon": lon,
                },
                None,
            )
        )
        if rng.random() < 0.2:
            discrete.append(
                (
                    moment + timedelta(minutes=rng.uniform(2, 10)),
                    "order.placed",
                    {"amount_eur": round(rng.uniform(8, 80), 2)},
                    None,
                )
            )
    return discrete, []


MAKERS = {
    "vehicle": vehicle_day,
    "smart_meter": meter_day,
    "wearable": wearable_day,
    "smart_home_hub": hub_day,
    "beacon": beacon_day,
    "phone_app": app_day,
}


def events_per_day(device: SimDevice, options: FleetOptions, density: float) -> float:
    """About how many events the device sends a day at this density."""
    device_type = device.type
    day = 86_400.0
    faults = options.fault_rate * (1 + options.fault_cleared_share)
    if device_type == "vehicle":
        gps = options.interval(options.gps_seconds, density)
        beat = options.interval(options.heartbeat_seconds.get("vehicle", 900.0), density)
        return faults + day / beat + AVERAGE_TRIPS * (AVERAGE_TRIP_SECONDS / gps + 2)
    if device_type in ("wearable", "smart_meter", "smart_home_hub"):
        every = options.interval(options.telemetry_seconds.get(device_type, 300.0), density)
        return faults + day / every + (8 if device_type == "smart_home_hub" else 0)
    if device_type == "beacon":
        beat = options.interval(options.heartbeat_seconds.get("beacon", 600.0), density)
        visits = options.regular_visit_chance * len(device.regulars) + options.passer_visit_chance * len(
            device.passers
        )
        return faults + day / beat + visits * 6 / 7
    if device_type == "phone_app":
        return faults + options.app_opens_per_day * 1.2
    return faults
