"""Games and tournaments: what a game scores, its periods, leaderboards of customers and of groups, groups
customers join and leave, manual score submissions, and prizes to the top ranks when a period closes.

Scores of a period are computed when asked for, from their source over the period's window (clipped to the
game's own start and end): the sum of manual submissions, the number of paid orders placed, or, from the
event store, the number of events of a type or the sum of one numeric property of them.

Ranking (both documented in docs/contests.md): customers are ordered by score, highest first, ties by the
lower customer id. ``competition`` rank is 1 + the number of scores strictly higher (1, 2, 2, 4);
``dense`` rank is 1 + the number of distinct scores strictly higher (1, 2, 2, 3). Prizes go to every
customer whose rank has a prize, so customers tied on a prized rank each get it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.contests.locks import lock_row
from patron.contests.models import (
    GAME_PERIODS,
    GAME_SOURCES,
    RANK_METHODS,
    Game,
    GameAward,
    GameGroup,
    GameMembership,
    GamePrize,
    GameScore,
)
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.loyalty import service as loyalty_service
from patron.orders import models as order_models

MAX_SCORE = 1_000_000
MAX_PRIZES = 100
PAID_STATUSES = order_models.PAID_STATUSES
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


# --- periods ---------------------------------------------------------------------------------------


def period_key(period: str, moment: datetime) -> str:
    """The key of the period holding ``moment`` (UTC): ``2026-11-23``, ``2026-W48`` (ISO week),
    ``2026-11`` or ``all``."""
    moment = moment.astimezone(UTC)
    if period == "day":
        return moment.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return moment.strftime("%Y-%m")
    return "all"


def period_bounds(game: Game, key: str) -> tuple[datetime, datetime | None]:
    """``[start, end)`` of the game's period ``key``, clipped to the game's start and end."""
    try:
        if game.period == "day":
            day = date.fromisoformat(key)
            start, end = _midnight(day), _midnight(day + timedelta(days=1))
        elif game.period == "week":
            year, week = re.fullmatch(r"(\d{4})-W(\d{2})", key).groups()  # type: ignore[union-attr]
            first = date.fromisocalendar(int(year), int(week), 1)
            start, end = _midnight(first), _midnight(first + timedelta(days=7))
        elif game.period == "month":
            year, month = (int(part) for part in re.fullmatch(r"(\d{4})-(\d{2})", key).groups())  # type: ignore[union-attr]
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        elif key == "all":
            return game.starts_at, game.ends_at
        else:
            raise ValueError(key)
    except (AttributeError, ValueError):
        raise Invalid(f"period: '{key[:20]}' is not a {game.period} of this game (e.g. "
                      f"{period_key(game.period, utcnow())}).", field="period") from None  # fmt: skip
    start = max(start, game.starts_at)
    if game.ends_at is not None:
        end = min(end, game.ends_at)
    return start, end


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- games -----------------------------------------------------------------------------------------


def get_game_or_raise(session: Session, *, org_id: int, game_id: int) -> Game:
    game = session.scalar(select(Game).where(Game.org_id == org_id, Game.id == game_id))
    if game is None:
        raise NotFound(f"No game {game_id}.", field="game_id")
    return game


def list_games(session: Session, *, org_id: int, limit: int = 50, offset: int = 0) -> tuple[list[Game], int]:
    total = session.scalar(select(func.count(Game.id)).where(Game.org_id == org_id)) or 0
    rows = session.scalars(select(Game).where(Game.org_id == org_id).order_by(Game.id.desc()).limit(limit)
                           .offset(offset))  # fmt: skip
    return list(rows), total


def list_prizes(session: Session, *, game: Game) -> list[GamePrize]:
    return list(session.scalars(select(GamePrize).where(GamePrize.org_id == game.org_id, GamePrize.game_id == game.id)
                                .order_by(GamePrize.rank)))  # fmt: skip


def create_game(
    session: Session,
    *,
    org_id: int,
    name: str,
    starts_at: datetime,
    source: str = "manual",
    description: str = "",
    event_type: str | None = None,
    event_prop: str | None = None,
    period: str = "month",
    rank_method: str = "competition",
    ends_at: datetime | None = None,
    max_group_size: int = 10,
    prizes: Iterable[dict] = (),
) -> Game:
    """A game; ``prizes`` are ``{"rank": 1, "points": 500}``, one per rank at most."""
    name = (name or "").strip()
    if not 0 < len(name) <= 120:
        raise Invalid("name must have 1-120 characters.", field="name")
    if len(description or "") > 2000:
        raise Invalid("description has at most 2000 characters.", field="description")
    for field, value, choices in (("source", source, GAME_SOURCES), ("period", period, GAME_PERIODS),
                                  ("rank_method", rank_method, RANK_METHODS)):  # fmt: skip
        if value not in choices:
            raise Invalid(f"{field} must be one of {', '.join(choices)}.", field=field)
    if source == "events":
        if not event_type or not _EVENT_NAME.match(event_type):
            raise Invalid("An events game needs event_type (letters, digits, . _ : -).", field="event_type")
        if event_prop is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", event_prop):
            raise Invalid("event_prop is a property name (letters, digits, _).", field="event_prop")
    elif event_type is not None or event_prop is not None:
        raise Invalid("event_type and event_prop are only for events games.", field="event_type")
    if starts_at.tzinfo is None:
        raise Invalid("starts_at: give a time zone.", field="starts_at")
    if ends_at is not None and (ends_at.tzinfo is None or ends_at <= starts_at):
        raise Invalid("ends_at must be after starts_at (with a time zone).", field="ends_at")
    if not 1 <= max_group_size <= 1000:
        raise Invalid("max_group_size must be 1-1000.", field="max_group_size")
    prizes = list(prizes)
    if len(prizes) > MAX_PRIZES:
        raise Invalid(f"At most {MAX_PRIZES} prizes.", field="prizes")
    ranks = [prize["rank"] for prize in prizes]
    if len(set(ranks)) != len(ranks):
        raise Invalid("One prize per rank.", field="prizes")
    for index, prize in enumerate(prizes):
        if not 1 <= prize["rank"] <= 1000:
            raise Invalid("rank must be 1-1000.", field=f"prizes.{index}.rank")
        if not 1 <= prize["points"] <= MAX_SCORE:
            raise Invalid(f"points must be 1-{MAX_SCORE:,}.", field=f"prizes.{index}.points")
    now = utcnow()
    game = Game(org_id=org_id, name=name, description=(description or "").strip(), source=source,
                event_type=event_type, event_prop=event_prop, period=period, rank_method=rank_method,
                starts_at=starts_at, ends_at=ends_at, max_group_size=max_group_size, created_at=now,
                updated_at=now)  # fmt: skip
    session.add(game)
    session.flush()
    for prize in prizes:
        session.add(GamePrize(org_id=org_id, game_id=game.id, rank=prize["rank"], points=prize["points"]))
    session.flush()
    return game


# --- scores ----------------------------------------------------------------------------------------


def do_submit_score(session: Session, *, game: Game, customer_id: int, points: int, note: str = "",
                    scored_at: datetime | None = None, idempotency_key: str | None = None
                    ) -> tuple[GameScore, bool]:  # fmt: skip
    """A manual score (manual games only); ``(score, created)``; a known key returns its first score."""
    if game.source != "manual":
        raise Conflict(f"Game {game.id} scores {game.source}; it takes no manual scores.", field="points",
                       code="not_manual")  # fmt: skip
    customers_service.get_writable_customer_or_raise(session, org_id=game.org_id, customer_id=customer_id)
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_SCORE:
        raise Invalid(f"points must be 1-{MAX_SCORE:,}.", field="points")
    scored_at = scored_at or utcnow()
    if scored_at.tzinfo is None:
        raise Invalid("scored_at: give a time zone.", field="scored_at")
    if scored_at < game.starts_at or (game.ends_at is not None and scored_at >= game.ends_at):
        raise Invalid("scored_at is outside the game's dates.", field="scored_at")
    if idempotency_key is not None:
        known = session.scalar(select(GameScore).where(GameScore.org_id == game.org_id,
                                                       GameScore.idempotency_key == idempotency_key))  # fmt: skip
        if known is not None:
            if (known.game_id, known.customer_id, known.points) != (game.id, customer_id, points):
                raise Conflict(
                    "The idempotency key was already used for another score.", field="idempotency_key"
                )
            return known, False
    score = GameScore(org_id=game.org_id, game_id=game.id, customer_id=customer_id, points=points,
                      note=(note or "").strip(), scored_at=scored_at, idempotency_key=idempotency_key)  # fmt: skip
    session.add(score)
    session.flush()
    return score, True


def _scores(
    session: Session, game: Game, start: datetime, end: datetime | None, store: Any
) -> dict[int, float]:
    if game.source == "manual":
        where = [GameScore.org_id == game.org_id, GameScore.game_id == game.id, GameScore.scored_at >= start]
        if end is not None:
            where.append(GameScore.scored_at < end)
        rows = session.execute(select(GameScore.customer_id, func.sum(GameScore.points)).where(*where)
                               .group_by(GameScore.customer_id))  # fmt: skip
        return {int(customer_id): float(total) for customer_id, total in rows}
    if game.source == "orders":
        from patron.orders import service as orders_service

        filters = orders_service.OrderFilter(placed_from=start, placed_to=end)
        counts: dict[int, float] = {}
        offset = 0
        while True:
            orders, total = orders_service.list_orders(session, org_id=game.org_id, filters=filters, limit=500,
                                                       offset=offset)  # fmt: skip
            for order in orders:
                if order.status in PAID_STATUSES:
                    counts[order.customer_id] = counts.get(order.customer_id, 0.0) + 1.0
            offset += len(orders)
            if not orders or offset >= total:
                return counts
    from patron.events.totals import customer_totals

    if store is None:
        raise Conflict("The event store is not available here.", field="source")
    return customer_totals(store, org_id=game.org_id, event_type=game.event_type or "", prop=game.event_prop,
                           since=start, until=end)  # fmt: skip


@dataclass(frozen=True)
class Standing:
    """One line of a leaderboard."""

    rank: int
    id: int
    score: float


def rank(scores: dict[int, float], method: str) -> list[Standing]:
    """Order by score (highest first, ties by the lower id) and rank by ``method`` (see the module)."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    standings: list[Standing] = []
    distinct_higher = 0
    for index, (ident, score) in enumerate(ordered):
        if index and score == ordered[index - 1][1]:
            position = standings[-1].rank
        else:
            if index:
                distinct_higher += 1
            position = index + 1 if method == "competition" else distinct_higher + 1
        standings.append(Standing(rank=position, id=ident, score=score))
    return standings


