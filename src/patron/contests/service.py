"""Contests and lotteries: set-up, entries (opted in or earned), eligibility, the committed draw and its
verification. Referrals live in :mod:`patron.contests.referrals`, games in :mod:`patron.contests.games`;
the customer hooks (merge, erasure, privacy export) of all three are at the end of this module.

A contest goes draft -> open -> closed -> drawn. Opening makes the secret seed and publishes its SHA-256;
the draw lists the eligible entries, hashes them, draws the winners with :mod:`patron.contests.draw`,
gives the prizes' points (idempotently, one key per winner) and publishes the seed, so that anyone can
repeat the draw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from patron.contests import draw as draw_algorithm
from patron.contests.models import (
    CONTEST_STATUSES,
    ENTRY_RULES,
    Contest,
    ContestEntry,
    ContestPrize,
    ContestWinner,
    GameAward,
    GameMembership,
    GameScore,
    Referral,
    ReferralCode,
)
from patron.core.audit import jsonable
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.customers.models import CONSENT_CHANNELS
from patron.loyalty import earnings as loyalty_earnings
from patron.loyalty import service as loyalty_service
from patron.orders import models as order_models
from patron.surveys import answered as surveys_answered

MAX_PRIZES = 50
MAX_PRIZE_QUANTITY = 1000
MAX_POINTS = 1_000_000
PAID_STATUSES = order_models.PAID_STATUSES


# --- reads -----------------------------------------------------------------------------------------


def get_contest_or_raise(session: Session, *, org_id: int, contest_id: int) -> Contest:
    contest = session.scalar(select(Contest).where(Contest.org_id == org_id, Contest.id == contest_id))
    if contest is None:
        raise NotFound(f"No contest {contest_id}.", field="contest_id")
    return contest


def list_contests(session: Session, *, org_id: int, status: str | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[Contest], int]:  # fmt: skip
    where = [Contest.org_id == org_id]
    if status is not None:
        if status not in CONTEST_STATUSES:
            raise Invalid(f"status must be one of {', '.join(CONTEST_STATUSES)}.", field="status")
        where.append(Contest.status == status)
    total = session.scalar(select(func.count(Contest.id)).where(*where)) or 0
    rows = session.scalars(
        select(Contest).where(*where).order_by(Contest.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def list_prizes(session: Session, *, contest: Contest) -> list[ContestPrize]:
    return list(session.scalars(
        select(ContestPrize).where(ContestPrize.org_id == contest.org_id, ContestPrize.contest_id == contest.id)
        .order_by(ContestPrize.position)
    ))  # fmt: skip


def prize_count(prizes: Iterable[ContestPrize]) -> int:
    return sum(prize.quantity for prize in prizes)


def list_entries(session: Session, *, contest: Contest, limit: int = 50, offset: int = 0
                 ) -> tuple[list[ContestEntry], int]:  # fmt: skip
    where = (ContestEntry.org_id == contest.org_id, ContestEntry.contest_id == contest.id)
    total = session.scalar(select(func.count(ContestEntry.id)).where(*where)) or 0
    rows = session.scalars(select(ContestEntry).where(*where).order_by(ContestEntry.customer_id)
                           .limit(limit).offset(offset))  # fmt: skip
    return list(rows), total


def entry_totals(session: Session, *, contest: Contest) -> tuple[int, int]:
    """``(customers holding entries, entries in all)``."""
    entrants, entries = session.execute(
        select(func.count(ContestEntry.id), func.coalesce(func.sum(ContestEntry.count), 0)).where(
            ContestEntry.org_id == contest.org_id, ContestEntry.contest_id == contest.id
        )
    ).one()
    return int(entrants or 0), int(entries or 0)


def list_winners(session: Session, *, contest: Contest) -> list[ContestWinner]:
    return list(session.scalars(
        select(ContestWinner).where(ContestWinner.org_id == contest.org_id, ContestWinner.contest_id == contest.id)
        .order_by(ContestWinner.position)
    ))  # fmt: skip


def entries_of_customer(
    session: Session, *, org_id: int, customer_id: int
) -> list[tuple[Contest, ContestEntry]]:
    rows = session.execute(
        select(Contest, ContestEntry)
        .join(ContestEntry, ContestEntry.contest_id == Contest.id)
        .where(ContestEntry.org_id == org_id, ContestEntry.customer_id == customer_id)
        .order_by(Contest.closes_at.desc())
    )
    return [(contest, entry) for contest, entry in rows]


def open_contests(session: Session, *, org_id: int, now: datetime | None = None) -> list[Contest]:
    """Contests taking entries now."""
    now = now or utcnow()
    return list(session.scalars(
        select(Contest).where(Contest.org_id == org_id, Contest.status == "open", Contest.opens_at <= now,
                              Contest.closes_at > now).order_by(Contest.closes_at)
    ))  # fmt: skip


# --- set-up ----------------------------------------------------------------------------------------


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise Invalid(f"{field}: give a time zone (e.g. 2026-05-01T10:00:00Z).", field=field)
    return value


def _check_prizes(prizes: list[dict]) -> list[dict]:
    if not prizes:
        raise Invalid("Give at least one prize.", field="prizes")
    if len(prizes) > MAX_PRIZES:
        raise Invalid(f"At most {MAX_PRIZES} prizes.", field="prizes")
    checked = []
    for index, prize in enumerate(prizes):
        name = str(prize.get("name") or "").strip()
        points = prize.get("points", 0)
        quantity = prize.get("quantity", 1)
        if not 0 < len(name) <= 200:
            raise Invalid("Each prize needs a name of 1-200 characters.", field=f"prizes.{index}.name")
        if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= MAX_POINTS:
            raise Invalid(f"points must be 0-{MAX_POINTS:,}.", field=f"prizes.{index}.points")
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_PRIZE_QUANTITY
        ):
            raise Invalid(f"quantity must be 1-{MAX_PRIZE_QUANTITY}.", field=f"prizes.{index}.quantity")
        checked.append({"name": name, "points": points, "quantity": quantity})
    return checked


def create_contest(
    session: Session,
    *,
    org_id: int,
    name: str,
    opens_at: datetime,
    closes_at: datetime,
    prizes: list[dict],
    description: str = "",
    entry_rule: str = "opt_in",
    points_per_entry: int | None = None,
    max_entries_per_customer: int | None = None,
    consent_channel: str | None = None,
    min_age: int | None = 18,
) -> Contest:
    """A draft contest with its prizes (in order: the first winners drawn get the first prize)."""
    name = (name or "").strip()
    if not 0 < len(name) <= 120:
        raise Invalid("name must have 1-120 characters.", field="name")
    if len(description or "") > 2000:
        raise Invalid("description has at most 2000 characters.", field="description")
    if entry_rule not in ENTRY_RULES:
        raise Invalid(f"entry_rule must be one of {', '.join(ENTRY_RULES)}.", field="entry_rule")
    if entry_rule == "per_points":
        if not isinstance(points_per_entry, int) or not 1 <= points_per_entry <= MAX_POINTS:
            raise Invalid("per_points needs points_per_entry (1-1,000,000).", field="points_per_entry")
    elif points_per_entry is not None:
        raise Invalid("points_per_entry is only for the per_points rule.", field="points_per_entry")
    if max_entries_per_customer is not None and not 1 <= max_entries_per_customer <= 100_000:
        raise Invalid("max_entries_per_customer must be 1-100,000.", field="max_entries_per_customer")
    if consent_channel is not None and consent_channel not in CONSENT_CHANNELS:
        raise Invalid(
            f"consent_channel must be one of {', '.join(CONSENT_CHANNELS)}.", field="consent_channel"
        )
    if min_age is not None and not 0 <= min_age <= 120:
        raise Invalid("min_age must be 0-120.", field="min_age")
    _aware(opens_at, "opens_at")
    _aware(closes_at, "closes_at")
    if closes_at <= opens_at:
        raise Invalid("closes_at must be after opens_at.", field="closes_at")
    checked = _check_prizes(prizes)
    now = utcnow()
    contest = Contest(
        org_id=org_id, name=name, description=(description or "").strip(), status="draft", entry_rule=entry_rule,
        points_per_entry=points_per_entry, max_entries_per_customer=max_entries_per_customer, opens_at=opens_at,
        closes_at=closes_at, consent_channel=consent_channel, min_age=min_age, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(contest)
    session.flush()
    for position, prize in enumerate(checked, start=1):
        session.add(ContestPrize(org_id=org_id, contest_id=contest.id, position=position, **prize))
    session.flush()
    return contest


def _require(contest: Contest, *statuses: str, doing: str) -> None:
    if contest.status not in statuses:
        raise Conflict(f"Contest {contest.id} is {contest.status}; it must be {' or '.join(statuses)} to {doing}.",
                       field="status", code="contest_status")  # fmt: skip


def do_open_contest(session: Session, *, contest: Contest) -> Contest:
    """Open for entries: make the secret seed and publish its SHA-256 (the commitment)."""
    _require(contest, "draft", doing="open it")
    if contest.closes_at <= utcnow():
        raise Conflict("The entry window has already ended; change closes_at first.", field="closes_at")
    contest.secret_seed = draw_algorithm.new_seed()
    contest.seed_hash = draw_algorithm.commitment(contest.secret_seed)
    contest.status = "open"
    contest.opened_at = utcnow()
    session.flush()
    return contest


def do_close_contest(session: Session, *, contest: Contest) -> Contest:
    """Stop taking entries now (the window ends now if it had not yet)."""
    _require(contest, "open", doing="close it")
    now = utcnow()
    if contest.closes_at > now:
        contest.closes_at = max(now, contest.opens_at)
    contest.status = "closed"
    session.flush()
    return contest


# --- eligibility and entries -----------------------------------------------------------------------


def ineligibility(session: Session, *, contest: Contest, customer_id: int) -> str | None:
    """Why the customer may not take part, or None. Age counts only when the birth year is known: the
    customer must be ``min_age`` for certain by the close, ``year(closes_at) - birth_year - 1 >= min_age``."""
    customer = customers_service.get_customer(session, org_id=contest.org_id, customer_id=customer_id)
    if customer is None or customer.erased_at is not None:
        return "not a customer (any more)"
    birth_year = customer.birth_year
    if (
        contest.min_age is not None
        and birth_year is not None
        and contest.closes_at.year - birth_year - 1 < contest.min_age
    ):
        return f"under {contest.min_age} (born {customer.birth_year})"
    if contest.consent_channel is not None and not customers_service.has_consent(
        session, org_id=contest.org_id, customer_id=customer_id, channel=contest.consent_channel
    ):
        return f"no consent to {contest.consent_channel} messages"
    return None


def do_enter(session: Session, *, contest: Contest, customer_id: int) -> ContestEntry:
    """Opt a customer in (one entry) while the window is open."""
    customers_service.get_writable_customer_or_raise(session, org_id=contest.org_id, customer_id=customer_id)
    _require(contest, "open", doing="take entries")
    now = utcnow()
    if not contest.opens_at <= now < contest.closes_at:
        raise Conflict(
            "The contest is not taking entries at this time.", field="status", code="outside_window"
        )
    if contest.entry_rule != "opt_in":
        raise Conflict(f"Entries in this contest are earned ({contest.entry_rule}); customers cannot opt in.",
                       field="customer_id", code="earned_entries")  # fmt: skip
    why = ineligibility(session, contest=contest, customer_id=customer_id)
    if why is not None:
        raise Invalid(
            f"Customer {customer_id} may not enter: {why}.", field="customer_id", code="not_eligible"
        )
    existing = session.scalar(select(ContestEntry).where(ContestEntry.contest_id == contest.id,
                                                         ContestEntry.customer_id == customer_id))  # fmt: skip
    if existing is not None:
        raise Conflict(
            f"Customer {customer_id} has already entered.", field="customer_id", code="already_entered"
        )
    entry = ContestEntry(org_id=contest.org_id, contest_id=contest.id, customer_id=customer_id, count=1,
                         source="opt_in", created_at=now, updated_at=now)  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def _earned_counts(session: Session, *, contest: Contest) -> dict[int, int]:
    """Entries earned in the window: one per paid order placed in it, one per ``points_per_entry`` points
    earned in it, or one per survey response the customer submitted in it."""
    from patron.orders import service as orders_service

    counts: dict[int, int] = {}
    if contest.entry_rule == "per_order":
        filters = orders_service.OrderFilter(placed_from=contest.opens_at, placed_to=contest.closes_at)
        offset = 0
        while True:
            orders, total = orders_service.list_orders(session, org_id=contest.org_id, filters=filters, limit=500,
                                                       offset=offset)  # fmt: skip
            for order in orders:
                if order.status in PAID_STATUSES:
                    counts[order.customer_id] = counts.get(order.customer_id, 0) + 1
            offset += len(orders)
            if not orders or offset >= total:
                break
    elif contest.entry_rule == "per_points":
        earned = loyalty_earnings.points_earned_by_customer(session, org_id=contest.org_id, since=contest.opens_at,
                                                            until=contest.closes_at)  # fmt: skip
        step = contest.points_per_entry or 1
        counts = {customer_id: points // step for customer_id, points in earned.items() if points >= step}
    elif contest.entry_rule == "per_survey":
        counts = surveys_answered.responses_by_customer(session, org_id=contest.org_id, since=contest.opens_at,
                                                        until=contest.closes_at)  # fmt: skip
    cap = contest.max_entries_per_customer
    return {customer_id: min(count, cap) if cap else count for customer_id, count in counts.items()}


def do_count_earned_entries(session: Session, *, contest: Contest) -> int:
    """Bring earned entries up to date with orders and points (opt-in contests: nothing to do). Returns
    how many customers hold entries."""
    _require(contest, "open", "closed", doing="count entries")
    if contest.entry_rule == "opt_in":
        return (
            session.scalar(select(func.count(ContestEntry.id)).where(ContestEntry.contest_id == contest.id))
            or 0
        )
    counts = _earned_counts(session, contest=contest)
    current = {entry.customer_id: entry for entry in session.scalars(
        select(ContestEntry).where(ContestEntry.org_id == contest.org_id, ContestEntry.contest_id == contest.id))}  # fmt: skip
    now = utcnow()
    for customer_id, entry in current.items():
        if customer_id not in counts:
            session.delete(entry)
    for customer_id, count in counts.items():
        entry = current.get(customer_id)
        if entry is None:
            session.add(ContestEntry(org_id=contest.org_id, contest_id=contest.id, customer_id=customer_id,
                                     count=count, source=contest.entry_rule, created_at=now, updated_at=now))  # fmt: skip
        elif entry.count != count:
            entry.count = count
    session.flush()
    return len(counts)


# --- the draw --------------------------------------------------------------------------------------


def do_draw(session: Session, *, contest: Contest) -> list[ContestWinner]:
    """Draw the winners: count earned entries, keep the eligible ones, hash them, draw with the committed
    seed, record the winners with their prizes, give the prizes' points and publish the seed."""
    if contest.status == "open" and contest.closes_at <= utcnow():
        contest.status = "closed"
    _require(contest, "closed", doing="draw (close it first)")
    do_count_earned_entries(session, contest=contest)
    entries, _ = list_entries(session, contest=contest, limit=10_000_000)
    eligible = [(e.customer_id, e.count) for e in entries
                if ineligibility(session, contest=contest, customer_id=e.customer_id) is None]  # fmt: skip
    prizes = list_prizes(session, contest=contest)
    if contest.secret_seed is None:  # every opened contest has one; a draft never gets here
        raise Conflict(f"Contest {contest.id} has no seed; it was never opened.", field="status")
    chosen = draw_algorithm.draw_winners(contest.secret_seed, eligible, prize_count(prizes))
    slots = [prize for prize in prizes for _ in range(prize.quantity)]
    winners = []
    for position, (customer_id, prize) in enumerate(zip(chosen, slots, strict=False), start=1):
        winner = ContestWinner(org_id=contest.org_id, contest_id=contest.id, position=position,
                               customer_id=customer_id, prize_id=prize.id, points=prize.points)  # fmt: skip
        session.add(winner)
        winners.append(winner)
        if prize.points > 0:
            loyalty_service.change_points(
                session, org_id=contest.org_id, customer_id=customer_id, kind="earn", points=prize.points,
                reason=f"Won {prize.name} in {contest.name}"[:200], source=f"contest:{contest.id}",
                idempotency_key=f"contest:{contest.id}:winner:{position}",
            )  # fmt: skip
    contest.drawn_entries = [
        [customer_id, count] for customer_id, count in draw_algorithm.canonical_entries(eligible)
    ]
    contest.entries_hash = draw_algorithm.entries_hash(eligible)
    contest.status = "drawn"
    contest.drawn_at = utcnow()
    session.flush()
    return winners


