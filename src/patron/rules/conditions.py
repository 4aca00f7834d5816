"""Conditions, fields and templates of rule definitions (the format is described in
:mod:`patron.rules.definition`): strict validation with the path of each mistake, compiled into
plain closures that the engine calls per event."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from patron.core.errors import Invalid
from patron.customers.models import CONSENT_CHANNELS
from patron.customers.normalise import days_to_birthday, local_zone

NUMERIC = (int, float)
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "exists", "contains")
EVENT_FIELDS = ("type", "id", "device_id", "customer_id", "source", "lat", "lon")
DEVICE_FIELDS = ("id", "type", "name", "model", "firmware", "status", "health")
CUSTOMER_FIELDS = (
    "id",
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_year",
    "birth_date",
    "gender",
    "education",
    "occupation",
    "income_band",
    "lifestyle_tags",
    "city",
    "country",
    "timezone",
    "owner_id",
    "tags",
    "segments",
)
#: computed from ``birth_date`` on the customer's own date when the event happened (see _birthday_attr)
BIRTHDAY_FIELDS = ("birth_month", "days_to_birthday")
SIGNAL_FIELDS = (
    "events_today",
    "events_7d",
    "events_30d",
    "usage_trend",
    "trend_slope",
    "device_count",
    "device_health",
)

MAX_CONDITIONS = 50
MAX_DEPTH = 5
MAX_LIST = 1000
TYPE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")

Getter = Callable[[Any, Any], Any]  # (event, facts) -> value or MISSING


# --- validation helpers ------------------------------------------------------------------------------


def fail(path: str, message: str) -> Invalid:
    return Invalid(f"{path}: {message}", field=path)


def want_object(value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise fail(path, "must be an object")
    for key in value:
        if key not in allowed:
            raise fail(f"{path}.{key}", f"unknown key; allowed here: {', '.join(allowed)}")
    for key in required:
        if key not in value:
            raise fail(f"{path}.{key}", "is required")
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def want_number(value: Any, path: str, low: float | None = None, high: float | None = None) -> float:
    if not is_number(value):
        raise fail(path, "must be a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise fail(path, f"must be between {low:g} and {high:g}")
    return value


def want_integer(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, "must be a whole number")
    if not low <= value <= high:
        raise fail(path, f"must be between {low} and {high}")
    return value


def want_text(
    value: Any,
    path: str,
    max_length: int,
    *,
    blank: bool = False,
    pattern: re.Pattern | None = None,
    hint: str = "",
) -> str:
    if not isinstance(value, str):
        raise fail(path, "must be a text")
    if "\x00" in value:
        raise fail(path, "must not contain NUL characters")
    if not blank and not value.strip():
        raise fail(path, "must not be blank")
    if len(value) > max_length:
        raise fail(path, f"at most {max_length} characters")
    if pattern is not None and not pattern.match(value):
        raise fail(path, hint or "has characters that are not allowed")
    return value


def want_choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise fail(path, f"must be one of {', '.join(choices)}")
    return value


def want_list(value: Any, path: str, low: int, high: int) -> list:
    if not isinstance(value, list):
        raise fail(path, "must be a list")
    if not low <= len(value) <= high:
        raise fail(path, f"must have {low} to {high} items")
    return value


def want_scalar(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str) or is_number(value):
        if isinstance(value, str) and len(value) > 1000:
            raise fail(path, "at most 1000 characters")
        return value
    raise fail(path, "must be a text, number, true, false or null")


def want_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "must be true or false")
    return value


# --- fields --------------------------------------------------------------------------------------------


def _dig(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _segments(rest: str, path: str) -> tuple[str, ...]:
    parts = tuple(rest.split("."))
    if not 1 <= len(parts) <= 8 or not all(NAME_RE.match(p) for p in parts):
        raise fail(path, "a name after the dot is letters, digits, _ and -, parts joined by dots")
    return parts


def compile_field(name: Any, path: str) -> tuple[Getter, str]:
    """A getter for a condition field and what it needs: ``event``, ``device`` or ``customer``."""
    name = want_text(name, path, 200)
    root, _, rest = name.partition(".")
    if not rest and root in EVENT_FIELDS:
        attribute = root
        return (lambda event, facts: _present(getattr(event, attribute))), "event"
    if root == "props" and rest:
        parts = _segments(rest, path)
        if len(parts) == 1:
            key = parts[0]
            return (lambda event, facts: event.props.get(key, MISSING)), "event"
        return (lambda event, facts: _dig(event.props, parts)), "event"
    if root == "device" and rest:
        if rest.startswith("attributes."):
            parts = _segments(rest[len("attributes.") :], path)
            return (lambda event, facts: _dig(_device_attr(event, facts, "attributes"), parts)), "device"
        if rest in DEVICE_FIELDS:
            return (lambda event, facts: _device_attr(event, facts, rest)), "device"
    if root == "customer" and rest:
        group, _, inner = rest.partition(".")
        if group in ("attributes", "preferences") and inner:
            parts = _segments(inner, path)
            return (lambda event, facts: _dig(_customer_attr(event, facts, group), parts)), "customer"
        if rest in CUSTOMER_FIELDS:
            return (lambda event, facts: _customer_attr(event, facts, rest)), "customer"
        if rest in BIRTHDAY_FIELDS:
            return (lambda event, facts: _birthday_attr(event, facts, rest)), "customer"
    if root == "consent" and rest:
        if rest not in CONSENT_CHANNELS:
            raise fail(path, f"consent channels are {', '.join(CONSENT_CHANNELS)}")
        channel = rest
        return (lambda event, facts: _consent(event, facts, channel)), "customer"
    if root == "signals" and rest:
        if rest.startswith("usage_by_type."):
            kind = rest[len("usage_by_type.") :]
            if not TYPE_RE.match(kind):
                raise fail(path, "not an event type after usage_by_type.")
            return (lambda event, facts: _dig(_signal(event, facts, "usage_by_type"), (kind,))), "customer"
        if rest in SIGNAL_FIELDS:
            return (lambda event, facts: _signal(event, facts, rest)), "customer"
    raise fail(
        path,
        f"unknown field '{name}'; use props.<name>, one of {', '.join(EVENT_FIELDS)}, "
        "device.*, customer.* (including birth_month and days_to_birthday), consent.<channel> or "
        "signals.<name>",
    )


def _present(value: Any) -> Any:
    return MISSING if value is None else value


def _device_attr(event: Any, facts: Any, name: str) -> Any:
    if event.device_id is None or facts is None:
        return MISSING
    device = facts.device(event.device_id)
    if device is None:
        return MISSING
    return _present(getattr(device, name, None))


def _customer_attr(event: Any, facts: Any, name: str) -> Any:
    if event.customer_id is None or facts is None:
        return MISSING
    customer = facts.customer(event.org_id, event.customer_id)
    if customer is None:
        return MISSING
    if name == "tags":
        return customer.tags
    if name == "segments":
        return customer.segments
    value = customer.profile.get(name)
    if name == "birth_date" and value is not None:
        return value.isoformat()  # compared with "YYYY-MM-DD" text, as rules are written
    return _present(value)


def _birthday_attr(event: Any, facts: Any, name: str) -> Any:
    """``birth_month`` (1-12) or ``days_to_birthday`` (0 on the birthday, 29 February counting on the 28th
    in other years), on the customer's local date when the event happened: their profile's time zone, else
    UTC. MISSING without a birth date."""
    if event.customer_id is None or facts is None:
        return MISSING
    customer = facts.customer(event.org_id, event.customer_id)
    born = None if customer is None else customer.profile.get("birth_date")
    if born is None:
        return MISSING
    if name == "birth_month":
        return born.month
    moment = getattr(event, "ts", None) or datetime.now(UTC)
    return days_to_birthday(born, moment.astimezone(local_zone(customer.profile.get("timezone"))).date())


def _consent(event: Any, facts: Any, channel: str) -> Any:
    if event.customer_id is None or facts is None:
        return MISSING
    customer = facts.customer(event.org_id, event.customer_id)
    return MISSING if customer is None else bool(customer.consents.get(channel, False))


def _signal(event: Any, facts: Any, name: str) -> Any:
    if event.customer_id is None or facts is None:
        return MISSING
    customer = facts.customer(event.org_id, event.customer_id)
    if customer is None or customer.signals is None:
        return MISSING
    return _present(customer.signals.get(name))


# --- operators -----------------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equality that keeps true/false apart from 1/0 and compares numbers by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _member(values: list) -> Callable[[Any], bool]:
    texts = frozenset(v for v in values if isinstance(v, str))
    numbers = frozenset(v for v in values if is_number(v))
    flags = frozenset(v for v in values if isinstance(v, bool))

    def test(a: Any) -> bool:
        if isinstance(a, str):
            return a in texts
        if isinstance(a, bool):
            return a in flags
        if is_number(a):
            return a in numbers
        return False

    return test


def _operator(op: str, value: Any, path: str) -> Callable[[Any], bool]:
    """A test of a present field value (a missing value is handled by the caller)."""
    if op in ("eq", "ne"):
        expected = want_scalar(value, path)
        if expected is None:
            raise fail(path, "null never matches: test a missing or null field with exists false")
        return (lambda a: same(a, expected)) if op == "eq" else (lambda a: not same(a, expected))
    if op in ("gt", "gte", "lt", "lte"):
        bound = want_number(value, path)
        # event values come from JSON, which has no NaN or infinity: a type check is enough
        if op == "gt":
            return lambda a: type(a) in NUMERIC and a > bound
        if op == "gte":
            return lambda a: type(a) in NUMERIC and a >= bound
        if op == "lt":
            return lambda a: type(a) in NUMERIC and a < bound
        return lambda a: type(a) in NUMERIC and a <= bound
    if op == "between":
        pair = want_list(value, path, 2, 2)
        low, high = want_number(pair[0], f"{path}[0]"), want_number(pair[1], f"{path}[1]")
        if low > high:
            raise fail(path, "the low end must not exceed the high end")
        return lambda a: type(a) in NUMERIC and low <= a <= high
    if op in ("in", "not_in"):
        items = want_list(value, path, 1, MAX_LIST)
        for i, item in enumerate(items):
            if want_scalar(item, f"{path}[{i}]") is None:
                raise fail(
                    f"{path}[{i}]", "null never matches: test a missing or null field with exists false"
                )
        member = _member(items)
        return member if op == "in" else (lambda a: not member(a))
    if op == "contains":
        needle = want_scalar(value, path)
        if needle is None:
            raise fail(path, "must be a text or a number")

        def contains(a: Any) -> bool:
            if isinstance(a, str) and isinstance(needle, str):
                return needle in a
            if isinstance(a, list):
                return any(same(item, needle) for item in a)
            return False

        return contains
    raise fail(path, "unknown operator")  # exists is handled by the caller


# --- conditions ----------------------------------------------------------------------------------------

Test = Callable[[Any, Any], bool]  # (event, facts) -> bool
_COST = {"event": 0, "device": 1, "customer": 2}


def compile_conditions(value: Any, path: str, counter: list[int], depth: int = 1) -> tuple[Test, int]:
    """A test for a condition or group, and its cost (0 event only, 1 device, 2 customer look-ups)."""
    if depth > MAX_DEPTH:
        raise fail(path, f"groups nest at most {MAX_DEPTH} deep")
    if isinstance(value, list):
        return _group("all", value, path, counter, depth)
    if not isinstance(value, dict):
        raise fail(path, "must be a condition object or a list of conditions")
    groups = [key for key in ("all", "any", "not") if key in value]
    if groups:
        key = groups[0]
        want_object(value, path, (key,))
        if key == "not":
            inner, cost = compile_conditions(value["not"], f"{path}.not", counter, depth + 1)
            return (lambda event, facts: not inner(event, facts)), cost
        return _group(
            key, want_list(value[key], f"{path}.{key}", 1, MAX_CONDITIONS), f"{path}.{key}", counter, depth
        )
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise fail(path, f"at most {MAX_CONDITIONS} conditions in a rule")
    want_object(value, path, ("field", "op", "value"), ("field", "op"))
    op = want_choice(value["op"], f"{path}.op", OPERATORS)
    getter, needs = compile_field(value["field"], f"{path}.field")
    if op == "exists":
        wanted = want_bool(value.get("value", True), f"{path}.value")
        return (lambda event, facts: (getter(event, facts) not in (MISSING, None)) == wanted), _COST[needs]
    if "value" not in value:
        raise fail(f"{path}.value", "is required")
    check = _operator(op, value["value"], f"{path}.value")
    name = value["field"]
    if name.startswith("props.") and "." not in name[6:]:
        key = name[6:]  # the common case, without the getter's call
        if op in ("gt", "gte", "lt", "lte"):  # the commonest: a threshold, in one call per event
            return _prop_threshold(key, op, want_number(value["value"], f"{path}.value")), _COST[needs]

        def test(event: Any, facts: Any) -> bool:
            found = event.props.get(key)
            return found is not None and check(found)

        return test, _COST[needs]

    def test(event: Any, facts: Any) -> bool:
        found = getter(event, facts)
        return found is not MISSING and found is not None and check(found)

    return test, _COST[needs]


def _prop_threshold(key: str, op: str, bound: float) -> Test:
    """``props.<key> <op> bound`` as one function (the same test as the getter and :func:`_operator`'s
    check together): it runs for every event of the rule's types, most of which it turns away."""
    if op == "gt":

        def test(event: Any, facts: Any) -> bool:
            found = event.props.get(key)
            return type(found) in NUMERIC and found > bound

    elif op == "gte":

        def test(event: Any, facts: Any) -> bool:
            found = event.props.get(key)
            return type(found) in NUMERIC and found >= bound

    elif op == "lt":

        def test(event: Any, facts: Any) -> bool:
            found = event.props.get(key)
            return type(found) in NUMERIC and found < bound

    else:

        def test(event: Any, facts: Any) -> bool:
            found = event.props.get(key)
            return type(found) in NUMERIC and found <= bound

    return test


