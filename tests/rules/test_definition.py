"""The rule format on its own: operators, missing fields, templates, geofence geometry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patron.core.errors import Invalid
from patron.rules.definition import compile_rule, plan
from patron.rules.geo import Circle, Polygon, distance_m
from patron.rules.plan import FenceIndex

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Event:
    """The fields of a stored event that conditions read."""

    def __init__(self, props: dict | None = None, **fields) -> None:
        self.org_id, self.id, self.type, self.source = 1, "e1", "telemetry", "http"
        self.device_id = self.customer_id = self.lat = self.lon = None
        self.ts = self.received_at = NOW
        self.props = props or {}
        self.__dict__.update(fields)


def holds(condition: dict, props: dict | None = None, **fields) -> bool:
    rule = compile_rule({"when": {"event_types": "*"}, "conditions": [condition]})
    return rule.test(Event(props, **fields), None)


@pytest.mark.parametrize(
    ("condition", "props", "expected"),
    [
        ({"op": "eq", "value": 5}, {"v": 5}, True),
        ({"op": "eq", "value": 5}, {"v": 5.0}, True),
        ({"op": "eq", "value": 1}, {"v": True}, False),  # true is not 1
        ({"op": "eq", "value": True}, {"v": True}, True),
        ({"op": "eq", "value": "5"}, {"v": 5}, False),  # a text is not a number
        ({"op": "eq", "value": 5}, {"v": None}, False),  # null counts as missing
        ({"op": "ne", "value": 5}, {"v": None}, False),
        ({"op": "ne", "value": "E1"}, {"v": "E2"}, True),
        ({"op": "ne", "value": "E1"}, {}, False),  # missing: false whatever the operator
        ({"op": "gt", "value": 3}, {"v": 3.5}, True),
        ({"op": "gt", "value": 3}, {"v": 3}, False),
        ({"op": "gte", "value": 3}, {"v": 3}, True),
        ({"op": "lt", "value": 0}, {"v": -1}, True),
        ({"op": "lte", "value": 0}, {"v": 0}, True),
        ({"op": "gt", "value": 3}, {"v": "9"}, False),
        ({"op": "gt", "value": 0}, {"v": True}, False),
        ({"op": "gte", "value": 0}, {"v": False}, False),  # a boolean is not a number
        ({"op": "lt", "value": 3}, {}, False),
        ({"op": "lte", "value": 3}, {"v": None}, False),
        ({"op": "lt", "value": 3}, {"v": [1]}, False),
        ({"op": "between", "value": [1, 2]}, {"v": 2}, True),
        ({"op": "between", "value": [1, 2]}, {"v": 2.01}, False),
        ({"op": "in", "value": ["E42", "E51"]}, {"v": "E51"}, True),
        ({"op": "in", "value": ["E42", 7]}, {"v": 7.0}, True),
        ({"op": "in", "value": [1]}, {"v": True}, False),
        ({"op": "not_in", "value": ["E42"]}, {"v": "E1"}, True),
        ({"op": "not_in", "value": ["E42"]}, {}, False),
        ({"op": "exists"}, {"v": 0}, True),
        ({"op": "exists", "value": False}, {}, True),
        ({"op": "exists", "value": False}, {"v": None}, True),
        ({"op": "contains", "value": "oil"}, {"v": "low oil pressure"}, True),
        ({"op": "contains", "value": "E4"}, {"v": ["E42", "E4"]}, True),
        ({"op": "contains", "value": 4}, {"v": [1, 2]}, False),
        ({"op": "contains", "value": "x"}, {"v": 5}, False),
    ],
)
def test_operators(condition, props, expected):
    assert holds({"field": "props.v", **condition}, props) is expected


def test_null_is_no_value_to_compare_with():
    for condition, path in [
        ({"op": "eq", "value": None}, "definition.conditions[0].value"),
        ({"op": "in", "value": ["a", None]}, "definition.conditions[0].value[1]"),
    ]:
        with pytest.raises(Invalid) as caught:
            holds({"field": "props.v", **condition})
        assert caught.value.field == path


def test_fields_of_the_event_and_nested_props():
    assert holds({"field": "type", "op": "eq", "value": "telemetry"})
    assert holds({"field": "props.engine.temp", "op": "gt", "value": 90}, {"engine": {"temp": 95}})
    assert not holds({"field": "props.engine.temp", "op": "gt", "value": 90}, {"engine": 95})
    assert holds({"field": "device_id", "op": "in", "value": [3, 4]}, device_id=4)
    assert not holds({"field": "lat", "op": "exists"})
    assert not holds({"field": "customer.attributes.tier", "op": "eq", "value": "gold"}, customer_id=None)


def test_groups_nest_and_cheap_conditions_run_first():
    asked: list[str] = []

    class Facts:
        def customer(self, org_id, customer_id):
            asked.append("customer")
            return None

    rule = compile_rule(
        {
            "when": {"event_types": "*"},
            "conditions": [
                {"field": "customer.tags", "op": "contains", "value": "vip"},
                {"field": "props.speed", "op": "gt", "value": 100},
            ],
        }
    )
    assert rule.test(Event({"speed": 50}, customer_id=3), Facts()) is False
    assert asked == []  # the event's own field failed first: no customer look-up
    rule = compile_rule(
        {
            "when": {"event_types": "*"},
            "conditions": {
                "any": [
                    {"not": {"field": "props.a", "op": "exists"}},
                    {
                        "all": [
                            {"field": "props.a", "op": "gt", "value": 1},
                            {"field": "props.b", "op": "eq", "value": "x"},
                        ]
                    },
                ]
            },
        }
    )
    assert rule.test(Event({}), None)
    assert rule.test(Event({"a": 2, "b": "x"}), None)
    assert not rule.test(Event({"a": 2, "b": "y"}), None)


def test_templates_render_what_is_known_and_leave_out_the_rest():
    rule = compile_rule(
        {
            "when": {"event_types": "fault"},
            "actions": [
                {
                    "type": "open_ticket",
                    "subject": "{event.type} {props.code}{props.missing} at {event.ts} by {rule.name}",
                }
            ],
        }
    )
    context = {"event": Event({"code": "E42"}, type="fault"), "facts": None, "rule": {"name": "R"}}
    assert plan(rule.actions[0], context)["subject"] == f"fault E42 at {NOW.isoformat()} by R"


def test_event_types_and_families():
    rule = compile_rule({"when": {"event_types": ["trip.*", "fault"]}})
    assert [rule.matches_type(t) for t in ("trip.end", "trip", "fault", "faults")] == [
        True,
        False,
        True,
        False,
    ]
    assert compile_rule({"when": {"event_types": "*"}}).matches_type("anything")


def test_limits():
    too_many = [{"field": "props.a", "op": "exists"}] * 51
    with pytest.raises(Invalid) as caught:
        compile_rule({"when": {"event_types": "*"}, "conditions": too_many})
    assert caught.value.field == "definition.conditions"
    deep: dict = {"field": "props.a", "op": "exists"}
    for _ in range(6):
        deep = {"not": deep}
    with pytest.raises(Invalid) as caught:
        compile_rule({"when": {"event_types": "*"}, "conditions": deep})
    assert caught.value.field.startswith("definition.conditions.not")
    with pytest.raises(Invalid) as caught:
        compile_rule({"when": {"event_types": "*"}, "actions": [{"type": "flag", "name": "x"}] * 11})
    assert caught.value.field == "definition.actions"


def test_distances_and_shapes():
    # Berlin Hauptbahnhof to Paris Gare du Nord: about 878 km on the sphere
    assert distance_m(52.5251, 13.3694, 48.8809, 2.3553) == pytest.approx(878_000, rel=0.01)
    shop = Circle(52.52, 13.405, 100)
    assert shop.contains(52.5208, 13.405) and not shop.contains(52.5210, 13.405)  # 89 m in, 111 m out
    concave = Polygon(((0, 0), (0, 4), (4, 4), (4, 3), (1, 3), (1, 0)))  # an L shape
    assert concave.contains(0.5, 0.5) and concave.contains(3.5, 3.5)
    assert not concave.contains(2, 1) and not concave.contains(5, 5)


def test_the_fence_grid_finds_nearby_fences_only():
    def fence(rule_id: int, circle: dict):
        return compile_rule(
            {"when": {"event_types": "*"}, "geofence": {"name": str(rule_id), "circle": circle}},
            rule_id=rule_id,
        )

    small = fence(1, {"lat": 52.52, "lon": 13.405, "radius_m": 100})
    huge = fence(2, {"lat": 51.0, "lon": 10.0, "radius_m": 900_000})
    polar = fence(3, {"lat": 89.99, "lon": 0.0, "radius_m": 5_000})
    index = FenceIndex([small, huge, polar])
    assert {r.id for r in index.near(52.5201, 13.4051)} == {1, 2, 3}
    assert {r.id for r in index.near(48.0, 2.0)} == {2, 3}


def test_quiet_subjects_are_swept_from_memory():
    from datetime import timedelta

    from patron.events.store import StoredEvent
    from patron.rules.evaluator import Evaluator

    rule = compile_rule(
        {
            "when": {"event_types": "x"},
            "window": {"minutes": 5, "op": "gte", "value": 2},
            "cooldown_minutes": 1,
        },
        rule_id=1,
    )
    evaluator = Evaluator(None)
    first, second = (
        StoredEvent(i, 1, str(i), 5, None, "x", NOW, NOW, "http", None, None, {}) for i in (1, 2)
    )
    assert evaluator.on_event(rule, first) is None
    assert evaluator.on_event(rule, second).reason == "x: events over 5 min per device = 2 (gte 2)"
    evaluator.sweep(NOW + timedelta(minutes=2), {1: rule})
    assert (len(evaluator.windows), len(evaluator.cooldowns)) == (1, 0)  # cooled down, window still live
    evaluator.sweep(NOW + timedelta(minutes=6), {1: rule})
    assert evaluator.windows == {}


@pytest.mark.parametrize(
    ("group", "props", "expected"),
    [
        ("all", {"a": 1, "b": 1, "c": 1}, True),
        ("all", {"a": 1, "b": 0, "c": 1}, False),
        ("all", {"a": 1, "b": 1}, False),
        ("any", {"a": 0, "b": 0, "c": 1}, True),
        ("any", {}, False),
    ],
)
def test_groups_of_three(group, props, expected):
    conditions = [{"field": f"props.{name}", "op": "gte", "value": 1} for name in "abc"]
    rule = compile_rule({"when": {"event_types": "*"}, "conditions": {group: conditions}})
    assert rule.test(Event(props), None) is expected


def test_a_group_of_two_stops_at_the_first_that_fails():
    rule = compile_rule(
        {
            "when": {"event_types": "*"},
            "conditions": [
                {"field": "customer.email", "op": "eq", "value": "a@example.com"},  # a look-up: runs last
                {"field": "props.speed", "op": "gt", "value": 100},
            ],
        }
    )

    class Facts:
        asked: list[int] = []

        def customer(self, org_id, customer_id):
            self.asked.append(customer_id)
            return None

    facts = Facts()
    assert not rule.test(Event({"speed": 50}, customer_id=5), facts)
    assert facts.asked == []
    assert not rule.test(Event({"speed": 150}, customer_id=5), facts)
    assert facts.asked == [5]
