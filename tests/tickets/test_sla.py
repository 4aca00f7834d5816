"""SLA clock arithmetic (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from patron.tickets import sla

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))


def office(tz: ZoneInfo = BERLIN, start: int = 9, end: int = 17, days=WEEKDAYS) -> sla.BusinessHours:
    return sla.BusinessHours(start_hour=start, end_hour=end, days=frozenset(days), timezone=tz)


def local(year, month, day, hour, minute=0, tz=BERLIN) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


# 2024-06-07 is a Friday, 2024-06-10 the Monday after.


def test_calendar_time_adds_elapsed_minutes():
    start = datetime(2024, 6, 7, 23, 50, tzinfo=UTC)
    assert sla.due_at(start, 15) == datetime(2024, 6, 8, 0, 5, tzinfo=UTC)
    assert sla.due_at(start, 72 * 60) == start + timedelta(hours=72)


def test_within_one_working_day():
    assert sla.due_at(local(2024, 6, 5, 10), 60, office()) == local(2024, 6, 5, 11)


def test_partial_day_carries_into_the_next_morning():
    # 16:30 Wednesday + 2 working hours: 30 minutes today, 90 tomorrow from 09:00.
    assert sla.due_at(local(2024, 6, 5, 16, 30), 120, office()) == local(2024, 6, 6, 10, 30)


def test_over_the_weekend():
    # Friday 16:00 + 4 working hours: 1 hour on Friday, 3 on Monday.
    assert sla.due_at(local(2024, 6, 7, 16), 240, office()) == local(2024, 6, 10, 12)


def test_opened_on_saturday_waits_for_monday_opening():
    assert sla.due_at(local(2024, 6, 8, 11), 60, office()) == local(2024, 6, 10, 10)


def test_opened_before_opening_time_starts_at_opening():
    assert sla.due_at(local(2024, 6, 5, 6, 15), 30, office()) == local(2024, 6, 5, 9, 30)


def test_across_midnight_with_a_late_window():
    # Staffed 18:00-24:00 every day: 23:30 + 60 working minutes = 30 tonight, 30 from 18:00 tomorrow.
    hours = office(start=18, end=24, days=range(7))
    assert sla.due_at(local(2024, 6, 5, 23, 30), 60, hours) == local(2024, 6, 6, 18, 30)


def test_ending_exactly_at_closing_time_stays_that_day():
    assert sla.due_at(local(2024, 6, 5, 9), 8 * 60, office()) == local(2024, 6, 5, 17)


def test_multi_day_target_counts_only_working_days():
    # 24 working hours at 8 per day from Monday 09:00 = end of Wednesday.
    assert sla.due_at(local(2024, 6, 10, 9), 24 * 60, office()) == local(2024, 6, 12, 17)


def test_spring_forward_keeps_local_opening_hours():
    # Berlin moves to summer time on Sunday 2024-03-31. Friday 16:00 CET + 2 working hours
    # = Monday 10:00 CEST, which is 08:00 UTC (it would be 09:00 UTC in winter).
    due = sla.due_at(local(2024, 3, 29, 16), 120, office())
    assert due == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 10


def test_round_the_clock_window_over_a_short_day_counts_real_hours():
    # 0-24 every day: working time equals elapsed time even though 31 March has 23 local hours.
    hours = office(start=0, end=24, days=range(7))
    start = local(2024, 3, 30, 12)
    assert sla.due_at(start, 24 * 60, hours) == start.astimezone(UTC) + timedelta(hours=24)
    assert sla.due_at(start, 24 * 60, hours).astimezone(BERLIN).hour == 13


def test_fall_back_in_new_york():
    # New York leaves summer time on Sunday 2024-11-03. Friday 16:30 EDT + 1 working hour
    # = Monday 09:30 EST = 14:30 UTC.
    due = sla.due_at(local(2024, 11, 1, 16, 30, tz=NEW_YORK), 60, office(tz=NEW_YORK))
    assert due == datetime(2024, 11, 4, 14, 30, tzinfo=UTC)


def test_working_time_between_over_a_weekend():
    spent = sla.working_time_between(local(2024, 6, 7, 15), local(2024, 6, 10, 10), office())
    assert spent == timedelta(hours=3)


def test_working_time_between_without_hours_is_elapsed_time():
    start = datetime(2024, 6, 7, 15, tzinfo=UTC)
    assert sla.working_time_between(start, start + timedelta(minutes=90), None) == timedelta(minutes=90)
    assert sla.working_time_between(start, start - timedelta(minutes=5), None) == timedelta(0)


def test_adding_then_measuring_round_trips():
    start = local(2024, 6, 6, 14, 20)
    due = sla.add_working_time(start, timedelta(minutes=777), office())
    assert sla.working_time_between(start, due, office()) == timedelta(minutes=777)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.due_at(datetime(2024, 6, 5, 10), 60, office())


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [(17, 9, WEEKDAYS), (9, 9, WEEKDAYS), (9, 17, ()), (9, 25, WEEKDAYS), (9, 17, {7})],
)
def test_invalid_business_hours_are_refused(start, end, days):
    with pytest.raises(ValueError):
        office(start=start, end=end, days=days)


def test_unknown_time_zone_falls_back_to_utc():
    assert sla.zone("Mars/Olympus_Mons") == ZoneInfo("UTC")
    hours = sla.BusinessHours.from_policy(start_hour=9, end_hour=17, days="01234", timezone="nowhere")
    assert sla.due_at(datetime(2024, 6, 5, 9, tzinfo=UTC), 30, hours) == datetime(
        2024, 6, 5, 9, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (15, "15 minutes"),
        (1, "1 minute"),
        (60, "1 hour"),
        (90, "1 hour 30 minutes"),
        (480, "8 hours"),
        (1440, "24 hours"),
        (4320, "3 days"),
    ],
)
def test_describe_minutes(minutes, words):
    assert sla.describe_minutes(minutes) == words


# --- the SLA state of a ticket ------------------------------------------------------------------

T0 = datetime(2024, 6, 5, 10, tzinfo=UTC)
FIRST_DUE = T0 + timedelta(hours=1)
RESOLUTION_DUE = T0 + timedelta(hours=8)


def state(now, status="open", **kwargs):
    return sla.sla_state(
        now=now,
        status=status,
        created_at=T0,
        first_response_due_at=FIRST_DUE,
        resolution_due_at=RESOLUTION_DUE,
        **kwargs,
    )


def test_state_ok_counts_down_the_first_response_clock():
    snapshot = state(T0 + timedelta(minutes=10))
    assert (snapshot.state, snapshot.minutes_left) == ("ok", 50)


def test_state_at_risk_in_the_last_quarter():
    assert state(T0 + timedelta(minutes=44)).state == "ok"
    assert state(T0 + timedelta(minutes=46)).state == "at_risk"


def test_state_breached_when_overdue_with_negative_minutes_left():
    snapshot = state(T0 + timedelta(minutes=70))
    assert (snapshot.state, snapshot.minutes_left) == ("breached", -10)


def test_after_a_first_response_the_resolution_clock_runs():
    snapshot = state(T0 + timedelta(hours=2), first_response_at=T0 + timedelta(minutes=20))
    assert (snapshot.state, snapshot.minutes_left) == ("ok", 360)
    assert state(T0 + timedelta(hours=7), first_response_at=T0 + timedelta(minutes=20)).state == "at_risk"


def test_pending_is_paused_unless_already_breached():
    assert state(T0 + timedelta(hours=3), status="pending").state == "paused"
    assert (
        state(T0 + timedelta(hours=3), status="pending", first_response_breached_at=FIRST_DUE).state
        == "breached"
    )


def test_resolved_in_time_is_met_and_late_is_breached():
    ok = dict(first_response_at=T0 + timedelta(minutes=5))
    assert (
        state(T0 + timedelta(days=3), status="resolved", resolved_at=T0 + timedelta(hours=2), **ok).state
        == "met"
    )
    assert (
        state(T0 + timedelta(days=3), status="closed", resolved_at=T0 + timedelta(hours=9), **ok).state
        == "breached"
    )
    assert (
        state(
            T0 + timedelta(days=3),
            status="closed",
            resolved_at=T0 + timedelta(hours=2),
            first_response_at=T0 + timedelta(hours=2),
        ).state
        == "breached"
    )
    assert (
        state(
            T0 + timedelta(days=3), status="resolved", resolved_at=T0 + timedelta(hours=2), **ok
        ).minutes_left
        is None
    )
