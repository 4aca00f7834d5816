"""Routes of referrals (``/customers/{id}/referral-code``, ``/referrals``, ``/referral-program``),
contests (``/contests``: entries, draw and its verification) and games (``/games``: scores, groups,
leaderboards, period close)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from patron.accounts.deps import Allowed
from patron.contests import games as games_service
from patron.contests import referrals as referrals_service
from patron.contests import schemas
from patron.contests import service as contests_service
from patron.contests.models import Contest, Game
from patron.core.api import PageDep, SessionDep
from patron.core.db import utcnow
from patron.core.errors import NotFound
from patron.customers import service as customers_service

router = APIRouter(prefix="/api/v1", tags=["contests"])
Period = Annotated[str | None, Query(max_length=12, description="Period key (e.g. 2026-11); the current one if "
                                     "left out.")]  # fmt: skip


# --- referrals -------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/referral-code", response_model=schemas.ReferralCodeOut,
            summary="A customer's referral code")  # fmt: skip
def get_referral_code(customer_id: int, principal: Allowed("contests.read"), session: SessionDep) -> object:
    """404 when the customer has no code yet (issue one with POST)."""
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    code = referrals_service.get_code(session, org_id=principal.org_id, customer_id=customer_id)
    if code is None:
        raise NotFound(f"Customer {customer_id} has no referral code yet.", field="customer_id")
    return code


@router.post("/customers/{customer_id}/referral-code", response_model=schemas.ReferralCodeOut, status_code=201,
             summary="Issue a customer's referral code")  # fmt: skip
def issue_referral_code(customer_id: int, principal: Allowed("contests.write"), session: SessionDep,
                        response: Response) -> object:  # fmt: skip
    """Makes the code on first asking (201); afterwards answers 200 with the same code."""
    code, created = referrals_service.do_issue_code(session, org_id=principal.org_id, customer_id=customer_id)
    if not created:
        response.status_code = 200
    return code


@router.get("/referral-program", response_model=schemas.ReferralProgramOut, summary="The referral terms")
def get_referral_program(principal: Allowed("contests.read"), session: SessionDep) -> object:
    return referrals_service.get_program(session, org_id=principal.org_id)


@router.put(
    "/referral-program", response_model=schemas.ReferralProgramOut, summary="Change the referral terms"
)
def put_referral_program(body: schemas.ReferralProgramIn, principal: Allowed("contests.manage"),
                         session: SessionDep) -> object:  # fmt: skip
    """Points to each side when a referral is rewarded, and the most referrals per code (applies from now)."""
    return referrals_service.update_program(session, org_id=principal.org_id, **body.model_dump())


@router.post("/referrals", response_model=schemas.ReferralOut, status_code=201, summary="Record a referral")
def record_referral(
    body: schemas.ReferralIn, principal: Allowed("contests.write"), session: SessionDep
) -> object:
    """A new customer came with a code. Refused: one's own code (422), a customer already referred or who
    has ordered before, a code at its cap (409). Qualifies when the customer's first order is paid."""
    return referrals_service.do_record_referral(session, org_id=principal.org_id, code=body.code,
                                                referred_id=body.customer_id)  # fmt: skip


@router.get("/referrals", response_model=schemas.ReferralPage, summary="List referrals")
def list_referrals(principal: Allowed("contests.read"), session: SessionDep, page: PageDep,
                   referrer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this referrer's.")] = None,
                   status: Annotated[str | None, Query(pattern="^(pending|qualified|rewarded)$",
                                                       description="Only this status.")] = None) -> dict:  # fmt: skip
    items, total = referrals_service.list_referrals(session, org_id=principal.org_id, referrer_id=referrer_id,
                                                    status=status, limit=page.limit, offset=page.offset)  # fmt: skip
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post(
    "/referrals/{referral_id}/reward", response_model=schemas.ReferralOut, summary="Reward a referral"
)
def reward_referral(referral_id: int, principal: Allowed("contests.manage"), session: SessionDep) -> object:
    """For a referral left qualified because its reward could not be given when the order was paid (a side
    was erased meanwhile, say): gives the points now. 409 while still pending; a rewarded one is unchanged."""
    referral = referrals_service.get_referral_or_raise(
        session, org_id=principal.org_id, referral_id=referral_id
    )
    return referrals_service.do_reward_referral(session, referral=referral)


