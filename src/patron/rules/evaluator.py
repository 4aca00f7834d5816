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
from patron.rules.conditions import MISSING, NUMERIC
from patron.rules.definition import CompiledRule, Window
from patron.rules.plan import Plan

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

    __slots__ = ("entries", "total", "newest", "span_us")

    def __init__(self, span_us: int = 0) -> None:
        self.entries: deque[tuple[int, float]] = deque()
        self.total = 0.0
        self.newest = 0
        self.span_us = span_us

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


_UNSEEN = object()


class Evaluator:
    """Rule state in memory and the per-event decision. Not thread-safe: one thread evaluates."""

    def __init__(self, facts: Any) -> None:
        self.facts = facts
        #: (window source, subject) -> the window; shared by rules with the same source
        self.windows: dict[tuple[str, str], WindowState] = {}
        self.warm_sources: set[str] = set()
        self.inside: dict[tuple[int, str], bool] = {}
        self.inside_by_subject: dict[str, set[int]] = {}
        #: subjects whose persisted geofence sides have been read (see the engine)
        self.sides_loaded: set[str] = set()
        self.changed_sides: dict[tuple[int, str], tuple[bool, datetime]] = {}
        self.cooldowns: dict[tuple[int, str], datetime] = {}
        self.heard: dict[int, dict[str, Heard]] = {}
        self.silenced: dict[tuple[int, str], datetime] = {}
        # facts about the event being evaluated, worked out once for all its rules
        self._event: StoredEvent | None = None
        self._ts_us = 0
        self._device_subject: str | None = None
        self._customer_subject: str | None = None
        self._window_steps: dict[tuple[str, str], Any] = {}

    def forget_rule(self, rule_id: int) -> None:
        for subject in [s for s, members in self.inside_by_subject.items() if rule_id in members]:
            self.set_side(rule_id, subject, False)
        for table in (self.inside, self.changed_sides, self.cooldowns, self.silenced):
            for key in [key for key in table if key[0] == rule_id]:
                del table[key]
        self.heard.pop(rule_id, None)

    def sweep(self, now: datetime, rules: dict[int, CompiledRule]) -> None:
        """Forget windows whose events have all aged out and cooldowns that have run out (memory of
        subjects that went quiet)."""
        now_us = micros(now)
        for key in [k for k, state in self.windows.items() if state.newest + state.span_us < now_us]:
            del self.windows[key]
        for key in [
            k for k, at in self.cooldowns.items() if k[0] not in rules or now - at >= rules[k[0]].cooldown
        ]:
            del self.cooldowns[key]

    def retain_window_sources(self, sources: set[str]) -> None:
        """Drop the windows no current rule reads."""
        for key in [key for key in self.windows if key[0] not in sources]:
            del self.windows[key]
        self.warm_sources &= sources

    # --- matching ---------------------------------------------------------------------------------
    def _prime(self, event: StoredEvent) -> None:
        self._event = event
        self._ts_us = micros(event.ts)
        self._device_subject = None if event.device_id is None else f"device:{event.device_id}"
        self._customer_subject = None if event.customer_id is None else f"customer:{event.customer_id}"
        self._window_steps = {}

    def _subject(self, per: str | None) -> str | None:
        if per == "device":
            return self._device_subject
        if per == "customer":
            return self._customer_subject
        return self._device_subject or self._customer_subject or "org"

    def passes(self, rule: CompiledRule, event: StoredEvent) -> bool:
        """The event is one the rule is about: device filters and conditions hold (type is indexed)."""
        if rule.device_ids is not None and event.device_id not in rule.device_ids:
            return False
        if rule.device_types is not None:
            device = self.facts.device(event.device_id) if event.device_id is not None else None
            if device is None or device.org_id != event.org_id or device.type not in rule.device_types:
                return False
        return rule.test is None or rule.test(event, self.facts)

    def evaluate(self, plan: Plan, event: StoredEvent) -> list[Decision]:
        """Run the event through every rule of the plan; the decisions of those that fire."""
        # most events pass no plain rule and meet no other kind: they are primed only when needed
        primed = event is self._event
        decisions: list[Decision] = []
        facts = self.facts
        for rule, test in plan.plain_tests:
            if test is not None:
                if not test(event, facts):
                    continue
            elif not self.passes(rule, event):
                continue
            if not primed:
                self._prime(event)
                primed = True
            decision = self._decide(rule, self._subject(rule.per), event, self._plain_reason(rule, event), {})
            if decision is not None:
                decisions.append(decision)
        if not plan.stateful:
            return decisions
        if not primed:
            self._prime(event)
        for group in plan.windows:
            first = group[0]
            subject = self._subject(first.per)
            if subject is None:
                continue
            key = (first.window_source, subject)
            step = self._window_steps.get(key, _UNSEEN)
            if step is _UNSEEN:
                step = self._window_steps[key] = self._window_step(first, first.window, key, event)
            if step is None:
                continue
            before_value, before_count, value, count = step
            for rule in group:  # each rule its own threshold; fires when it starts to hold
                window = rule.window
                if window.holds(value, count) and not window.holds(before_value, before_count):
                    context: dict[str, Any] = {
                        "window": {"value": value, "count": count, "minutes": window.minutes}
                    }
                    reason = f"{event.type}: {window.describe(value)}"
                    decision = self._decide(rule, subject, event, reason, context)
                    if decision is not None:
                        decisions.append(decision)
        if plan.fences is not None and event.lat is not None and event.lon is not None:
            for rule in self._fence_candidates(plan, event):
                subject = self._subject(rule.per)
                if subject is None or not self.passes(rule, event):
                    continue
                context = {}
                reason = self._geofence(rule, (rule.id, subject), event, context)
                if reason is not None:
                    decision = self._decide(rule, subject, event, reason, context)
                    if decision is not None:
                        decisions.append(decision)
        for rule in plan.silent:
            subject = self._subject(rule.per)
            if subject is not None and self.passes(rule, event):
                self._hear(rule, subject, event)
        return decisions

    def _fence_candidates(self, plan: Plan, event: StoredEvent) -> list[CompiledRule]:
        """Fences near the position, and those the event's subjects are inside now (to notice leaving)."""
        fences = plan.fences
        assert fences is not None
        near = fences.near(event.lat, event.lon)
        inside_ids: set[int] = set()
        for subject in (self._device_subject, self._customer_subject):
            if subject is not None:
                inside_ids |= self.inside_by_subject.get(subject, set())
        if not inside_ids:
            return near
        found = {rule.id: rule for rule in near}
        for rule_id in inside_ids:
            rule = fences.by_id.get(rule_id)
            if rule is not None:
                found.setdefault(rule_id, rule)
        return [found[rule_id] for rule_id in sorted(found)]

    def on_event(self, rule: CompiledRule, event: StoredEvent, *, fire: bool = True) -> Decision | None:
        """One rule on one event (warming, and the rule test); ``fire=False`` only updates state."""
        if event is not self._event:
            self._prime(event)
        subject = self._subject(rule.per)
        if subject is None:
            return None
        context: dict[str, Any] = {}
        if rule.kind == "window":
            reason = self._window(rule, subject, event, context)
        else:
            if not self.passes(rule, event):
                return None
            if rule.kind == "geofence":
                reason = self._geofence(rule, (rule.id, subject), event, context)
            elif rule.kind == "inactivity":
                self._hear(rule, subject, event)
                return None
            else:
                reason = self._plain_reason(rule, event)
        if reason is None or not fire:
            return None
        return self._decide(rule, subject, event, reason, context)

    @staticmethod
    def _plain_reason(rule: CompiledRule, event: StoredEvent) -> str:
        summary = rule.definition_summary
        return f"{event.type} event with {summary}" if summary else f"{event.type} event"

    def _decide(
        self, rule: CompiledRule, subject: str | None, event: StoredEvent, reason: str, context: dict
    ) -> Decision | None:
        """The firing, unless the rule is cooling down for this subject."""
        if subject is None:
            return None
        if rule.cooldown:
            key = (rule.id, subject)
            last_fired = self.cooldowns.get(key)
            if last_fired is not None and event.received_at - last_fired < rule.cooldown:
                return None
            self.cooldowns[key] = event.received_at
        return Decision(
            rule, event, subject, event.device_id, event.customer_id, reason, event.received_at, context
        )

    def _hear(self, rule: CompiledRule, subject: str, event: StoredEvent) -> None:
        heard = self.heard.setdefault(rule.id, {})
        last = heard.get(subject)
        if last is None or event.received_at >= last.at:
            heard[subject] = Heard(event.received_at, event.device_id, event.customer_id)

    def _cooling(self, rule: CompiledRule, key: tuple[int, str], at: datetime) -> bool:
        if not rule.cooldown:
            return False
        last = self.cooldowns.get(key)
        return last is not None and at - last < rule.cooldown

    def _window(self, rule: CompiledRule, subject: str, event: StoredEvent, context: dict) -> str | None:
        window = rule.window
        assert window is not None and rule.window_source is not None
        key = (rule.window_source, subject)
        step = self._window_steps.get(key, _UNSEEN)
        if step is _UNSEEN:  # the first rule of this source to see the event adds it to the window
            step = self._window_steps[key] = self._window_step(rule, window, key, event)
        if step is None:
            return None
        before_value, before_count, value, count = step
        if window.holds(before_value, before_count) or not window.holds(value, count):
            return None
        context["window"] = {"value": value, "count": count, "minutes": window.minutes}
        return f"{event.type}: {window.describe(value)}"

    def _window_step(self, rule: CompiledRule, window: Window, key: tuple[str, str], event: StoredEvent):
        """Add the event to the shared window: the aggregate and count before and after, or None."""
        if not self.passes(rule, event):
            return None
        if window.agg == "count":
            value = 1.0
        else:
            found: Any = event.props
            for part in window.prop or ():
                found = found.get(part, MISSING) if isinstance(found, dict) else MISSING
            if type(found) not in NUMERIC:
                return None
            value = float(found)
        state = self.windows.get(key)
        if state is None:
            state = self.windows[key] = WindowState(window.span_us)
        ts = self._ts_us
        cutoff = max(state.newest, ts) - window.span_us
        if ts <= cutoff:
            return None  # older than the window already
        state.prune(cutoff)
        before = (state.aggregate(window.agg), len(state.entries))
        state.add(ts, value)
        return (*before, state.aggregate(window.agg), len(state.entries))

    def set_side(self, rule_id: int, subject: str, inside: bool) -> None:
        self.inside[(rule_id, subject)] = inside
        members = self.inside_by_subject.get(subject)
        if inside:
            if members is None:
                self.inside_by_subject[subject] = {rule_id}
            else:
                members.add(rule_id)
        elif members is not None:
            members.discard(rule_id)
            if not members:
                del self.inside_by_subject[subject]

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
            self.set_side(key[0], key[1], inside)
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
