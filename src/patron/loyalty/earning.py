"""Points earned on events, and points expiring.

* **Purchases.** An order in the organisation's currency earns ``floor(total x points_per_unit x tier multiplier)`` points once it is paid
  (or placed as paid, shipped or delivered), plus the points of every active ``purchase_bonus`` rule whose
  ``min_amount`` the total reaches; once per order (idempotency key ``order-earn:<id>``). A cancelled or
  refunded order takes those points back (a ``reverse`` entry), as far as the balance still holds them.
* **Surveys answered, referrals.** :func:`award_survey_answered` and :func:`award_referral` give the points
  of the organisation's active rules of that kind, once per response or per referred customer; the job
  :func:`award_surveys_answered` finds the responses of the last 7 days by itself.
* **App streaks.** :func:`track_app_streaks`, a daily job, reads each customer's ``last_seen_at`` from the
  event enrichment counters: a customer seen today whose streak ended yesterday extends it, anyone else
  seen today starts at 1. Every ``streak_days`` days in a row earn the rule's points.
* **Expiry.** :func:`expire_points`, a daily job: points are spent oldest first (FIFO); the unspent part
  of an earning whose ``expires_at`` has passed is written off with an ``expire`` entry (key
  ``expire:<earning id>``, so the job can run any number of times).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.customers import service as customers_service
from patron.events import signals as event_signals
from patron.loyalty import programme as programme_service
from patron.loyalty import service as points_service
from patron.loyalty.models import AppStreak, EarnRule, PointsBalance, PointsEntry
from patron.orders import models as order_models
from patron.orders import service as orders_service
from patron.surveys import service as surveys_service

#: order statuses that mean the order was paid for
EARNING_STATUSES = order_models.PAID_STATUSES
REVERSING_STATUSES = frozenset({"cancelled", "refunded"})


# --- purchases ---------------------------------------------------------------------------------------


def purchase_points(
    session: Session, *, org_id: int, customer_id: int, total: Decimal
) -> tuple[int, list[str]]:
    """Points an order total earns now, and the names of the bonus rules that added to them."""
    programme = programme_service.get_programme(session, org_id=org_id)
    multiplier = programme_service.earn_multiplier(session, org_id=org_id, customer_id=customer_id)
    points = int((total * programme.points_per_unit * multiplier).to_integral_value(rounding=ROUND_FLOOR))
    bonuses = []
    for rule in programme_service.list_rules(session, org_id=org_id, kind="purchase_bonus", active=True):
        if rule.min_amount is not None and total >= rule.min_amount:
            points += rule.points
            bonuses.append(rule.name)
    return points, bonuses


def earn_for_order(session: Session, *, org_id: int, order_id: int, customer_id: int, number: int,
                   total: Decimal, currency: str, status: str, at: datetime | None = None) -> PointsEntry | None:  # fmt: skip
    """Give the order's points when it is paid and the programme is on (once per order). Only orders in the
    organisation's currency earn: the rate is points per unit of that currency."""
    if status not in EARNING_STATUSES or not programme_service.get_programme(session, org_id=org_id).enabled:
        return None
    if currency != orders_service.org_currency(session, org_id=org_id):
        return None
    points, bonuses = purchase_points(session, org_id=org_id, customer_id=customer_id, total=total)
    if points <= 0:
        return None
    reason = f"Order #{number}" + (f" (+ {', '.join(bonuses)})" if bonuses else "")
    entry, _ = points_service.change_points(session, org_id=org_id, customer_id=customer_id, kind="earn",
                                            points=points, reason=reason[:200], source=f"order:{order_id}",
                                            idempotency_key=f"order-earn:{order_id}", at=at)  # fmt: skip
    return entry


def reverse_for_order(session: Session, *, org_id: int, order_id: int, customer_id: int, number: int,
                      status: str) -> PointsEntry | None:  # fmt: skip
    """Take back what the order earned when it is cancelled or refunded, no more than the balance holds
    (points already spent stay spent)."""
    earned = session.scalar(select(PointsEntry).where(PointsEntry.org_id == org_id,
                                                      PointsEntry.idempotency_key == f"order-earn:{order_id}"))  # fmt: skip
    if earned is None:
        return None
    balance = points_service.get_balance(session, org_id=org_id, customer_id=customer_id)
    points = min(earned.delta, balance.balance if balance else 0)
    if points <= 0:
        return None
    entry, _ = points_service.change_points(session, org_id=org_id, customer_id=customer_id, kind="reverse",
                                            points=points, reason=f"Order #{number} {status}",
                                            source=f"order:{order_id}", idempotency_key=f"order-reverse:{order_id}")  # fmt: skip
    return entry


