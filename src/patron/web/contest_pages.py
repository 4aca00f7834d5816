"""Contest and game pages: the list of contests with the ambassador board, one contest (entries, the
published hash, the draw and its verification), games with their leaderboards and groups, and a
customer's contests as the customer-facing section shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.accounts import service as accounts_service
from patron.contests import games as games_service
from patron.contests import referrals as referrals_service
from patron.contests import service as contests_service
from patron.contests.models import ENTRY_RULES, GAME_PERIODS, GAME_SOURCES, RANK_METHODS
from patron.contests.portal import portal_context
from patron.core.api import SessionDep
from patron.core.db import utcnow
from patron.customers import service as customers_service
from patron.customers.models import CONSENT_CHANNELS
from patron.web.common import CsrfForm, FormInput, Permitted, Viewer, attempt, redirect, render

router = APIRouter()

STATUS_TONES = {"draft": "neutral", "open": "ok", "closed": "warn", "drawn": "info"}
PRIZE_ROWS = 3


def _store(request: Request):
    return request.app.state.events.store


# --- contests --------------------------------------------------------------------------------------


def _contests_page(request: Request, session, viewer: Viewer, *, form: FormInput | None = None,
                   status_code: int = 200) -> Response:  # fmt: skip
    contests, _ = contests_service.list_contests(session, org_id=viewer.org_id, limit=100)
    board = referrals_service.ambassadors(session, org_id=viewer.org_id, limit=10)
    names = customers_service.customer_names(
        session, org_id=viewer.org_id, customer_ids=[b[0] for b in board]
    )
    now = utcnow()
    defaults = {"opens_at": now.strftime("%Y-%m-%dT%H:%M"), "closes_at": (now + timedelta(days=14)).strftime(
        "%Y-%m-%dT%H:%M"), "entry_rule": "opt_in", "min_age": "18", "prize1_quantity": "1", "prize1_points": "0"}  # fmt: skip
    return render(request, "contests/list.html", {
        "tab": "contests", "contests": contests, "tones": STATUS_TONES,
        "totals": {c.id: contests_service.entry_totals(session, contest=c) for c in contests},
        "board": board, "names": names, "entry_rules": ENTRY_RULES, "channels": CONSENT_CHANNELS,
        "prize_rows": range(1, PRIZE_ROWS + 1), "program": referrals_service.get_program(session, org_id=viewer.org_id),
        "errors": form.errors if form else {}, "values": form.values if form else defaults,
    }, status_code=status_code)  # fmt: skip


@router.get("/contests")
def contest_list(request: Request, viewer: Permitted("contests.read"), session: SessionDep) -> Response:
    return _contests_page(request, session, viewer)


def _prizes(form: FormInput) -> list[dict]:
    prizes = []
    for row in range(1, PRIZE_ROWS + 1):
        name = form.text(f"prize{row}_name", label="Prize", max_length=200)
        points = form.integer(f"prize{row}_points", label="Points", minimum=0, maximum=1_000_000)
        quantity = form.integer(f"prize{row}_quantity", label="Quantity", minimum=1, maximum=1000)
        if name:
            prizes.append({"name": name, "points": points or 0, "quantity": quantity or 1})
    if not prizes:
        form.fail("prize1_name", "Give at least one prize.")
    return prizes


@router.post("/contests")
def contest_create(request: Request, viewer: Permitted("contests.manage"), form: CsrfForm,
                   session: SessionDep) -> Response:  # fmt: skip
    name = form.text("name", label="Name", max_length=120, required=True)
    description = form.text("description", label="Description", max_length=2000)
    rule = form.choice("entry_rule", ENTRY_RULES, label="Entry rule", required=True)
    per_entry = form.integer("points_per_entry", label="Points per entry", minimum=1, maximum=1_000_000)
    cap = form.integer(
        "max_entries_per_customer", label="Most entries per customer", minimum=1, maximum=100_000
    )
    opens_at = form.moment("opens_at", label="Opens", timezone=viewer.timezone, required=True)
    closes_at = form.moment("closes_at", label="Closes", timezone=viewer.timezone, required=True)
    channel = form.choice("consent_channel", CONSENT_CHANNELS, label="Consent")
    min_age = form.integer("min_age", label="Minimum age", minimum=0, maximum=120)
    prizes = _prizes(form)
    if form.ok:
        contest = attempt(session, form, lambda: contests_service.create_contest(
            session, org_id=viewer.org_id, name=name, description=description, entry_rule=rule or "opt_in",
            points_per_entry=per_entry, max_entries_per_customer=cap, opens_at=opens_at, closes_at=closes_at,
            consent_channel=channel, min_age=min_age, prizes=prizes))  # fmt: skip
        if contest is not None:
            return redirect(
                request, f"/contests/{contest.id}", flash=f"Contest “{contest.name}” set up as a draft."
            )
    return _contests_page(request, session, viewer, form=form, status_code=422)


def _contest_page(request: Request, session, viewer: Viewer, contest_id: int, *, form: FormInput | None = None,
                  status_code: int = 200) -> Response:  # fmt: skip
    contest = contests_service.get_contest_or_raise(session, org_id=viewer.org_id, contest_id=contest_id)
    entries, total = contests_service.list_entries(session, contest=contest, limit=200)
    winners = contests_service.list_winners(session, contest=contest)
    ids = {e.customer_id for e in entries} | {w.customer_id for w in winners if w.customer_id}
    prizes = contests_service.list_prizes(session, contest=contest)
    verification = (
        contests_service.verify_draw(session, contest=contest) if contest.status == "drawn" else None
    )
    return render(request, "contests/detail.html", {
        "tab": "contests", "contest": contest, "entries": entries, "entry_total": total, "winners": winners,
        "prizes": prizes, "prize_names": {p.id: p.name for p in prizes}, "tones": STATUS_TONES,
        "names": customers_service.customer_names(session, org_id=viewer.org_id, customer_ids=ids),
        "totals": contests_service.entry_totals(session, contest=contest), "verification": verification,
        "errors": form.errors if form else {}, "values": form.values if form else {},
    }, status_code=status_code)  # fmt: skip


@router.get("/contests/{contest_id}")
def contest_detail(request: Request, contest_id: int, viewer: Permitted("contests.read"),
                   session: SessionDep) -> Response:  # fmt: skip
    return _contest_page(request, session, viewer, contest_id)


ACTIONS = {
    "open": (contests_service.do_open_contest, "Opened: the seed's hash is published."),
    "close": (contests_service.do_close_contest, "Closed: no more entries."),
    "draw": (contests_service.do_draw, "Drawn: the winners have their prizes; the seed is published."),
    "count": (contests_service.do_count_earned_entries, "Earned entries counted."),
}


@router.post("/contests/{contest_id}/{action}")
def contest_action(request: Request, contest_id: int, action: str, viewer: Permitted("contests.read"),
                   form: CsrfForm, session: SessionDep) -> Response:  # fmt: skip
    contest = contests_service.get_contest_or_raise(session, org_id=viewer.org_id, contest_id=contest_id)
    back = f"/contests/{contest.id}"
    if action == "entries":
        viewer.require("contests.write")
        customer_id = form.integer(
            "customer_id", label="Customer id", minimum=1, maximum=2**31 - 1, required=True
        )
        if form.ok and attempt(session, form, lambda: contests_service.do_enter(
                session, contest=contest, customer_id=customer_id)) is not None:  # fmt: skip
            return redirect(request, back, flash=f"Customer {customer_id} entered.")
        return _contest_page(request, session, viewer, contest_id, form=form, status_code=422)
    if action not in ACTIONS:
        return redirect(request, back, flash=f"Unknown action {action[:20]}.", kind="error")
    viewer.require("contests.manage")
    function, message = ACTIONS[action]
    done = attempt(session, form, lambda: function(session, contest=contest))
    if done is None:
        return redirect(request, back, flash=next(iter(form.errors.values())), kind="error")
    return redirect(request, back, flash=message)


# --- games -----------------------------------------------------------------------------------------


def _games_page(request: Request, session, viewer: Viewer, *, form: FormInput | None = None,
                status_code: int = 200) -> Response:  # fmt: skip
    games, _ = games_service.list_games(session, org_id=viewer.org_id, limit=100)
    first_of_month = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    defaults = {"starts_at": first_of_month.strftime("%Y-%m-%dT%H:%M"), "source": "manual", "period": "month",
                "rank_method": "competition", "max_group_size": "10"}  # fmt: skip
    return render(request, "contests/games.html", {
        "tab": "games", "games": games, "sources": GAME_SOURCES, "periods": GAME_PERIODS, "methods": RANK_METHODS,
        "current": {g.id: games_service.period_key(g.period, utcnow()) for g in games},
        "errors": form.errors if form else {}, "values": form.values if form else defaults,
    }, status_code=status_code)  # fmt: skip


@router.get("/games")
def game_list(request: Request, viewer: Permitted("contests.read"), session: SessionDep) -> Response:
    return _games_page(request, session, viewer)


@router.post("/games")
def game_create(request: Request, viewer: Permitted("contests.manage"), form: CsrfForm,
                session: SessionDep) -> Response:  # fmt: skip
    name = form.text("name", label="Name", max_length=120, required=True)
    description = form.text("description", label="Description", max_length=2000)
    source = form.choice("source", GAME_SOURCES, label="Scores", required=True)
    event_type = form.optional("event_type", label="Event type", max_length=100)
    event_prop = form.optional("event_prop", label="Event property", max_length=100)
    period = form.choice("period", GAME_PERIODS, label="Period", required=True)
    method = form.choice("rank_method", RANK_METHODS, label="Ranking", required=True)
    starts_at = form.moment("starts_at", label="Starts", timezone=viewer.timezone, required=True)
    ends_at = form.moment("ends_at", label="Ends", timezone=viewer.timezone)
    size = form.integer("max_group_size", label="Group size", minimum=1, maximum=1000, required=True)
    prizes = []
    for rank in (1, 2, 3):
        points = form.integer(f"prize{rank}", label=f"Points for rank {rank}", minimum=1, maximum=1_000_000)
        if points:
            prizes.append({"rank": rank, "points": points})
    if form.ok:
        game = attempt(session, form, lambda: games_service.create_game(
            session, org_id=viewer.org_id, name=name, description=description, source=source or "manual",
            event_type=event_type, event_prop=event_prop, period=period or "month",
            rank_method=method or "competition", starts_at=starts_at, ends_at=ends_at, max_group_size=size or 10,
            prizes=prizes))  # fmt: skip
        if game is not None:
            return redirect(request, f"/games/{game.id}", flash=f"Game “{game.name}” set up.")
    return _games_page(request, session, viewer, form=form, status_code=422)


def _game_page(request: Request, session, viewer: Viewer, game_id: int, period: str | None, *,
               form: FormInput | None = None, status_code: int = 200) -> Response:  # fmt: skip
    game = games_service.get_game_or_raise(session, org_id=viewer.org_id, game_id=game_id)
    key = period or games_service.period_key(game.period, utcnow())
    store = _store(request) if game.source == "events" else None
    start, end = games_service.period_bounds(game, key)
    people = games_service.leaderboard(session, game=game, key=key, store=store)
    groups = games_service.list_groups(session, game=game)
    members = games_service.members(session, game=game)
    ids = {s.id for s in people} | {c for ms in members.values() for c in ms}
    return render(request, "contests/game.html", {
        "tab": "games", "game": game, "period": key, "start": start, "end": end, "people": people[:100],
        "teams": games_service.group_leaderboard(session, game=game, key=key, store=store),
        "groups": groups, "members": members, "group_names": {g.id: g.name for g in groups},
        "names": customers_service.customer_names(session, org_id=viewer.org_id, customer_ids=ids),
        "prizes": games_service.list_prizes(session, game=game),
        "awards": games_service.list_awards(session, game=game, key=key),
        "ended": end is not None and end <= utcnow(),
        "errors": form.errors if form else {}, "values": form.values if form else {},
    }, status_code=status_code)  # fmt: skip


@router.get("/games/{game_id}")
def game_detail(request: Request, game_id: int, viewer: Permitted("contests.read"), session: SessionDep,
                period: Annotated[str | None, Query(max_length=12)] = None) -> Response:  # fmt: skip
    return _game_page(request, session, viewer, game_id, period)


@router.post("/games/{game_id}/groups")
def game_group_create(request: Request, game_id: int, viewer: Permitted("contests.write"), form: CsrfForm,
                      session: SessionDep) -> Response:  # fmt: skip
    game = games_service.get_game_or_raise(session, org_id=viewer.org_id, game_id=game_id)
    name = form.text("name", label="Group name", max_length=80, required=True)
    if form.ok and attempt(session, form, lambda: games_service.create_group(session, game=game, name=name)):
        return redirect(request, f"/games/{game.id}", flash=f"Group “{name}” added.")
    return _game_page(request, session, viewer, game_id, None, form=form, status_code=422)


@router.post("/games/{game_id}/close")
def game_period_close(request: Request, game_id: int, viewer: Permitted("contests.manage"), form: CsrfForm,
                      session: SessionDep) -> Response:  # fmt: skip
    game = games_service.get_game_or_raise(session, org_id=viewer.org_id, game_id=game_id)
    key = form.text("period", label="Period", max_length=12, required=True)
    back = f"/games/{game.id}?period={key}"
    awards = attempt(session, form, lambda: games_service.do_close_period(
        session, game=game, key=key, store=_store(request) if game.source == "events" else None))  # fmt: skip
    if awards is None:
        return redirect(
            request, back, flash=next(iter(form.errors.values()), "Could not close."), kind="error"
        )
    return redirect(request, back, flash=f"Period {key} closed: {len(awards)} prizes given.")


# --- a customer's contests (the customer-facing section, shown to staff) --------------------------


@router.get("/customers/{customer_id}/contests")
def customer_contests(request: Request, customer_id: int, viewer: Permitted("contests.read"),
                      session: SessionDep) -> Response:  # fmt: skip
    customer = customers_service.get_customer_or_raise(session, org_id=viewer.org_id, customer_id=customer_id)
    org = accounts_service.get_organisation(session, org_id=viewer.org_id)
    return render(request, "contests/portal.html", {
        "customer": customer, "org": org, "now": datetime.now(UTC),
        "contests_portal": portal_context(session, org_id=viewer.org_id, customer_id=customer_id,
                                          store=_store(request)),
    })  # fmt: skip