@router.get("/referrals/ambassadors", response_model=list[schemas.Ambassador], summary="Top referrers")
def ambassadors(principal: Allowed("contests.read"), session: SessionDep,
                limit: Annotated[int, Query(ge=1, le=100, description="How many.")] = 10) -> list[dict]:  # fmt: skip
    """Most rewarded referrals first, then most referrals, then the lower customer id."""
    rows = referrals_service.ambassadors(session, org_id=principal.org_id, limit=limit)
    names = customers_service.customer_names(
        session, org_id=principal.org_id, customer_ids=[r[0] for r in rows]
    )
    return [{"rank": i, "customer_id": c, "name": names.get(c, f"Customer {c}"), "rewarded": rewarded, "referrals": made}
            for i, (c, rewarded, made) in enumerate(rows, start=1)]  # fmt: skip


# --- contests --------------------------------------------------------------------------------------


def contest_out(session, contest: Contest) -> dict:
    entrants, entries = contests_service.entry_totals(session, contest=contest)
    fields = {name: getattr(contest, name) for name in schemas.ContestOut.model_fields
              if name not in ("prizes", "entrants", "entries", "seed")}  # fmt: skip
    return fields | {"seed": contest.secret_seed if contest.status == "drawn" else None,
                     "prizes": contests_service.list_prizes(session, contest=contest),
                     "entrants": entrants, "entries": entries}  # fmt: skip


def _contest(session, principal, contest_id: int) -> Contest:
    return contests_service.get_contest_or_raise(session, org_id=principal.org_id, contest_id=contest_id)


@router.post("/contests", response_model=schemas.ContestOut, status_code=201, summary="Set up a contest")
def create_contest(
    body: schemas.ContestIn, principal: Allowed("contests.manage"), session: SessionDep
) -> dict:
    """A draft: open it to publish the seed's hash and take entries."""
    data = body.model_dump()
    contest = contests_service.create_contest(session, org_id=principal.org_id, **data)
    return contest_out(session, contest)


@router.get("/contests", response_model=schemas.ContestPage, summary="List contests")
def list_contests(principal: Allowed("contests.read"), session: SessionDep, page: PageDep,
                  status: Annotated[str | None, Query(description="draft, open, closed or drawn.")] = None) -> dict:  # fmt: skip
    items, total = contests_service.list_contests(session, org_id=principal.org_id, status=status,
                                                  limit=page.limit, offset=page.offset)  # fmt: skip
    return {"items": [contest_out(session, c) for c in items], "total": total, "limit": page.limit,
            "offset": page.offset}  # fmt: skip


@router.get("/contests/{contest_id}", response_model=schemas.ContestOut, summary="One contest")
def get_contest(contest_id: int, principal: Allowed("contests.read"), session: SessionDep) -> dict:
    """The seed stays hidden until the draw; its hash is shown from the opening."""
    return contest_out(session, _contest(session, principal, contest_id))


@router.post("/contests/{contest_id}/open", response_model=schemas.ContestOut, summary="Open a contest")
def open_contest(contest_id: int, principal: Allowed("contests.manage"), session: SessionDep) -> dict:
    """Makes the secret seed and publishes its SHA-256 (`seed_hash`)."""
    contest = contests_service.do_open_contest(session, contest=_contest(session, principal, contest_id))
    return contest_out(session, contest)


@router.post("/contests/{contest_id}/close", response_model=schemas.ContestOut, summary="Close a contest")
def close_contest(contest_id: int, principal: Allowed("contests.manage"), session: SessionDep) -> dict:
    """No more entries; the entry window ends now if it had not yet."""
    contest = contests_service.do_close_contest(session, contest=_contest(session, principal, contest_id))
    return contest_out(session, contest)


@router.post("/contests/{contest_id}/entries", response_model=schemas.EntryOut, status_code=201,
             summary="Enter a customer (opt-in)")  # fmt: skip
def enter(
    contest_id: int, body: schemas.EntryIn, principal: Allowed("contests.write"), session: SessionDep
) -> object:
    """Opt-in contests only, while the window is open; an ineligible customer (age, consent) answers 422."""
    contest = _contest(session, principal, contest_id)
    return contests_service.do_enter(session, contest=contest, customer_id=body.customer_id)


@router.post("/contests/{contest_id}/entries/count", response_model=schemas.ContestOut,
             summary="Count earned entries now")  # fmt: skip
def count_entries(contest_id: int, principal: Allowed("contests.manage"), session: SessionDep) -> dict:
    """Brings per-order and per-points entries up to date (the draw does this too)."""
    contest = _contest(session, principal, contest_id)
    contests_service.do_count_earned_entries(session, contest=contest)
    return contest_out(session, contest)


