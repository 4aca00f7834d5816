"""Evaluating compiled rules on events: the per-rule, per-subject state (windows, geofence sides,
cooldowns, last heard times) and the decision whether a rule fires.

The evaluator holds state in memory only; the engine (:mod:`patron.rules.engine`) warms it on start,
persists what must survive a restart (geofence sides, inactivity firings) and runs the actions. The
rule test endpoint uses a fresh evaluator on stored events without running any action.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patron.events.store import StoredEvent, micros
from patron.rules.conditions import MISSING, is_number
from patron.rules.definition import CompiledRule, Window

MAX_WINDOW_ENTRIES = 100_000


@dataclass
class Decision:
    """A rule fires: for which event (None for inactivity), subject, why, and template context."""

    rule: CompiledRule
    event: StoredEvent | None
    subject: str
    device_id: int | None
    customer_id: int | None
    reason: str
    at: datetime
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Heard:
    at: datetime
    device_id: int | None
    customer_id: int | None


class WindowState:
    """The matching events of one subject within a rule's window: ``(ts in µs, value)``, oldest first."""

    __slots__ = ("entries", "total", "newest")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, float]] = deque()
        self.total = 0.0
        self.newest = 0

    def prune(self, cutoff: int) -> None:
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            self.total -= entries.popleft()[1]
        if not entries:
            self.total = 0.0

    def add(self, ts: int, value: float) -> None:
        entries = self.entries
        if not entries or ts >= entries[-1][0]:
            entries.append((ts, value))
        else:  # late arrival: keep time order
            position = bisect.bisect_right([e[0] for e in entries], ts)
            entries.insert(position, (ts, value))
        self.total += value
        self.newest = max(self.newest, ts)
        if len(entries) > MAX_WINDOW_ENTRIES:
            self.total -= entries.popleft()[1]

    def aggregate(self, agg: str) -> float | None:
        entries = self.entries
        if agg == "count":
            return float(len(entries))
        if not entries:
            return None
        if agg == "sum":
            return self.total
        if agg == "avg":
            return self.total / len(entries)
        values = [e[1] for e in entries]
        return min(values) if agg == "min" else max(values)


def subject_for(rule: CompiledRule, device_id: int | None, customer_id: int | None) -> str | None:
    """Whom a rule's state and cooldown are kept for: ``device:5``, ``customer:7`` (or ``org``)."""
    per = rule.per
    if per == "device":
        return None if device_id is None else f"device:{device_id}"
    if per == "customer":
        return None if customer_id is None else f"customer:{customer_id}"
    if device_id is not None:
        return f"device:{device_id}"
    if customer_id is not None:
        return f"customer:{customer_id}"
    return "org"


