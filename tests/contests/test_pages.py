"""The contest and game pages through the web app: set up a contest with the form (errors next to the
fields, nothing written), open it, enter customers, draw and see the verification; a game's leaderboard
and groups; the customer-facing section; CSRF, roles and other organisations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from patron.contests.models import Contest
from tests.web.conftest import Browser, sign_in

from .conftest import iso


@pytest.fixture
def browser(client, tenant) -> Browser:
    return Browser(client, sign_in(client, tenant.email, tenant.password))


def local(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def test_contest_from_the_form_to_a_verified_draw(api, browser, db, tenant):
    now = datetime.now(UTC)
    form = {"name": "Spring lottery", "entry_rule": "opt_in", "opens_at": local(now - timedelta(hours=1)),
            "closes_at": local(now + timedelta(days=3)), "min_age": "18", "prize1_name": "Weekend away",
            "prize1_points": "1000", "prize1_quantity": "1"}  # fmt: skip
    bad = browser.post("/contests", form | {"closes_at": local(now - timedelta(days=3)), "prize1_name": ""})
    assert bad.status_code == 422
    assert 'id="prize1_name-error"' in bad.text and "Give at least one prize." in bad.text
    bad = browser.post("/contests", form | {"closes_at": local(now - timedelta(days=3))})
    assert bad.status_code == 422 and 'id="closes_at-error"' in bad.text
    assert "closes_at must be after opens_at" in bad.text
    assert browser.post("/contests", form, csrf=None).status_code == 403
    with db() as session:
        assert session.scalar(select(func.count(Contest.id))) == 0
    created = browser.post("/contests", form)
    assert created.status_code == 303
    path = created.headers["location"]
    page = browser.get(path)
    assert "Spring lottery" in page.text and "secret until the draw" in page.text
    assert browser.post(f"{path}/open").status_code == 303
    page = browser.get(path)
    contest_id = int(path.rsplit("/", 1)[1])
    seed_hash = api.ok("get", f"/contests/{contest_id}")["seed_hash"]
    assert f'data-testid="seed-hash">{seed_hash}<' in page.text
    customers = [api.customer(first_name=f"Player{i}") for i in range(3)]
    for customer_id in customers:
        assert browser.post(f"{path}/entries", {"customer_id": str(customer_id)}).status_code == 303
    again = browser.post(f"{path}/entries", {"customer_id": str(customers[0])})
    assert again.status_code == 422 and "already entered" in again.text
    assert browser.post(f"{path}/close").status_code == 303
    assert browser.post(f"{path}/draw").status_code == 303
    page = browser.get(path)
    winner = api.ok("get", f"/contests/{contest_id}/draw")["winners"][0]["customer_id"]
    verification = page.text.split('data-testid="verification"', 1)[1].split("</div>", 1)[0]
    assert "Verified." in verification and "re-run winners match" in verification
    winners = page.text.split('data-testid="winners"', 1)[1].split("</section>", 1)[0]
    assert f"Player{customers.index(winner)}" in winners and "Weekend away" in winners
    listing = browser.get("/contests")
    assert "Spring lottery" in listing.text and 'href="/contests"' in listing.text


def test_game_page_leaderboard_groups_and_portal_section(api, browser):
    ada, bo = api.customer(first_name="Ada"), api.customer(first_name="Bo")
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).replace(day=5, hour=9)
    key = last_month.strftime("%Y-%m")
    g = api.ok("post", "/games", 201, json={"name": "Quiz league", "starts_at": iso(last_month - timedelta(days=30)),
                                            "prizes": [{"rank": 1, "points": 250}]})  # fmt: skip
    for customer_id, points in ((ada, 30), (bo, 45)):
        api.ok("post", f"/games/{g['id']}/scores", 201,
               json={"customer_id": customer_id, "points": points, "scored_at": iso(last_month)})  # fmt: skip
        api.ok("post", f"/games/{g['id']}/scores", 201, json={"customer_id": customer_id, "points": 5})
    assert browser.post(f"/games/{g['id']}/groups", {"name": "Owls"}).status_code == 303
    duplicate = browser.post(f"/games/{g['id']}/groups", {"name": "Owls"})
    assert duplicate.status_code == 422 and 'id="name-error"' in duplicate.text
    owls = api.ok("get", f"/games/{g['id']}/groups")[0]
    api.ok("post", f"/games/{g['id']}/groups/{owls['id']}/members", 201, json={"customer_id": ada})
    page = browser.get(f"/games/{g['id']}?period={key}")
    board = page.text.split('data-testid="leaderboard"', 1)[1].split("</section>", 1)[0]
    assert board.index("Bo") < board.index("Ada") and "45" in board and "Owls" in board
    assert browser.post(f"/games/{g['id']}/close", {"period": key}).status_code == 303
    assert "Rank 1: Bo" in browser.get(f"/games/{g['id']}?period={key}").text
    assert api.balance(bo) == 250
    # the customer-facing section, standalone
    code = api.ok("post", f"/customers/{ada}/referral-code", 201)["code"]
    contest = api.contest(name="Autumn draw")
    api.ok("post", f"/contests/{contest['id']}/open")
    api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": ada})
    portal = browser.get(f"/customers/{ada}/contests")
    assert portal.status_code == 200
    section = portal.text.split('data-testid="portal-contests"', 1)[1].split("</section>", 1)[0]
    assert f">{code}<" in section and "Autumn draw" in section and "you hold 1 entry" in section
    assert "Quiz league" in section and "rank 1 of 2 with 5" in section and "team Owls" in section


def test_roles_and_other_organisations(api, client, make_tenant, other_tenant):
    contest = api.contest()
    viewer = make_tenant("Acme", role="viewer")
    browser = Browser(client, sign_in(client, viewer.email, viewer.password))
    assert browser.get(f"/contests/{contest['id']}").status_code == 200
    assert browser.post(f"/contests/{contest['id']}/open").status_code == 403
    assert browser.post("/contests", {"name": "x"}).status_code == 403
    assert api.ok("get", f"/contests/{contest['id']}")["status"] == "draft"
    client.cookies.clear()
    outsider = Browser(client, sign_in(client, other_tenant.email, other_tenant.password))
    assert outsider.get(f"/contests/{contest['id']}").status_code == 404
    assert outsider.get(f"/customers/{api.customer()}/contests").status_code == 404
