"""Referrals: personal codes, a referral recorded when a new customer uses one, qualified when that
customer's first order is paid, and rewarded with points to both sides.

The orders domain calls :func:`order_paid` through its hook seam (:mod:`patron.orders.hooks`), by
import path, so orders imports nothing of this package. Points are given through
:func:`patron.loyalty.service.change_points` with one idempotency key per side
(``referral:<id>:referrer`` and ``referral:<id>:referred``), so a repeated qualification never pays twice.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.contests.locks import lock_row
from patron.contests.models import Referral, ReferralCode, ReferralProgram
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound, PatronError
from patron.customers import service as customers_service
from patron.loyalty import service as loyalty_service
from patron.orders import models as order_models

#: no 0/O, 1/I/L or U: nothing a customer can misread when a friend dictates the code
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8
MAX_PROGRAM_POINTS = 1_000_000
MAX_REFERRALS_CAP = 10_000
_CODE_TRIES = 8
#: order statuses that mean the order was paid
PAID_STATUSES = order_models.PAID_STATUSES


def normalise_code(code: str) -> str:
    """Upper case, without spaces or dashes (``abcd-efgh`` -> ``ABCDEFGH``)."""
    return re.sub(r"[\s-]", "", code or "").upper()


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# --- the programme ---------------------------------------------------------------------------------


def get_program(session: Session, *, org_id: int) -> ReferralProgram:
    """The organisation's referral terms (the defaults until they are changed; not written by reading)."""
    program = session.scalar(select(ReferralProgram).where(ReferralProgram.org_id == org_id))
    return program or ReferralProgram(
        org_id=org_id, referrer_points=100, referred_points=50, max_referrals=20
    )


