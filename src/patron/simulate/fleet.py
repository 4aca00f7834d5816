"""The IoT fleet simulator's traffic generator: realistic events of a fleet of devices, as a pure,
deterministic iterator (no network, no database).

:class:`Fleet` takes :class:`SimDevice` descriptions (what each device is, its customer's home, work
and favourite places, time zone) and yields :class:`SimEvent` in time order from ``start`` on. What
each kind of device does is in :mod:`patron.simulate.behaviours`:

* vehicles (taxis) drive their customer between home, work and other places: ``trip.start``, a
  ``location`` fix every few seconds with ``speed``, ``trip.end`` with distance and fare; a
  ``heartbeat`` while parked;
* smart meters report a daily load curve (``kwh``, ``power_w``, ``voltage``);
* wearables report ``heart_rate``, ``steps`` and a ``battery`` that is charged most nights;
* smart-home hubs report room climate and the link's ``rssi``, and doors and alarm as people come and go;
* shop beacons see customers visit (``beacon.visit`` with the shop's position) and report their battery;
* phone apps send ``app.open`` (with the phone's position) and ``order.placed``.

Every device has occasional faults (``fault`` with a ``code``, mostly ``fault.cleared`` later) at
``fault_rate`` per device-day, and drop-outs (silent for half an hour to six hours) at
``dropout_rate``. A customer's use follows their ``engagement`` (``rising``, ``steady``,
``falling``): trips, app opens and outings grow or shrink by 4 % a day around ``reference``.

Determinism: every day of every device draws from its own ``random.Random`` seeded with
``(seed, device, day)``, so the same seed gives the same events whatever the start, and event ids
(``sim<seed>-<variant>-<device>-<day>-<stream><milliseconds into the day>``, the variant a short
hash of the density and options) repeat with them: sending a period twice stores it once. Periodic
series re-seed every hour, so a run starting late skips the earlier samples without drawing them.

``density`` multiplies how often periodic samples are taken (telemetry, heartbeats, GPS fixes; never
more than one a second); :func:`density_for_rate` picks the density that gives a wanted events/s.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Point = tuple[float, float]

DEVICE_KINDS = ("vehicle", "wearable", "smart_meter", "smart_home_hub", "beacon", "phone_app")
ENGAGEMENTS = ("rising", "steady", "falling")

#: real city centres (latitude, longitude) for customers without saved places
CITY_CENTRES: dict[str, Point] = {
    "berlin": (52.5200, 13.4050),
    "hamburg": (53.5511, 9.9937),
    "munich": (48.1372, 11.5756),
    "münchen": (48.1372, 11.5756),
    "cologne": (50.9375, 6.9603),
    "köln": (50.9375, 6.9603),
    "frankfurt": (50.1109, 8.6821),
    "vienna": (48.2082, 16.3738),
    "wien": (48.2082, 16.3738),
    "zurich": (47.3769, 8.5417),
    "zürich": (47.3769, 8.5417),
    "amsterdam": (52.3676, 4.9041),
    "paris": (48.8566, 2.3522),
    "london": (51.5072, -0.1276),
    "madrid": (40.4168, -3.7038),
    "warsaw": (52.2297, 21.0122),
    "new york": (40.7128, -74.0060),
    "san francisco": (37.7749, -122.4194),
}
DEFAULT_CITY = "berlin"


@dataclass(frozen=True)
class SimDevice:
    """One simulated device and what the simulation needs of its customer.

    ``home``/``work``/``places`` are where the customer sleeps, works and goes otherwise (a beacon's
    ``home`` is its shop); a beacon sees its ``regulars`` (customers with a saved place near the shop)
    often and ``passers`` (everyone else in the fleet) now and then.
    """

    id: int
    type: str
    customer_id: int | None = None
    home: Point = CITY_CENTRES[DEFAULT_CITY]
    work: Point | None = None
    places: tuple[Point, ...] = ()
    timezone: str = "UTC"
    engagement: str = "steady"
    name: str = ""
    shop: str = ""
    regulars: tuple[int, ...] = ()
    passers: tuple[int, ...] = ()
    fitness: bool = False


@dataclass(frozen=True)
class SimEvent:
    """One generated event. ``customer_id`` is set only when the event is about a customer other than
    the device's own (a beacon's visitor)."""

    ts: datetime
    device_id: int
    type: str
    props: dict[str, Any]
    id: str
    customer_id: int | None = None

    def as_ingest(self) -> dict[str, Any]:
        """The event as ``POST /ingest/v1/events`` (with an organisation ingest key) takes it."""
        item: dict[str, Any] = {
            "id": self.id,
            "device_id": self.device_id,
            "type": self.type,
            "ts": self.ts.isoformat(),
            "props": self.props,
        }
        if self.customer_id is not None:
            item["customer"] = self.customer_id
        return item


@dataclass(frozen=True)
class FleetOptions:
    """How often things happen. Intervals are in seconds at density 1 (see :class:`Fleet`)."""

    gps_seconds: float = 5.0
    telemetry_seconds: dict[str, float] = field(
        default_factory=lambda: {"wearable": 300.0, "smart_meter": 900.0, "smart_home_hub": 300.0}
    )
    heartbeat_seconds: dict[str, float] = field(default_factory=lambda: {"vehicle": 900.0, "beacon": 600.0})
    #: faults per device per day, and the share of them cleared later
    fault_rate: float = 0.05
    fault_cleared_share: float = 0.7
    #: drop-outs (silent periods) per device per day
    dropout_rate: float = 0.03
    #: nights a wearable is not charged
    forget_charge_rate: float = 0.2
    #: chance a day that a beacon's regular (or any other customer) visits the shop
    regular_visit_chance: float = 0.15
    passer_visit_chance: float = 0.005
    #: app opens per day of a steady customer
    app_opens_per_day: float = 4.0

    def interval(self, seconds: float, density: float) -> float:
        return max(1.0, seconds / density)


def zone_of(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def city_centre(city: str | None) -> Point:
    """The centre of a known city (case-insensitive), else Berlin's."""
    return CITY_CENTRES.get((city or "").strip().lower(), CITY_CENTRES[DEFAULT_CITY])