def _all(tests: tuple[Test, ...]) -> Test:
    """All of the tests, in order, stopping at the first that fails (without a generator per event)."""
    if len(tests) == 2:
        first, second = tests
        return lambda event, facts: first(event, facts) and second(event, facts)

    def test(event: Any, facts: Any) -> bool:
        for one in tests:  # noqa: SIM110 - all() would make a generator per event
            if not one(event, facts):
                return False
        return True

    return test


def _any(tests: tuple[Test, ...]) -> Test:
    """Any of the tests, in order, stopping at the first that holds."""

    def test(event: Any, facts: Any) -> bool:
        for one in tests:  # noqa: SIM110 - any() would make a generator per event
            if one(event, facts):
                return True
        return False

    return test


def _group(kind: str, items: list, path: str, counter: list[int], depth: int) -> tuple[Test, int]:
    if len(items) > MAX_CONDITIONS:
        raise fail(path, f"at most {MAX_CONDITIONS} conditions")
    compiled = [compile_conditions(item, f"{path}[{i}]", counter, depth + 1) for i, item in enumerate(items)]
    compiled.sort(key=lambda pair: pair[1])  # cheap tests first: look-ups only when the event passes
    tests = tuple(test for test, _ in compiled)
    cost = max((c for _, c in compiled), default=0)
    if not tests:
        return (lambda event, facts: True), 0
    if len(tests) == 1:
        return tests[0], cost
    return (_all(tests) if kind == "all" else _any(tests)), cost