def update_program(session: Session, *, org_id: int, referrer_points: int, referred_points: int,
                   max_referrals: int) -> ReferralProgram:  # fmt: skip
    for name, value, top in (("referrer_points", referrer_points, MAX_PROGRAM_POINTS),
                             ("referred_points", referred_points, MAX_PROGRAM_POINTS),
                             ("max_referrals", max_referrals, MAX_REFERRALS_CAP)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise Invalid(f"{name} must be a whole number from 0 to {top:,}.", field=name)
    program = session.scalar(select(ReferralProgram).where(ReferralProgram.org_id == org_id))
    if program is None:
        program = ReferralProgram(org_id=org_id)
        session.add(program)
    program.referrer_points = referrer_points
    program.referred_points = referred_points
    program.max_referrals = max_referrals
    program.updated_at = utcnow()
    session.flush()
    return program


# --- codes -----------------------------------------------------------------------------------------


def get_code(session: Session, *, org_id: int, customer_id: int) -> ReferralCode | None:
    return session.scalar(
        select(ReferralCode).where(ReferralCode.org_id == org_id, ReferralCode.customer_id == customer_id)
    )


def do_issue_code(session: Session, *, org_id: int, customer_id: int) -> tuple[ReferralCode, bool]:
    """The customer's code, made on first asking; ``(code, created)``."""
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    existing = get_code(session, org_id=org_id, customer_id=customer_id)
    if existing is not None:
        return existing, False
    for _ in range(_CODE_TRIES):
        code = _new_code()
        try:
            with session.begin_nested():
                row = ReferralCode(org_id=org_id, customer_id=customer_id, code=code, created_at=utcnow())
                session.add(row)
                session.flush()
            return row, True
        except IntegrityError:
            existing = get_code(session, org_id=org_id, customer_id=customer_id)
            if existing is not None:  # another request made it meanwhile
                return existing, False
    raise Conflict("Could not find a free referral code; try again.")  # 30^8 codes: practically never


def code_owner_or_raise(session: Session, *, org_id: int, code: str) -> ReferralCode:
    wanted = normalise_code(code)
    row = session.scalar(
        select(ReferralCode).where(ReferralCode.org_id == org_id, ReferralCode.code == wanted)
    )
    if row is None:
        raise NotFound(f"No referral code '{wanted[:16]}'.", field="code")
    return row


# --- referrals -------------------------------------------------------------------------------------


def get_referral_or_raise(session: Session, *, org_id: int, referral_id: int) -> Referral:
    referral = session.scalar(select(Referral).where(Referral.org_id == org_id, Referral.id == referral_id))
    if referral is None:
        raise NotFound(f"No referral {referral_id}.", field="referral_id")
    return referral


def list_referrals(session: Session, *, org_id: int, referrer_id: int | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[Referral], int]:  # fmt: skip
    where = [Referral.org_id == org_id]
    if referrer_id is not None:
        where.append(Referral.referrer_id == referrer_id)
    if status is not None:
        where.append(Referral.status == status)
    total = session.scalar(select(func.count(Referral.id)).where(*where)) or 0
    rows = session.scalars(
        select(Referral).where(*where).order_by(Referral.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def do_record_referral(session: Session, *, org_id: int, code: str, referred_id: int) -> Referral:
    """Record that ``referred_id`` came with ``code``. Refused: one's own code, a customer referred
    before, a referrer at the programme's cap, and a customer who already has a paid order."""
    from patron.orders import service as orders_service

    owner = code_owner_or_raise(session, org_id=org_id, code=code)
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=referred_id,
                                                     field="customer_id")  # fmt: skip
    if owner.customer_id == referred_id:
        raise Invalid("A customer cannot use their own referral code.", field="code", code="self_referral")
    already = session.scalar(
        select(Referral).where(Referral.org_id == org_id, Referral.referred_id == referred_id)
    )
    if already is not None:
        raise Conflict(f"Customer {referred_id} was already referred (referral {already.id}).", field="customer_id",
                       code="already_referred")  # fmt: skip
    paid = orders_service.OrderFilter(customer_id=referred_id)
    orders, _ = orders_service.list_orders(session, org_id=org_id, filters=paid, limit=500)
    if any(order.status in PAID_STATUSES for order in orders):
        raise Conflict(f"Customer {referred_id} has ordered before; referrals are for new customers.",
                       field="customer_id", code="not_new")  # fmt: skip
    lock_row(session, ReferralCode, owner.id)  # two referrals racing for the code's last place
    program = get_program(session, org_id=org_id)
    made = (
        session.scalar(
            select(func.count(Referral.id)).where(
                Referral.org_id == org_id, Referral.referrer_id == owner.customer_id
            )
        )
        or 0
    )
    if made >= program.max_referrals:
        raise Conflict(f"This code has reached its limit of {program.max_referrals} referrals.", field="code",
                       code="referral_cap")  # fmt: skip
    referral = Referral(org_id=org_id, referrer_id=owner.customer_id, referred_id=referred_id, code=owner.code,
                        status="pending", created_at=utcnow())  # fmt: skip
    session.add(referral)
    session.flush()
    return referral


def do_reward_referral(session: Session, *, referral: Referral) -> Referral:
    """Give both sides their points (idempotent) and mark the referral rewarded. Only a qualified referral
    (its first order paid) can be rewarded; a rewarded one is returned as it is."""
    if referral.status == "rewarded":
        return referral
    if referral.status != "qualified":
        raise Conflict(f"Referral {referral.id} is {referral.status}: the referred customer's first order is not "
                       "paid yet.", field="status", code="not_qualified")  # fmt: skip
    program = get_program(session, org_id=referral.org_id)
    for side, customer_id, points in (("referrer", referral.referrer_id, program.referrer_points),
                                      ("referred", referral.referred_id, program.referred_points)):  # fmt: skip
        if points > 0:
            loyalty_service.change_points(
                session, org_id=referral.org_id, customer_id=customer_id, kind="earn", points=points,
                reason="Referral reward", source=f"referral:{referral.id}",
                idempotency_key=f"referral:{referral.id}:{side}",
            )  # fmt: skip
    referral.referrer_points = program.referrer_points
    referral.referred_points = program.referred_points
    referral.status = "rewarded"
    referral.rewarded_at = utcnow()
    session.flush()
    return referral


def order_paid(session: Session, *, org_id: int, customer_id: int, order_id: int) -> int:
    """Hook of the orders domain: the customer's order was paid. Qualifies and rewards their pending
    referral, if any; returns how many referrals changed (0 or 1)."""
    referral = session.scalar(
        select(Referral).where(
            Referral.org_id == org_id, Referral.referred_id == customer_id, Referral.status == "pending"
        )  # fmt: skip
    )
    if referral is None:
        return 0
    referral.status = "qualified"
    referral.order_id = order_id
    referral.qualified_at = utcnow()
    session.flush()
    try:
        with session.begin_nested():
            do_reward_referral(session, referral=referral)
    except PatronError:
        # e.g. a side was erased meanwhile: the order must still go through; the referral stays
        # qualified and staff can reward it by hand
        pass
    return 1


def ambassadors(session: Session, *, org_id: int, limit: int = 10) -> list[tuple[int, int, int]]:
    """Top referrers: ``(customer_id, rewarded, all referrals)``, most rewarded first, then most
    referrals, then the lower customer id."""
    made = func.count(Referral.id)
    rewarded = func.coalesce(func.sum(case((Referral.status == "rewarded", 1), else_=0)), 0)
    rows = session.execute(
        select(Referral.referrer_id, made.label("made"), rewarded.label("rewarded"))
        .where(Referral.org_id == org_id)
        .group_by(Referral.referrer_id)
        .order_by(rewarded.desc(), made.desc(), Referral.referrer_id)
        .limit(limit)
    )
    return [(int(row.referrer_id), int(row.rewarded), int(row.made)) for row in rows]


def order_placed(session: Session, *, order, adjustments=None) -> None:
    """Orders hook: an order placed as paid (or shipped, delivered) may qualify its customer's referral."""
    if order.status in PAID_STATUSES and order.customer_id is not None:
        order_paid(session, org_id=order.org_id, customer_id=order.customer_id, order_id=order.id)


def order_status_changed(session: Session, *, order, previous_status: str) -> None:
    """Orders hook: an order that becomes paid may qualify its customer's referral."""
    if order.status in PAID_STATUSES and previous_status not in PAID_STATUSES and order.customer_id is not None:
        order_paid(session, org_id=order.org_id, customer_id=order.customer_id, order_id=order.id)
