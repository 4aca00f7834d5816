"""The programme's settings, earn rules and tiers, and where each customer stands among the tiers.

A customer's tier is decided by their *qualifying points*: points earned (less earnings reversed) in the
last 12 months, or over their whole history when the programme's ``tier_basis`` is ``lifetime``. Spending
or expiring points never lowers a tier. The tier is re-evaluated whenever points are earned or reversed
and by the daily job (:func:`reevaluate_tiers`), which is what moves customers down as old earnings leave
the 12-month window. Every move is kept in :class:`~patron.loyalty.models.TierChange`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.loyalty.models import (
    EARN_RULE_KINDS,
    TIER_BASES,
    CustomerTier,
    EarnRule,
    LoyaltyProgramme,
    LoyaltyTier,
    PointsEntry,
    TierChange,
)

MAX_TIERS = 20
MAX_RULES = 50


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months; the 31st becomes the last day of a shorter month."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- what a transaction has read of the programme ---------------------------------------------------
#
# Earning points for one order reads the programme's settings four times, its tiers and its earn rules
# (and a replay of many orders, or the daily re-evaluation of every customer, reads them again for each).
# They are read once per transaction and organisation instead, and forgotten when the transaction ends,
# when a savepoint rolls back (it may have undone a change), and whenever this module changes them.

_READ = "patron.loyalty.programme"


def _forget_at_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a released savepoint keeps what the transaction read
        session.info.pop(_READ, None)


def _forget_at_rollback(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(_READ, None)


def _read(session: Session, org_id: int) -> dict[str, Any]:
    """What this transaction has read of the organisation's programme (filled by the readers below)."""
    read = session.info.get(_READ)
    if read is None:
        if not event.contains(session, "after_commit", _forget_at_commit):
            event.listen(session, "after_commit", _forget_at_commit)
            event.listen(session, "after_soft_rollback", _forget_at_rollback)
        read = session.info[_READ] = {}
    return read.setdefault(org_id, {})


def _changed(session: Session, org_id: int) -> None:
    """The programme, a tier or a rule of the organisation changed: read them again."""
    read = session.info.get(_READ)
    if read is not None:
        read.pop(org_id, None)


# --- programme settings ------------------------------------------------------------------------------


def get_programme(session: Session, *, org_id: int) -> LoyaltyProgramme:
    """The organisation's settings; an unsaved row with the defaults (not enabled) when never saved."""
    read = _read(session, org_id)
    programme = read.get("programme")
    if programme is None:
        programme = session.scalar(select(LoyaltyProgramme).where(LoyaltyProgramme.org_id == org_id))
        if programme is None:
            programme = LoyaltyProgramme(org_id=org_id, enabled=False, points_per_unit=Decimal("1"),
                                         expiry_months=None, tier_basis="rolling_12m")  # fmt: skip
        read["programme"] = programme
    return programme


def update_programme(session: Session, *, org_id: int, changes: dict) -> LoyaltyProgramme:
    """Change some of ``enabled``, ``points_per_unit`` (0-1000), ``expiry_months`` (1-120 or None) and
    ``tier_basis``. An expiry policy applies to points earned after it is set."""
    programme = get_programme(session, org_id=org_id)
    if "points_per_unit" in changes:
        rate = changes["points_per_unit"]
        if not isinstance(rate, Decimal) or not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1000):
            raise Invalid("points_per_unit: a number from 0 to 1000.", field="points_per_unit")
        programme.points_per_unit = rate
    if "expiry_months" in changes:
        months = changes["expiry_months"]
        if months is not None and (
            isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120
        ):
            raise Invalid(
                "expiry_months: whole months from 1 to 120, or null for never.", field="expiry_months"
            )
        programme.expiry_months = months
    if "tier_basis" in changes:
        if changes["tier_basis"] not in TIER_BASES:
            raise Invalid(f"tier_basis: one of {', '.join(TIER_BASES)}.", field="tier_basis")
        programme.tier_basis = changes["tier_basis"]
    if "enabled" in changes:
        programme.enabled = bool(changes["enabled"])
    programme.updated_at = utcnow()
    if programme.id is None:
        session.add(programme)
    session.flush()
    _changed(session, org_id)
    return programme


# --- earn rules --------------------------------------------------------------------------------------