def leaderboard(session: Session, *, game: Game, key: str, store: Any = None) -> list[Standing]:
    """The customers' standings in period ``key``."""
    start, end = period_bounds(game, key)
    return rank(_scores(session, game, start, end, store), game.rank_method)


def group_leaderboard(session: Session, *, game: Game, key: str, store: Any = None) -> list[Standing]:
    """The groups' standings in period ``key``: each group scores the sum of its current members' scores."""
    start, end = period_bounds(game, key)
    scores = _scores(session, game, start, end, store)
    totals = {group.id: 0.0 for group in list_groups(session, game=game)}
    for membership in session.scalars(select(GameMembership).where(GameMembership.org_id == game.org_id,
                                                                   GameMembership.game_id == game.id)):  # fmt: skip
        totals[membership.group_id] += scores.get(membership.customer_id, 0.0)
    return rank(totals, game.rank_method)


def do_close_period(session: Session, *, game: Game, key: str, store: Any = None) -> list[GameAward]:
    """Give the prizes of an ended period, once: a second close returns the awards of the first."""
    start, end = period_bounds(game, key)
    if end is None or end > utcnow():
        raise Conflict(f"Period {key} has not ended yet.", field="period", code="period_open")
    existing = list_awards(session, game=game, key=key)
    if existing:
        return existing
    prizes = {prize.rank: prize.points for prize in list_prizes(session, game=game)}
    awards = []
    for standing in rank(_scores(session, game, start, end, store), game.rank_method):
        points = prizes.get(standing.rank)
        if points is None:
            continue
        loyalty_service.change_points(
            session, org_id=game.org_id, customer_id=standing.id, kind="earn", points=points,
            reason=f"Rank {standing.rank} in {game.name} ({key})"[:200], source=f"game:{game.id}",
            idempotency_key=f"game:{game.id}:{key}:{standing.id}",
        )  # fmt: skip
        award = GameAward(org_id=game.org_id, game_id=game.id, period_key=key, customer_id=standing.id,
                          rank=standing.rank, score=standing.score, points=points, awarded_at=utcnow())  # fmt: skip
        session.add(award)
        awards.append(award)
    session.flush()
    return awards


