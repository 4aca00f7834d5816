"""Consents: a ledger of every change per channel; the current state is the latest entry per channel.

Nothing is ever updated in the ledger. Every other domain asks :func:`has_consent` (or the batch
:func:`customers_with_consent`) before sending anything on a channel; a customer who never said
yes has not consented, and an erased customer never has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid
from patron.customers.base import get_customer_or_raise, get_writable_customer_or_raise, in_org
from patron.customers.models import CONSENT_CHANNELS, ConsentRecord, Customer
from patron.customers.timeline import record_timeline

CHUNK = 500
#: ids per statement of :func:`customers_with_consent` (a send reads its whole audience this way)
SEND_CHUNK = 2000


@dataclass(frozen=True)
class ConsentState:
    """Where one channel stands: ``since`` and ``source`` are those of the latest ledger entry (None if none)."""

    channel: str
    granted: bool
    since: datetime | None = None
    source: str | None = None
    method: str | None = None


def _check_channel(channel: str) -> str:
    if channel not in CONSENT_CHANNELS:
        raise Invalid(
            f"Unknown consent channel '{channel}'; choose one of {', '.join(CONSENT_CHANNELS)}.",
            field="channel",
        )
    return channel


def _latest_rows(session: Session, *, org_id: int, customer_ids: list[int], channel: str | None = None):
    """The latest ledger row per (customer, channel): a window query for many customers; for one, its
    ledger newest first, reduced here (cheaper than ranking for the handful of rows one customer has)."""
    columns = (ConsentRecord.customer_id, ConsentRecord.channel, ConsentRecord.granted, ConsentRecord.recorded_at,
               ConsentRecord.source, ConsentRecord.method)  # fmt: skip
    if len(customer_ids) == 1:
        query = select(*columns).where(ConsentRecord.customer_id == customer_ids[0],
                                       in_org(ConsentRecord.org_id, org_id))  # fmt: skip
        if channel is not None:
            query = query.where(ConsentRecord.channel == channel)
        latest: dict[str, Any] = {}
        for row in session.execute(query.order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())):
            latest.setdefault(row.channel, row)
        return list(latest.values())
    rank = (
        func.row_number()
        .over(
            partition_by=(ConsentRecord.customer_id, ConsentRecord.channel),
            order_by=(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc()),
        )
        .label("rank")
    )
    inner = select(*columns, rank).where(
        in_org(ConsentRecord.org_id, org_id), ConsentRecord.customer_id.in_(customer_ids)
    )
    if channel is not None:
        inner = inner.where(ConsentRecord.channel == channel)
    ranked = inner.subquery()
    return session.execute(select(ranked).where(ranked.c.rank == 1)).all()


def current_consents(session: Session, *, org_id: int, customer_id: int) -> dict[str, ConsentState]:
    """The state of every channel in :data:`CONSENT_CHANNELS`, derived from the ledger."""
    customer = get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    states = {channel: ConsentState(channel=channel, granted=False) for channel in CONSENT_CHANNELS}
    for row in _latest_rows(session, org_id=org_id, customer_ids=[customer_id]):
        states[row.channel] = ConsentState(
            channel=row.channel,
            granted=row.granted and customer.erased_at is None,
            since=row.recorded_at,
            source=row.source,
            method=row.method,
        )
    return states


def consent_summaries(
    session: Session, *, org_id: int, customer_ids: Iterable[int]
) -> dict[int, dict[str, bool]]:
    """``{customer_id: {channel: granted}}`` for many customers at once (channels never recorded are False)."""
    ids = list(dict.fromkeys(customer_ids))
    summaries = {cid: dict.fromkeys(CONSENT_CHANNELS, False) for cid in ids}
    for start in range(0, len(ids), CHUNK):
        for row in _latest_rows(session, org_id=org_id, customer_ids=ids[start : start + CHUNK]):
            summaries[row.customer_id][row.channel] = bool(row.granted)
    return summaries


def has_consent(session: Session, *, org_id: int, customer_id: int, channel: str) -> bool:
    """True only if the latest ledger entry for ``channel`` grants it and the customer is not erased."""
    _check_channel(channel)
    row = session.execute(
        select(ConsentRecord.granted, Customer.erased_at, Customer.merged_into_id)
        .join(Customer, Customer.id == ConsentRecord.customer_id)
        .where(
            in_org(ConsentRecord.org_id, org_id),
            ConsentRecord.customer_id == customer_id,
            ConsentRecord.channel == channel,
            Customer.org_id == org_id,
        )
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    ).first()
    return bool(row and row.granted and row.erased_at is None and row.merged_into_id is None)


def _among(session: Session, column, ids: list[int]):
    """``column IN ids``; on PostgreSQL ``column = ANY(:ids)`` with the list as one array parameter, so the
    statement is the same text for every chunk (planned once, no 500 placeholders to render and bind)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def customers_with_consent(
    session: Session, *, org_id: int, customer_ids: Iterable[int], channel: str
) -> set[int]:
    """The subset of ``customer_ids`` that may be contacted on ``channel`` now (for sending to many at once):
    live customers (not erased, not merged away) whose latest ledger entry for the channel grants it. One
    statement per :data:`SEND_CHUNK` ids, returning only the ids."""
    _check_channel(channel)
    ids = list(dict.fromkeys(customer_ids))
    rank = func.row_number().over(
        partition_by=ConsentRecord.customer_id,
        order_by=(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc()),
    )
    allowed: set[int] = set()
    for start in range(0, len(ids), SEND_CHUNK):
        chunk = ids[start : start + SEND_CHUNK]
        latest = (
            select(ConsentRecord.customer_id, ConsentRecord.granted, rank.label("rank"))
            .where(in_org(ConsentRecord.org_id, org_id), _among(session, ConsentRecord.customer_id, chunk),
                   ConsentRecord.channel == channel)
            .subquery()
        )  # fmt: skip
        query = (
            select(latest.c.customer_id)
            .join(Customer, Customer.id == latest.c.customer_id)
            .where(latest.c.rank == 1, latest.c.granted.is_(True), in_org(Customer.org_id, org_id),
                   Customer.erased_at.is_(None), Customer.merged_into_id.is_(None))
        )  # fmt: skip
        allowed.update(session.scalars(query))
    return allowed