@router.get("/contests/{contest_id}/entries", response_model=schemas.EntryPage, summary="A contest's entries")
def list_entries(
    contest_id: int, principal: Allowed("contests.read"), session: SessionDep, page: PageDep
) -> dict:
    contest = _contest(session, principal, contest_id)
    items, total = contests_service.list_entries(
        session, contest=contest, limit=page.limit, offset=page.offset
    )
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


def draw_out(session, contest: Contest) -> dict:
    record = contests_service.verify_draw(session, contest=contest)
    return {"contest_id": contest.id, "seed_hash": contest.seed_hash, "seed": contest.secret_seed,
            "entries_hash": contest.entries_hash, "entries": contest.drawn_entries, "prizes": record.prizes,
            "winners": contests_service.list_winners(session, contest=contest)}  # fmt: skip


@router.post("/contests/{contest_id}/draw", response_model=schemas.DrawOut, summary="Draw the winners")
def draw(contest_id: int, principal: Allowed("contests.manage"), session: SessionDep) -> dict:
    """Once the contest is closed (or its window has ended): counts earned entries, keeps the eligible ones,
    draws with the committed seed, gives the prizes' points and publishes the seed and the entry list."""
    contest = _contest(session, principal, contest_id)
    contests_service.do_draw(session, contest=contest)
    return draw_out(session, contest)


@router.get("/contests/{contest_id}/draw", response_model=schemas.DrawOut, summary="The published draw")
def get_draw(contest_id: int, principal: Allowed("contests.read"), session: SessionDep) -> dict:
    return draw_out(session, _contest(session, principal, contest_id))


@router.get("/contests/{contest_id}/draw/verify", response_model=schemas.VerificationOut,
            summary="Verify the draw")  # fmt: skip
def verify_draw(contest_id: int, principal: Allowed("contests.read"), session: SessionDep) -> dict:
    """Recomputes the seed's hash, the entry list's hash and the winners from what was published."""
    record = contests_service.verify_draw(session, contest=_contest(session, principal, contest_id))
    found = record.verification
    return {"contest_id": contest_id, "ok": found.ok, "seed_hash_matches": found.commitment_matches,
            "entries_hash_matches": found.entries_hash_matches, "winners_match": found.winners_match,
            "recomputed_seed_hash": found.commitment, "recomputed_entries_hash": found.entries_hash,
            "recomputed_winners": found.winners, "published_winners": record.published_winners}  # fmt: skip


# --- games -----------------------------------------------------------------------------------------


def game_out(session, game: Game) -> dict:
    fields = {name: getattr(game, name) for name in schemas.GameOut.model_fields
              if name not in ("prizes", "current_period")}  # fmt: skip
    return fields | {"prizes": games_service.list_prizes(session, game=game),
                     "current_period": games_service.period_key(game.period, utcnow())}  # fmt: skip


def _game(session, principal, game_id: int) -> Game:
    return games_service.get_game_or_raise(session, org_id=principal.org_id, game_id=game_id)


def _store(request: Request):
    return request.app.state.events.store


@router.post("/games", response_model=schemas.GameOut, status_code=201, summary="Set up a game")
def create_game(body: schemas.GameIn, principal: Allowed("contests.manage"), session: SessionDep) -> dict:
    data = body.model_dump()
    game = games_service.create_game(session, org_id=principal.org_id, **data)
    return game_out(session, game)


@router.get("/games", response_model=schemas.GamePage, summary="List games")
def list_games(principal: Allowed("contests.read"), session: SessionDep, page: PageDep) -> dict:
    items, total = games_service.list_games(
        session, org_id=principal.org_id, limit=page.limit, offset=page.offset
    )
    return {"items": [game_out(session, g) for g in items], "total": total, "limit": page.limit,
            "offset": page.offset}  # fmt: skip


@router.get("/games/{game_id}", response_model=schemas.GameOut, summary="One game")
def get_game(game_id: int, principal: Allowed("contests.read"), session: SessionDep) -> dict:
    return game_out(session, _game(session, principal, game_id))


@router.post("/games/{game_id}/scores", response_model=schemas.ScoreOut, status_code=201,
             summary="Submit a score")  # fmt: skip