def _check_rule(
    kind: str, name: str, points: int, streak_days: int | None, min_amount: Decimal | None
) -> None:
    if kind not in EARN_RULE_KINDS:
        raise Invalid(f"kind: one of {', '.join(EARN_RULE_KINDS)}.", field="kind")
    if not name.strip():
        raise Invalid("name: give the rule a name.", field="name")
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= 1_000_000:
        raise Invalid("points: a whole number from 1 to 1,000,000.", field="points")
    if kind == "app_streak":
        if streak_days is None or not 2 <= streak_days <= 365:
            raise Invalid("streak_days: an app streak rule needs 2-365 days.", field="streak_days")
    elif streak_days is not None:
        raise Invalid("streak_days: only app streak rules have days.", field="streak_days")
    if kind == "purchase_bonus":
        if min_amount is None:
            raise Invalid(
                "min_amount: a purchase bonus needs the order amount that earns it.", field="min_amount"
            )
    elif min_amount is not None:
        raise Invalid("min_amount: only purchase bonus rules have an amount.", field="min_amount")


def list_rules(
    session: Session, *, org_id: int, kind: str | None = None, active: bool | None = None
) -> list[EarnRule]:
    """The organisation's earn rules in the order they were made, of one kind and/or activity if given."""
    read = _read(session, org_id)
    rules = read.get("rules")
    if rules is None:
        rules = read["rules"] = list(session.scalars(select(EarnRule).where(EarnRule.org_id == org_id)
                                                     .order_by(EarnRule.id)))  # fmt: skip
    return [rule for rule in rules
            if (kind is None or rule.kind == kind) and (active is None or rule.active == active)]  # fmt: skip


def get_rule_or_raise(session: Session, *, org_id: int, rule_id: int) -> EarnRule:
    rule = session.scalar(select(EarnRule).where(EarnRule.org_id == org_id, EarnRule.id == rule_id))
    if rule is None:
        raise NotFound(f"No earn rule {rule_id}.", field="rule_id")
    return rule


def create_rule(session: Session, *, org_id: int, kind: str, name: str, points: int,
                streak_days: int | None = None, min_amount: Decimal | None = None, active: bool = True) -> EarnRule:  # fmt: skip
    _check_rule(kind, name, points, streak_days, min_amount)
    count = session.scalar(select(func.count(EarnRule.id)).where(EarnRule.org_id == org_id)) or 0
    if count >= MAX_RULES:
        raise Conflict(f"An organisation has at most {MAX_RULES} earn rules.", field="kind")
    rule = EarnRule(org_id=org_id, kind=kind, name=name.strip(), points=points, streak_days=streak_days,
                    min_amount=min_amount, active=active, created_at=utcnow())  # fmt: skip
    session.add(rule)
    session.flush()
    _changed(session, org_id)
    return rule


def update_rule(session: Session, *, rule: EarnRule, changes: dict) -> EarnRule:
    merged = {"name": rule.name, "points": rule.points, "streak_days": rule.streak_days,
              "min_amount": rule.min_amount, **changes}  # fmt: skip
    _check_rule(rule.kind, merged["name"], merged["points"], merged["streak_days"], merged["min_amount"])
    for name in ("name", "points", "streak_days", "min_amount", "active"):
        if name in changes:
            setattr(rule, name, changes[name].strip() if name == "name" else changes[name])
    session.flush()
    _changed(session, rule.org_id)
    return rule


def delete_rule(session: Session, *, rule: EarnRule) -> None:
    session.delete(rule)
    session.flush()
    _changed(session, rule.org_id)


# --- tiers -------------------------------------------------------------------------------------------


def list_tiers(session: Session, *, org_id: int) -> list[LoyaltyTier]:
    """The tiers, lowest threshold first."""
    read = _read(session, org_id)
    tiers = read.get("tiers")
    if tiers is None:
        tiers = read["tiers"] = list(session.scalars(select(LoyaltyTier).where(LoyaltyTier.org_id == org_id)
                                                     .order_by(LoyaltyTier.threshold)))  # fmt: skip
    return list(tiers)


def get_tier_or_raise(session: Session, *, org_id: int, tier_id: int) -> LoyaltyTier:
    tier = session.scalar(select(LoyaltyTier).where(LoyaltyTier.org_id == org_id, LoyaltyTier.id == tier_id))
    if tier is None:
        raise NotFound(f"No tier {tier_id}.", field="tier_id")
    return tier