def do_record_consent(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    channel: str,
    granted: bool,
    source: str,
    method: str = "",
    note: str = "",
    actor_user_id: int | None = None,
    recorded_at: datetime | None = None,
) -> ConsentRecord:
    """Append a consent change to the ledger and the timeline (``consent.granted`` / ``consent.revoked``).

    ``source`` says where the statement came from (``web_form``, ``app``, ``call``, ``import``...),
    ``method`` how it was given (``checkbox``, ``double_opt_in``, ``verbal``...).
    """
    _check_channel(channel)
    source = source.strip()
    if not source or len(source) > 60:
        raise Invalid("The source is 1-60 characters (for example web_form, app, call).", field="source")
    if len(method) > 60:
        raise Invalid("The method has at most 60 characters.", field="method")
    if len(note) > 500:
        raise Invalid("The note has at most 500 characters.", field="note")
    get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    record = ConsentRecord(
        org_id=org_id,
        customer_id=customer_id,
        channel=channel,
        granted=granted,
        source=source,
        method=method.strip(),
        note=note,
        recorded_at=recorded_at or utcnow(),
        recorded_by_id=actor_user_id,
    )
    session.add(record)
    session.flush()
    verb = "granted" if granted else "revoked"
    record_timeline(
        session,
        org_id=org_id,
        customer_id=customer_id,
        kind=f"consent.{verb}",
        summary=f"Consent to {channel.replace('_', ' ')} {verb} (source: {source})",
        ref_type="consent_record",
        ref_id=record.id,
        occurred_at=record.recorded_at,
        data={"channel": channel, "granted": granted, "source": source, "method": record.method},
        actor_user_id=actor_user_id,
    )
    return record


def list_consent_history(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    channel: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ConsentRecord], int]:
    """The ledger, newest first."""
    get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    query = select(ConsentRecord).where(
        in_org(ConsentRecord.org_id, org_id), ConsentRecord.customer_id == customer_id
    )
    if channel is not None:
        query = query.where(ConsentRecord.channel == _check_channel(channel))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total