# --- templates -----------------------------------------------------------------------------------------

TEMPLATE_ROOTS = ("event", "props", "device", "customer", "rule", "geofence", "reason", "window")


@dataclass(frozen=True)
class Template:
    """A text with ``{placeholders}``; :meth:`render` fills them from a firing's context."""

    text: str
    parts: tuple[str | tuple[str, Any], ...]

    def render(self, context: dict[str, Any]) -> str:
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            kind, getter = part
            value = getter(context)
            if value is MISSING or value is None:
                continue
            out.append(value if isinstance(value, str) else _plain(value))
        return "".join(out)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def compile_template(value: Any, path: str, max_length: int, *, blank: bool = True) -> Template:
    text = want_text(value, path, max_length, blank=blank)
    parts: list[str | tuple[str, Any]] = []
    position = 0
    for match in PLACEHOLDER_RE.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append((match.group(1), _placeholder(match.group(1), path)))
        position = match.end()
    if position < len(text) or not parts:
        parts.append(text[position:])
    return Template(text, tuple(parts))


def _placeholder(name: str, path: str) -> Callable[[dict], Any]:
    root, _, rest = name.partition(".")
    if root not in TEMPLATE_ROOTS:
        raise fail(path, f"unknown placeholder {{{name}}}; start with one of {', '.join(TEMPLATE_ROOTS)}")
    if root == "event":
        if rest not in (*EVENT_FIELDS, "ts", "received_at", "seq"):
            raise fail(path, f"unknown placeholder {{{name}}}")
        return lambda c: MISSING if c.get("event") is None else getattr(c["event"], rest, MISSING)
    if root in ("props", "device", "customer"):
        getter, _ = compile_field(name, path)
        return lambda c: MISSING if c.get("event") is None else getter(c["event"], c.get("facts"))
    if root in ("reason",) and not rest:
        return lambda c: c.get("reason", MISSING)
    if root in ("rule", "geofence", "window") and rest and NAME_RE.match(rest):
        return lambda c: (c.get(root) or {}).get(rest, MISSING)
    raise fail(path, f"unknown placeholder {{{name}}}")


def describe_conditions(value: Any) -> str:
    """A short readable form of (already checked) conditions, for firing reasons."""
    if isinstance(value, list):
        return " and ".join(_describe_one(item) for item in value)
    return _describe_one(value)


def _describe_one(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if "all" in value or "any" in value:
        kind = "all" if "all" in value else "any"
        joined = f" {'and' if kind == 'all' else 'or'} ".join(_describe_one(item) for item in value[kind])
        return f"({joined})"
    if "not" in value:
        return f"not {_describe_one(value['not'])}"
    op = value.get("op")
    if op == "exists":
        return f"{value.get('field')} {'exists' if value.get('value', True) else 'missing'}"
    shown = orjson.dumps(value.get("value")).decode()
    return f"{value.get('field')} {op} {shown}"