def offset(point: Point, rng: random.Random, metres: float) -> Point:
    """A point about ``metres`` (Gaussian) away from ``point``."""
    lat, lon = point
    return (
        round(lat + rng.gauss(0, metres) / 111_320, 6),
        round(lon + rng.gauss(0, metres) / (111_320 * math.cos(math.radians(lat))), 6),
    )


def distance_m(a: Point, b: Point) -> float:
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    d_phi, d_lambda = phi2 - phi1, math.radians(b[1] - a[1])
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's method for small means, a rounded normal for large ones."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def engagement_factor(engagement: str, day: date, reference: date) -> float:
    """How much of a steady customer's use this customer shows on ``day``."""
    slope = {"rising": 0.04, "falling": -0.04}.get(engagement, 0.0)
    return min(2.0, max(0.1, 1.0 + slope * (day - reference).days))


class Fleet:
    """Generates the traffic of ``devices`` from ``start`` (aware) on.

    ``reference`` is the day the engagement trends pivot on (default: the start's day).
    """

    def __init__(
        self,
        devices: Sequence[SimDevice],
        *,
        seed: int = 42,
        start: datetime,
        options: FleetOptions | None = None,
        density: float = 1.0,
        reference: date | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("the fleet needs a timezone-aware start")
        if density <= 0:
            raise ValueError("density must be positive")
        self.devices = list(devices)
        self.seed = seed
        self.start = start.astimezone(UTC)
        self.options = options or FleetOptions()
        self.density = density
        self.reference = reference or self.start.date()
        #: tells apart the event ids of runs whose events differ (density, options)
        self.variant = hashlib.sha1(repr((density, self.options)).encode()).hexdigest()[:4]

    def events(self, until: datetime | None = None) -> Iterator[SimEvent]:
        """Every event with ``start <= ts < until`` (without ``until``: forever), oldest first."""
        streams = [self.device_events(device, until) for device in self.devices]
        return heapq.merge(*streams, key=lambda event: (event.ts, event.device_id))

    def device_events(self, device: SimDevice, until: datetime | None = None) -> Iterator[SimEvent]:
        """One device's events, oldest first, generated a day (and within it, a stream) at a time."""
        from patron.simulate.behaviours import make_day

        zone = zone_of(device.timezone)
        day = self.start.astimezone(zone).date() - timedelta(days=1)
        next_midnight = _midnight(day, zone)
        heap: list[tuple[datetime, int, SimEvent, Iterator[SimEvent]]] = []
        silences: list[tuple[datetime, datetime]] = []
        order = itertools.count()

        def push(stream: Iterator[SimEvent]) -> None:
            event = next(stream, None)
            if event is not None:
                heapq.heappush(heap, (event.ts, next(order), event, stream))

        while True:
            # every event of a day falls after its local midnight: once the earliest known event is
            # past the next midnight, the next day must be made before anything else is sent
            while not heap or heap[0][0] >= next_midnight:
                if until is not None and next_midnight >= until:
                    if not heap:
                        return
                    break
                streams, day_silences = make_day(self, device, day, zone, self.start)
                silences = [
                    (a, b) for a, b in silences if b > next_midnight - timedelta(days=1)
                ] + day_silences
                for stream in streams:
                    push(stream)
                day += timedelta(days=1)
                next_midnight = _midnight(day, zone)
            ts, _, event, stream = heapq.heappop(heap)
            push(stream)
            if until is not None and ts >= until:
                return
            if ts < self.start or any(begin <= ts < end for begin, end in silences):
                continue
            yield event

    def nominal_rate(self) -> float:
        """Events per second this fleet sends on average (an estimate)."""
        from patron.simulate.behaviours import events_per_day

        return sum(events_per_day(device, self.options, self.density) for device in self.devices) / 86_400


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)


def density_for_rate(
    devices: Sequence[SimDevice], rate: float, options: FleetOptions | None = None, *, maximum: float = 1000.0
) -> float:
    """The density (at least 1) at which the fleet sends about ``rate`` events per second."""
    from patron.simulate.behaviours import events_per_day

    options = options or FleetOptions()

    def rate_at(density: float) -> float:
        return sum(events_per_day(device, options, density) for device in devices) / 86_400

    if not devices or rate <= rate_at(1.0):
        return 1.0
    low, high = 1.0, maximum
    if rate_at(high) <= rate:
        return high
    for _ in range(60):
        middle = math.sqrt(low * high)
        if rate_at(middle) < rate:
            low = middle
        else:
            high = middle
    return round(high, 4)
