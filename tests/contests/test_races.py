"""Requests racing for the last place: six customers joining a group of two at once, and six referrals on
a code with two places left. Real concurrent transactions on PostgreSQL (the row lock decides); on SQLite
the single writer serialises them. Exactly the free places are taken."""

from __future__ import annotations

import threading
from collections.abc import Callable

from patron.contests import games as games_service
from patron.contests import referrals as referrals_service
from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.core.errors import Conflict


def race(db, org_id: int, attempts: list[Callable]) -> list[str]:
    start = threading.Barrier(len(attempts))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(attempt: Callable) -> None:
        start.wait()
        try:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=org_id, label="test")
                attempt(session)
            result = "ok"
        except Conflict as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


def test_six_joins_for_a_group_of_two(api, db, tenant):
    game = api.ok("post", "/games", 201, json={"name": "Relay", "starts_at": "2020-01-01T00:00:00Z",
                                               "max_group_size": 2})  # fmt: skip
    group = api.ok("post", f"/games/{game['id']}/groups", 201, json={"name": "Team"})
    customers = [api.customer() for _ in range(6)]

    def join(customer_id: int) -> Callable:
        def attempt(session) -> None:
            found = games_service.get_game_or_raise(session, org_id=tenant.org_id, game_id=game["id"])
            team = games_service.get_group_or_raise(session, game=found, group_id=group["id"])
            games_service.do_join_group(session, game=found, group=team, customer_id=customer_id)

        return attempt

    assert race(db, tenant.org_id, [join(c) for c in customers]) == ["group_full"] * 4 + ["ok"] * 2
    assert len(api.ok("get", f"/games/{game['id']}/groups")[0]["members"]) == 2


def test_six_referrals_for_the_last_two_places_of_a_code(api, db, tenant):
    api.ok(
        "put", "/referral-program", json={"referrer_points": 10, "referred_points": 10, "max_referrals": 3}
    )
    code = api.ok("post", f"/customers/{api.customer()}/referral-code", 201)["code"]
    api.ok("post", "/referrals", 201, json={"code": code, "customer_id": api.customer()})
    friends = [api.customer() for _ in range(6)]

    def refer(customer_id: int) -> Callable:
        return lambda session: referrals_service.do_record_referral(session, org_id=tenant.org_id, code=code,
                                                                    referred_id=customer_id)  # fmt: skip

    assert race(db, tenant.org_id, [refer(c) for c in friends]) == ["ok"] * 2 + ["referral_cap"] * 4
    assert api.ok("get", "/referrals")["total"] == 3
