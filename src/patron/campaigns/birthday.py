"""Birthday campaigns: a triggered campaign on the trigger name ``birthday`` is evaluated by the campaign
job itself (no rule emits it), at most once an hour.

* A customer is due when their birthday falls on their local date plus ``conditions.days_before`` (0-30,
  default 0): "today" is the date in the customer's time zone (their profile's ``timezone``, else the
  organisation's, else UTC), so a customer in Auckland gets the message on their birthday while it is
  still the day before in UTC.
* Someone born on 29 February has their birthday on 28 February in a year without that day.
* Once a year: the occurrence is ``birthday:<year of the birthday>``, and a customer is taken into an
  occurrence once, so the job running again the same day (or the next, ahead of a late time zone) sends
  nothing twice.
* Only members of the campaign's audience with a ``birth_date`` on their profile are considered; the
  send itself goes the way of every campaign send (variant or hold-out, consent per channel, budget),
  and notify applies the frequency caps and quiet hours.

The message's template sees ``trigger.birthday`` (the birthday's date, ISO) and ``trigger.days_before``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.campaigns import audience as audience_module
from patron.campaigns.models import Campaign
from patron.campaigns.sending import run_occurrence
from patron.campaigns.service import BIRTHDAY  # noqa: F401 - re-exported for the campaign job
from patron.customers import service as customers_service
from patron.customers.normalise import birth_month_days, birthday_in, local_zone

#: how often the job looks for birthdays (a customer's local day starts at any hour of UTC)
BIRTHDAY_EVERY = timedelta(hours=1)
#: local dates are at most this far from the UTC date (time zones run from UTC-12 to UTC+14)
_ZONE_SPREAD = (-1, 0, 1)


def due_birthdays(session: Session, *, org_id: int, now: datetime, days_before: int = 0) -> dict[int, date]:
    """``{customer id: the birthday to send for}`` of the organisation's customers whose birthday is
    ``days_before`` days after their local date at ``now`` (see the module's description)."""
    today_utc = now.astimezone(UTC).date()
    targets = {today_utc + timedelta(days=shift + days_before) for shift in _ZONE_SPREAD}
    org = accounts_service.get_organisation(session, org_id=org_id)
    org_zone = org.timezone if org is not None else None
    due: dict[int, date] = {}
    for customer_id, born, timezone in customers_service.customers_born_on(
        session, org_id=org_id, month_days=birth_month_days(targets)
    ):
        target = now.astimezone(local_zone(timezone, org_zone)).date() + timedelta(days=days_before)
        if target.year > born.year and birthday_in(target.year, born) == target:
            due[customer_id] = target
    return due


def is_due(campaign: Campaign, now: datetime) -> bool:
    """Whether the job should look for the campaign's birthdays now (at most every :data:`BIRTHDAY_EVERY`)."""
    return campaign.last_run_at is None or campaign.last_run_at <= now - BIRTHDAY_EVERY


def process_birthdays(session: Session, *, campaign: Campaign, now: datetime) -> int:
    """Send a ``birthday`` campaign to the members of its audience whose birthday is due (occurrence
    ``birthday:<year>``); how many were taken in (customers already sent this year's are left alone)."""
    days_before = int((campaign.trigger.get("conditions") or {}).get("days_before", 0))
    due = due_birthdays(session, org_id=campaign.org_id, now=now, days_before=days_before)
    taken = 0
    if due:
        members = set(
            audience_module.audience_ids(session, org_id=campaign.org_id, audience=campaign.audience)
        )
        by_birthday: dict[date, list[int]] = defaultdict(list)
        for customer_id, birthday in due.items():
            if customer_id in members:
                by_birthday[birthday].append(customer_id)
        for birthday, customer_ids in sorted(by_birthday.items()):
            taken += run_occurrence(
                session, campaign=campaign, occurrence=f"birthday:{birthday.year}", customer_ids=sorted(customer_ids),
                now=now, trigger_data={"birthday": birthday.isoformat(), "days_before": str(days_before)},
            ).assigned  # fmt: skip
            if campaign.status != "running":
                break  # the budget ran out
    campaign.last_run_at = now
    return taken
