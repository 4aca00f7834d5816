"""Points: earn, redeem and adjust, each one ledger entry and one balance change in the same transaction.

The balance is changed by a single statement that checks it at the same time - ``UPDATE ... SET balance =
balance - n WHERE balance >= n`` for a redemption, an upsert adding to it for an earning - so two
redemptions of the last points racing each other cannot both pass: the database lets one change the row
and re-checks the other against what the first left (PostgreSQL's row lock; SQLite has one writer at a
time). An ``idempotency_key`` makes a retried request return the first entry and change nothing more.

Customer hooks: a merge moves the duplicate's balance to the survivor with a ``merge`` entry on each side;
an erasure keeps the entries (they are amounts, not personal data) but blanks their free-text reasons; the
privacy export lists them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid
from patron.customers import service as customers_service
from patron.loyalty import programme
from patron.loyalty.models import PointsBalance, PointsEntry
from patron.loyalty.programme import TierStatus, tier_status  # noqa: F401 - re-exported for other domains

MAX_POINTS = 10_000_000
#: kinds of entry that take points off the balance
TAKING_KINDS = ("redeem", "expire", "reverse")
EXPORT_FIELDS = ("id", "kind", "delta", "balance_after", "reason", "source", "created_at")


def get_balance(session: Session, *, org_id: int, customer_id: int) -> PointsBalance | None:
    return session.scalar(
        select(PointsBalance).where(PointsBalance.org_id == org_id, PointsBalance.customer_id == customer_id)
    )


def list_entries(
    session: Session, *, org_id: int, customer_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[PointsEntry], int]:
    """The customer's entries, newest first, and how many there are."""
    where = (PointsEntry.org_id == org_id, PointsEntry.customer_id == customer_id)
    total = session.scalar(select(func.count(PointsEntry.id)).where(*where)) or 0
    items = session.scalars(select(PointsEntry).where(*where).order_by(PointsEntry.id.desc()).limit(limit).offset(offset))
    return list(items), total


def _check(points: int, reason: str, source: str | None, idempotency_key: str | None) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < abs(points) <= MAX_POINTS:
        raise Invalid(f"points must be a whole number from 1 to {MAX_POINTS:,}.", field="points")
    if len(reason) > 200:
        raise Invalid("reason has at most 200 characters.", field="reason")
    if source is not None and not 0 < len(source) <= 60:
        raise Invalid("source has 1-60 characters.", field="source")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
        raise Invalid("idempotency_key has 1-200 characters.", field="idempotency_key")


def _by_key(session: Session, *, org_id: int, key: str) -> PointsEntry | None:
    return session.scalar(select(PointsEntry).where(PointsEntry.org_id == org_id, PointsEntry.idempotency_key == key))


def _same(entry: PointsEntry, *, customer_id: int, kind: str, delta: int) -> PointsEntry:
    if (entry.customer_id, entry.kind, entry.delta) != (customer_id, kind, delta):
        raise Conflict("The idempotency key was already used for another change of points.", field="idempotency_key")
    return entry


def _add(session: Session, *, org_id: int, customer_id: int, points: int, earned: int) -> int:
    """Add ``points`` (>= 0) to the balance, creating it if need be; the balance afterwards."""
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(PointsBalance)
        .values(org_id=org_id, customer_id=customer_id, balance=points, lifetime_earned=earned, updated_at=now)
        .on_conflict_do_update(
            index_elements=[PointsBalance.org_id, PointsBalance.customer_id],
            set_={"balance": PointsBalance.balance + points,
                  "lifetime_earned": PointsBalance.lifetime_earned + earned, "updated_at": now},  # fmt: skip
        )
        .returning(PointsBalance.balance)
    )
    return int(session.execute(statement).scalar_one())


def _take(session: Session, *, org_id: int, customer_id: int, points: int) -> int:
    """Take ``points`` (> 0) from the balance if it holds that many; the balance afterwards."""
    left = session.execute(
        update(PointsBalance)
        .where(PointsBalance.org_id == org_id, PointsBalance.customer_id == customer_id, PointsBalance.balance >= points)
        .values(balance=PointsBalance.balance - points, updated_at=utcnow())
        .returning(PointsBalance.balance)
        .execution_options(synchronize_session=False)
    ).scalar()
    if left is None:
        balance = get_balance(session, org_id=org_id, customer_id=customer_id)
        have = balance.balance if balance is not None else 0
        raise Conflict(f"Not enough points: the balance is {have:,} and {points:,} are needed.", field="points")
    return int(left)


