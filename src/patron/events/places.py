"""Frequent places from GPS: find where a device stopped, cluster a customer's stops into places, and
label them home, work or other. Pure functions over plain data (no database, no web).

* :func:`detect_stops` — a **stop** is a run of one device's positions that stay within
  ``radius_m`` (100 m) of the run's centre for at least ``min_duration`` (5 minutes), or a run
  that holds an explicit stop report (``trip.end``, ``stop``: the device says it stopped there) however
  short. The stop lasts from its first to its last position, so a ``trip.end`` at home followed by the
  next morning's ``trip.start`` at the same spot is one overnight stop. A visit reported by a fixed
  device (``beacon.visit``) is a stop of its own.
* :func:`cluster_places` — DBSCAN (scikit-learn, haversine metric) over the stops' centres with
  ``eps_m`` (150 m) and ``min_visits`` (2) stops per place; every stop of a cluster is one visit.
  Labels, in the customer's local time:

  - ``home``: the place with the most time stopped overnight (21:00-07:00), with at least two overnight
    stops and three hours;
  - ``work``: of the others, the most time stopped on weekdays 09:00-17:00, with at least two such stops
    and three hours (a shop visited now and then in office hours stays ``other``);
  - ``other``: every other place ("Frequent place").

  Time is scored in hours of overlap with those windows; a stop without duration (a lone
  ``trip.end``) inside a window counts as a quarter of an hour, so explicit reports still count.

Example::

    stops = detect_stops(points)                   # points: Position(ts, lat, lon, device_id, kind)
    places = cluster_places(stops, tz="Europe/Berlin")
    home = next(p for p in places if p.kind == "home")
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
STOP_RADIUS_M = 100.0
STOP_MIN_DURATION = timedelta(minutes=5)
CLUSTER_EPS_M = 150.0
MIN_VISITS = 2
MAX_PLACES = 10
#: local hours [start, end) of the home window (across midnight) and of the weekday work window
NIGHT_HOURS = (21, 7)
WORK_HOURS = (9, 17)
#: hours a stop without duration counts for inside a window
INSTANT_STOP_HOURS = 0.25
#: positions in a row outside a stop's radius that end it even when they are far from each other
DEPARTURE_FIXES = 3
MIN_LABEL_STOPS = 2
MIN_LABEL_HOURS = 3.0

LABELS = {"home": "Home", "work": "Work", "other": "Frequent place"}


@dataclass(frozen=True, slots=True)
class Position:
    """One position of a device. ``kind`` is ``"fix"`` for a plain GPS fix, ``"stop"`` when the
    device reports that it stopped here (``trip.end``, ``stop``), or ``"visit"`` for a visit seen by a
    fixed device such as a shop beacon (each one a stop of its own)."""

    ts: datetime
    lat: float
    lon: float
    device_id: int | None = None
    kind: str = "fix"


@dataclass(frozen=True, slots=True)
class Stop:
    """A stay at one spot: centre, arrival (``start``), departure or last sign (``end``)."""

    lat: float
    lon: float
    start: datetime
    end: datetime
    device_id: int | None = None
    positions: int = 1
    explicit: bool = False

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class LearnedPlace:
    """A place a customer keeps coming back to. ``night_hours``/``work_hours`` are the hours stopped
    there inside the home and work windows (the labelling scores)."""

    lat: float
    lon: float
    kind: str
    label: str
    visit_count: int
    first_visited_at: datetime
    last_visited_at: datetime
    radius_m: float
    night_hours: float
    work_hours: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 positions."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def timezone_or_utc(name: str | None) -> tzinfo:
    """The IANA zone of that name, or UTC when it is empty or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


# --- stops --------------------------------------------------------------------------------------------