def _check_tier(session: Session, *, org_id: int, name: str, threshold: int, multiplier: Decimal,
                tier_id: int | None = None) -> None:  # fmt: skip
    if not name.strip():
        raise Invalid("name: give the tier a name.", field="name")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 100_000_000:
        raise Invalid("threshold: whole points from 1 to 100,000,000.", field="threshold")
    if not Decimal("1") <= multiplier <= Decimal("10"):
        raise Invalid("multiplier: from 1 to 10.", field="multiplier")
    for other in list_tiers(session, org_id=org_id):
        if other.id == tier_id:
            continue
        if other.name.lower() == name.strip().lower():
            raise Conflict(f"There is already a tier named {other.name}.", field="name")
        if other.threshold == threshold:
            raise Conflict(f"Tier {other.name} already starts at {threshold:,} points.", field="threshold")


def create_tier(session: Session, *, org_id: int, name: str, threshold: int, multiplier: Decimal = Decimal("1"),
                benefits: str = "") -> LoyaltyTier:  # fmt: skip
    _check_tier(session, org_id=org_id, name=name, threshold=threshold, multiplier=multiplier)
    if len(list_tiers(session, org_id=org_id)) >= MAX_TIERS:
        raise Conflict(f"A programme has at most {MAX_TIERS} tiers.", field="name")
    tier = LoyaltyTier(org_id=org_id, name=name.strip(), threshold=threshold, multiplier=multiplier,
                       benefits=benefits.strip())  # fmt: skip
    session.add(tier)
    session.flush()
    _changed(session, org_id)
    return tier


def update_tier(session: Session, *, tier: LoyaltyTier, changes: dict) -> LoyaltyTier:
    merged = {"name": tier.name, "threshold": tier.threshold, "multiplier": tier.multiplier, **changes}
    _check_tier(session, org_id=tier.org_id, name=merged["name"], threshold=merged["threshold"],
                multiplier=merged["multiplier"], tier_id=tier.id)  # fmt: skip
    for name in ("name", "threshold", "multiplier", "benefits"):
        if name in changes:
            value = changes[name]
            setattr(tier, name, value.strip() if isinstance(value, str) else value)
    session.flush()
    _changed(session, tier.org_id)
    return tier


def delete_tier(session: Session, *, tier: LoyaltyTier) -> None:
    """Delete a tier; its members fall to the tier below at the next evaluation (the job, or their next
    earning)."""
    session.delete(tier)
    session.flush()
    _changed(session, tier.org_id)


# --- where a customer stands -------------------------------------------------------------------------


def qualifying_points(session: Session, *, org_id: int, customer_id: int, basis: str, now: datetime) -> int:
    """Points earned less earnings reversed, in the 12 months before ``now`` or over the whole history."""
    query = select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
        PointsEntry.org_id == org_id, PointsEntry.customer_id == customer_id,
        PointsEntry.kind.in_(("earn", "reverse")),
    )  # fmt: skip
    if basis == "rolling_12m":
        query = query.where(PointsEntry.created_at > add_months(now, -12))
    return max(0, int(session.scalar(query) or 0))


def tier_for(tiers: list[LoyaltyTier], points: int) -> LoyaltyTier | None:
    """The highest tier whose threshold ``points`` reach (``tiers`` lowest first)."""
    reached = [tier for tier in tiers if tier.threshold <= points]
    return reached[-1] if reached else None


def get_customer_tier(session: Session, *, org_id: int, customer_id: int) -> CustomerTier | None:
    return session.scalar(
        select(CustomerTier).where(CustomerTier.org_id == org_id, CustomerTier.customer_id == customer_id)
    )


