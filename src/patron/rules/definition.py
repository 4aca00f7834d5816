"""The rule definition format, its strict validation, and its compilation into fast matchers.

A rule is stored as data (``Rule.definition``, JSON). Example — a fault opens a ticket::

    {
      "when": {"event_types": ["fault"], "device_types": ["smart_meter"]},
      "conditions": [{"field": "props.code", "op": "in", "value": ["E42", "E51"]}],
      "cooldown_minutes": 0,
      "actions": [{"type": "open_ticket", "subject": "Fault {props.code} on {device.name}",
                   "priority": "high"}]
    }

Keys of a definition (anything else is refused, naming the path):

``when`` (required)
    ``event_types``: a type (``fault``), a family (``trip.*``) or ``*``, or a list of them; required
    except for inactivity rules (default any). ``device_types``: list of device types.
    ``device_ids``: list of device ids of the organisation.
``conditions``
    A list (all must hold) or a group ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": cond}``; groups
    nest. A leaf is ``{"field", "op", "value"}``. Fields: ``type``, ``id``, ``device_id``,
    ``customer_id``, ``source``, ``lat``, ``lon``, ``props.<name>`` (dots reach into objects),
    ``device.<type|name|model|firmware|status|health>``, ``device.attributes.<key>``,
    ``customer.tags`` (a list: use ``contains``), ``customer.segments`` (the segments the customer is in
    now: ``contains`` a segment id or name), ``customer.attributes.<key>`` (e.g. ``tier``),
    ``customer.<profile field>`` (``birth_date`` as ``YYYY-MM-DD`` text), ``customer.birth_month`` (1-12),
    ``customer.days_to_birthday`` (0 on the birthday, on the customer's local date when the event
    happened; 29 February counts on the 28th in other years), ``consent.<channel>`` (true when granted
    now), ``signals.<name>``
    (``usage_trend``, ``events_7d``, ``device_health``... and ``signals.usage_by_type.<type>``).
    Operators: ``eq ne gt gte lt lte between in not_in exists contains``. ``gt``-``lte`` take a
    number, ``between`` ``[low, high]`` (inclusive), ``in``/``not_in`` a list, ``exists`` true or
    false, ``contains`` a text (substring of a text field) or a value (member of a list field). A
    condition on a field the event (or customer) lacks, or holds as null, is false, except
    ``exists: false``.
``window`` — an aggregate over the last N minutes of the matching events, per device or customer
    ``{"minutes", "per": "device"|"customer", "agg": "count"|"avg"|"min"|"max"|"sum",
    "prop": "<props name>" (not for count), "op": "gt"|"gte"|"lt"|"lte"|"eq"|"ne", "value",
    "min_events"}``. Fires when an event makes the comparison hold that did not hold just before it
    (and again only after it stopped holding); window time is the events' own ``ts``.
``inactivity`` — ``{"minutes", "per"}``: no matching event from a device (customer) for that long
    fires once per silence; hearing from it again re-arms the rule.
``geofence`` — ``{"name", "circle": {"lat", "lon", "radius_m"}}`` or ``{"name", "polygon":
    [[lat, lon], ...]}``, with ``"on": "entered"|"left"|"inside"`` and ``"per"``. Events without a
    position are ignored; a subject never seen is outside.
``cooldown_minutes`` — after a firing, the rule does not fire again for the same subject (device,
    else customer) within this time.
``actions`` — list of ``{"type", ...}``: ``open_ticket`` (``subject``, ``description``,
    ``priority``, ``kind``, ``category``, ``dedupe``), ``tag_customer``/``untag_customer``
    (``tag``), ``flag`` (``name``: tags the customer ``flag:<name>``), ``record_interaction``
    (``kind``, ``subject``, ``body``, ``channel``, ``direction``), ``webhook`` (``url``),
    ``emit_trigger`` (``name``, ``data``), ``notify`` (``user_id`` or ``"to": "owner"``,
    ``title``, ``body``).

Texts of actions are templates: ``{event.type}``, ``{event.id}``, ``{event.ts}``, ``{props.code}``,
``{device.name}``, ``{device.id}``, ``{customer.name}``, ``{customer.attributes.tier}``,
``{rule.name}``, ``{geofence.name}``, ``{reason}``, ``{window.value}``; what is missing renders empty.
At most one of ``window``, ``inactivity``, ``geofence`` per rule.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

from patron.devices.models import DEVICE_TYPES
from patron.interactions.models import DIRECTIONS, INTERACTION_KINDS
from patron.rules.conditions import (
    TYPE_RE,
    Template,
    Test,
    compile_conditions,
    compile_template,
    describe_conditions,
    fail,
    want_bool,
    want_choice,
    want_integer,
    want_list,
    want_number,
    want_object,
    want_text,
)
from patron.rules.geo import Circle, Polygon
from patron.tickets.models import KINDS as TICKET_KINDS
from patron.tickets.models import PRIORITIES as TICKET_PRIORITIES

ROOT = "definition"
TOP_KEYS = ("when", "conditions", "window", "inactivity", "geofence", "cooldown_minutes", "actions")
WINDOW_OPERATORS = ("gt", "gte", "lt", "lte", "eq", "ne")
AGGREGATES = ("count", "avg", "min", "max", "sum")
SUBJECTS = ("device", "customer")
GEOFENCE_ON = ("entered", "left", "inside")
ACTION_TYPES = (
    "open_ticket",
    "tag_customer",
    "untag_customer",
    "flag",
    "record_interaction",
    "webhook",
    "emit_trigger",
    "notify",
)
MAX_DEFINITION_BYTES = 64 * 1024
MAX_EVENT_TYPES = 50
MAX_DEVICE_IDS = 1000
MAX_ACTIONS = 10
MAX_WINDOW_MINUTES = 24 * 60
MAX_SILENCE_MINUTES = 30 * 24 * 60
MAX_COOLDOWN_MINUTES = 30 * 24 * 60
MAX_POLYGON = 1000
MAX_RADIUS_M = 1_000_000
MAX_TRIGGER_DATA_BYTES = 8 * 1024
TRIGGER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.:\-]{0,119}$")
CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,59}$")
CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
FAMILY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,62}\.\*$")
_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Window:
    minutes: float
    per: str
    agg: str
    prop: tuple[str, ...] | None
    op: str
    value: float
    min_events: int

    @property
    def span_us(self) -> int:
        return int(self.minutes * 60_000_000)

    def holds(self, aggregate: float | None, count: int) -> bool:
        if aggregate is None or count < self.min_events:
            return False
        return _COMPARE[self.op](aggregate, self.value)

    def describe(self, aggregate: float | None) -> str:
        what = "events" if self.agg == "count" else f"{self.agg} of props.{'.'.join(self.prop or ())}"
        shown = "none" if aggregate is None else f"{aggregate:g}"
        return f"{what} over {self.minutes:g} min per {self.per} = {shown} ({self.op} {self.value:g})"


@dataclass(frozen=True)
class Inactivity:
    minutes: float
    per: str

    @property
    def span(self) -> timedelta:
        return timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class Geofence:
    name: str
    shape: Circle | Polygon
    on: str
    per: str


@dataclass(frozen=True)
class Action:
    """One action of a rule: its ``type`` and checked parameters (texts as :class:`Template`)."""

    type: str
    params: dict[str, Any]


@dataclass
class CompiledRule:
    """A rule ready to evaluate: which events it can meet, its test, its stateful part and its actions."""

    id: int
    org_id: int
    name: str
    fingerprint: str
    exact_types: frozenset[str] = frozenset()
    families: tuple[str, ...] = ()
    any_type: bool = False
    device_types: frozenset[str] | None = None
    device_ids: frozenset[int] | None = None
    test: Test | None = None
    test_cost: int = 0
    window: Window | None = None
    inactivity: Inactivity | None = None
    geofence: Geofence | None = None
    cooldown: timedelta = timedelta(0)
    actions: tuple[Action, ...] = ()
    definition: dict = field(default_factory=dict)
    definition_summary: str = ""
    #: ``event``, ``window``, ``inactivity`` or ``geofence``
    kind: str = "event"
    #: whom state and cooldown are kept for: ``device``, ``customer``, or None (device, else customer)
    per: str | None = None
    #: rules whose windows hold the same events (same organisation, when, conditions and window span,
    #: subject and measure) share one window; this names it
    window_source: str | None = None

    def matches_type(self, event_type: str) -> bool:
        if self.any_type or event_type in self.exact_types:
            return True
        return any(event_type.startswith(family) for family in self.families)


def fingerprint(definition: Any) -> str:
    return hashlib.sha1(orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)).hexdigest()


def compile_rule(definition: Any, *, rule_id: int = 0, org_id: int = 0, name: str = "") -> CompiledRule:
    """Check a definition strictly and compile it. Raises :class:`~patron.core.errors.Invalid` naming
    the offending path (``definition.conditions[1].op``)."""
    spec = want_object(definition, ROOT, TOP_KEYS, ("when",))
    if len(orjson.dumps(spec)) > MAX_DEFINITION_BYTES:
        raise fail(ROOT, f"at most {MAX_DEFINITION_BYTES // 1024} KB as JSON")
    parts = [key for key in ("window", "inactivity", "geofence") if key in spec]
    if len(parts) > 1:
        raise fail(
            f"{ROOT}.{parts[1]}",
            f"a rule has at most one of window, inactivity, geofence (it has {parts[0]})",
        )
    rule = CompiledRule(id=rule_id, org_id=org_id, name=name, fingerprint=fingerprint(spec), definition=spec)
    _when(rule, spec["when"], f"{ROOT}.when", silence="inactivity" in spec)
    if "conditions" in spec:
        rule.test, rule.test_cost = compile_conditions(spec["conditions"], f"{ROOT}.conditions", [0])
        rule.definition_summary = describe_conditions(spec["conditions"])[:300]
    if "window" in spec:
        rule.window = _window(spec["window"], f"{ROOT}.window")
    if "inactivity" in spec:
        rule.inactivity = _inactivity(spec["inactivity"], f"{ROOT}.inactivity")
    if "geofence" in spec:
        rule.geofence = _geofence(spec["geofence"], f"{ROOT}.geofence")
    if "cooldown_minutes" in spec:
        minutes = want_number(spec["cooldown_minutes"], f"{ROOT}.cooldown_minutes", 0, MAX_COOLDOWN_MINUTES)
        rule.cooldown = timedelta(minutes=minutes)
    part = rule.window or rule.inactivity or rule.geofence
    if part is not None:
        rule.kind = "window" if rule.window else "inactivity" if rule.inactivity else "geofence"
        rule.per = part.per
    if rule.window is not None:
        window = rule.window
        rule.window_source = fingerprint(
            {
                "org": org_id,
                "when": spec["when"],
                "conditions": spec.get("conditions"),
                "window": [window.minutes, window.per, window.agg, window.prop],
            }
        )
    actions = want_list(spec.get("actions", []), f"{ROOT}.actions", 0, MAX_ACTIONS)
    rule.actions = tuple(_action(item, f"{ROOT}.actions[{i}]") for i, item in enumerate(actions))
    return rule


def _when(rule: CompiledRule, value: Any, path: str, *, silence: bool) -> None:
    when = want_object(value, path, ("event_types", "device_types", "device_ids"))
    if "event_types" not in when and not silence:
        raise fail(f"{path}.event_types", "is required (a type, a family such as trip.*, or *)")
    types = when.get("event_types", ["*"])
    if isinstance(types, str):
        types = [types]
    types = want_list(types, f"{path}.event_types", 1, MAX_EVENT_TYPES)
    exact: set[str] = set()
    families: list[str] = []
    for i, item in enumerate(types):
        item_path = f"{path}.event_types[{i}]"
        item = want_text(item, item_path, 64)
        if item == "*":
            rule.any_type = True
        elif FAMILY_RE.match(item):
            families.append(item[:-1])  # "trip.*" -> "trip."
        elif TYPE_RE.match(item):
            exact.add(item)
        else:
            raise fail(
                item_path, "an event type is letters, digits and _ . : - (or a family such as trip.*, or *)"
            )
    rule.exact_types, rule.families = frozenset(exact), tuple(families)
    if "device_types" in when:
        kinds = want_list(when["device_types"], f"{path}.device_types", 1, len(DEVICE_TYPES))
        rule.device_types = frozenset(
            want_choice(kind, f"{path}.device_types[{i}]", DEVICE_TYPES) for i, kind in enumerate(kinds)
        )
    if "device_ids" in when:
        ids = want_list(when["device_ids"], f"{path}.device_ids", 1, MAX_DEVICE_IDS)
        rule.device_ids = frozenset(
            want_integer(item, f"{path}.device_ids[{i}]", 1, 2**31 - 1) for i, item in enumerate(ids)
        )


def _per(spec: dict, path: str) -> str:
    return want_choice(spec.get("per", "device"), f"{path}.per", SUBJECTS)


def _window(value: Any, path: str) -> Window:
    spec = want_object(
        value,
        path,
        ("minutes", "per", "agg", "prop", "op", "value", "min_events"),
        ("minutes", "op", "value"),
    )
    agg = want_choice(spec.get("agg", "count"), f"{path}.agg", AGGREGATES)
    prop = None
    if agg != "count":
        if "prop" not in spec:
            raise fail(f"{path}.prop", f"is required for {agg} (the props name to aggregate)")
        name = want_text(spec["prop"], f"{path}.prop", 200)
        name = name[len("props.") :] if name.startswith("props.") else name
        prop = tuple(name.split("."))
        if not all(re.match(r"^[A-Za-z0-9_\-]{1,64}$", p) for p in prop):
            raise fail(f"{path}.prop", "a props name is letters, digits, _ and -, parts joined by dots")
    elif "prop" in spec:
        raise fail(f"{path}.prop", "only for avg, min, max and sum")
    return Window(
        minutes=want_number(spec["minutes"], f"{path}.minutes", 0.1, MAX_WINDOW_MINUTES),
        per=_per(spec, path),
        agg=agg,
        prop=prop,
        op=want_choice(spec["op"], f"{path}.op", WINDOW_OPERATORS),
        value=float(want_number(spec["value"], f"{path}.value")),
        min_events=want_integer(spec.get("min_events", 1), f"{path}.min_events", 1, 100_000),
    )


def _inactivity(value: Any, path: str) -> Inactivity:
    spec = want_object(value, path, ("minutes", "per"), ("minutes",))
    return Inactivity(
        minutes=want_number(spec["minutes"], f"{path}.minutes", 0.1, MAX_SILENCE_MINUTES),
        per=_per(spec, path),
    )


def _latlon(lat: Any, lon: Any, path_lat: str, path_lon: str) -> tuple[float, float]:
    return float(want_number(lat, path_lat, -90, 90)), float(want_number(lon, path_lon, -180, 180))


def _geofence(value: Any, path: str) -> Geofence:
    spec = want_object(value, path, ("name", "circle", "polygon", "on", "per"), ("name",))
    name = want_text(spec["name"], f"{path}.name", 120)
    shapes = [key for key in ("circle", "polygon") if key in spec]
    if len(shapes) != 1:
        raise fail(f"{path}.circle", "give exactly one of circle or polygon")
    shape: Circle | Polygon
    if "circle" in spec:
        circle_path = f"{path}.circle"
        circle = want_object(
            spec["circle"], circle_path, ("lat", "lon", "radius_m"), ("lat", "lon", "radius_m")
        )
        lat, lon = _latlon(circle["lat"], circle["lon"], f"{circle_path}.lat", f"{circle_path}.lon")
        radius = want_number(circle["radius_m"], f"{circle_path}.radius_m", 1, MAX_RADIUS_M)
        shape = Circle(lat, lon, float(radius))
    else:
        corners_path = f"{path}.polygon"
        corners = want_list(spec["polygon"], corners_path, 3, MAX_POLYGON)
        points = []
        for i, corner in enumerate(corners):
            pair = want_list(corner, f"{corners_path}[{i}]", 2, 2)
            points.append(_latlon(pair[0], pair[1], f"{corners_path}[{i}][0]", f"{corners_path}[{i}][1]"))
        if len(set(points)) < 3:
            raise fail(corners_path, "needs at least three different corners")
        shape = Polygon(tuple(points))
    on = want_choice(spec.get("on", "entered"), f"{path}.on", GEOFENCE_ON)
    return Geofence(name=name, shape=shape, on=on, per=_per(spec, path))


_ACTION_KEYS: dict[str, tuple[str, ...]] = {
    "open_ticket": ("subject", "description", "priority", "kind", "category", "dedupe"),
    "tag_customer": ("tag",),
    "untag_customer": ("tag",),
    "flag": ("name",),
    "record_interaction": ("kind", "subject", "body", "channel", "direction"),
    "webhook": ("url",),
    "emit_trigger": ("name", "data"),
    "notify": ("user_id", "to", "title", "body"),
}


def _action(value: Any, path: str) -> Action:
    if not isinstance(value, dict) or "type" not in value:
        raise fail(f"{path}.type", f"each action needs a type: {', '.join(ACTION_TYPES)}")
    kind = want_choice(value["type"], f"{path}.type", ACTION_TYPES)
    spec = want_object(value, path, ("type", *_ACTION_KEYS[kind]))
    params: dict[str, Any] = {}
    if kind == "open_ticket":
        if "subject" not in spec:
            raise fail(f"{path}.subject", "is required")
        params["subject"] = compile_template(spec["subject"], f"{path}.subject", 300, blank=False)
        params["description"] = compile_template(
            spec.get("description", "Rule {rule.name} fired: {reason}"), f"{path}.description", 20_000
        )
        params["priority"] = want_choice(spec.get("priority", "high"), f"{path}.priority", TICKET_PRIORITIES)
        params["kind"] = want_choice(spec.get("kind", "incident"), f"{path}.kind", TICKET_KINDS)
        params["category"] = want_text(
            spec.get("category", "device"),
            f"{path}.category",
            60,
            pattern=CATEGORY_RE,
            hint="lower-case letters, digits and _ . -",
        )
        params["dedupe"] = want_bool(spec.get("dedupe", True), f"{path}.dedupe")
    elif kind in ("tag_customer", "untag_customer"):
        if "tag" not in spec:
            raise fail(f"{path}.tag", "is required")
        params["tag"] = want_text(spec["tag"], f"{path}.tag", 60).strip().lower()
    elif kind == "flag":
        if "name" not in spec:
            raise fail(f"{path}.name", "is required")
        params["tag"] = "flag:" + want_text(spec["name"], f"{path}.name", 55).strip().lower()
    elif kind == "record_interaction":
        params["kind"] = want_choice(spec.get("kind", "note"), f"{path}.kind", INTERACTION_KINDS)
        params["subject"] = compile_template(spec.get("subject", "{rule.name}"), f"{path}.subject", 300)
        params["body"] = compile_template(spec.get("body", "{reason}"), f"{path}.body", 20_000)
        params["channel"] = want_text(
            spec.get("channel", "device"),
            f"{path}.channel",
            40,
            pattern=CHANNEL_RE,
            hint="lower-case letters, digits and _ . -",
        )
        params["direction"] = want_choice(spec.get("direction", "internal"), f"{path}.direction", DIRECTIONS)
    elif kind == "webhook":
        if "url" not in spec:
            raise fail(f"{path}.url", "is required")
        url = want_text(spec["url"], f"{path}.url", 2000)
        try:
            parts = urlsplit(url)
        except ValueError:
            raise fail(f"{path}.url", "is not a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail(f"{path}.url", "must be an http:// or https:// URL with a host")
        params["url"] = url
    elif kind == "emit_trigger":
        if "name" not in spec:
            raise fail(f"{path}.name", "is required")
        params["name"] = want_text(
            spec["name"],
            f"{path}.name",
            120,
            pattern=TRIGGER_NAME_RE,
            hint="lower-case letters, digits and _ . : - (e.g. nearby_shop_offer)",
        )
        data = want_object(spec.get("data", {}), f"{path}.data", tuple(spec.get("data", {}) or ()))
        if len(orjson.dumps(data)) > MAX_TRIGGER_DATA_BYTES:
            raise fail(f"{path}.data", f"at most {MAX_TRIGGER_DATA_BYTES // 1024} KB as JSON")
        params["data"] = {
            key: compile_template(item, f"{path}.data.{key}", 2000) if isinstance(item, str) else item
            for key, item in data.items()
        }
    elif kind == "notify":
        targets = [key for key in ("user_id", "to") if key in spec]
        if len(targets) != 1:
            raise fail(f"{path}.user_id", 'give exactly one of user_id or "to": "owner"')
        if "user_id" in spec:
            params["user_id"] = want_integer(spec["user_id"], f"{path}.user_id", 1, 2**31 - 1)
        else:
            params["to"] = want_choice(spec["to"], f"{path}.to", ("owner",))
        params["title"] = compile_template(spec.get("title", "{rule.name}: {reason}"), f"{path}.title", 300)
        params["body"] = compile_template(spec.get("body", ""), f"{path}.body", 2000)
    return Action(type=kind, params=params)


def plan(action: Action, context: dict[str, Any]) -> dict[str, Any]:
    """What the action would do, with its texts rendered (for the rule test endpoint)."""
    out: dict[str, Any] = {"type": action.type}
    for key, value in action.params.items():
        if isinstance(value, Template):
            out[key] = value.render(context)
        elif isinstance(value, dict):
            out[key] = {k: v.render(context) if isinstance(v, Template) else v for k, v in value.items()}
        else:
            out[key] = value
    return out
