"""The condition language of rule segments, stored as data, and its validation.

A definition is a group: ``{"all": [...]}`` (every item holds) or ``{"any": [...]}`` (at least one
holds). An item is a condition ``{"field": ..., "op": ..., "value": ...}`` or a nested group (up to
three levels). Fields:

====================================  ===============================  ========================
field                                 operators                        value
====================================  ===============================  ========================
``gender`` ``education``              eq ne in not_in is_set not_set   one of the profile's choices
``income_band``
``occupation`` ``city`` ``country``   eq ne in not_in is_set not_set   text
``birth_year``                        eq ne lt lte gt gte is_set ...   number
``birthday``                          within_days                      whole days from today
                                                                       (0: today, UTC)
                                      in_month                         a month, 1-12
                                      is_set not_set                   (the date of birth is known)
``created_at``                        before after                     ISO date
                                      within_days older_than_days      whole days
``tags``                              contains not_contains            a tag
``owner_id``                          eq ne is_set not_set             a user id
``attribute.<key>``                   by the attribute's type          typed by its definition
``consent.<channel>``                 eq                               true / false (opted in)
``device.type``                       has has_not                      a device type
``device.last_seen_days``             lt lte gt gte                    days since any device of
                                                                       the customer was last seen
``feature.<name>``                    eq ne lt lte gt gte              number (feature table)
                                      is_set not_set
``prediction.<name>``                 eq ne lt lte gt gte is_set ...   the latest predictions: clv,
                                                                       p_alive, expected_purchases,
                                                                       churn_risk, sentiment (numbers),
                                                                       sentiment_trend (a choice)
====================================  ===============================  ========================

:func:`parse_definition` checks a definition and returns a tree of :class:`Condition` and
:class:`Group`; every error is an :class:`~patron.core.errors.Invalid` naming the path at fault,
e.g. ``definition.all[1].field``. Conditions on profile fields, consents, devices and predictions are
compiled to SQL; those on features are evaluated on a DataFrame (see :mod:`.evaluate`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from patron.core.errors import Invalid
from patron.customers.models import CONSENT_CHANNELS, EDUCATION_LEVELS, GENDERS, INCOME_BANDS
from patron.devices.models import DEVICE_TYPES
from patron.predictions.models import SENTIMENT_TRENDS

MAX_DEPTH = 3
MAX_CONDITIONS = 50
MAX_LIST = 200

NUMBER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "is_set", "not_set")
CHOICE_OPS = ("eq", "ne", "in", "not_in", "is_set", "not_set")
DATE_OPS = ("before", "after", "within_days", "older_than_days")
BIRTHDAY_OPS = ("within_days", "in_month", "is_set", "not_set")
#: the longest look ahead for a coming birthday: a year (and a leap day)
BIRTHDAY_DAYS = 366
TAG_OPS = ("contains", "not_contains")
OWNER_OPS = ("eq", "ne", "is_set", "not_set")
DEVICE_TYPE_OPS = ("has", "has_not")
LAST_SEEN_OPS = ("lt", "lte", "gt", "gte")
NO_VALUE_OPS = ("is_set", "not_set")
LIST_OPS = ("in", "not_in")

#: profile field -> (value type, allowed choices or None)
PROFILE_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "gender": ("choice", GENDERS),
    "education": ("choice", EDUCATION_LEVELS),
    "income_band": ("choice", INCOME_BANDS),
    "occupation": ("text", None),
    "city": ("text", None),
    "country": ("text", None),
    "birth_year": ("number", None),
    "birthday": ("birthday", None),
    "created_at": ("date", None),
    "tags": ("tag", None),
    "owner_id": ("owner", None),
}
#: the latest predictions of each customer (the ``customer_predictions`` row), compiled to SQL like the profile
PREDICTION_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "clv": ("number", None),
    "p_alive": ("number", None),
    "expected_purchases": ("number", None),
    "churn_risk": ("number", None),
    "sentiment": ("number", None),
    "sentiment_trend": ("choice", SENTIMENT_TRENDS),
}
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "choice": CHOICE_OPS,
    "text": CHOICE_OPS,
    "number": NUMBER_OPS,
    "date": DATE_OPS,
    "birthday": BIRTHDAY_OPS,
    "tag": TAG_OPS,
    "owner": OWNER_OPS,
    "consent": ("eq",),
    "device_type": DEVICE_TYPE_OPS,
    "last_seen": LAST_SEEN_OPS,
    "boolean": ("eq", "ne", "is_set", "not_set"),
    "attr_date": ("eq", "ne", "lt", "lte", "gt", "gte", "is_set", "not_set"),
}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
#: value type of a custom attribute of each declared type
ATTRIBUTE_VALUE_TYPES = {"string": "text", "number": "number", "integer": "number", "boolean": "boolean",
                         "date": "attr_date"}  # fmt: skip


@dataclass(frozen=True)
class Condition:
    """One checked condition. ``source`` is ``sql`` (profile, consent, device, predictions) or ``frame``
    (features); ``type`` is the value type that decides how it is compiled."""

    field: str
    op: str
    value: Any
    type: str
    source: str
    path: str


@dataclass(frozen=True)
class Group:
    mode: str  # "all" or "any"
    items: tuple[Condition | Group, ...]
    path: str

    def conditions(self) -> list[Condition]:
        found: list[Condition] = []
        for item in self.items:
            found.extend(item.conditions() if isinstance(item, Group) else [item])
        return found


def _fail(path: str, message: str) -> Invalid:
    return Invalid(f"{path}: {message}", field=path)


def _field_type(field: Any, path: str, attribute_types: dict[str, str]) -> tuple[str, str, tuple | None]:
    """(value type, source, choices) of a field name, or Invalid naming ``path``."""
    if not isinstance(field, str) or not field:
        raise _fail(path, "a field name is needed.")
    if field in PROFILE_FIELDS:
        kind, choices = PROFILE_FIELDS[field]
        return kind, "sql", choices
    prefix, _, name = field.partition(".")
    if prefix == "consent" and name in CONSENT_CHANNELS:
        return "consent", "sql", None
    if field == "device.type":
        return "device_type", "sql", DEVICE_TYPES
    if field == "device.last_seen_days":
        return "last_seen", "sql", None
    if prefix == "attribute" and name in attribute_types:
        return ATTRIBUTE_VALUE_TYPES[attribute_types[name]], "sql", None
    if prefix == "prediction" and name in PREDICTION_FIELDS:
        kind, choices = PREDICTION_FIELDS[name]
        return kind, "sql", choices
    if prefix == "feature" and NAME_RE.match(name):
        return "number", "frame", None
    if prefix == "attribute":
        raise _fail(path, f"there is no custom attribute '{name[:60]}'.")
    if prefix == "prediction":
        raise _fail(path, f"there is no prediction '{name[:60]}'; use one of {', '.join(PREDICTION_FIELDS)}.")
    raise _fail(path, f"unknown field '{str(field)[:80]}'; see the segment field list.")


def value_type(field: str, attribute_types: dict[str, str]) -> str | None:
    """The value type of a field name (``number``, ``choice``, ``consent``...), None when unknown."""
    try:
        return _field_type(field, "field", attribute_types)[0]
    except Invalid:
        return None


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN != NaN
        raise _fail(path, "a number is needed.")
    return value


def _days(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 36_500:
        raise _fail(path, "a whole number of days from 0 to 36500 is needed.")
    return value


def _iso_date(value: Any, path: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise _fail(path, "a date YYYY-MM-DD is needed.") from None


def _scalar(kind: str, value: Any, path: str, choices: tuple | None, field: str) -> Any:
    if kind in ("number", "last_seen"):
        return _number(value, path)
    if kind == "owner":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(path, "a user id is needed.")
        return value
    if kind in ("consent", "boolean"):
        if not isinstance(value, bool):
            raise _fail(path, "true or false is needed.")
        return value
    if kind == "attr_date":
        return _iso_date(value, path)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _fail(path, "a text of 1-200 characters is needed.")
    text = value.strip()
    if kind == "tag":
        return text.lower()
    if field == "country":
        text = text.upper()
    if choices is not None and text not in choices:
        raise _fail(path, f"'{text[:60]}' is not one of {', '.join(choices)}.")
    return text


def _value(kind: str, op: str, value: Any, path: str, choices: tuple | None, field: str) -> Any:
    if op in NO_VALUE_OPS:
        if value is not None:
            raise _fail(path, f"'{op}' takes no value.")
        return None
    if kind == "date":
        return _days(value, path) if op in ("within_days", "older_than_days") else _iso_date(value, path)
    if kind == "birthday":
        upper, what = (BIRTHDAY_DAYS, "a whole number of days") if op == "within_days" else (12, "a month")
        lower = 0 if op == "within_days" else 1
        if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
            raise _fail(path, f"{what} from {lower} to {upper} is needed.")
        return value
    if op in LIST_OPS:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise _fail(path, f"a list of 1-{MAX_LIST} values is needed.")
        return [_scalar(kind, item, f"{path}[{i}]", choices, field) for i, item in enumerate(value)]
    return _scalar(kind, value, path, choices, field)


def _condition(item: dict, path: str, attribute_types: dict[str, str]) -> Condition:
    unknown = set(item) - {"field", "op", "value"}
    if unknown:
        raise _fail(f"{path}.{sorted(unknown)[0]}", "not a part of a condition (field, op, value).")
    field = item.get("field")
    kind, source, choices = _field_type(field, f"{path}.field", attribute_types)
    op = item.get("op")
    allowed = OPS_BY_TYPE[kind]
    if op not in allowed:
        raise _fail(
            f"{path}.op", f"'{str(op)[:40]}' is not an operator of {field}; use one of {', '.join(allowed)}."
        )
    value = _value(kind, op, item.get("value"), f"{path}.value", choices, field)
    return Condition(field=field, op=op, value=value, type=kind, source=source, path=path)


def _group(data: Any, path: str, depth: int, attribute_types: dict[str, str], counter: list[int]) -> Group:
    if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in ("all", "any"):
        raise _fail(path, 'a group is {"all": [...]} or {"any": [...]}.')
    mode, items = next(iter(data.items()))
    if not isinstance(items, list) or not items:
        raise _fail(f"{path}.{mode}", "a group needs at least one condition.")
    parsed: list[Condition | Group] = []
    for index, item in enumerate(items):
        item_path = f"{path}.{mode}[{index}]"
        if isinstance(item, dict) and ("all" in item or "any" in item):
            if depth >= MAX_DEPTH:
                raise _fail(item_path, f"groups nest at most {MAX_DEPTH} levels deep.")
            parsed.append(_group(item, item_path, depth + 1, attribute_types, counter))
        elif isinstance(item, dict):
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                raise _fail(item_path, f"a definition has at most {MAX_CONDITIONS} conditions.")
            parsed.append(_condition(item, item_path, attribute_types))
        else:
            raise _fail(item_path, "a condition is an object with field, op and value.")
    return Group(mode=mode, items=tuple(parsed), path=path)


def parse_definition(data: Any, *, attribute_types: dict[str, str], path: str = "definition") -> Group:
    """Check a definition and return its tree. ``attribute_types`` maps the organisation's custom
    attribute keys to their declared types."""
    return _group(data, path, 1, attribute_types, [0])


def field_catalogue(attribute_types: dict[str, str], frame_columns: dict[str, list[str]]) -> list[dict]:
    """Every field a definition can use now, with its operators (for the builder page and the API):
    ``frame_columns`` maps ``feature`` to the columns available."""
    fields = [{"field": name, "type": kind, "ops": list(OPS_BY_TYPE[kind]), "choices": list(choices or ())}
              for name, (kind, choices) in PROFILE_FIELDS.items()]  # fmt: skip
    fields += [{"field": f"attribute.{key}", "type": ATTRIBUTE_VALUE_TYPES[kind],
                "ops": list(OPS_BY_TYPE[ATTRIBUTE_VALUE_TYPES[kind]]), "choices": []}
               for key, kind in sorted(attribute_types.items())]  # fmt: skip
    fields += [{"field": f"consent.{channel}", "type": "consent", "ops": ["eq"], "choices": ["true", "false"]}
               for channel in CONSENT_CHANNELS]  # fmt: skip
    fields.append({"field": "device.type", "type": "device_type", "ops": list(DEVICE_TYPE_OPS),
                   "choices": list(DEVICE_TYPES)})  # fmt: skip
    fields.append(
        {"field": "device.last_seen_days", "type": "last_seen", "ops": list(LAST_SEEN_OPS), "choices": []}
    )
    fields += [{"field": f"prediction.{name}", "type": kind, "ops": list(OPS_BY_TYPE[kind]),
                "choices": list(choices or ())} for name, (kind, choices) in PREDICTION_FIELDS.items()]  # fmt: skip
    for prefix, columns in frame_columns.items():
        fields += [{"field": f"{prefix}.{c}", "type": "number", "ops": list(NUMBER_OPS), "choices": []}
                   for c in columns]  # fmt: skip
    return fields