class Evaluator:
    def __init__(self, facts: Any) -> None:
        self.facts = facts
        self.windows: dict[tuple[int, str], WindowState] = {}
        self.inside: dict[tuple[int, str], bool] = {}
        self.changed_sides: dict[tuple[int, str], tuple[bool, datetime]] = {}
        self.cooldowns: dict[tuple[int, str], datetime] = {}
        self.heard: dict[int, dict[str, Heard]] = {}
        self.silenced: dict[tuple[int, str], datetime] = {}

    def forget_rule(self, rule_id: int) -> None:
        for table in (self.windows, self.inside, self.changed_sides, self.cooldowns, self.silenced):
            for key in [key for key in table if key[0] == rule_id]:
                del table[key]
        self.heard.pop(rule_id, None)

    # --- matching ---------------------------------------------------------------------------------
    def passes(self, rule: CompiledRule, event: StoredEvent) -> bool:
        """The event is one the rule is about: device filters and conditions hold (type is indexed)."""
        if rule.device_ids is not None and event.device_id not in rule.device_ids:
            return False
        if rule.device_types is not None:
            device = self.facts.device(event.device_id) if event.device_id is not None else None
            if device is None or device.org_id != event.org_id or device.type not in rule.device_types:
                return False
        return rule.test is None or rule.test(event, self.facts)

    def on_event(self, rule: CompiledRule, event: StoredEvent, *, fire: bool = True) -> Decision | None:
        """Update the rule's state with the event and say whether it fires (``fire=False``: warm only)."""
        if not self.passes(rule, event):
            return None
        subject = subject_for(rule, event.device_id, event.customer_id)
        if subject is None:
            return None
        key = (rule.id, subject)
        context: dict[str, Any] = {}
        if rule.inactivity is not None:
            heard = self.heard.setdefault(rule.id, {})
            last = heard.get(subject)
            if last is None or event.received_at >= last.at:
                heard[subject] = Heard(event.received_at, event.device_id, event.customer_id)
            return None
        if rule.window is not None:
            reason = self._window(rule.window, key, event, context)
        elif rule.geofence is not None:
            reason = self._geofence(rule, key, event, context)
        else:
            reason = f"{event.type} event" + (
                f" with {rule.definition_summary}" if rule.definition_summary else ""
            )
        if reason is None or not fire:
            return None
        if self._cooling(rule, key, event.received_at):
            return None
        self.cooldowns[key] = event.received_at
        return Decision(
            rule, event, subject, event.device_id, event.customer_id, reason, event.received_at, context
        )

    def _cooling(self, rule: CompiledRule, key: tuple[int, str], at: datetime) -> bool:
        if not rule.cooldown:
            return False
        last = self.cooldowns.get(key)
        return last is not None and at - last < rule.cooldown

    def _window(self, window: Window, key: tuple[int, str], event: StoredEvent, context: dict) -> str | None:
        if window.agg == "count":
            value = 1.0
        else:
            found: Any = event.props
            for part in window.prop or ():
                found = found.get(part, MISSING) if isinstance(found, dict) else MISSING
            if not is_number(found):
                return None
            value = float(found)
        state = self.windows.get(key)
        if state is None:
            state = self.windows[key] = WindowState()
        ts = micros(event.ts)
        cutoff = max(state.newest, ts) - window.span_us
        if ts <= cutoff:
            return None  # older than the window already
        state.prune(cutoff)
        before = window.holds(state.aggregate(window.agg), len(state.entries))
        state.add(ts, value)
        aggregate = state.aggregate(window.agg)
        if before or not window.holds(aggregate, len(state.entries)):
            return None
        context["window"] = {"value": aggregate, "count": len(state.entries), "minutes": window.minutes}
        return f"{event.type}: {window.describe(aggregate)}"

    def _geofence(
        self, rule: CompiledRule, key: tuple[int, str], event: StoredEvent, context: dict
    ) -> str | None:
        fence = rule.geofence
        assert fence is not None
        if event.lat is None or event.lon is None:
            return None
        inside = fence.shape.contains(event.lat, event.lon)
        was_inside = self.inside.get(key, False)
        if inside != was_inside:
            self.inside[key] = inside
            self.changed_sides[key] = (inside, event.ts)
        if fence.on == "entered":
            fired = inside and not was_inside
        elif fence.on == "left":
            fired = was_inside and not inside
        else:
            fired = inside
        if not fired:
            return None
        verb = {"entered": "entered", "left": "left", "inside": "is inside"}[fence.on]
        context["geofence"] = {"name": fence.name, "on": fence.on}
        return f"{verb} geofence {fence.name} at {event.lat:.5f}, {event.lon:.5f}"

    # --- inactivity --------------------------------------------------------------------------------
    def silences(self, rule: CompiledRule, now: datetime) -> list[Decision]:
        """Subjects silent for the rule's time since they were last heard and not fired for yet."""
        silence = rule.inactivity
        if silence is None:
            return []
        decisions = []
        span = silence.span
        for subject, heard in self.heard.get(rule.id, {}).items():
            if now - heard.at < span:
                continue
            key = (rule.id, subject)
            fired_for = self.silenced.get(key)
            if fired_for is not None and fired_for >= heard.at:
                continue
            self.silenced[key] = heard.at
            if self._cooling(rule, key, now):
                continue
            self.cooldowns[key] = now
            minutes = (now - heard.at).total_seconds() / 60
            reason = (
                f"no event from {subject.replace(':', ' ')} for {minutes:.0f} min "
                f"(silent since {heard.at:%Y-%m-%d %H:%M:%S} UTC; limit {silence.minutes:g} min)"
            )
            context = {"silence": {"since": heard.at, "minutes": minutes}}
            decisions.append(
                Decision(rule, None, subject, heard.device_id, heard.customer_id, reason, now, context)
            )
        return decisions
