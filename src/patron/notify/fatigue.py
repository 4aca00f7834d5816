"""Quiet hours and frequency caps for ``marketing`` messages, checked when a message is about to be sent.

Each organisation may set, per channel (:class:`~patron.notify.models.ChannelPolicy`):

* **quiet hours** - ``quiet_start``-``quiet_end`` ("21:00"-"08:00"; the window may wrap past midnight)
  in the *customer's* time zone (their profile's ``timezone``, else the organisation's, else UTC). A
  marketing message due inside the window is held, still ``queued``, until the window ends there; the
  hold is not an attempt and is written to the message's history.
* **frequency caps** - at most ``daily_cap`` marketing messages on the channel to one customer in the
  last 24 hours and ``weekly_cap`` in the last 7 days (counting those actually sent). A message over a cap
  is ``suppressed`` with the reason ``daily_cap`` or ``weekly_cap``: an offer that comes too often is
  dropped, not sent later.

``service`` messages (a ticket reply, a receipt) are never held or capped. Consent and the suppression
list are checked before any of this (:mod:`patron.notify.delivery`).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.errors import Invalid
from patron.notify.models import CHANNELS, ChannelPolicy, Message

CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_CAP = 1000
#: what a message counts against a cap once it has gone out
SENT_STATUSES = ("sent", "delivered", "opened", "clicked")


def _clock(value: str | None, field: str) -> time | None:
    if value is None:
        return None
    match = CLOCK_RE.match(value)
    if match is None:
        raise Invalid(f"{field} must be a time of day as HH:MM (24-hour), like 21:00.", field=field)
    return time(int(match[1]), int(match[2]))


def _cap(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAP:
        raise Invalid(f"{field} must be a whole number from 0 to {MAX_CAP}, or null for no cap.", field=field)
    return value


def get_policy(session: Session, *, org_id: int, channel: str) -> ChannelPolicy | None:
    return session.scalar(
        select(ChannelPolicy).where(ChannelPolicy.org_id == org_id, ChannelPolicy.channel == channel)
    )


def list_policies(session: Session, *, org_id: int) -> list[ChannelPolicy]:
    """The organisation's policies, one per channel that has one, in the order of :data:`CHANNELS`."""
    found = {p.channel: p for p in session.scalars(select(ChannelPolicy).where(ChannelPolicy.org_id == org_id))}
    return [found[channel] for channel in CHANNELS if channel in found]


def set_policy(
    session: Session,
    *,
    org_id: int,
    channel: str,
    quiet_start: str | None,
    quiet_end: str | None,
    daily_cap: int | None,
    weekly_cap: int | None,
) -> ChannelPolicy:
    """Create or replace the policy of one channel (every field given; null means none)."""
    if channel not in CHANNELS:
        raise Invalid(f"channel must be one of {', '.join(CHANNELS)}.", field="channel")
    start, end = _clock(quiet_start, "quiet_start"), _clock(quiet_end, "quiet_end")
    if (start is None) != (end is None):
        raise Invalid("Quiet hours need both quiet_start and quiet_end (or neither).", field="quiet_end")
    if start is not None and start == end:
        raise Invalid("quiet_end must differ from quiet_start.", field="quiet_end")
    daily, weekly = _cap(daily_cap, "daily_cap"), _cap(weekly_cap, "weekly_cap")
    if daily is not None and weekly is not None and weekly < daily:
        raise Invalid("weekly_cap cannot be smaller than daily_cap.", field="weekly_cap")
    policy = get_policy(session, org_id=org_id, channel=channel)
    if policy is None:
        policy = ChannelPolicy(org_id=org_id, channel=channel)
        session.add(policy)
    policy.quiet_start, policy.quiet_end = quiet_start, quiet_end
    policy.daily_cap, policy.weekly_cap = daily, weekly
    session.flush()
    return policy


def quiet_until(policy: ChannelPolicy | None, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When the quiet hours that ``now`` (aware) falls in end, as an aware UTC time; None outside them."""
    if policy is None or policy.quiet_start is None or policy.quiet_end is None:
        return None
    start, end = _clock(policy.quiet_start, "quiet_start"), _clock(policy.quiet_end, "quiet_end")
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # wraps past midnight: 21:00-08:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    # the wall-clock end on that day; for a time a DST change skips, fold picks the later reading
    ends = datetime.combine(end_day, end, tzinfo=tz)
    return ends.astimezone(ZoneInfo("UTC"))


def cap_reached(session: Session, policy: ChannelPolicy | None, message: Message, now: datetime) -> str | None:
    """``daily_cap`` or ``weekly_cap`` when the customer already had that many marketing messages on the
    message's channel in the last 24 hours or 7 days; None when under both caps (or none is set)."""
    if policy is None:
        return None
    for reason, cap, window in (("daily_cap", policy.daily_cap, timedelta(days=1)),
                                ("weekly_cap", policy.weekly_cap, timedelta(days=7))):  # fmt: skip
        if cap is None:
            continue
        sent = session.scalar(
            select(func.count(Message.id)).where(
                Message.org_id == message.org_id,
                Message.customer_id == message.customer_id,
                Message.channel == message.channel,
                Message.purpose == "marketing",
                Message.id != message.id,
                Message.status.in_(SENT_STATUSES),
                Message.sent_at >= now - window,
            )
        )
        if sent >= cap:
            return reason
    return None