def submit_score(game_id: int, body: schemas.ScoreIn, principal: Allowed("contests.write"), session: SessionDep,
                 response: Response) -> object:  # fmt: skip
    """Manual games only (409 otherwise). A repeated `idempotency_key` answers 200 with the first score."""
    score, created = games_service.do_submit_score(session, game=_game(session, principal, game_id),
                                                   **body.model_dump())  # fmt: skip
    if not created:
        response.status_code = 200
    return score


@router.get(
    "/games/{game_id}/leaderboard", response_model=schemas.LeaderboardOut, summary="A game's leaderboard"
)
def get_leaderboard(game_id: int, principal: Allowed("contests.read"), session: SessionDep, request: Request,
                    period: Period = None) -> dict:  # fmt: skip
    """Customers and groups ranked in one period, best first."""
    game = _game(session, principal, game_id)
    key = period or games_service.period_key(game.period, utcnow())
    start, end = games_service.period_bounds(game, key)
    store = _store(request) if game.source == "events" else None
    people = games_service.leaderboard(session, game=game, key=key, store=store)
    teams = games_service.group_leaderboard(session, game=game, key=key, store=store)
    names = customers_service.customer_names(
        session, org_id=principal.org_id, customer_ids=[s.id for s in people]
    )
    group_names = {g.id: g.name for g in games_service.list_groups(session, game=game)}
    return {"game_id": game.id, "period": key, "start": start, "end": end, "rank_method": game.rank_method,
            "customers": [{"rank": s.rank, "id": s.id, "name": names.get(s.id, f"Customer {s.id}"), "score": s.score}
                          for s in people],
            "groups": [{"rank": s.rank, "id": s.id, "name": group_names[s.id], "score": s.score} for s in teams]}  # fmt: skip


@router.post(
    "/games/{game_id}/groups", response_model=schemas.GroupOut, status_code=201, summary="Add a group"
)
def create_group(game_id: int, body: schemas.GroupIn, principal: Allowed("contests.write"),
                 session: SessionDep) -> dict:  # fmt: skip
    group = games_service.create_group(session, game=_game(session, principal, game_id), name=body.name)
    return {"id": group.id, "name": group.name, "members": []}


@router.get("/games/{game_id}/groups", response_model=list[schemas.GroupOut], summary="A game's groups")
def list_groups(game_id: int, principal: Allowed("contests.read"), session: SessionDep) -> list[dict]:
    game = _game(session, principal, game_id)
    members = games_service.members(session, game=game)
    return [{"id": g.id, "name": g.name, "members": members.get(g.id, [])}
            for g in games_service.list_groups(session, game=game)]  # fmt: skip


@router.post("/games/{game_id}/groups/{group_id}/members", response_model=schemas.GroupOut, status_code=201,
             summary="Join a group")  # fmt: skip
def join_group(game_id: int, group_id: int, body: schemas.MemberIn, principal: Allowed("contests.write"),
               session: SessionDep) -> dict:  # fmt: skip
    """One group per customer and game (409 when already in one), at most the game's group size (409)."""
    game = _game(session, principal, game_id)
    group = games_service.get_group_or_raise(session, game=game, group_id=group_id)
    games_service.do_join_group(session, game=game, group=group, customer_id=body.customer_id)
    return {
        "id": group.id,
        "name": group.name,
        "members": games_service.members(session, game=game).get(group.id, []),
    }


@router.delete("/games/{game_id}/groups/{group_id}/members/{customer_id}", status_code=204,
               summary="Leave a group")  # fmt: skip
def leave_group(game_id: int, group_id: int, customer_id: int, principal: Allowed("contests.write"),
                session: SessionDep) -> Response:  # fmt: skip
    game = _game(session, principal, game_id)
    group = games_service.get_group_or_raise(session, game=game, group_id=group_id)
    games_service.do_leave_group(session, game=game, group=group, customer_id=customer_id)
    return Response(status_code=204)


@router.post("/games/{game_id}/periods/{period}/close", response_model=list[schemas.AwardOut],
             summary="Close a period and give its prizes")  # fmt: skip
def close_period(game_id: int, period: str, principal: Allowed("contests.manage"), session: SessionDep,
                 request: Request) -> object:  # fmt: skip
    """Gives each prized rank's points (through the points ledger, one idempotency key per customer and
    period); closing again returns the same awards and gives nothing more. 409 before the period ends."""
    game = _game(session, principal, game_id)
    store = _store(request) if game.source == "events" else None
    return games_service.do_close_period(session, game=game, key=period[:12], store=store)