def change_points(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    kind: str,
    points: int,
    reason: str = "",
    source: str | None = None,
    idempotency_key: str | None = None,
    created_by_id: int | None = None,
    at: datetime | None = None,
) -> tuple[PointsEntry, bool]:
    """Earn (``points`` > 0), redeem (``points`` > 0, taken off) or adjust (either sign, never below
    zero); ``(entry, created)``. A known ``idempotency_key`` returns its entry (``created`` False).

    ``expire`` and ``reverse`` (taken off, like a redemption) are written by the expiry job and by an
    order's cancellation. An earning gets its expiry date from the programme's policy, and an earning or
    a reversal re-decides the customer's tier. ``at`` backdates the entry (imports, tests of time)."""
    _check(points, reason, source, idempotency_key)
    if kind in TAKING_KINDS + ("earn",) and points < 0:
        raise Invalid("points must be positive; use an adjustment to correct a balance.", field="points")
    if kind not in ("earn", "adjust") + TAKING_KINDS:
        raise Invalid("kind must be earn, redeem or adjust.", field="kind")
    delta = -points if kind in TAKING_KINDS else points
    now = at or utcnow()
    customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    if idempotency_key is not None:
        existing = _by_key(session, org_id=org_id, key=idempotency_key)
        if existing is not None:
            return _same(existing, customer_id=customer_id, kind=kind, delta=delta), False
    try:
        with session.begin_nested():  # the balance change and the entry stand or fall together
            if delta >= 0:
                balance = _add(session, org_id=org_id, customer_id=customer_id, points=delta,
                               earned=delta if kind == "earn" else 0)  # fmt: skip
            else:
                balance = _take(session, org_id=org_id, customer_id=customer_id, points=-delta)
            entry = PointsEntry(
                org_id=org_id, customer_id=customer_id, kind=kind, delta=delta, balance_after=balance,
                reason=reason.strip(), source=source, idempotency_key=idempotency_key, created_at=now,
                created_by_id=created_by_id,
                expires_at=programme.expiry_for(session, org_id=org_id, at=now) if kind == "earn" else None,
            )  # fmt: skip
            session.add(entry)
            session.flush()
            if kind in ("earn", "reverse"):
                programme.evaluate_tier(session, org_id=org_id, customer_id=customer_id, now=now)
    except IntegrityError:
        existing = _by_key(session, org_id=org_id, key=idempotency_key or "") if idempotency_key else None
        if existing is None:
            raise
        return _same(existing, customer_id=customer_id, kind=kind, delta=delta), False
    return entry, True


# --- customer hooks ------------------------------------------------------------------------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Bring a merged duplicate's points to the survivor: a ``merge`` entry taking them off the duplicate
    and one adding them to the survivor. Returns the number of entries written."""
    from patron.loyalty import privacy  # the programme's other records (imports this module)

    moved = privacy.reassign(session, org_id=org_id, from_customer_id=from_customer_id,
                             to_customer_id=to_customer_id)  # fmt: skip
    duplicate = get_balance(session, org_id=org_id, customer_id=from_customer_id)
    if duplicate is None or duplicate.balance == 0:
        return moved
    points = duplicate.balance
    left = _take(session, org_id=org_id, customer_id=from_customer_id, points=points)
    now = utcnow()
    session.add(PointsEntry(org_id=org_id, customer_id=from_customer_id, kind="merge", delta=-points,
                            balance_after=left, reason=f"merged into customer {to_customer_id}", created_at=now))  # fmt: skip
    total = _add(session, org_id=org_id, customer_id=to_customer_id, points=points, earned=0)
    session.add(PointsEntry(org_id=org_id, customer_id=to_customer_id, kind="merge", delta=points,
                            balance_after=total, reason=f"from merged customer {from_customer_id}", created_at=now))  # fmt: skip
    session.flush()
    return moved + 2


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Keep the amounts (the balance and its history stay consistent, anonymous) and blank the free-text
    reasons, which staff may have written personal details into. Returns how many entries changed."""
    from patron.loyalty import privacy

    result = session.execute(
        update(PointsEntry)
        .where(PointsEntry.org_id == org_id, PointsEntry.customer_id == customer_id, PointsEntry.reason != "")
        .values(reason="")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0) + privacy.erase(session, org_id=org_id, customer_id=customer_id)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's points entries, oldest first, the balance, and the programme's other records."""
    entries = session.scalars(
        select(PointsEntry)
        .where(PointsEntry.org_id == org_id, PointsEntry.customer_id == customer_id)
        .order_by(PointsEntry.id)
    )
    balance = get_balance(session, org_id=org_id, customer_id=customer_id)
    from patron.loyalty import privacy

    return {
        "points_entries": [audit.jsonable({f: getattr(e, f) for f in EXPORT_FIELDS}) for e in entries],
        "points_balance": [] if balance is None else [
            {"balance": balance.balance, "lifetime_earned": balance.lifetime_earned}
        ],
        **privacy.export(session, org_id=org_id, customer_id=customer_id),
    }