# --- surveys, referrals ------------------------------------------------------------------------------


def _award_rules(session: Session, *, org_id: int, customer_id: int, kind: str, key: str, source: str,
                 reason: str) -> list[PointsEntry]:  # fmt: skip
    entries = []
    for rule in programme_service.list_rules(session, org_id=org_id, kind=kind, active=True):
        entry, _ = points_service.change_points(session, org_id=org_id, customer_id=customer_id, kind="earn",
                                                points=rule.points, reason=f"{reason} ({rule.name})"[:200],
                                                source=source[:60], idempotency_key=f"rule-{rule.id}:{key}"[:200])  # fmt: skip
        entries.append(entry)
    return entries


def award_survey_answered(
    session: Session, *, org_id: int, customer_id: int, response_id: int
) -> list[PointsEntry]:
    """Points of every active ``survey_answered`` rule, once per survey response."""
    return _award_rules(session, org_id=org_id, customer_id=customer_id, kind="survey_answered",
                        key=f"survey-response:{response_id}", source=f"survey-response:{response_id}",
                        reason="Survey answered")  # fmt: skip


def award_referral(
    session: Session, *, org_id: int, customer_id: int, referred_customer_id: int
) -> list[PointsEntry]:
    """Points of every active ``referral`` rule to ``customer_id`` for bringing ``referred_customer_id``;
    once per referred customer (calling again changes nothing). The seam the referral programme calls."""
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=referred_customer_id,
                                            field="referred_customer_id")  # fmt: skip
    return _award_rules(session, org_id=org_id, customer_id=customer_id, kind="referral",
                        key=f"referral:{referred_customer_id}", source=f"referral:{referred_customer_id}",
                        reason="Referred a friend")  # fmt: skip


SURVEY_LOOKBACK = timedelta(days=7)


def award_surveys_answered(session: Session, *, now: datetime | None = None) -> int:
    """Job: the points of the active ``survey_answered`` rules for every response by a known customer
    submitted in the last 7 days and since the rule was made, once per response. Returns the awards."""
    now = now or utcnow()
    rules = list(
        session.scalars(select(EarnRule).where(EarnRule.kind == "survey_answered", EarnRule.active.is_(True)))
    )
    awards = 0
    for rule in rules:
        since = max(now - SURVEY_LOOKBACK, rule.created_at)
        prefix = f"rule-{rule.id}:survey-response:"
        done = set(session.scalars(select(PointsEntry.idempotency_key).where(
            PointsEntry.org_id == rule.org_id, PointsEntry.idempotency_key.startswith(prefix),
            PointsEntry.created_at >= since)))  # fmt: skip
        for response_id, customer_id, _at in surveys_service.customer_responses_since(
            session, org_id=rule.org_id, since=since
        ):
            if f"{prefix}{response_id}" in done:
                continue
            customer = customers_service.get_customer(session, org_id=rule.org_id, customer_id=customer_id)
            if customer is None or customer.erased_at is not None:
                continue  # merged away or erased since
            points_service.change_points(
                session, org_id=rule.org_id, customer_id=customer_id, kind="earn", points=rule.points,
                reason=f"Survey answered ({rule.name})"[:200], source=f"survey-response:{response_id}",
                idempotency_key=f"{prefix}{response_id}", at=now,
            )  # fmt: skip
            awards += 1
    return awards


# --- app streaks -------------------------------------------------------------------------------------


def _streak_rows(session: Session, *, org_id: int) -> dict[int, AppStreak]:
    return {
        row.customer_id: row for row in session.scalars(select(AppStreak).where(AppStreak.org_id == org_id))
    }


def track_app_streaks(session: Session, *, now: datetime | None = None) -> int:
    """Daily job (run it once a day, late): extend or start each customer's run of days with app use and
    award the ``app_streak`` rules whose day count a run reaches (again at every multiple). Returns the
    number of awards."""
    now = now or utcnow()
    today = now.date()
    awards = 0
    org_ids = {rule.org_id for rule in _active_streak_rules(session)}
    for org_id in sorted(org_ids):
        rules = programme_service.list_rules(session, org_id=org_id, kind="app_streak", active=True)
        streaks = _streak_rows(session, org_id=org_id)
        for customer_id in event_signals.customers_seen_on(session, org_id=org_id, day=today):
            row = streaks.get(customer_id)
            if row is None:
                row = AppStreak(
                    org_id=org_id, customer_id=customer_id, days=0, last_day=today - timedelta(days=2)
                )
                session.add(row)
            if row.last_day == today:
                continue
            row.days = row.days + 1 if row.last_day == today - timedelta(days=1) else 1
            row.last_day = today
            for rule in rules:
                if rule.streak_days and row.days % rule.streak_days == 0:
                    points_service.change_points(
                        session, org_id=org_id, customer_id=customer_id, kind="earn", points=rule.points,
                        reason=f"{row.days} days in a row in the app ({rule.name})"[:200], source="app-streak",
                        idempotency_key=f"rule-{rule.id}:streak:{customer_id}:{today.isoformat()}", at=now,
                    )  # fmt: skip
                    awards += 1
        session.flush()
    return awards


