"""Helpers the sales modules share: checks of referenced records, money arithmetic, search patterns."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.errors import Invalid
from patron.customers import service as customers_service
from patron.sales.models import Deal

CENT = Decimal("0.01")


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def weighted(value: Decimal, probability: int) -> Decimal:
    """``value x probability / 100`` rounded half-up to cents: the forecast a stage contributes."""
    return (Decimal(value) * probability / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)


def org_currency(session: Session, *, org_id: int) -> str:
    """The organisation's currency: the default of new deals and the unit of board and activity totals."""
    org = accounts_service.get_organisation(session, org_id=org_id)
    return org.currency if org is not None else "EUR"


def check_user(session: Session, org_id: int, user_id: int | None, field_name: str) -> None:
    if user_id is not None:
        accounts_service.get_user_or_raise(session, org_id=org_id, user_id=user_id, field=field_name)


def check_customer(
    session: Session, org_id: int, customer_id: int | None, field_name: str = "customer_id"
) -> None:
    if customer_id is not None:
        customers_service.get_writable_customer_or_raise(
            session, org_id=org_id, customer_id=customer_id, field=field_name
        )


def require_values(changes: dict, names: tuple[str, ...]) -> None:
    for name in names:
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be empty.", field=name)


def record_deal_event(
    session: Session, deal: Deal, kind: str, summary: str, data: dict, actor_user_id: int | None
) -> None:
    if deal.customer_id is not None:
        customers_service.record_timeline(
            session,
            org_id=deal.org_id,
            customer_id=deal.customer_id,
            kind=kind,
            summary=summary,
            ref_type="deal",
            ref_id=deal.id,
            data=data,
            actor_user_id=actor_user_id,
        )


def money_text(deal: Deal) -> str:
    return f"{Decimal(deal.value).quantize(CENT)} {deal.currency}"
