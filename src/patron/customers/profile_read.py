"""One customer's profile as ``GET /customers/{id}`` shows it, read in one statement.

The general path (:func:`~patron.customers.base.get_customer_or_raise`, then
:func:`~patron.customers.service.tags_for` and :func:`~patron.customers.consents.consent_summaries`) loads an
ORM object and runs a query per part; for the most frequent read of the API that bookkeeping cost more than
the database's work. Here the customer's row, its tags and its latest consent per channel come back in one
Core statement, one round trip to the server; the result is the same mapping
:class:`~patron.customers.schemas.CustomerOut` is validated from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, bindparam, desc, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from patron.core.errors import NotFound
from patron.customers.base import get_customer_or_raise, in_org
from patron.customers.models import CONSENT_CHANNELS, ConsentRecord, Customer, CustomerTag
from patron.customers.schemas import CustomerOut

#: Columns of the row read for the profile: what CustomerOut shows, plus what decides whether it is shown.
_PROFILE_COLUMNS = [
    Customer.__table__.c[name]
    for name in CustomerOut.model_fields
    if name not in ("name", "tags", "consents")
] + [Customer.merged_into_id]


def _json_list(dialect: str, *values, order_by=None):
    """A JSON array aggregated over rows: of the value, or of ``[value, ...]`` arrays when several. SQLite
    (before 3.44) cannot order an aggregate; ``order_by`` applies on PostgreSQL only."""
    if dialect == "postgresql":
        item = values[0] if len(values) == 1 else func.json_build_array(*values)
        return func.json_agg(item if order_by is None else aggregate_order_by(item, order_by), type_=JSON)
    item = values[0] if len(values) == 1 else func.json_array(*values)
    return func.json_group_array(item, type_=JSON)


def _profile_statement(dialect: str):
    """The statement for one dialect, built once with bound parameters ``org_id`` and ``customer_id``:
    building it per request cost as much as running it.

    Besides the row's columns it returns ``tag_list`` (a JSON array of the tags, in the database's order on
    PostgreSQL) and ``consent_list`` (a JSON
    array of ``[channel, granted]``, the newest ledger entry of each channel that has one).
    """
    org_id, customer_id = bindparam("org_id", type_=Integer), bindparam("customer_id", type_=Integer)
    tags = (
        select(_json_list(dialect, CustomerTag.tag, order_by=CustomerTag.tag))
        .where(CustomerTag.customer_id == customer_id, in_org(CustomerTag.org_id, org_id))
        .scalar_subquery()
    )
    ranked = (
        select(
            ConsentRecord.channel,
            ConsentRecord.granted,
            func.row_number()
            .over(
                partition_by=ConsentRecord.channel,
                order_by=(desc(ConsentRecord.recorded_at), desc(ConsentRecord.id)),
            )
            .label("newest"),
        )
        .where(ConsentRecord.customer_id == customer_id, in_org(ConsentRecord.org_id, org_id))
        .subquery()
    )
    consents = (
        select(_json_list(dialect, ranked.c.channel, ranked.c.granted))
        .where(ranked.c.newest == 1)
        .scalar_subquery()
    )
    return select(*_PROFILE_COLUMNS, tags.label("tag_list"), consents.label("consent_list")).where(
        Customer.id == customer_id, Customer.org_id == org_id
    )


_STATEMENTS = {dialect: _profile_statement(dialect) for dialect in ("sqlite", "postgresql")}


def read_profile(session: Session, *, org_id: int, customer_id: int) -> dict[str, Any]:
    """The values of :class:`CustomerOut` for one customer: its row, display name, tags (sorted) and the
    current consent per channel (all False once its data was erased).

    NotFound exactly as :func:`get_customer_or_raise` raises it (missing, another organisation's, merged).
    """
    connection = session.connection()  # Core statements: no ORM entities to load
    params = {"org_id": org_id, "customer_id": customer_id}
    row = connection.execute(_STATEMENTS[connection.dialect.name], params).first()
    if row is None or row.merged_into_id is not None:
        # the general read raises the NotFound clients expect (for a merged profile, naming the survivor)
        get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
        raise NotFound(f"No customer {customer_id}.", field="customer_id")  # it appeared in between
    consents = dict.fromkeys(CONSENT_CHANNELS, False)
    if row.erased_at is None:
        for channel, granted in row.consent_list or ():
            consents[channel] = bool(granted)
    values = row._asdict()
    for name in ("merged_into_id", "tag_list", "consent_list"):
        del values[name]
    full_name = f"{row.first_name or ''} {row.last_name or ''}".strip()
    values["name"] = full_name or row.email or row.phone or f"Customer {row.id}"
    tags = row.tag_list or []
    if connection.dialect.name == "sqlite":
        tags.sort()  # the order of SQLite's BINARY collation, which ORDER BY tag gives on the other paths
    values["tags"] = tags
    values["consents"] = consents
    return values
