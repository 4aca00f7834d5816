"""Staff activity metrics: what each staff member did in a period.

Counts come from the sales tables (tasks completed, deals won and lost, open pipeline) and from
the interactions and tickets domains through their service functions
(``count_by_user`` and ``resolved_count_by_user``). Periods are half-open: ``since <= t < until``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.db import utcnow
from patron.core.errors import Invalid
from patron.interactions import service as interactions_service
from patron.sales.common import org_currency
from patron.sales.models import Deal, Task
from patron.tickets import service as tickets_service

#: roles whose members appear in the staff activity report
STAFF_ROLES = ("owner", "admin", "manager", "agent")
PERIODS = ("week", "month")
MAX_SPAN = timedelta(days=5 * 366)
ZERO = Decimal("0.00")


@dataclass
class StaffActivity:
    """One staff member's numbers for a period; values are in the organisation's currency."""

    user_id: int
    full_name: str
    email: str
    role: str
    interactions: int = 0
    tasks_completed: int = 0
    deals_won: int = 0
    deals_won_value: Decimal = ZERO
    deals_lost: int = 0
    tickets_resolved: int = 0
    open_pipeline_value: Decimal = ZERO


@dataclass
class ActivityBucket:
    """The activity of one period (a week or a month) of a time series."""

    start: datetime
    end: datetime
    interactions: int = 0
    tasks_completed: int = 0
    deals_won: int = 0
    deals_won_value: Decimal = ZERO
    deals_lost: int = 0
    tickets_resolved: int = 0


def _from_other_domain(
    module, function: str, session: Session, *, org_id: int, since: datetime, until: datetime
) -> dict[int, int]:
    """Per-user counts from another domain's service function, or nothing if that service lacks it."""
    counter = getattr(module, function, None)
    if counter is None:
        return {}
    return dict(counter(session, org_id=org_id, since=since, until=until))


