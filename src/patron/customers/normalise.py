"""Canonical forms of contact points and identity values, so equal things compare equal.

Pure functions: no database, no web. Each raises ``ValueError`` with a readable reason.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EMAIL_RE = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]{2,}$")
PHONE_SEPARATORS_RE = re.compile(r"[\s().\-/]")
COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: the earliest time zone is this far ahead of UTC: a birth date is in the future only after the date there
_EARLIEST_ZONE = timedelta(hours=14)
MAX_EMAIL = 254
MAX_IDENTITY = 254
MAX_TAG = 60


def normalise_email(value: str) -> str:
    """Lower-cased, trimmed e-mail address; ``ValueError`` if it is not one."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        raise ValueError("value is not a valid email address")
    return email


def normalise_phone(value: str) -> str:
    """Digits with a leading ``+`` (``+49 (30) 123-45`` -> ``+493012345``; ``0049...`` -> ``+49...``)."""
    raw = value.strip()
    compact = PHONE_SEPARATORS_RE.sub("", raw)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(
            "value is not a valid phone number (digits, spaces, dashes, dots, brackets, a leading +)"
        )
    if not plus and digits.startswith("00"):
        digits = digits[2:]
    if not 5 <= len(digits) <= 15:
        raise ValueError("a phone number has 5 to 15 digits")
    return "+" + digits


def normalise_identity(identity_type: str, value: str) -> str:
    """The stored form of an identity value of ``identity_type``."""
    if identity_type == "email":
        return normalise_email(value)
    if identity_type == "phone":
        return normalise_phone(value)
    cleaned = value.strip()
    if identity_type == "social":
        cleaned = cleaned.lower()
    if not cleaned:
        raise ValueError("the value is empty")
    if len(cleaned) > MAX_IDENTITY:
        raise ValueError(f"the value is longer than {MAX_IDENTITY} characters")
    return cleaned


def normalise_tag(value: str) -> str:
    """Tags are trimmed and lower-cased so ``VIP`` and ``vip`` are one tag."""
    tag = value.strip().lower()
    if not tag:
        raise ValueError("a tag cannot be empty")
    if len(tag) > MAX_TAG:
        raise ValueError(f"a tag has at most {MAX_TAG} characters")
    return tag


def normalise_tags(values: list[str]) -> list[str]:
    """Normalised tags without repeats, in first-seen order."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(normalise_tag(value), None)
    return list(seen)


def normalise_country(value: str) -> str:
    if not COUNTRY_RE.match(value.strip()):
        raise ValueError("use a two-letter ISO 3166 country code such as DE or KE")
    return value.strip().upper()


@lru_cache(maxsize=1024)
def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def normalise_timezone(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 64 or not _zone_exists(name):
        raise ValueError("not a known IANA time zone (such as Europe/Berlin)")
    return name


def check_birth_year(value: int) -> int:
    latest = date.today().year
    if not 1900 <= value <= latest:
        raise ValueError(f"birth year must be between 1900 and {latest}")
    return value


def check_birth_date(value: date) -> date:
    """A date of birth: from 1900 on and not in the future (today anywhere on Earth is allowed)."""
    if value.year < 1900:
        raise ValueError("a birth date is in 1900 or later")
    if value > (datetime.now(UTC) + _EARLIEST_ZONE).date():
        raise ValueError("a birth date cannot be in the future")
    return value


def parse_birth_date(value: str) -> date:
    """A date of birth written YYYY-MM-DD (ISO 8601), checked by :func:`check_birth_date`."""
    text = value.strip()
    if not ISO_DATE_RE.match(text):
        raise ValueError(f"'{text[:20]}' is not a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a day of the calendar") from None
    return check_birth_date(day)


def to_birth_date(value: object) -> date:
    """A date of birth from ``YYYY-MM-DD`` text or a date, checked; anything else (a number, a date and
    time) is refused rather than read loosely. Raises ValueError with the reason."""
    if isinstance(value, str):
        return parse_birth_date(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return check_birth_date(value)
    raise ValueError("a birth date is written YYYY-MM-DD")


def birthday_in(year: int, born: date) -> date:
    """The date of the birthday of someone born on ``born`` in ``year``: 29 February is 28 February in a
    year without it."""
    if born.month == 2 and born.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, born.month, born.day)


def birth_month_days(days: Iterable[date]) -> set[tuple[int, int]]:
    """The ``(month, day)`` of the birth dates whose birthday falls on one of ``days``: 29 February joins
    28 February in a year without it."""
    pairs: set[tuple[int, int]] = set()
    for day in days:
        pairs.add((day.month, day.day))
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            pairs.add((2, 29))
    return pairs


def local_zone(*names: str | None) -> ZoneInfo:
    """The first of ``names`` that is a known IANA time zone (a customer's, then an organisation's...),
    else UTC."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def days_to_birthday(born: date, today: date) -> int:
    """Days from ``today`` to the next birthday of someone born on ``born``: 0 on the day itself, at most
    365 (a birthday just past, in a leap year ahead)."""
    upcoming = birthday_in(today.year, born)
    if upcoming < today:
        upcoming = birthday_in(today.year + 1, born)
    return (upcoming - today).days
