"""Gift certificates: a prepaid balance under an unguessable code, spent in parts.

Amounts are kept in whole cents (exact comparisons on SQLite too); a spend is one conditional statement
(``UPDATE ... SET balance = balance - x WHERE balance >= x AND not expired``) with its statement entry in
the same savepoint, so two spends racing for the last of a balance never both pass and the balance never
goes negative (a check constraint is the last line of defence).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.loyalty.coupons import new_code, normalise_code
from patron.loyalty.models import GiftCertificate, GiftCertificateEntry
from patron.orders.pricing import MAX_AMOUNT, cents, check_currency

MAX_GIFT = Decimal("100000.00")


def _amount(value: Decimal, *, field: str = "amount", most: Decimal = MAX_GIFT) -> Decimal:
    if not value.is_finite() or value <= 0 or value > most:
        raise Invalid(f"{field}: an amount above 0 and at most {most}.", field=field)
    if cents(value) != value:
        raise Invalid(f"{field}: at most two decimals.", field=field)
    return value


def _to_cents(amount: Decimal) -> int:
    return int(amount * 100)


def do_issue_certificate(session: Session, *, org_id: int, amount: Decimal, currency: str,
                         expires_at: datetime | None = None, customer_id: int | None = None) -> GiftCertificate:  # fmt: skip
    """A new certificate worth ``amount``, with a new code."""
    _amount(amount)
    currency = check_currency(currency)
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise Invalid("expires_at: a future time with a time zone.", field="expires_at")
    if customer_id is not None:
        customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    now = utcnow()
    code = new_code()
    while session.scalar(
        select(GiftCertificate.id).where(GiftCertificate.org_id == org_id, GiftCertificate.code == code)
    ):
        code = new_code()
    amount_cents = _to_cents(amount)
    certificate = GiftCertificate(org_id=org_id, code=code, currency=currency, initial_cents=amount_cents,
                                  balance_cents=amount_cents, customer_id=customer_id, expires_at=expires_at,
                                  issued_at=now)  # fmt: skip
    session.add(certificate)
    session.flush()
    session.add(GiftCertificateEntry(org_id=org_id, certificate_id=certificate.id, kind="issue",
                                     amount_cents=amount_cents, balance_after_cents=amount_cents, created_at=now))  # fmt: skip
    session.flush()
    return certificate


def get_certificate_by_code(session: Session, *, org_id: int, code: str) -> GiftCertificate:
    certificate = session.scalar(select(GiftCertificate).where(GiftCertificate.org_id == org_id,
                                                               GiftCertificate.code == normalise_code(code)))  # fmt: skip
    if certificate is None:
        raise NotFound("No gift certificate with this code.", field="code")
    return certificate


def get_certificate_or_raise(session: Session, *, org_id: int, certificate_id: int) -> GiftCertificate:
    certificate = session.scalar(select(GiftCertificate).where(GiftCertificate.org_id == org_id,
                                                               GiftCertificate.id == certificate_id))  # fmt: skip
    if certificate is None:
        raise NotFound(f"No gift certificate {certificate_id}.", field="certificate_id")
    return certificate


def list_certificates(session: Session, *, org_id: int, customer_id: int | None = None,
                      limit: int = 100) -> list[GiftCertificate]:  # fmt: skip
    query = select(GiftCertificate).where(GiftCertificate.org_id == org_id)
    if customer_id is not None:
        query = query.where(GiftCertificate.customer_id == customer_id)
    return list(session.scalars(query.order_by(GiftCertificate.id.desc()).limit(limit)))


def list_entries(session: Session, *, certificate: GiftCertificate) -> list[GiftCertificateEntry]:
    return list(session.scalars(select(GiftCertificateEntry).where(
        GiftCertificateEntry.org_id == certificate.org_id, GiftCertificateEntry.certificate_id == certificate.id)
        .order_by(GiftCertificateEntry.id)))  # fmt: skip


def do_spend_certificate(session: Session, *, org_id: int, code: str, amount: Decimal, reference: str | None = None,
                         now: datetime | None = None) -> GiftCertificateEntry:  # fmt: skip
    """Take ``amount`` off the certificate: 409 (``field`` ``amount``) when the balance is smaller, 409
    (``code``) when it expired; nothing is written then."""
    _amount(amount, most=MAX_AMOUNT)
    now = now or utcnow()
    certificate = get_certificate_by_code(session, org_id=org_id, code=code)
    if certificate.expires_at is not None and certificate.expires_at <= now:
        raise Conflict(f"This gift certificate expired on {certificate.expires_at:%d %b %Y}.", field="code",
                       code="certificate_expired")  # fmt: skip
    amount_cents = _to_cents(amount)
    with session.begin_nested():
        left = session.execute(
            update(GiftCertificate)
            .where(GiftCertificate.id == certificate.id, GiftCertificate.balance_cents >= amount_cents,
                   or_(GiftCertificate.expires_at.is_(None), GiftCertificate.expires_at > now))
            .values(balance_cents=GiftCertificate.balance_cents - amount_cents)
            .returning(GiftCertificate.balance_cents)
            .execution_options(synchronize_session=False)
        ).scalar()  # fmt: skip
        if left is None:
            session.refresh(certificate)
            raise Conflict(f"The certificate's balance is {certificate.balance} {certificate.currency}; "
                           f"{amount} cannot be spent.", field="amount", code="insufficient_balance")  # fmt: skip
        entry = GiftCertificateEntry(org_id=org_id, certificate_id=certificate.id, kind="spend",
                                     amount_cents=-amount_cents, balance_after_cents=int(left), reference=reference,
                                     created_at=now)  # fmt: skip
        session.add(entry)
        session.flush()
    session.expire(certificate)
    return entry