def evaluate_tier(
    session: Session, *, org_id: int, customer_id: int, now: datetime | None = None
) -> CustomerTier:
    """Decide the customer's tier from their qualifying points now; record an upgrade or downgrade."""
    now = now or utcnow()
    programme = get_programme(session, org_id=org_id)
    tiers = list_tiers(session, org_id=org_id)
    points = qualifying_points(
        session, org_id=org_id, customer_id=customer_id, basis=programme.tier_basis, now=now
    )
    reached = tier_for(tiers, points)
    current = get_customer_tier(session, org_id=org_id, customer_id=customer_id)
    if current is None:
        try:
            with session.begin_nested():
                current = CustomerTier(org_id=org_id, customer_id=customer_id, tier_id=None, qualifying_points=0,
                                       evaluated_at=now)  # fmt: skip
                session.add(current)
                session.flush()
        except IntegrityError:  # created at the same moment by another transaction
            current = get_customer_tier(session, org_id=org_id, customer_id=customer_id)
            assert current is not None
    by_id = {tier.id: tier for tier in tiers}
    before = by_id.get(current.tier_id) if current.tier_id is not None else None
    if (before.id if before else None) != (reached.id if reached else None):
        up = (reached.threshold if reached else 0) > (before.threshold if before else 0)
        session.add(TierChange(org_id=org_id, customer_id=customer_id, from_tier=before.name if before else None,
                               to_tier=reached.name if reached else None, direction="up" if up else "down",
                               qualifying_points=points, changed_at=now))  # fmt: skip
        current.tier_id = reached.id if reached else None
    current.qualifying_points = points
    current.evaluated_at = now
    session.flush()
    return current


def list_tier_changes(
    session: Session, *, org_id: int, customer_id: int, limit: int = 50
) -> list[TierChange]:
    return list(session.scalars(
        select(TierChange).where(TierChange.org_id == org_id, TierChange.customer_id == customer_id)
        .order_by(TierChange.id.desc()).limit(limit)
    ))  # fmt: skip


@dataclass(frozen=True)
class TierStatus:
    """A customer's tier, their qualifying points and how far the next tier is."""

    tier: LoyaltyTier | None
    qualifying_points: int
    next_tier: LoyaltyTier | None
    points_to_next: int | None
    #: share of the way from the current tier's threshold to the next one's, 0-100
    progress_percent: int


def tier_status(
    session: Session, *, org_id: int, customer_id: int, now: datetime | None = None
) -> TierStatus:
    """Where the customer stands now (computed, not stored; the stored tier follows at the next earning)."""
    now = now or utcnow()
    programme = get_programme(session, org_id=org_id)
    tiers = list_tiers(session, org_id=org_id)
    points = qualifying_points(
        session, org_id=org_id, customer_id=customer_id, basis=programme.tier_basis, now=now
    )
    stored = get_customer_tier(session, org_id=org_id, customer_id=customer_id)
    by_id = {tier.id: tier for tier in tiers}
    tier = (
        by_id.get(stored.tier_id)
        if stored is not None and stored.tier_id is not None
        else tier_for(tiers, points)
    )
    above = [t for t in tiers if t.threshold > (tier.threshold if tier else 0)]
    next_tier = above[0] if above else None
    if next_tier is None:
        return TierStatus(tier, points, None, None, 100)
    floor = tier.threshold if tier else 0
    share = (points - floor) * 100 // (next_tier.threshold - floor)
    return TierStatus(tier, points, next_tier, max(0, next_tier.threshold - points), max(0, min(100, share)))


def reevaluate_tiers(session: Session, *, now: datetime | None = None) -> int:
    """Daily job: re-decide the tier of every customer who has one and was not evaluated in the last day
    (old earnings leave the 12-month window, tiers are edited). Returns how many customers changed tier."""
    now = now or utcnow()
    changed = 0
    rows = session.execute(select(CustomerTier.org_id, CustomerTier.customer_id, CustomerTier.tier_id)
                           .where(CustomerTier.tier_id.is_not(None),
                                  CustomerTier.evaluated_at <= now - timedelta(days=1))).all()  # fmt: skip
    for org_id, customer_id, tier_id in rows:
        if evaluate_tier(session, org_id=org_id, customer_id=customer_id, now=now).tier_id != tier_id:
            changed += 1
    return changed


def earn_multiplier(session: Session, *, org_id: int, customer_id: int) -> Decimal:
    """The customer's current tier's multiplier on purchase points (1 without a tier)."""
    stored = get_customer_tier(session, org_id=org_id, customer_id=customer_id)
    if stored is None or stored.tier_id is None:
        return Decimal("1")
    tier = next((tier for tier in list_tiers(session, org_id=org_id) if tier.id == stored.tier_id), None)
    return tier.multiplier if tier is not None else Decimal("1")


def expiry_for(session: Session, *, org_id: int, at: datetime) -> datetime | None:
    """When points earned at ``at`` expire under the programme's policy (None: never)."""
    months = get_programme(session, org_id=org_id).expiry_months
    return add_months(at, months) if months else None