def _active_streak_rules(session: Session):
    return session.scalars(select(EarnRule).where(EarnRule.kind == "app_streak", EarnRule.active.is_(True)))


# --- expiry ------------------------------------------------------------------------------------------


@dataclass
class Lot:
    """Points added by one entry, and how many of them are not spent yet."""

    entry_id: int
    source: str | None
    remaining: int
    expires_at: datetime | None


def unspent_lots(entries: list[PointsEntry]) -> list[Lot]:
    """Replay a customer's ledger (oldest first): every entry that adds points is a lot; an ``expire``
    entry empties the lot it names (``source`` ``earn:<id>``), a reversal takes first from the lot of the
    same order, and every other deduction takes from the oldest lots first (FIFO)."""
    lots: deque[Lot] = deque()
    by_id: dict[int, Lot] = {}
    for entry in entries:
        if entry.delta > 0:
            lot = Lot(entry.id, entry.source, entry.delta, entry.expires_at if entry.kind == "earn" else None)
            lots.append(lot)
            by_id[entry.id] = lot
            continue
        owed = -entry.delta
        if entry.kind == "expire" and entry.source and entry.source.startswith("earn:"):
            target = by_id.get(int(entry.source.split(":", 1)[1]))
            if target is not None:
                taken = min(owed, target.remaining)
                target.remaining -= taken
                owed -= taken
        if entry.kind == "reverse":
            for lot in lots:
                if owed and lot.source == entry.source and lot.remaining:
                    taken = min(owed, lot.remaining)
                    lot.remaining -= taken
                    owed -= taken
        for lot in lots:
            if not owed:
                break
            taken = min(owed, lot.remaining)
            lot.remaining -= taken
            owed -= taken
    return [lot for lot in lots if lot.remaining > 0]


def expire_customer_points(session: Session, *, org_id: int, customer_id: int, now: datetime) -> int:
    """Write off the unspent part of the customer's earnings that expired by ``now``; points written off."""
    entries = list(session.scalars(select(PointsEntry).where(PointsEntry.org_id == org_id,
                                                             PointsEntry.customer_id == customer_id)
                                   .order_by(PointsEntry.id)))  # fmt: skip
    expired = 0
    for lot in unspent_lots(entries):
        if lot.expires_at is None or lot.expires_at > now:
            continue
        points_service.change_points(session, org_id=org_id, customer_id=customer_id, kind="expire",
                                     points=lot.remaining, reason=f"Points earned before {lot.expires_at:%d %b %Y} expired",
                                     source=f"earn:{lot.entry_id}", idempotency_key=f"expire:{lot.entry_id}", at=now)  # fmt: skip
        expired += lot.remaining
    return expired


def expire_points(session: Session, *, now: datetime | None = None) -> int:
    """Daily job: expire what is due for every customer who has points and an earning past its date.
    Returns the number of points written off."""
    now = now or utcnow()
    due = session.execute(
        select(PointsEntry.org_id, PointsEntry.customer_id)
        .join(PointsBalance, (PointsBalance.org_id == PointsEntry.org_id)
              & (PointsBalance.customer_id == PointsEntry.customer_id))
        .where(PointsEntry.kind == "earn", PointsEntry.expires_at <= now, PointsBalance.balance > 0)
        .distinct()
    ).all()  # fmt: skip
    return sum(expire_customer_points(session, org_id=org_id, customer_id=customer_id, now=now)
               for org_id, customer_id in due)  # fmt: skip


def expiring_soon(session: Session, *, org_id: int, customer_id: int, within_days: int = 60,
                  now: datetime | None = None) -> list[tuple[datetime, int]]:  # fmt: skip
    """``(expires_at, points)`` of the customer's unspent earnings that expire in the next ``within_days``."""
    now = now or utcnow()
    entries = list(session.scalars(select(PointsEntry).where(PointsEntry.org_id == org_id,
                                                             PointsEntry.customer_id == customer_id)
                                   .order_by(PointsEntry.id)))  # fmt: skip
    horizon = now + timedelta(days=within_days)
    return [(lot.expires_at, lot.remaining) for lot in unspent_lots(entries)
            if lot.expires_at is not None and lot.expires_at <= horizon]  # fmt: skip