def list_awards(session: Session, *, game: Game, key: str | None = None) -> list[GameAward]:
    where = [GameAward.org_id == game.org_id, GameAward.game_id == game.id]
    if key is not None:
        where.append(GameAward.period_key == key)
    return list(session.scalars(select(GameAward).where(*where).order_by(GameAward.period_key, GameAward.rank,
                                                                          GameAward.customer_id)))  # fmt: skip


# --- groups ----------------------------------------------------------------------------------------


def list_groups(session: Session, *, game: Game) -> list[GameGroup]:
    return list(session.scalars(select(GameGroup).where(GameGroup.org_id == game.org_id, GameGroup.game_id == game.id)
                                .order_by(GameGroup.id)))  # fmt: skip


def group_sizes(session: Session, *, game: Game) -> dict[int, int]:
    rows = session.execute(select(GameMembership.group_id, func.count(GameMembership.id))
                           .where(GameMembership.org_id == game.org_id, GameMembership.game_id == game.id)
                           .group_by(GameMembership.group_id))  # fmt: skip
    return {int(group_id): int(count) for group_id, count in rows}


def get_group_or_raise(session: Session, *, game: Game, group_id: int) -> GameGroup:
    group = session.scalar(select(GameGroup).where(GameGroup.org_id == game.org_id, GameGroup.game_id == game.id,
                                                   GameGroup.id == group_id))  # fmt: skip
    if group is None:
        raise NotFound(f"No group {group_id} in game {game.id}.", field="group_id")
    return group


