"""The suppression list: e-mail addresses, phone numbers and customers that never receive anything."""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.notify.models import SUPPRESSION_KINDS, Suppression


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise Invalid(f"Unknown {field} '{value}'; choose one of {', '.join(choices)}.", field=field)


def _suppression_value(kind: str, value: str) -> str:
    _check_choice(kind, SUPPRESSION_KINDS, "kind")
    value = value.strip()
    if kind == "email":
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) or len(value) > 254:
            raise Invalid("value must be an e-mail address.", field="value")
        return value.lower()
    if kind == "phone":
        digits = re.sub(r"[\s\-().]", "", value)
        if not re.fullmatch(r"\+?\d{5,20}", digits):
            raise Invalid("value must be a phone number.", field="value")
        return digits
    if not value.isdigit() or not 0 < int(value) < 2**31:
        raise Invalid("value must be a customer id.", field="value")
    return str(int(value))


def list_suppressions(session: Session, *, org_id: int, kind: str | None = None, limit: int = 50,
                      offset: int = 0) -> tuple[list[Suppression], int]:  # fmt: skip
    query = select(Suppression).where(Suppression.org_id == org_id)
    if kind is not None:
        _check_choice(kind, SUPPRESSION_KINDS, "kind")
        query = query.where(Suppression.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Suppression.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def add_suppression(session: Session, *, org_id: int, kind: str, value: str, reason: str = "",
                    created_by_id: int | None = None) -> Suppression:  # fmt: skip
    """Add an e-mail address, phone number or customer id that never receives anything (Conflict if listed)."""
    value = _suppression_value(kind, value)
    if len(reason) > 200:
        raise Invalid("The reason has at most 200 characters.", field="reason")
    if kind == "customer":
        customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=int(value), field="value")
    if session.scalar(select(Suppression.id).where(Suppression.org_id == org_id, Suppression.kind == kind,
                                                   Suppression.value == value)) is not None:  # fmt: skip
        raise Conflict(f"{value} is already on the suppression list.", field="value")
    entry = Suppression(org_id=org_id, kind=kind, value=value, reason=reason, created_by_id=created_by_id)
    session.add(entry)
    session.flush()
    return entry


def remove_suppression(session: Session, *, org_id: int, suppression_id: int) -> None:
    entry = session.scalar(select(Suppression).where(Suppression.org_id == org_id, Suppression.id == suppression_id))
    if entry is None:
        raise NotFound(f"No suppression entry {suppression_id}.", field="suppression_id")
    session.delete(entry)
    session.flush()


def is_suppressed(session: Session, *, org_id: int, customer_id: int, channel: str, address: str | None) -> bool:
    """True when the customer, or the address the message would go to, is on the suppression list."""
    pairs = [("customer", str(customer_id))]
    if address and channel == "email":
        pairs.append(("email", address.lower()))
    if address and channel == "sms":
        pairs.append(("phone", re.sub(r"[\s\-().]", "", address)))
    conditions = [(Suppression.kind == kind) & (Suppression.value == value) for kind, value in pairs]
    found = session.scalar(select(Suppression.id).where(Suppression.org_id == org_id, or_(*conditions)).limit(1))
    return found is not None