class StopTracker:
    """Online stop detection for one device: feed positions in time order with :meth:`add`; it returns
    a :class:`Stop` when a run that qualifies ends. Stray fixes do not end a run: positions outside the
    radius are held until the device is seen elsewhere for good — two held positions close to each
    other, or :data:`DEPARTURE_FIXES` in a row — and are dropped when it shows up again inside.
    :meth:`finish` gives what is left at the end. :func:`detect_stops` and the live enrichment share
    this logic."""

    __slots__ = (
        "radius_m",
        "min_duration",
        "device_id",
        "_anchor",
        "_start",
        "_end",
        "_sum_lat",
        "_sum_lon",
        "_count",
        "_explicit",
        "_held",
    )

    def __init__(
        self,
        *,
        radius_m: float = STOP_RADIUS_M,
        min_duration: timedelta = STOP_MIN_DURATION,
        device_id: int | None = None,
    ) -> None:
        self.radius_m = radius_m
        self.min_duration = min_duration
        self.device_id = device_id
        self._anchor: tuple[float, float] | None = None
        self._start = self._end = datetime.min.replace(tzinfo=UTC)
        self._sum_lat = self._sum_lon = 0.0
        self._count = 0
        self._explicit = False
        self._held: list[Position] = []

    def _near(self, position: Position) -> bool:
        """Within the radius of the run's centre so far (a centre, not the first fix, so a run that
        began at the edge of a place does not cut off the other side of it), and within twice the
        radius of the first fix (so a slow drift cannot stretch one run along a street)."""
        anchor = self._anchor
        if anchor is None:
            return False
        lat, lon = self._sum_lat / self._count, self._sum_lon / self._count
        return (
            haversine_m(lat, lon, position.lat, position.lon) <= self.radius_m
            and haversine_m(anchor[0], anchor[1], position.lat, position.lon) <= 2 * self.radius_m
        )

    def _extend(self, position: Position) -> None:
        if position.ts > self._end:
            self._end = position.ts
        self._sum_lat += position.lat
        self._sum_lon += position.lon
        self._count += 1
        self._explicit = self._explicit or position.kind == "stop"

    def _restart(self, position: Position) -> None:
        self._anchor = (position.lat, position.lon)
        self._start = self._end = position.ts
        self._sum_lat, self._sum_lon, self._count = position.lat, position.lon, 1
        self._explicit = position.kind == "stop"

    def add(self, position: Position) -> Stop | None:
        """Take the next position; returns the stop that ended with it, if any."""
        if self._anchor is None:
            self._restart(position)
            return None
        if self._near(position):
            self._held.clear()  # what was held were strays
            self._extend(position)
            return None
        held = self._held
        held.append(position)
        departed = len(held) >= DEPARTURE_FIXES or (
            len(held) >= 2
            and haversine_m(held[-2].lat, held[-2].lon, position.lat, position.lon) <= self.radius_m
        )
        if not departed:
            return None
        finished = self.pending()
        self._anchor = None
        self._held = []
        for replayed in held:
            self.add(replayed)
        return finished

    def pending(self) -> Stop | None:
        """The run in progress as a stop, when it already is one (long enough, or reported)."""
        if self._anchor is None:
            return None
        if not self._explicit and self._end - self._start < self.min_duration:
            return None
        return Stop(
            lat=self._sum_lat / self._count,
            lon=self._sum_lon / self._count,
            start=self._start,
            end=self._end,
            device_id=self.device_id,
            positions=self._count,
            explicit=self._explicit,
        )

    def finish(self) -> list[Stop]:
        """The stops left at the end of the positions: the run in progress, and what the positions
        still held (unresolved) make; the tracker starts afresh."""
        stops = [stop for stop in (self.pending(),) if stop is not None]
        held, self._held, self._anchor = self._held, [], None
        if held:
            for position in held:
                self.add(position)
            stops.extend(self.finish())
        return stops


def detect_stops(
    positions: Iterable[Position],
    *,
    radius_m: float = STOP_RADIUS_M,
    min_duration: timedelta = STOP_MIN_DURATION,
) -> list[Stop]:
    """The stops in a set of positions (of one or several devices, in any order), ordered by start.

    Each device's positions are taken in time order; a run of positions within ``radius_m`` of its
    centre becomes a stop when it lasts ``min_duration`` or holds an explicit stop report.
    """
    by_device: dict[int | None, list[Position]] = {}
    for position in positions:
        by_device.setdefault(position.device_id, []).append(position)
    stops: list[Stop] = []
    for device_id, series in by_device.items():
        series.sort(key=lambda p: p.ts)
        tracker = StopTracker(radius_m=radius_m, min_duration=min_duration, device_id=device_id)
        for position in series:
            if position.kind == "visit":
                stops.append(Stop(position.lat, position.lon, position.ts, position.ts, device_id, 1, True))
                continue
            stop = tracker.add(position)
            if stop is not None:
                stops.append(stop)
        stops.extend(tracker.finish())
    stops.sort(key=lambda s: (s.start, s.device_id or 0))
    return stops