def _check_window(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("since and until need a time zone.", field="since")
    if since >= until:
        raise Invalid("since must be before until.", field="since")
    if until - since > MAX_SPAN:
        raise Invalid("The period is at most five years.", field="since")


@dataclass
class _Counts:
    interactions: dict[int, int]
    tickets_resolved: dict[int, int]
    tasks_completed: dict[int, int]
    deals_won: dict[int, int]
    deals_won_value: dict[int, Decimal]
    deals_lost: dict[int, int]


def _counts(session: Session, org_id: int, since: datetime, until: datetime, currency: str) -> _Counts:
    tasks = session.execute(
        select(Task.assignee_id, func.count())
        .where(
            Task.org_id == org_id, Task.assignee_id.is_not(None), Task.done_at >= since, Task.done_at < until
        )
        .group_by(Task.assignee_id)
    )
    in_currency = case((Deal.currency == currency, Deal.value), else_=None)
    closed = session.execute(
        select(Deal.owner_id, Deal.status, func.count(), func.sum(in_currency))
        .where(
            Deal.org_id == org_id,
            Deal.owner_id.is_not(None),
            Deal.status.in_(("won", "lost")),
            Deal.closed_at >= since,
            Deal.closed_at < until,
        )
        .group_by(Deal.owner_id, Deal.status)
    )
    won: dict[int, int] = {}
    won_value: dict[int, Decimal] = {}
    lost: dict[int, int] = {}
    for owner_id, status, count, value in closed:
        if status == "won":
            won[owner_id] = count
            won_value[owner_id] = Decimal(value or 0).quantize(ZERO)
        else:
            lost[owner_id] = count
    return _Counts(
        interactions=_from_other_domain(
            interactions_service, "count_by_user", session, org_id=org_id, since=since, until=until
        ),
        tickets_resolved=_from_other_domain(
            tickets_service,
            "resolved_count_by_user",
            session,
            org_id=org_id,
            since=since,
            until=until,
        ),
        tasks_completed={user_id: count for user_id, count in tasks},
        deals_won=won,
        deals_won_value=won_value,
        deals_lost=lost,
    )


def staff_activity(session: Session, *, org_id: int, since: datetime, until: datetime) -> list[StaffActivity]:
    """One row per active staff member (owner, admin, manager, agent), by name.

    Interactions logged, tasks completed, deals won (count and value) and lost, tickets resolved, all
    within ``since <= t < until``; ``open_pipeline_value`` is the value of the open deals they own now.
    Values count deals in the organisation's currency only (no conversion).
    """
    _check_window(since, until)
    currency = org_currency(session, org_id=org_id)
    counts = _counts(session, org_id, since, until, currency)
    open_value = dict(
        session.execute(
            select(Deal.owner_id, func.sum(Deal.value))
            .where(
                Deal.org_id == org_id,
                Deal.status == "open",
                Deal.currency == currency,
                Deal.owner_id.is_not(None),
            )
            .group_by(Deal.owner_id)
        ).all()
    )
    rows = []
    for user in accounts_service.list_users(session, org_id=org_id, active_only=True):
        if user.role not in STAFF_ROLES:
            continue
        uid = user.id
        rows.append(
            StaffActivity(
                user_id=uid,
                full_name=user.full_name,
                email=user.email,
                role=user.role,
                interactions=counts.interactions.get(uid, 0),
                tasks_completed=counts.tasks_completed.get(uid, 0),
                deals_won=counts.deals_won.get(uid, 0),
                deals_won_value=counts.deals_won_value.get(uid, ZERO),
                deals_lost=counts.deals_lost.get(uid, 0),
                tickets_resolved=counts.tickets_resolved.get(uid, 0),
                open_pipeline_value=Decimal(open_value.get(uid) or 0).quantize(ZERO),
            )
        )
    return rows


def period_window(period: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The default report window ending ``now``: the last 7 days for ``week``, the last 30 days otherwise."""
    now = now or utcnow()
    return now - timedelta(days=7 if period == "week" else 30), now


def _bucket_starts(period: str, periods: int, now: datetime) -> list[datetime]:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        current = day - timedelta(days=day.weekday())
        return [current - timedelta(weeks=n) for n in range(periods - 1, -1, -1)]
    starts = []
    year, month = day.year, day.month
    for _ in range(periods):
        starts.append(day.replace(year=year, month=month, day=1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(starts))


def _next_start(period: str, start: datetime) -> datetime:
    if period == "week":
        return start + timedelta(weeks=1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def activity_timeseries(
    session: Session,
    *,
    org_id: int,
    user_id: int | None = None,
    period: str = "week",
    periods: int = 12,
    now: datetime | None = None,
) -> list[ActivityBucket]:
    """Activity per calendar week (Monday 00:00 UTC) or month, oldest first, the current one last.

    With ``user_id`` the numbers are that staff member's; without, the whole organisation's.
    """
    if period not in PERIODS:
        raise Invalid(f"period must be one of {', '.join(PERIODS)}.", field="period")
    if not 1 <= periods <= 104:
        raise Invalid("periods must be between 1 and 104.", field="periods")
    if user_id is not None:
        accounts_service.get_user_or_raise(session, org_id=org_id, user_id=user_id)
    now = now or utcnow()
    currency = org_currency(session, org_id=org_id)
    buckets = []
    for start in _bucket_starts(period, periods, now):
        end = _next_start(period, start)
        counts = _counts(session, org_id, start, end, currency)
        buckets.append(
            ActivityBucket(
                start=start,
                end=end,
                interactions=_pick(counts.interactions, user_id),
                tasks_completed=_pick(counts.tasks_completed, user_id),
                deals_won=_pick(counts.deals_won, user_id),
                deals_won_value=_pick(counts.deals_won_value, user_id, ZERO),
                deals_lost=_pick(counts.deals_lost, user_id),
                tickets_resolved=_pick(counts.tickets_resolved, user_id),
            )
        )
    return buckets


def _pick(values: dict, user_id: int | None, zero=0):
    """One user's number, or the sum over everyone when ``user_id`` is None."""
    if user_id is not None:
        return values.get(user_id, zero)
    return sum(values.values(), zero)