def create_group(session: Session, *, game: Game, name: str) -> GameGroup:
    name = (name or "").strip()
    if not 0 < len(name) <= 80:
        raise Invalid("name must have 1-80 characters.", field="name")
    taken = session.scalar(select(GameGroup.id).where(GameGroup.game_id == game.id, GameGroup.name == name))
    if taken is not None:
        raise Conflict(f"Game {game.id} already has a group named '{name}'.", field="name")
    group = GameGroup(org_id=game.org_id, game_id=game.id, name=name, created_at=utcnow())
    session.add(group)
    session.flush()
    return group


def do_join_group(session: Session, *, game: Game, group: GameGroup, customer_id: int) -> GameMembership:
    """Join a group: one group per customer and game, at most ``max_group_size`` members."""
    customers_service.get_writable_customer_or_raise(session, org_id=game.org_id, customer_id=customer_id)
    current = session.scalar(select(GameMembership).where(GameMembership.game_id == game.id,
                                                          GameMembership.customer_id == customer_id))  # fmt: skip
    if current is not None:
        raise Conflict(f"Customer {customer_id} is already in group {current.group_id} of this game; leave it first.",
                       field="customer_id", code="already_in_group")  # fmt: skip
    lock_row(session, GameGroup, group.id)  # two joins racing for the last place: one waits for the other
    size = group_sizes(session, game=game).get(group.id, 0)
    if size >= game.max_group_size:
        raise Conflict(f"Group '{group.name}' is full ({game.max_group_size} members).", field="group_id",
                       code="group_full")  # fmt: skip
    membership = GameMembership(org_id=game.org_id, game_id=game.id, group_id=group.id, customer_id=customer_id,
                                joined_at=utcnow())  # fmt: skip
    try:
        with session.begin_nested():
            session.add(membership)
            session.flush()
    except IntegrityError:
        raise Conflict(f"Customer {customer_id} is already in a group of this game.", field="customer_id",
                       code="already_in_group") from None  # fmt: skip
    return membership


def do_leave_group(session: Session, *, game: Game, group: GameGroup, customer_id: int) -> None:
    membership = session.scalar(select(GameMembership).where(GameMembership.game_id == game.id,
                                                             GameMembership.group_id == group.id,
                                                             GameMembership.customer_id == customer_id))  # fmt: skip
    if membership is None:
        raise NotFound(f"Customer {customer_id} is not in group '{group.name}'.", field="customer_id")
    session.delete(membership)
    session.flush()


def members(session: Session, *, game: Game) -> dict[int, list[int]]:
    """``{group_id: [customer_id, ...]}``."""
    found: dict[int, list[int]] = {}
    for membership in session.scalars(select(GameMembership).where(GameMembership.org_id == game.org_id,
                                                                   GameMembership.game_id == game.id)
                                      .order_by(GameMembership.joined_at, GameMembership.id)):  # fmt: skip
        found.setdefault(membership.group_id, []).append(membership.customer_id)
    return found


def memberships_of_customer(
    session: Session, *, org_id: int, customer_id: int
) -> list[tuple[Game, GameGroup]]:
    rows = session.execute(
        select(Game, GameGroup)
        .join(GameMembership, GameMembership.game_id == Game.id)
        .join(GameGroup, GameGroup.id == GameMembership.group_id)
        .where(GameMembership.org_id == org_id, GameMembership.customer_id == customer_id)
    )
    return [(game, group) for game, group in rows]


def active_games(session: Session, *, org_id: int, now: datetime | None = None) -> list[Game]:
    now = now or utcnow()
    where = [Game.org_id == org_id, Game.active.is_(True), Game.starts_at <= now]
    return [g for g in session.scalars(select(Game).where(*where).order_by(Game.id))
            if g.ends_at is None or g.ends_at > now]  # fmt: skip