# --- places -------------------------------------------------------------------------------------------


def _window_hours(
    start: datetime, end: datetime, zone: tzinfo, hours: tuple[int, int], weekdays_only: bool
) -> float:
    """Hours of ``[start, end]`` inside the daily local window ``hours`` (``(21, 7)`` crosses midnight);
    a stop without duration inside the window counts :data:`INSTANT_STOP_HOURS`."""
    first, last = hours
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    total = 0.0
    day: date = local_start.date() - timedelta(days=1)
    instant = end <= start
    while day <= local_end.date():
        if not weekdays_only or day.weekday() < 5:
            open_ = datetime.combine(day, time(first), tzinfo=zone)
            close = datetime.combine(day + timedelta(days=1 if last <= first else 0), time(last), tzinfo=zone)
            if instant:
                if open_ <= start < close:
                    return INSTANT_STOP_HOURS
            else:
                overlap = (min(end, close) - max(start, open_)).total_seconds()
                if overlap > 0:
                    total += overlap / 3600
        day += timedelta(days=1)
    return total


def cluster_places(
    stops: Sequence[Stop],
    *,
    tz: str | tzinfo | None = None,
    eps_m: float = CLUSTER_EPS_M,
    min_visits: int = MIN_VISITS,
    max_places: int = MAX_PLACES,
) -> list[LearnedPlace]:
    """Cluster stops into places (DBSCAN, haversine, ``eps_m``), label home/work/other in the local time
    zone ``tz`` (a name or tzinfo; default UTC) and return at most ``max_places``: home and work
    first, then the others, most visited first."""
    if len(stops) < min_visits:
        return []
    from sklearn.cluster import DBSCAN  # imported here: it is slow to import and only learning needs it

    zone = tz if isinstance(tz, tzinfo) else timezone_or_utc(tz)
    coordinates = np.radians(np.array([[s.lat, s.lon] for s in stops], dtype=float))
    labels = (
        DBSCAN(eps=eps_m / EARTH_RADIUS_M, min_samples=min_visits, metric="haversine", algorithm="ball_tree")
        .fit(coordinates)
        .labels_
    )

    clusters: list[dict] = []
    for label in sorted(set(labels.tolist()) - {-1}):
        members = [stops[i] for i in np.flatnonzero(labels == label)]
        lat = float(np.mean([s.lat for s in members]))
        lon = float(np.mean([s.lon for s in members]))
        night = [_window_hours(s.start, s.end, zone, NIGHT_HOURS, False) for s in members]
        work = [_window_hours(s.start, s.end, zone, WORK_HOURS, True) for s in members]
        clusters.append(
            {
                "lat": lat,
                "lon": lon,
                "visits": len(members),
                "first": min(s.start for s in members),
                "last": max(s.start for s in members),
                "radius": max(haversine_m(lat, lon, s.lat, s.lon) for s in members),
                "night_hours": sum(night),
                "night_stops": sum(1 for h in night if h > 0),
                "work_hours": sum(work),
                "work_stops": sum(1 for h in work if h > 0),
                "kind": "other",
            }
        )
    home = max(
        (c for c in clusters if c["night_stops"] >= MIN_LABEL_STOPS and c["night_hours"] >= MIN_LABEL_HOURS),
        key=lambda c: (c["night_hours"], c["visits"]),
        default=None,
    )
    if home is not None:
        home["kind"] = "home"
    work = max(
        (
            c
            for c in clusters
            if c is not home and c["work_stops"] >= MIN_LABEL_STOPS and c["work_hours"] >= MIN_LABEL_HOURS
        ),
        key=lambda c: (c["work_hours"], c["visits"]),
        default=None,
    )
    if work is not None:
        work["kind"] = "work"
    clusters.sort(key=lambda c: (c["kind"] == "other", -c["visits"], -c["last"].timestamp()))
    return [
        LearnedPlace(
            lat=round(c["lat"], 6),
            lon=round(c["lon"], 6),
            kind=c["kind"],
            label=LABELS[c["kind"]],
            visit_count=c["visits"],
            first_visited_at=c["first"],
            last_visited_at=c["last"],
            radius_m=round(c["radius"], 1),
            night_hours=round(c["night_hours"], 2),
            work_hours=round(c["work_hours"], 2),
        )
        for c in clusters[:max_places]
    ]
