"""Games through the API: leaderboards with competition and dense ranks over manual scores, paid orders
and device events (a step challenge), group leaderboards, joining and leaving groups with limits, prizes at
a period's close given once, and the refusals (bad input, other tenants, roles)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from patron.contests.models import Game, GameScore
from tests.devices.support import accepted, send

from .conftest import iso, problem

LAST_MONTH = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).replace(
    day=10, hour=12, minute=0, second=0, microsecond=0
)
LAST_MONTH_KEY = LAST_MONTH.strftime("%Y-%m")


def game(api, **fields) -> dict:
    body = {"name": "Quiz league", "starts_at": iso(LAST_MONTH - timedelta(days=60)), "period": "month",
            "prizes": [{"rank": 1, "points": 300}, {"rank": 2, "points": 100}]} | fields  # fmt: skip
    return api.ok("post", "/games", 201, json=body)


def score(api, game_id: int, customer_id: int, points: int, at: datetime = LAST_MONTH, **fields):
    return api.post(f"/games/{game_id}/scores",
                    json={"customer_id": customer_id, "points": points, "scored_at": iso(at)} | fields)  # fmt: skip


def board(api, game_id: int, period: str = LAST_MONTH_KEY) -> dict:
    return api.ok("get", f"/games/{game_id}/leaderboard", params={"period": period})


def test_competition_and_dense_ranks_with_ties_broken_by_id(api):
    people = [api.customer(first_name=n) for n in ("A", "B", "C", "D", "E")]
    # planted scores: 50, 30, 30, 10 and (E) 10 + 0 in another month
    planted = {people[0]: [20, 30], people[1]: [30], people[2]: [15, 15], people[3]: [10], people[4]: [10]}
    competition = game(api)
    dense = game(api, name="Dense league", rank_method="dense")
    for g in (competition, dense):
        for customer_id, points in planted.items():
            for p in points:
                assert score(api, g["id"], customer_id, p).status_code == 201
        score(api, g["id"], people[4], 99, at=LAST_MONTH - timedelta(days=40))  # an earlier month
    lines = board(api, competition["id"])["customers"]
    assert [(s["rank"], s["id"], s["score"]) for s in lines] == [
        (1, people[0], 50), (2, people[1], 30), (2, people[2], 30), (4, people[3], 10), (4, people[4], 10)]  # fmt: skip
    assert [s["rank"] for s in board(api, dense["id"])["customers"]] == [1, 2, 2, 3, 3]
    earlier = (LAST_MONTH - timedelta(days=40)).strftime("%Y-%m")
    assert [(s["id"], s["score"]) for s in board(api, competition["id"], earlier)["customers"]] == [
        (people[4], 99)
    ]


def test_scores_idempotent_and_refused_outside_the_game(api, db, tenant):
    customer = api.customer()
    g = game(api, ends_at=iso(LAST_MONTH + timedelta(days=5)))
    first = score(api, g["id"], customer, 10, idempotency_key="quiz-7")
    again = score(api, g["id"], customer, 10, idempotency_key="quiz-7")
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    problem(score(api, g["id"], customer, 11, idempotency_key="quiz-7"), 409, "idempotency_key")
    problem(score(api, g["id"], customer, 5, at=LAST_MONTH + timedelta(days=6)), 422, "scored_at")
    problem(score(api, g["id"], customer, 0), 422, "points")
    naive = LAST_MONTH.replace(tzinfo=None).isoformat()
    problem(api.post(f"/games/{g['id']}/scores", json={"customer_id": customer, "points": 5, "scored_at": naive}),
            422, "scored_at")  # fmt: skip
    problem(score(api, g["id"], 999999, 5), 404, "customer_id")
    orders_game = game(api, name="Rides", source="orders")
    problem(score(api, orders_game["id"], customer, 5), 409, "points")
    with db() as session:
        assert session.scalar(select(func.count(GameScore.id)).where(GameScore.org_id == tenant.org_id)) == 1


def test_groups_join_leave_limits_and_group_leaderboard(api):
    people = [api.customer() for _ in range(4)]
    g = game(api, max_group_size=2)
    red = api.ok("post", f"/games/{g['id']}/groups", 201, json={"name": "Red"})
    blue = api.ok("post", f"/games/{g['id']}/groups", 201, json={"name": "Blue"})
    problem(api.post(f"/games/{g['id']}/groups", json={"name": "Red"}), 409, "name")
    members = f"/games/{g['id']}/groups/{red['id']}/members"
    api.ok("post", members, 201, json={"customer_id": people[0]})
    joined = api.ok("post", members, 201, json={"customer_id": people[1]})
    assert joined["members"] == [people[0], people[1]]
    assert (
        problem(api.post(members, json={"customer_id": people[2]}), 409, "group_id")["code"] == "group_full"
    )
    blue_members = f"/games/{g['id']}/groups/{blue['id']}/members"
    assert problem(api.post(blue_members, json={"customer_id": people[0]}), 409,
                   "customer_id")["code"] == "already_in_group"  # fmt: skip
    api.ok("post", blue_members, 201, json={"customer_id": people[2]})
    api.ok("post", blue_members, 201, json={"customer_id": people[3]})
    for customer_id, points in zip(people, (10, 5, 20, 1), strict=True):
        score(api, g["id"], customer_id, points)
    groups = board(api, g["id"])["groups"]
    assert [(s["name"], s["rank"], s["score"]) for s in groups] == [("Blue", 1, 21), ("Red", 2, 15)]
    # leaving takes the member's score out of the group's
    assert api.delete(f"{blue_members}/{people[2]}").status_code == 204
    problem(api.delete(f"{blue_members}/{people[2]}"), 404, "customer_id")
    groups = board(api, g["id"])["groups"]
    assert [(s["name"], s["score"]) for s in groups] == [("Red", 15), ("Blue", 1)]
    listed = api.ok("get", f"/games/{g['id']}/groups")
    assert [(x["name"], x["members"]) for x in listed] == [("Red", people[:2]), ("Blue", [people[3]])]


def test_closing_a_period_gives_the_prizes_once(api):
    people = [api.customer() for _ in range(4)]
    g = game(api)
    for customer_id, points in zip(people, (40, 40, 20, 5), strict=True):
        score(api, g["id"], customer_id, points)
    awards = api.ok("post", f"/games/{g['id']}/periods/{LAST_MONTH_KEY}/close")
    # two tied for first (competition ranks 1, 1, 3, 4): both get the first prize, rank 2 does not exist
    assert sorted((a["customer_id"], a["rank"], a["points"]) for a in awards) == [
        (people[0], 1, 300), (people[1], 1, 300)]  # fmt: skip
    again = api.ok("post", f"/games/{g['id']}/periods/{LAST_MONTH_KEY}/close")
    assert again == awards
    assert [api.balance(c) for c in people] == [300, 300, 0, 0]
    current = datetime.now(UTC).strftime("%Y-%m")
    assert (
        problem(api.post(f"/games/{g['id']}/periods/{current}/close"), 409, "period")["code"] == "period_open"
    )
    problem(api.post(f"/games/{g['id']}/periods/2026-13/close"), 422, "period")
    problem(api.get(f"/games/{g['id']}/leaderboard", params={"period": "last-week"}), 422, "period")


def test_most_rides_from_paid_orders(api):
    api.product()
    rider, other = api.customer(), api.customer()
    g = game(api, name="Most rides", source="orders", period="week", rank_method="dense")
    week = LAST_MONTH.isocalendar()
    key = f"{week[0]}-W{week[1]:02d}"
    for _ in range(3):
        api.order(rider, at=LAST_MONTH)
    api.order(other, at=LAST_MONTH)
    api.order(other, status="cancelled", at=LAST_MONTH)
    api.order(other, at=LAST_MONTH + timedelta(days=8))  # another week
    lines = board(api, g["id"], key)["customers"]
    assert [(s["id"], s["score"], s["rank"]) for s in lines] == [(rider, 3, 1), (other, 1, 2)]


def test_step_challenge_from_device_events(api, client):
    walker = api.customer(email="walker@example.com", first_name="Walker")
    stroller = api.customer(email="stroller@example.com", first_name="Stroller")
    g = game(
        api, name="Step challenge", source="events", event_type="steps", event_prop="count", period="day"
    )
    day = LAST_MONTH.strftime("%Y-%m-%d")
    key = api.ingest_key()
    events = [
        {"id": "s1", "type": "steps", "customer": "walker@example.com", "ts": iso(LAST_MONTH), "props": {"count": 4000}},
        {"id": "s2", "type": "steps", "customer": "walker@example.com", "ts": iso(LAST_MONTH + timedelta(hours=2)),
         "props": {"count": 3500}},
        {"id": "s3", "type": "steps", "customer": "stroller@example.com", "ts": iso(LAST_MONTH),
         "props": {"count": 2000}},
        {"id": "s4", "type": "steps", "customer": "stroller@example.com", "ts": iso(LAST_MONTH + timedelta(days=1)),
         "props": {"count": 9000}},
        {"id": "s5", "type": "heart_rate", "customer": "stroller@example.com", "ts": iso(LAST_MONTH),
         "props": {"count": 70}},
    ]  # fmt: skip
    accepted(send(client, key, events), 5)
    lines = board(api, g["id"], day)["customers"]
    assert [(s["name"], s["score"]) for s in lines] == [("Walker", 7500), ("Stroller", 2000)]
    assert [s["id"] for s in lines] == [walker, stroller]
    counting = game(api, name="Active days", source="events", event_type="steps", period="month")
    assert [(s["id"], s["score"]) for s in board(api, counting["id"])["customers"]] == [
        (walker, 2),
        (stroller, 2),
    ]  # a tie: the lower customer id first


def test_bad_input_other_tenants_and_roles(api, other_api, role_api, db, tenant):
    good = {"name": "League", "starts_at": iso(LAST_MONTH)}
    for change, field in (({"name": ""}, "name"), ({"source": "vibes"}, "source"), ({"period": "year"}, "period"),
                          ({"source": "events"}, "event_type"), ({"event_type": "steps"}, "event_type"),
                          ({"source": "events", "event_type": "steps", "event_prop": "a b"}, "event_prop"),
                          ({"ends_at": iso(LAST_MONTH - timedelta(days=1))}, "ends_at"),
                          ({"prizes": [{"rank": 1, "points": 5}, {"rank": 1, "points": 6}]}, "prizes"),
                          ({"prizes": [{"rank": 0, "points": 5}]}, "prizes.0.rank"),
                          ({"max_group_size": 0}, "max_group_size")):  # fmt: skip
        problem(api.post("/games", json=good | change), 422, field)
    with db() as session:
        assert session.scalar(select(func.count(Game.id)).where(Game.org_id == tenant.org_id)) == 0
    g = game(api)
    customer = api.customer()
    group = api.ok("post", f"/games/{g['id']}/groups", 201, json={"name": "Red"})
    for method, path in (("get", f"/games/{g['id']}"), ("get", f"/games/{g['id']}/leaderboard"),
                         ("post", f"/games/{g['id']}/periods/{LAST_MONTH_KEY}/close"),
                         ("get", f"/games/{g['id']}/groups")):  # fmt: skip
        problem(getattr(other_api, method)(path), 404, "game_id")
    their_game = game(other_api)
    problem(score(other_api, their_game["id"], customer, 5), 404, "customer_id")
    problem(other_api.post(f"/games/{their_game['id']}/groups/{group['id']}/members",
                           json={"customer_id": customer}), 404, "group_id")  # fmt: skip
    viewer = role_api("viewer")
    assert viewer.ok("get", f"/games/{g['id']}/leaderboard")["period"] == datetime.now(UTC).strftime("%Y-%m")
    problem(score(viewer, g["id"], customer, 5), 403)
    problem(viewer.post(f"/games/{g['id']}/groups", json={"name": "Blue"}), 403)
    problem(role_api("agent").post("/games", json=good), 403)
    problem(role_api("agent").post(f"/games/{g['id']}/periods/{LAST_MONTH_KEY}/close"), 403)
