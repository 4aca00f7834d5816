"""What the customer-facing contests section shows one customer: contests open to them and their entries,
draws they won, the games running with their rank and group, and their referral code.

A page that includes ``contests/_portal_section.html`` adds ``contests_portal=portal_context(...)`` to its
context (beside ``customer`` and ``org``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from patron.contests import games as games_service
from patron.contests import referrals as referrals_service
from patron.contests import service as contests_service
from patron.contests.models import Contest, Game, GameGroup
from patron.core.db import utcnow


@dataclass
class GameLine:
    game: Game
    period: str
    rank: int | None
    score: float
    players: int
    group: GameGroup | None


@dataclass
class PortalContext:
    code: str | None
    open_contests: list[tuple[Contest, int]] = field(default_factory=list)  # (contest, entries held)
    past_entries: list[tuple[Contest, int, bool]] = field(default_factory=list)  # (contest, entries, won)
    games: list[GameLine] = field(default_factory=list)


def portal_context(session: Session, *, org_id: int, customer_id: int, store=None) -> PortalContext:
    """Everything the section shows, for one customer of the organisation."""
    now = utcnow()
    code = referrals_service.get_code(session, org_id=org_id, customer_id=customer_id)
    held = {contest.id: (contest, entry.count) for contest, entry in
            contests_service.entries_of_customer(session, org_id=org_id, customer_id=customer_id)}  # fmt: skip
    context = PortalContext(code=code.code if code else None)
    for contest in contests_service.open_contests(session, org_id=org_id, now=now):
        context.open_contests.append((contest, held.get(contest.id, (contest, 0))[1]))
    open_ids = {contest.id for contest, _ in context.open_contests}
    for contest, count in held.values():
        if contest.id in open_ids:
            continue
        won = contest.status == "drawn" and any(
            w.customer_id == customer_id for w in contests_service.list_winners(session, contest=contest)
        )
        context.past_entries.append((contest, count, won))
    groups = {game.id: group for game, group in
              games_service.memberships_of_customer(session, org_id=org_id, customer_id=customer_id)}  # fmt: skip
    for game in games_service.active_games(session, org_id=org_id, now=now):
        if game.source == "events" and store is None:
            continue
        key = games_service.period_key(game.period, now)
        standings = games_service.leaderboard(session, game=game, key=key, store=store)
        mine = next((s for s in standings if s.id == customer_id), None)
        context.games.append(GameLine(game=game, period=key, rank=mine.rank if mine else None,
                                      score=mine.score if mine else 0.0, players=len(standings),
                                      group=groups.get(game.id)))  # fmt: skip
    return context