@dataclass(frozen=True)
class DrawRecord:
    """What a draw published, and what re-running it from that gives."""

    contest: Contest
    prizes: int
    published_winners: list[int]
    verification: draw_algorithm.Verification


def verify_draw(session: Session, *, contest: Contest) -> DrawRecord:
    """Re-run the draw from the published seed and entry list, and compare."""
    if contest.status != "drawn" or contest.secret_seed is None or contest.drawn_entries is None:
        raise Conflict(f"Contest {contest.id} has not been drawn yet.", field="status", code="not_drawn")
    winners = [
        w.customer_id if w.customer_id is not None else -1 for w in list_winners(session, contest=contest)
    ]
    prizes = prize_count(list_prizes(session, contest=contest))
    result = draw_algorithm.verify(
        seed=contest.secret_seed, published_commitment=contest.seed_hash or "",
        entries=[(int(c), int(n)) for c, n in contest.drawn_entries],
        published_entries_hash=contest.entries_hash or "", prizes=prizes, published_winners=winners,
    )  # fmt: skip
    return DrawRecord(contest=contest, prizes=prizes, published_winners=winners, verification=result)


# --- customer hooks (contests, referrals and games) ------------------------------------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """A merged duplicate's referrals (but one between the two), code (unless the survivor has one),
    entries (added to the survivor's where both entered), group places (unless the survivor is in a group
    of that game), scores and wins go to the survivor. Drawn contests keep their published entry list."""
    pair = Referral.referrer_id.in_((from_customer_id, to_customer_id)) & Referral.referred_id.in_(
        (from_customer_id, to_customer_id)
    )
    changed = int(session.execute(delete(Referral).where(Referral.org_id == org_id, pair)).rowcount or 0)
    survivor_referred = session.scalar(select(Referral.id).where(Referral.org_id == org_id,
                                                                 Referral.referred_id == to_customer_id))  # fmt: skip
    if survivor_referred is not None:
        changed += int(session.execute(delete(Referral).where(
            Referral.org_id == org_id, Referral.referred_id == from_customer_id)).rowcount or 0)  # fmt: skip
    changed += _move(session, Referral.referred_id, org_id, from_customer_id, to_customer_id, Referral)
    changed += _move(session, Referral.referrer_id, org_id, from_customer_id, to_customer_id, Referral)
    code = session.scalar(select(ReferralCode).where(ReferralCode.org_id == org_id,
                                                     ReferralCode.customer_id == from_customer_id))  # fmt: skip
    if code is not None:
        if session.scalar(select(ReferralCode.id).where(ReferralCode.org_id == org_id,
                                                        ReferralCode.customer_id == to_customer_id)) is None:  # fmt: skip
            code.customer_id = to_customer_id
        else:
            session.delete(code)
        changed += 1
    for entry in session.scalars(select(ContestEntry).where(ContestEntry.org_id == org_id,
                                                            ContestEntry.customer_id == from_customer_id)):  # fmt: skip
        target = session.scalar(select(ContestEntry).where(ContestEntry.contest_id == entry.contest_id,
                                                           ContestEntry.customer_id == to_customer_id))  # fmt: skip
        if target is None:
            entry.customer_id = to_customer_id
        else:
            target.count += entry.count
            session.delete(entry)
        changed += 1
    for membership in session.scalars(select(GameMembership).where(GameMembership.org_id == org_id,
                                                                   GameMembership.customer_id == from_customer_id)):  # fmt: skip
        taken = session.scalar(select(GameMembership.id).where(GameMembership.game_id == membership.game_id,
                                                               GameMembership.customer_id == to_customer_id))  # fmt: skip
        if taken is None:
            membership.customer_id = to_customer_id
        else:
            session.delete(membership)
        changed += 1
    changed += _move(session, GameScore.customer_id, org_id, from_customer_id, to_customer_id, GameScore)
    changed += _move(
        session, ContestWinner.customer_id, org_id, from_customer_id, to_customer_id, ContestWinner
    )
    session.flush()
    return changed


def _move(session: Session, column, org_id: int, from_id: int, to_id: int, model) -> int:
    result = session.execute(
        update(model).where(model.org_id == org_id, column == from_id).values({column.key: to_id})
        .execution_options(synchronize_session="fetch")
    )  # fmt: skip
    return int(result.rowcount or 0)


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """The personal code is withdrawn and the customer leaves every group; the amounts (entries, scores,
    awards, referrals) stay, as they hold no personal data and draws must remain verifiable."""
    changed = session.execute(delete(ReferralCode).where(ReferralCode.org_id == org_id,
                                                         ReferralCode.customer_id == customer_id)).rowcount or 0  # fmt: skip
    changed += session.execute(delete(GameMembership).where(GameMembership.org_id == org_id,
                                                            GameMembership.customer_id == customer_id)).rowcount or 0  # fmt: skip
    changed += session.execute(update(GameScore).where(GameScore.org_id == org_id, GameScore.customer_id == customer_id,
                                                       GameScore.note != "").values(note="")).rowcount or 0  # fmt: skip
    return int(changed)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    def rows(model, *where, fields: tuple[str, ...]) -> list[dict]:
        found = session.scalars(select(model).where(model.org_id == org_id, *where).order_by(model.id))
        return [jsonable({name: getattr(row, name) for name in fields}) for row in found]

    return {
        "referral_code": rows(ReferralCode, ReferralCode.customer_id == customer_id, fields=("code", "created_at")),
        "referrals": rows(Referral, (Referral.referrer_id == customer_id) | (Referral.referred_id == customer_id),
                          fields=("id", "referrer_id", "referred_id", "status", "created_at", "rewarded_at")),
        "contest_entries": rows(ContestEntry, ContestEntry.customer_id == customer_id,
                                fields=("contest_id", "count", "source", "created_at")),
        "contest_wins": rows(ContestWinner, ContestWinner.customer_id == customer_id,
                             fields=("contest_id", "position", "prize_id", "points")),
        "game_groups": rows(GameMembership, GameMembership.customer_id == customer_id,
                            fields=("game_id", "group_id", "joined_at")),
        "game_scores": rows(GameScore, GameScore.customer_id == customer_id,
                            fields=("game_id", "points", "note", "scored_at")),
        "game_awards": rows(GameAward, GameAward.customer_id == customer_id,
                            fields=("game_id", "period_key", "rank", "score", "points", "awarded_at")),
    }  # fmt: skip
