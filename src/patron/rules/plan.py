"""Evaluation plans: the rules one event type of one organisation meets, grouped so each event costs
as little as possible.

* plain event rules are tested one after the other (cheap conditions first, see
  :func:`patron.rules.conditions.compile_conditions`);
* window rules that read the same events share one window (``CompiledRule.window_source``): the event
  is added once, then each rule compares the aggregate with its own threshold;
* geofences sit in a grid of 0.01° cells (about 1 km): an event with a position meets only the fences
  whose bounding box covers its cell, plus those its subject is inside now (to notice leaving);
* inactivity rules only note when their subjects were last heard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from patron.rules.conditions import Test
from patron.rules.definition import CompiledRule
from patron.rules.geo import Circle, Polygon

GRID_DEGREES = 0.01
#: a fence covering more cells than this is checked for every positioned event instead
MAX_CELLS = 400
METRES_PER_DEGREE = 111_000


def _cell(value: float) -> int:
    return math.floor(value / GRID_DEGREES)


def bounding_box(shape: Circle | Polygon) -> tuple[float, float, float, float] | None:
    """South, north, west, east in degrees (a little generous), or None when it spans the poles."""
    if isinstance(shape, Circle):
        margin = shape.radius_m * 1.01 / METRES_PER_DEGREE + 1e-6
        cos_lat = math.cos(math.radians(min(89.999, abs(shape.lat) + margin)))
        if cos_lat < 0.01:
            return None
        margin_lon = margin / cos_lat
        return shape.lat - margin, shape.lat + margin, shape.lon - margin_lon, shape.lon + margin_lon
    lats = [corner[0] for corner in shape.corners]
    lons = [corner[1] for corner in shape.corners]
    return min(lats), max(lats), min(lons), max(lons)


class FenceIndex:
    """Geofence rules by grid cell."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.by_id = {rule.id: rule for rule in rules}
        self.cells: dict[tuple[int, int], list[CompiledRule]] = {}
        self.everywhere: list[CompiledRule] = []
        for rule in rules:
            assert rule.geofence is not None
            box = bounding_box(rule.geofence.shape)
            if box is None:
                self.everywhere.append(rule)
                continue
            south, north, west, east = box
            rows = range(_cell(south), _cell(north) + 1)
            columns = range(_cell(west), _cell(east) + 1)
            if len(rows) * len(columns) > MAX_CELLS:
                self.everywhere.append(rule)
                continue
            for row in rows:
                for column in columns:
                    self.cells.setdefault((row, column), []).append(rule)

    def near(self, lat: float, lon: float) -> list[CompiledRule]:
        found = self.cells.get((_cell(lat), _cell(lon)))
        if not self.everywhere:
            return found or []
        return [*(found or ()), *self.everywhere]


def _always(event: object, facts: object) -> bool:
    return True


def _first_test(rule: CompiledRule) -> Test | None:
    if rule.device_ids is not None or rule.device_types is not None:
        return None
    return rule.test if rule.test is not None else _always


@dataclass(frozen=True)
class Plan:
    rules: tuple[CompiledRule, ...]
    plain: tuple[CompiledRule, ...]
    windows: tuple[tuple[CompiledRule, ...], ...]
    fences: FenceIndex | None
    silent: tuple[CompiledRule, ...]
    #: the plain rules with the test to run first: the rule's own test when it has no device filter
    #: (the usual case, one call per rule), else None (the evaluator checks the filters, then the test)
    plain_tests: tuple[tuple[CompiledRule, Test | None], ...] = ()
    #: whether any window, geofence or inactivity rule is in the plan
    stateful: bool = False

    @classmethod
    def of(cls, rules: list[CompiledRule]) -> Plan:
        rules = sorted(rules, key=lambda rule: rule.id)
        sources: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            if rule.window_source is not None:
                sources.setdefault(rule.window_source, []).append(rule)
        fences = [rule for rule in rules if rule.kind == "geofence"]
        plain = tuple(rule for rule in rules if rule.kind == "event")
        silent = tuple(rule for rule in rules if rule.kind == "inactivity")
        return cls(
            rules=tuple(rules),
            plain=plain,
            windows=tuple(tuple(group) for group in sources.values()),
            fences=FenceIndex(fences) if fences else None,
            silent=silent,
            plain_tests=tuple((rule, _first_test(rule)) for rule in plain),
            stateful=bool(sources or fences or silent),
        )

    def __bool__(self) -> bool:
        return bool(self.rules)
