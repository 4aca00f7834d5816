"""Rule segments through the API: every condition kind on a hand-made set of customers, refreshes that keep a
membership history, sizes, the CSV export, bad definitions, tenant isolation and permissions."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from patron.core.audit import AuditEntry
from patron.segments.models import Segment, SegmentMembership
from tests.segments.conftest import SEGMENTS, created, post


def cond(field, op, value=None) -> dict:
    return {"field": field, "op": op} | ({} if value is None else {"value": value})


CASES = [
    (cond("gender", "eq", "female"), ("ana", "cleo")),
    (cond("gender", "ne", "female"), ("ben",)),
    (cond("income_band", "in", ["high", "middle"]), ("ana", "cleo")),
    (cond("income_band", "not_in", ["high"]), ("ben", "cleo")),
    (cond("city", "is_set"), ("ana", "ben")),
    (cond("city", "not_set"), ("cleo",)),
    (cond("country", "eq", "de"), ("ana",)),
    (cond("birth_year", "lt", 1980), ("ben",)),
    (cond("birth_year", "gte", 1980), ("ana",)),
    (cond("birth_year", "not_set"), ("cleo",)),
    (cond("tags", "contains", "VIP"), ("ana", "cleo")),
    (cond("tags", "not_contains", "vip"), ("ben",)),
    (cond("attribute.plan", "gte", 2), ("ana",)),
    (cond("attribute.plan", "lt", 2), ("ben",)),
    (cond("attribute.plan", "not_set"), ("cleo",)),
    (cond("consent.email", "eq", True), ("ana",)),
    (cond("consent.email", "eq", False), ("ben", "cleo")),
    (cond("device.type", "has", "vehicle"), ("ana",)),
    (cond("device.type", "has_not", "vehicle"), ("ben", "cleo")),
    (cond("device.last_seen_days", "lte", 7), ("ana",)),
    (cond("device.last_seen_days", "gt", 30), ("ben",)),
    (cond("created_at", "within_days", 1), ("ana", "ben", "cleo")),
    (cond("created_at", "before", "2000-01-01"), ()),
    (cond("created_at", "after", "2000-01-01"), ("ana", "ben", "cleo")),
    ({"any": [cond("gender", "eq", "male"), cond("tags", "contains", "vip")]}, ("ana", "ben", "cleo")),
    ({"all": [cond("gender", "eq", "female"),
              {"any": [cond("consent.email", "eq", True), cond("tags", "contains", "churn-risk")]}]}, ("ana", "cleo")),
]  # fmt: skip


def wrap(definition: dict) -> dict:
    return definition if "all" in definition or "any" in definition else {"all": [definition]}


def test_each_condition_kind_picks_the_planted_customers(client, tenant, people):
    for definition, expected in CASES:
        body = {"definition": wrap(definition), "limit": 50}
        preview = created(post(client, tenant, f"{SEGMENTS}/preview", body))
        assert sorted(m["customer_id"] for m in preview["members"]) == people.ids(*expected), definition
        assert preview["count"] == len(expected), definition
        assert created(post(client, tenant, f"{SEGMENTS}/count", body))["count"] == len(expected), definition


def test_prediction_conditions(client, db, tenant, people):
    from patron.core.db import session_scope
    from patron.predictions.models import CustomerPrediction

    with session_scope(db) as session:  # derived rows, written in bulk by a predictions run
        session.add_all([
            CustomerPrediction(org_id=tenant.org_id, customer_id=people.ana, clv=512.0, p_alive=0.31, churn_risk=0.82,
                               sentiment_trend="falling"),
            CustomerPrediction(org_id=tenant.org_id, customer_id=people.ben, clv=48.5, p_alive=0.97, churn_risk=0.12,
                               sentiment_trend="rising"),
        ])  # fmt: skip
    for definition, expected in (
        (cond("prediction.churn_risk", "gte", 0.5), ("ana",)),
        (cond("prediction.clv", "lt", 100), ("ben",)),
        (cond("prediction.churn_risk", "not_set"), ("cleo",)),
        (cond("prediction.sentiment_trend", "eq", "falling"), ("ana",)),
        (cond("prediction.sentiment_trend", "ne", "falling"), ("ben", "cleo")),
    ):
        preview = created(post(client, tenant, f"{SEGMENTS}/preview", {"definition": wrap(definition)}))
        assert sorted(m["customer_id"] for m in preview["members"]) == people.ids(*expected), definition
    bad = post(
        client, tenant, f"{SEGMENTS}/count", {"definition": wrap(cond("prediction.lifetime", "gt", 1))}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "definition.all[0].field"
    trend = post(
        client,
        tenant,
        f"{SEGMENTS}/count",
        {"definition": wrap(cond("prediction.sentiment_trend", "eq", "up"))},
    )
    assert trend.status_code == 422 and trend.json()["field"] == "definition.all[0].value"


def test_owner_condition(client, tenant, people):
    body = {"definition": {"all": [cond("owner_id", "eq", tenant.user_id)]}}
    assert created(post(client, tenant, f"{SEGMENTS}/preview", body))["members"] == [
        {"customer_id": people.ana, "name": "Ana"}]  # fmt: skip


def history_of(client, tenant, segment_id, customer_id) -> list[dict]:
    response = client.get(f"{SEGMENTS}/{segment_id}/history", params={"customer_id": customer_id},
                          headers=tenant.headers)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["items"]


def set_tags(client, tenant, customer_id, tags):
    response = client.patch(f"/api/v1/customers/{customer_id}", json={"tags": tags}, headers=tenant.headers)
    assert response.status_code == 200, response.text


def test_refresh_keeps_a_history_of_leaving_and_joining_again(client, db, tenant, people):
    segment = created(
        post(client, tenant, SEGMENTS, {"name": "VIPs", "definition": wrap(cond("tags", "contains", "vip"))})
    )
    assert segment["size"] == 2 and segment["kind"] == "rule"
    set_tags(client, tenant, people.ana, [])
    refreshed = created(post(client, tenant, f"{SEGMENTS}/{segment['id']}/refresh", {}))
    assert (refreshed["size"], refreshed["joined"], refreshed["left"]) == (1, 0, 1)
    assert history_of(client, tenant, segment["id"], people.ana)[0]["left_at"] is not None
    set_tags(client, tenant, people.ana, ["vip"])
    assert created(post(client, tenant, f"{SEGMENTS}/{segment['id']}/refresh", {}))["joined"] == 1
    rows = history_of(client, tenant, segment["id"], people.ana)
    assert len(rows) == 2  # two periods: the first closed, the second open
    assert rows[0]["left_at"] is None and rows[1]["left_at"] is not None
    assert rows[1]["left_at"] <= rows[0]["joined_at"]
    sizes = client.get(f"{SEGMENTS}/{segment['id']}/sizes", headers=tenant.headers).json()
    assert [(s["size"], s["joined"], s["left"]) for s in sizes] == [(2, 2, 0), (1, 0, 1), (2, 1, 0)]
    members = client.get(f"{SEGMENTS}/{segment['id']}/members", headers=tenant.headers).json()
    assert [m["customer_id"] for m in members["items"]] == people.ids("ana", "cleo") and members["total"] == 2

    exported = client.get(f"{SEGMENTS}/{segment['id']}/members.csv", headers=tenant.headers)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(int(r["customer_id"]), r["name"]) for r in rows] == [(people.ana, "Ana"), (people.cleo, "Cleo")]
    with db() as session:
        logged = session.scalars(select(AuditEntry).where(AuditEntry.entity == "segment_members")).all()
    assert [(e.action, e.entity_id, e.after["size"]) for e in logged] == [("export", str(segment["id"]), 2)]


def test_changing_the_definition_applies_it_and_renaming_checks_the_name(client, tenant, people):
    first = created(
        post(client, tenant, SEGMENTS, {"name": "Women", "definition": wrap(cond("gender", "eq", "female"))})
    )
    created(post(client, tenant, SEGMENTS, {"name": "Men", "definition": wrap(cond("gender", "eq", "male"))}))
    changed = client.patch(f"{SEGMENTS}/{first['id']}", json={"definition": wrap(cond("city", "eq", "Berlin"))},
                           headers=tenant.headers)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["size"] == 1
    taken = client.patch(f"{SEGMENTS}/{first['id']}", json={"name": "Men"}, headers=tenant.headers)
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    again = post(client, tenant, SEGMENTS, {"name": "Men", "definition": wrap(cond("gender", "eq", "male"))})
    assert again.status_code == 409
    listed = client.get(SEGMENTS, headers=tenant.headers).json()
    assert [(s["name"], s["size"]) for s in listed["items"]] == [("Men", 1), ("Women", 1)]
    assert client.delete(f"{SEGMENTS}/{first['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"{SEGMENTS}/{first['id']}", headers=tenant.headers).status_code == 404


BAD = [
    ({"all": [cond("shoe_size", "eq", 42)]}, "definition.all[0].field"),
    ({"all": [cond("gender", "eq", "female"), cond("gender", "lt", "female")]}, "definition.all[1].op"),
    ({"all": [cond("gender", "eq", "robot")]}, "definition.all[0].value"),
    ({"all": [cond("birth_year", "gt", "old")]}, "definition.all[0].value"),
    ({"all": [cond("attribute.colour", "eq", "red")]}, "definition.all[0].field"),
    ({"all": [cond("consent.email", "eq", "yes")]}, "definition.all[0].value"),
    ({"all": [cond("created_at", "before", "yesterday")]}, "definition.all[0].value"),
    ({"all": [cond("income_band", "in", [])]}, "definition.all[0].value"),
    ({"all": [cond("city", "is_set", "Berlin")]}, "definition.all[0].value"),
    ({"all": [{"field": "city", "op": "eq", "value": "x", "colour": 1}]}, "definition.all[0].colour"),
    ({"any": [{"all": [{"any": [{"all": [cond("city", "is_set")]}]}]}]}, "definition.any[0].all[0].any[0]"),
    ({"all": []}, "definition.all"),
    ({"some": [cond("city", "is_set")]}, "definition"),
    ({"all": [cond("feature.recency_days", "lt", "soon")]}, "definition.all[0].value"),
]  # fmt: skip


def test_bad_definitions_name_the_path_and_write_nothing(client, db, tenant, people):
    for definition, field in BAD:
        for path in (SEGMENTS, f"{SEGMENTS}/count"):
            body = {"definition": definition} | ({"name": "Bad"} if path == SEGMENTS else {})
            response = post(client, tenant, path, body)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["field"] == field, (definition, response.json())
    with db() as session:
        assert session.scalar(select(func.count(Segment.id))) == 0
        assert session.scalar(select(func.count(SegmentMembership.id))) == 0


def test_bad_bodies_are_refused(client, tenant, people):
    for body, field in (({"name": "", "definition": {"all": [cond("city", "is_set")]}}, "name"),
                        ({"name": "x" * 121, "definition": {"all": [cond("city", "is_set")]}}, "name"),
                        ({"name": "A", "definition": "city is set"}, "definition"),
                        ({"name": "A", "definition": {"all": [cond("city", "is_set")]}, "status": "gone"}, "status")):  # fmt: skip
        response = post(client, tenant, SEGMENTS, body)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    assert client.get(SEGMENTS, headers=tenant.headers).json()["total"] == 0


def test_another_organisation_sees_neither_the_segment_nor_the_customers(
    client, tenant, other_tenant, people
):
    segment = created(
        post(client, tenant, SEGMENTS, {"name": "Women", "definition": wrap(cond("gender", "eq", "female"))})
    )
    sid = segment["id"]
    for method, path in (("get", f"{SEGMENTS}/{sid}"), ("patch", f"{SEGMENTS}/{sid}"), ("delete", f"{SEGMENTS}/{sid}"),
                         ("post", f"{SEGMENTS}/{sid}/refresh"), ("post", f"{SEGMENTS}/{sid}/preview"),
                         ("get", f"{SEGMENTS}/{sid}/members"), ("get", f"{SEGMENTS}/{sid}/members.csv"),
                         ("get", f"{SEGMENTS}/{sid}/sizes"), ("get", f"{SEGMENTS}/{sid}/history")):  # fmt: skip
        kwargs = {"json": {"name": "Mine"}} if method == "patch" else {}
        response = getattr(client, method)(path, headers=other_tenant.headers, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
    theirs = created(
        post(
            client, other_tenant, f"{SEGMENTS}/preview", {"definition": wrap(cond("gender", "eq", "female"))}
        )
    )
    assert theirs["members"] == [{"customer_id": people.globex, "name": "Gloria"}]
    assert client.get(SEGMENTS, headers=other_tenant.headers).json()["total"] == 0
    assert client.get(f"{SEGMENTS}/{sid}", headers=tenant.headers).json()["size"] == 2


def test_permissions(client, make_tenant, tenant, people):
    segment = created(
        post(client, tenant, SEGMENTS, {"name": "Women", "definition": wrap(cond("gender", "eq", "female"))})
    )
    body = {"name": "Men", "definition": wrap(cond("gender", "eq", "male"))}
    viewer, agent, analyst = (make_tenant("Acme", role=r) for r in ("viewer", "agent", "analyst"))
    assert client.get(f"{SEGMENTS}/{segment['id']}", headers=viewer.headers).status_code == 200
    assert post(client, viewer, f"{SEGMENTS}/count", {"definition": body["definition"]}).status_code == 200
    for who in (viewer, agent):
        assert post(client, who, SEGMENTS, body).status_code == 403
        assert post(client, who, f"{SEGMENTS}/{segment['id']}/refresh", {}).status_code == 403
        assert client.delete(f"{SEGMENTS}/{segment['id']}", headers=who.headers).status_code == 403
    # the member list leaves the system as a file only for those who may export customers
    assert client.get(f"{SEGMENTS}/{segment['id']}/members.csv", headers=viewer.headers).status_code == 403
    assert post(client, analyst, SEGMENTS, body).status_code == 201


def test_erasure_merge_and_privacy_export_reach_the_memberships(client, tenant, people):
    segment = created(
        post(client, tenant, SEGMENTS, {"name": "VIPs", "definition": wrap(cond("tags", "contains", "vip"))})
    )
    exported = client.get(f"/api/v1/customers/{people.ana}/privacy-export", headers=tenant.headers).json()
    assert [m["segment"] for m in exported["related"]["segments"]["segment_memberships"]] == ["VIPs"]
    merged = client.post(f"/api/v1/customers/{people.ben}/merge", json={"duplicate_id": people.cleo},
                         headers=tenant.headers)  # fmt: skip
    assert merged.status_code == 200, merged.text
    rows = history_of(client, tenant, segment["id"], people.ben)  # cleo's period, now ben's, closed
    assert len(rows) == 1 and rows[0]["left_at"] is not None
    assert created(post(client, tenant, f"/api/v1/customers/{people.ana}/erase", {}))
    members = client.get(f"{SEGMENTS}/{segment['id']}/members", headers=tenant.headers).json()
    assert members["total"] == 0
    # the merge brought cleo's tags to ben, so the next refresh opens a new period for ben, and only for him
    refreshed = created(post(client, tenant, f"{SEGMENTS}/{segment['id']}/refresh", {}))
    assert (refreshed["size"], refreshed["joined"]) == (1, 1)
    assert [r["left_at"] is None for r in history_of(client, tenant, segment["id"], people.ben)] == [
        True,
        False,
    ]


def test_the_scheduler_refreshes_rule_segments_an_hour_old(client, db, tenant, people):
    from datetime import timedelta

    from patron.core.db import utcnow
    from patron.jobs.scheduler import run_once

    segment = created(
        post(client, tenant, SEGMENTS, {"name": "VIPs", "definition": wrap(cond("tags", "contains", "vip"))})
    )
    paused = created(post(client, tenant, SEGMENTS, {"name": "Paused", "status": "paused",
                                                     "definition": wrap(cond("tags", "contains", "vip"))}))  # fmt: skip
    set_tags(client, tenant, people.ben, ["vip"])
    now = utcnow()
    assert run_once(db, now=now + timedelta(minutes=30))["segment-refresh"] == 0  # refreshed at creation
    assert run_once(db, now=now + timedelta(minutes=61))["segment-refresh"] == 1  # the active one only
    after = client.get(f"{SEGMENTS}/{segment['id']}", headers=tenant.headers).json()
    assert after["size"] == 3
    assert client.get(f"{SEGMENTS}/{paused['id']}", headers=tenant.headers).json()["size"] == 2
    sizes = client.get(f"{SEGMENTS}/{segment['id']}/sizes", headers=tenant.headers).json()
    assert [(s["size"], s["joined"]) for s in sizes] == [(2, 2), (3, 1)]


def test_birthday_conditions_find_coming_birthdays_across_the_new_year_and_the_leap_day(client, db, tenant):
    """A window that crosses 31 December, a leap-day birthday in a year without one, the month, a known date."""
    from datetime import UTC, date, datetime

    from patron.core.db import session_scope
    from patron.segments.definition import parse_definition
    from patron.segments.evaluate import Evaluator, birthday_keys

    def customer(name: str, born: str | None) -> int:
        body = {"first_name": name} | ({"birth_date": born} if born else {})
        return created(post(client, tenant, "/api/v1/customers", body))["id"]

    eve = customer("Eve", "1990-12-31")  # birthday 3 days after 28 December
    jan = customer("Jan", "1985-01-02")  # 5 days after, in the new year
    leap = customer("Leap", "2000-02-29")
    june = customer("June", "1970-06-15")
    customer("Nobody", None)
    assert birthday_keys(date(2025, 2, 27), 1) == [227, 228, 229]  # 2025 has no 29 February
    assert birthday_keys(date(2024, 2, 27), 1) == [227, 228]  # 2024 has one: the 29th is the day itself

    def members(condition: dict, now: datetime) -> set[int]:
        with session_scope(db) as session:
            evaluator = Evaluator(session, org_id=tenant.org_id, loaders={}, now=now)
            return set(evaluator.members(parse_definition({"all": [condition]}, attribute_types={})))

    december = datetime(2025, 12, 28, 10, tzinfo=UTC)
    assert members(cond("birthday", "within_days", 3), december) == {eve}
    assert members(cond("birthday", "within_days", 5), december) == {eve, jan}
    assert members(cond("birthday", "within_days", 0), datetime(2025, 12, 31, 23, tzinfo=UTC)) == {eve}
    assert members(cond("birthday", "within_days", 0), datetime(2025, 2, 28, 9, tzinfo=UTC)) == {leap}
    assert members(cond("birthday", "within_days", 0), datetime(2024, 2, 28, 9, tzinfo=UTC)) == set()
    assert members(cond("birthday", "within_days", 366), december) == {eve, jan, leap, june}
    assert members(cond("birthday", "in_month", 6), december) == {june}
    assert members(cond("birthday", "is_set", None), december) == {eve, jan, leap, june}

    for bad, path in ((cond("birthday", "within_days", 367), "definition.all[0].value"),
                      (cond("birthday", "in_month", 13), "definition.all[0].value"),
                      (cond("birthday", "in_month", "June"), "definition.all[0].value"),
                      (cond("birthday", "eq", 3), "definition.all[0].op")):  # fmt: skip
        response = post(client, tenant, SEGMENTS, {"name": "Birthdays", "definition": {"all": [bad]}})
        assert (response.status_code, response.json()["field"]) == (422, path), response.text
    live = post(client, tenant, SEGMENTS, {"name": "Birthdays this year",
                                            "definition": {"all": [cond("birthday", "within_days", 366)]}})  # fmt: skip
    assert created(live)["size"] == 4
