"""When a recurring campaign sends next: a wall-clock time in the campaign's own time zone, every day, every
week on a weekday or every month on a day, across daylight-saving changes.

A local time a change skips (02:30 on the spring-forward night in Berlin) is sent at the same distance
after the jump (03:30 local); a time the change repeats is sent at its first reading.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.campaigns.models import RECURRENCES
from patron.core.errors import Invalid

CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_DAYS_AHEAD = 400


def zone_or_raise(name: str, *, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"Unknown time zone '{name[:64]}'; use an IANA name like Europe/Berlin.", field=field
        ) from None


def check_recurrence(value: dict, *, field: str = "recurrence") -> dict:
    """The recurrence, normalised: ``{"every", "time", "weekday" (weekly, 0 = Monday), "day" (monthly, 1-28)}``."""
    every = value.get("every")
    if every not in RECURRENCES:
        raise Invalid(f"every must be one of {', '.join(RECURRENCES)}.", field=f"{field}.every")
    clock = value.get("time")
    if not isinstance(clock, str) or CLOCK_RE.match(clock) is None:
        raise Invalid("time must be a time of day as HH:MM (24-hour).", field=f"{field}.time")
    clean: dict = {"every": every, "time": clock}
    if every == "weekly":
        weekday = value.get("weekday")
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise Invalid(
                "A weekly campaign needs weekday 0 (Monday) to 6 (Sunday).", field=f"{field}.weekday"
            )
        clean["weekday"] = weekday
    if every == "monthly":
        day = value.get("day")
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 28:
            raise Invalid("A monthly campaign needs day 1-28 (every month has it).", field=f"{field}.day")
        clean["day"] = day
    return clean


def _matches(recurrence: dict, day) -> bool:
    if recurrence["every"] == "weekly":
        return day.weekday() == recurrence["weekday"]
    if recurrence["every"] == "monthly":
        return day.day == recurrence["day"]
    return True


def next_occurrence(recurrence: dict, tz: ZoneInfo, after: datetime) -> datetime:
    """The first send strictly after ``after`` (aware), as an aware UTC time."""
    hour, minute = (int(part) for part in recurrence["time"].split(":"))
    day = after.astimezone(tz).date()
    for _ in range(MAX_DAYS_AHEAD):
        if _matches(recurrence, day):
            # fold=0: a repeated time is its first reading; a skipped one maps past the jump
            moment = datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)
            if moment > after:
                return moment
        day += timedelta(days=1)
    raise Invalid("The recurrence has no occurrence in the next year.", field="recurrence")


def occurrence_key(moment: datetime, tz: ZoneInfo) -> str:
    """The name of a recurring send: its local date (one send per campaign and day)."""
    return moment.astimezone(tz).date().isoformat()
