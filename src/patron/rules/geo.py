"""Geofences: a circle (centre and radius in metres) or a polygon of ``[lat, lon]`` corners.

Distances are great-circle distances on a sphere of the Earth's mean radius (haversine), good to a
fraction of a percent, far better than a phone's GPS fix. Polygons are tested with the even-odd ray
rule on the plane of latitude and longitude, which is exact enough for shop-, depot- and
district-sized areas that do not straddle the antimeridian or a pole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in decimal degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def in_polygon(lat: float, lon: float, corners: tuple[tuple[float, float], ...]) -> bool:
    """True when the point lies inside the polygon (even-odd rule; a point on an edge may go either way)."""
    inside = False
    count = len(corners)
    j = count - 1
    for i in range(count):
        lat_i, lon_i = corners[i]
        lat_j, lon_j = corners[j]
        if (lat_i > lat) != (lat_j > lat):
            crossing = lon_i + (lat - lat_i) * (lon_j - lon_i) / (lat_j - lat_i)
            if lon < crossing:
                inside = not inside
        j = i
    return inside


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def contains(self, lat: float, lon: float) -> bool:
        # a cheap bounding test first: one degree of latitude is about 111 km everywhere
        if abs(lat - self.lat) * 111_000 > self.radius_m * 1.01 + 1:
            return False
        return distance_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True)
class Polygon:
    corners: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        lats = [c[0] for c in self.corners]
        lons = [c[1] for c in self.corners]
        object.__setattr__(self, "_box", (min(lats), max(lats), min(lons), max(lons)))

    def contains(self, lat: float, lon: float) -> bool:
        south, north, west, east = self._box  # type: ignore[attr-defined]
        if not (south <= lat <= north and west <= lon <= east):
            return False
        return in_polygon(lat, lon, self.corners)
