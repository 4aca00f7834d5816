"""Contests through the API: the seed's hash published at the opening and the seed only after the draw,
opt-in and earned entries, eligibility, a draw that anyone can verify, prizes paid once, and refusals
(bad input, wrong status, other tenants, roles)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from patron.contests import draw as draw_algorithm
from patron.contests.models import Contest, ContestEntry
from patron.core.audit import AuditEntry
from patron.loyalty.models import PointsEntry

from .conftest import iso, problem


def opened(api, **fields) -> dict:
    contest = api.contest(**fields)
    return api.ok("post", f"/contests/{contest['id']}/open")


def test_the_seed_is_committed_at_the_opening_and_revealed_at_the_draw(api):
    draft = api.contest()
    assert draft["status"] == "draft" and draft["seed_hash"] is None and draft["seed"] is None
    contest = api.ok("post", f"/contests/{draft['id']}/open")
    assert contest["status"] == "open" and len(contest["seed_hash"]) == 64 and contest["seed"] is None
    customers = [api.customer(first_name=f"C{i}", birth_year=1990) for i in range(5)]
    for customer_id in customers:
        entry = api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": customer_id})
        assert entry == entry | {"customer_id": customer_id, "count": 1, "source": "opt_in"}
    assert api.ok("get", f"/contests/{contest['id']}")["seed"] is None  # still secret
    api.ok("post", f"/contests/{contest['id']}/close")
    result = api.ok("post", f"/contests/{contest['id']}/draw")
    # what was published before the draw is the SHA-256 of the seed revealed after it
    assert hashlib.sha256(bytes.fromhex(result["seed"])).hexdigest() == contest["seed_hash"]
    assert result["entries"] == [[c, 1] for c in sorted(customers)]
    winners = [w["customer_id"] for w in result["winners"]]
    assert len(winners) == 3 and len(set(winners)) == 3 and set(winners) <= set(customers)
    assert [w["points"] for w in result["winners"]] == [500, 100, 100]
    # an outside re-run from the published seed and entries gives the same winners
    entries = [tuple(e) for e in result["entries"]]
    assert draw_algorithm.draw_winners(result["seed"], entries, 3) == winners
    assert draw_algorithm.entries_hash(entries) == result["entries_hash"]
    verification = api.ok("get", f"/contests/{contest['id']}/draw/verify")
    assert verification["ok"] and verification["recomputed_winners"] == winners
    assert verification["published_winners"] == winners
    # the prizes' points are on the winners' balances
    assert [api.balance(c) for c in winners] == [500, 100, 100]
    assert sum(api.balance(c) for c in customers) == 700
    assert api.ok("get", f"/contests/{contest['id']}/draw") == result


def test_the_audit_log_never_shows_the_seed(api, db):
    contest = opened(api)
    api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": api.customer()})
    api.ok("post", f"/contests/{contest['id']}/close")
    seed = api.ok("post", f"/contests/{contest['id']}/draw")["seed"]
    with db() as session:
        logged = session.scalars(select(AuditEntry).where(AuditEntry.entity == "contests")).all()
    assert logged and any((e.after or {}).get("secret_seed") == "***" for e in logged)
    assert all(seed not in json.dumps([e.before, e.after]) for e in logged)


def test_drawing_again_is_refused_and_pays_nothing_more(api, db, tenant):
    contest = opened(api)
    for _ in range(4):
        api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": api.customer()})
    api.ok("post", f"/contests/{contest['id']}/close")
    api.ok("post", f"/contests/{contest['id']}/draw")
    problem(api.post(f"/contests/{contest['id']}/draw"), 409, "status")
    with db() as session:
        assert (
            session.scalar(select(func.count(PointsEntry.id)).where(PointsEntry.org_id == tenant.org_id)) == 3
        )


def test_a_tampered_entry_list_fails_verification(api, db, tenant):
    contest = opened(api)
    customers = [api.customer() for _ in range(4)]
    for customer_id in customers:
        api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": customer_id})
    api.ok("post", f"/contests/{contest['id']}/close")
    api.ok("post", f"/contests/{contest['id']}/draw")
    with db() as session:  # someone edits the stored entry list after the draw
        row = session.get(Contest, contest["id"])
        row.drawn_entries = [[c, 5 if i == 0 else 1] for i, c in enumerate(sorted(customers))]
        session.commit()
    verification = api.ok("get", f"/contests/{contest['id']}/draw/verify")
    assert not verification["ok"] and not verification["entries_hash_matches"]


def test_earned_entries_one_per_paid_order_in_the_window_with_a_cap(api):
    api.product()
    now = datetime.now(UTC)
    rider, casual, late, unpaid = (api.customer(first_name=n) for n in ("Rider", "Casual", "Late", "Unpaid"))
    contest = opened(api, entry_rule="per_order", max_entries_per_customer=3,
                     opens_at=iso(now - timedelta(days=3)), closes_at=iso(now + timedelta(days=3)))  # fmt: skip
    for _ in range(5):
        api.order(rider, at=now - timedelta(hours=1))
    api.order(casual, at=now - timedelta(hours=2))
    api.order(casual, status="cancelled", at=now - timedelta(hours=2))
    api.order(late, at=now - timedelta(days=10))  # before the window
    api.order(unpaid, status="pending", at=now - timedelta(hours=1))
    # customers cannot opt in to an earned-entries contest
    problem(api.post(f"/contests/{contest['id']}/entries", json={"customer_id": late}), 409, "customer_id")
    counted = api.ok("post", f"/contests/{contest['id']}/entries/count")
    assert (counted["entrants"], counted["entries"]) == (2, 4)
    entries = api.ok("get", f"/contests/{contest['id']}/entries")["items"]
    assert {e["customer_id"]: e["count"] for e in entries} == {rider: 3, casual: 1}
    api.ok("post", f"/contests/{contest['id']}/close")
    result = api.ok("post", f"/contests/{contest['id']}/draw")
    assert sorted(map(tuple, result["entries"])) == sorted([(rider, 3), (casual, 1)])
    assert sorted(w["customer_id"] for w in result["winners"]) == sorted([rider, casual])


def test_earned_entries_one_per_n_points(api):
    customers = [api.customer() for _ in range(3)]
    contest = opened(api, entry_rule="per_points", points_per_entry=100)
    for customer_id, points in zip(customers, (250, 99, 100), strict=True):
        api.ok("post", f"/customers/{customer_id}/points", 201, json={"points": points})
    api.ok("post", f"/contests/{contest['id']}/entries/count")
    entries = api.ok("get", f"/contests/{contest['id']}/entries")["items"]
    assert {e["customer_id"]: e["count"] for e in entries} == {customers[0]: 2, customers[2]: 1}


def test_earned_entries_one_per_survey_answered(api):
    survey = api.ok("post", "/surveys", 201, json={"name": "Ride feedback", "template": "nps"})
    api.ok("post", f"/surveys/{survey['id']}/status", json={"status": "open"})
    keen, once, anonymous_only = (api.customer() for _ in range(3))
    contest = opened(api, entry_rule="per_survey")
    for customer_id, score in ((keen, 9), (keen, 10), (once, 6), (None, 3)):
        body = {"answers": {"nps": score}} | ({"customer_id": customer_id} if customer_id else {})
        api.ok("post", f"/surveys/{survey['id']}/responses", 201, json=body)
    api.ok("post", f"/contests/{contest['id']}/entries/count")
    entries = api.ok("get", f"/contests/{contest['id']}/entries")["items"]
    assert {e["customer_id"]: (e["count"], e["source"]) for e in entries} == {
        keen: (2, "per_survey"), once: (1, "per_survey")}  # fmt: skip
    assert anonymous_only not in {e["customer_id"] for e in entries}


def test_eligibility_age_and_consent(api):
    year = datetime.now(UTC).year
    contest = opened(api, consent_channel="email", min_age=18)
    adult = api.customer(birth_year=year - 30, consents=("email",))
    minor = api.customer(birth_year=year - 16, consents=("email",))
    unknown_age = api.customer(consents=("email",))
    no_consent = api.customer(birth_year=year - 30)
    api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": adult})
    api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": unknown_age})
    assert "under 18" in problem(api.post(f"/contests/{contest['id']}/entries", json={"customer_id": minor}),
                                 422, "customer_id")["detail"]  # fmt: skip
    assert "consent" in problem(api.post(f"/contests/{contest['id']}/entries", json={"customer_id": no_consent}),
                                422, "customer_id")["detail"]  # fmt: skip
    problem(api.post(f"/contests/{contest['id']}/entries", json={"customer_id": adult}), 409, "customer_id")
    # consent withdrawn before the draw: left out of the draw's entry list
    api.ok("post", f"/customers/{adult}/consents", 201,
           json={"channel": "email", "granted": False, "source": "web_form"})  # fmt: skip
    api.ok("post", f"/contests/{contest['id']}/close")
    result = api.ok("post", f"/contests/{contest['id']}/draw")
    assert result["entries"] == [[unknown_age, 1]]
    assert [w["customer_id"] for w in result["winners"]] == [unknown_age]


def test_status_and_window_rules(api):
    draft = api.contest()
    customer = api.customer()
    problem(api.post(f"/contests/{draft['id']}/entries", json={"customer_id": customer}), 409, "status")
    problem(api.post(f"/contests/{draft['id']}/draw"), 409, "status")
    problem(api.get(f"/contests/{draft['id']}/draw/verify"), 409, "status")
    later = api.contest(opens_at=iso(datetime.now(UTC) + timedelta(days=1)),
                        closes_at=iso(datetime.now(UTC) + timedelta(days=2)))  # fmt: skip
    api.ok("post", f"/contests/{later['id']}/open")
    problem(api.post(f"/contests/{later['id']}/entries", json={"customer_id": customer}), 409, "status")
    open_one = opened(api)
    problem(api.post(f"/contests/{open_one['id']}/draw"), 409, "status")  # still taking entries
    problem(api.post(f"/contests/{open_one['id']}/open"), 409, "status")


def test_bad_input_names_the_field_and_writes_nothing(api, db, tenant):
    now = datetime.now(UTC)
    good = {"name": "Lottery", "opens_at": iso(now), "closes_at": iso(now + timedelta(days=1)),
            "prizes": [{"name": "A prize"}]}  # fmt: skip
    cases = [
        ({"name": ""}, "name"),
        ({"closes_at": iso(now - timedelta(days=1))}, "closes_at"),
        ({"opens_at": "2026-05-01T10:00:00"}, "opens_at"),
        ({"prizes": []}, "prizes"),
        ({"prizes": [{"name": "X", "quantity": 0}]}, "prizes.0.quantity"),
        ({"prizes": [{"name": "X", "points": -1}]}, "prizes.0.points"),
        ({"entry_rule": "per_points"}, "points_per_entry"),
        ({"entry_rule": "raffle"}, "entry_rule"),
        ({"consent_channel": "fax"}, "consent_channel"),
        ({"min_age": 200}, "min_age"),
        ({"surprise": 1}, "surprise"),
    ]
    for change, field in cases:
        problem(api.post("/contests", json=good | change), 422, field)
    problem(api.client.post("/api/v1/contests", content=b"{", headers=api.tenant.headers
                            | {"content-type": "application/json"}), 400)  # fmt: skip
    contest = opened(api)
    problem(api.post(f"/contests/{contest['id']}/entries", json={"customer_id": "x"}), 422, "customer_id")
    problem(api.post(f"/contests/{contest['id']}/entries", json={"customer_id": 999999}), 404, "customer_id")
    with db() as session:
        assert session.scalar(select(func.count(Contest.id)).where(Contest.org_id == tenant.org_id)) == 1
        assert session.scalar(select(func.count(ContestEntry.id))) == 0


def test_other_tenants_get_404_and_roles_are_checked(api, other_api, role_api):
    contest = opened(api)
    customer = api.customer()
    api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": customer})
    for method, path in (("get", f"/contests/{contest['id']}"), ("get", f"/contests/{contest['id']}/entries"),
                         ("post", f"/contests/{contest['id']}/close"), ("post", f"/contests/{contest['id']}/draw"),
                         ("get", f"/contests/{contest['id']}/draw/verify")):  # fmt: skip
        problem(getattr(other_api, method)(path), 404, "contest_id")
    other_contest = opened(other_api)
    problem(other_api.post(f"/contests/{other_contest['id']}/entries", json={"customer_id": customer}), 404,
            "customer_id")  # fmt: skip
    assert other_api.ok("get", "/contests")["total"] == 1
    viewer = role_api("viewer")
    assert viewer.ok("get", f"/contests/{contest['id']}")["entrants"] == 1
    problem(viewer.post("/contests", json={}), 403)
    problem(viewer.post(f"/contests/{contest['id']}/entries", json={"customer_id": customer}), 403)
    agent = role_api("agent")
    problem(agent.post(f"/contests/{contest['id']}/draw"), 403)
    problem(agent.post(f"/contests/{contest['id']}/close"), 403)
