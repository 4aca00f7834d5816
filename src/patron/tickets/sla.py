"""SLA clock arithmetic: pure functions over timezone-aware datetimes.

Due times are either calendar time (``hours=None``: the target is added as elapsed time) or
business time (only minutes inside the working windows of a :class:`BusinessHours` count).
Working windows are built from local wall-clock hours in the organisation's time zone through
``zoneinfo``, so a 9-17 day stays 9-17 local across daylight-saving changes.

Nothing here touches the database; the service module feeds these functions and stores the
results.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: a clock counts as "at risk" once this share of its window (creation to due time) or less is left
AT_RISK_SHARE = 0.25

#: safety bound on how far ahead a business-time due date is searched (ten years of days)
_MAX_DAYS = 3660

SLA_STATES = ("ok", "at_risk", "breached", "met", "paused")


@dataclass(frozen=True)
class BusinessHours:
    """Working windows: ``start_hour``-``end_hour`` local time on ``days`` (Monday=0) in ``timezone``."""

    start_hour: int
    end_hour: int
    days: frozenset[int]
    timezone: ZoneInfo

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < self.end_hour <= 24:
            raise ValueError("business hours need 0 <= start_hour < end_hour <= 24")
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("business days must be a non-empty subset of 0-6 (Monday=0)")

    @classmethod
    def from_policy(cls, *, start_hour: int, end_hour: int, days: str, timezone: str) -> BusinessHours:
        """Build from a policy's columns: ``days`` is a string of weekday digits such as ``"01234"``."""
        return cls(
            start_hour=start_hour,
            end_hour=end_hour,
            days=frozenset(int(d) for d in days),
            timezone=zone(timezone),
        )

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of one local calendar day, in UTC, or None on a day off."""
        if day.weekday() not in self.days:
            return None
        start = datetime.combine(day, time(self.start_hour), self.timezone).astimezone(UTC)
        if self.end_hour == 24:
            end_local = datetime.combine(day + timedelta(days=1), time(0), self.timezone)
        else:
            end_local = datetime.combine(day, time(self.end_hour), self.timezone)
        end = end_local.astimezone(UTC)
        if end <= start:  # a window swallowed by a daylight-saving jump
            return None
        return start, end

    def windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows in time order, starting with the local day that contains ``moment``."""
        day = moment.astimezone(self.timezone).date()
        for offset in range(_MAX_DAYS):
            found = self.window(day + timedelta(days=offset))
            if found is not None:
                yield found


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``, falling back to UTC for an empty or unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def add_working_time(start: datetime, duration: timedelta, hours: BusinessHours | None) -> datetime:
    """``start`` plus ``duration``, counting only working time when ``hours`` is given.

    Outside working hours the clock waits for the next window: a ticket opened on Saturday
    with a one-hour target against Monday-Friday 9-17 is due Monday 10:00 local time.
    """
    start = _aware(start, "start")
    if hours is None or duration <= timedelta(0):
        return start + duration
    remaining = duration
    for window_start, window_end in hours.windows_from(start):
        if window_end <= start:
            continue
        begin = max(window_start, start)
        available = window_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise ValueError("no working window found within ten years; check the business hours")


def working_time_between(start: datetime, end: datetime, hours: BusinessHours | None) -> timedelta:
    """Time between ``start`` and ``end`` that falls inside working windows (all of it without ``hours``)."""
    start = _aware(start, "start")
    end = _aware(end, "end")
    if end <= start:
        return timedelta(0)
    if hours is None:
        return end - start
    total = timedelta(0)
    for window_start, window_end in hours.windows_from(start):
        if window_start >= end:
            break
        overlap = min(window_end, end) - max(window_start, start)
        if overlap > timedelta(0):
            total += overlap
    return total


def due_at(start: datetime, minutes: int, hours: BusinessHours | None = None) -> datetime:
    """When a target of ``minutes`` (calendar or working minutes) that starts at ``start`` falls due."""
    return add_working_time(start, timedelta(minutes=minutes), hours)


def describe_minutes(minutes: int) -> str:
    """A target in words: ``15 minutes``, ``1 hour``, ``1 hour 30 minutes``, ``3 days``."""
    if minutes % 1440 == 0 and minutes >= 2880:
        days = minutes // 1440
        return f"{days} days"
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour" + ("s" if hours != 1 else ""))
    if rest or not parts:
        parts.append(f"{rest} minute" + ("s" if rest != 1 else ""))
    return " ".join(parts)


@dataclass(frozen=True)
class SlaSnapshot:
    """The SLA as seen at one moment: the state and the minutes left on the running clock."""

    state: str
    minutes_left: int | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None


def _late(done_at: datetime | None, due: datetime | None) -> bool:
    return done_at is not None and due is not None and done_at > due


def sla_state(
    *,
    now: datetime,
    status: str,
    created_at: datetime,
    first_response_due_at: datetime | None,
    resolution_due_at: datetime | None,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    first_response_breached_at: datetime | None = None,
    resolution_breached_at: datetime | None = None,
) -> SlaSnapshot:
    """Where a ticket stands against its SLA at ``now``.

    - ``breached``: a breach was recorded, a target was met late, or a running clock is past due;
    - ``met``: resolved or closed with both targets met;
    - ``paused``: waiting on the customer (status ``pending``), the clocks stand still;
    - ``at_risk``: the running clock has :data:`AT_RISK_SHARE` or less of its window left;
    - ``ok``: otherwise.

    The running clock is the first-response clock until a first response is given, then the
    resolution clock. ``minutes_left`` is whole calendar minutes to its due time (negative when
    overdue) and None when no clock runs.
    """

    def snapshot(state: str, left: int | None = None) -> SlaSnapshot:
        return SlaSnapshot(state, left, first_response_due_at, resolution_due_at)

    recorded = first_response_breached_at is not None or resolution_breached_at is not None
    late = _late(first_response_at, first_response_due_at) or _late(resolved_at, resolution_due_at)
    if status in ("resolved", "closed"):
        return snapshot("breached" if recorded or late else "met")
    if first_response_at is None and first_response_due_at is not None:
        due = first_response_due_at
    else:
        due = resolution_due_at
    left = None if due is None else math.floor((due - now).total_seconds() / 60)
    if status == "pending":
        return snapshot("breached" if recorded or late else "paused")
    overdue = (
        first_response_at is None and first_response_due_at is not None and now > first_response_due_at
    ) or (resolution_due_at is not None and now > resolution_due_at)
    if recorded or late or overdue:
        return snapshot("breached", left)
    if due is None:
        return snapshot("ok")
    window = (due - created_at).total_seconds()
    remaining = (due - now).total_seconds()
    if window > 0 and remaining <= window * AT_RISK_SHARE:
        return snapshot("at_risk", left)
    return snapshot("ok", left)
