"""One customer's profile as ``GET /customers/{id}`` shows it, read in two statements.

The general path (:func:`~patron.customers.base.get_customer_or_raise`, then
:func:`~patron.customers.service.tags_for` and :func:`~patron.customers.consents.consent_summaries`) loads an
ORM object and runs a query per part; for the most frequent read of the API that bookkeeping cost more than
the database's work. Here the customer's row is one Core statement and its tags and consent ledger one more;
the result is the same mapping :class:`~patron.customers.schemas.CustomerOut` is validated from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, bindparam, desc, literal, null, select, union_all
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


def _profile_statements():
    """The two statements, built once with bound parameters ``org_id`` and ``customer_id``: building them per
    request cost as much as running them.

    The second one returns the customer's tags (``kind`` 't', in tag order) and consent ledger (``kind`` 'c',
    newest first per channel), the two parts the profile shows besides the row itself.
    """
    org_id, customer_id = bindparam("org_id", type_=Integer), bindparam("customer_id", type_=Integer)
    row = select(*_PROFILE_COLUMNS).where(Customer.id == customer_id, Customer.org_id == org_id)
    tags = select(
        literal("t").label("kind"),
        CustomerTag.tag.label("name"),
        null().label("granted"),
        null().label("recorded_at"),
        null().label("id"),
    ).where(CustomerTag.customer_id == customer_id, in_org(CustomerTag.org_id, org_id))
    ledger = select(
        literal("c"),
        ConsentRecord.channel,
        ConsentRecord.granted,
        ConsentRecord.recorded_at,
        ConsentRecord.id,
    ).where(ConsentRecord.customer_id == customer_id, in_org(ConsentRecord.org_id, org_id))
    both = union_all(tags, ledger).subquery()
    parts = select(both.c.kind, both.c.name, both.c.granted).order_by(
        both.c.kind, both.c.name, desc(both.c.recorded_at), desc(both.c.id)
    )
    return row, parts


_ROW, _PARTS = _profile_statements()


def read_profile(session: Session, *, org_id: int, customer_id: int) -> dict[str, Any]:
    """The values of :class:`CustomerOut` for one customer: its row, display name, tags (sorted) and the
    current consent per channel (all False once its data was erased).

    NotFound exactly as :func:`get_customer_or_raise` raises it (missing, another organisation's, merged).
    """
    connection = session.connection()  # Core statements: no ORM entities to load
    params = {"org_id": org_id, "customer_id": customer_id}
    row = connection.execute(_ROW, params).first()
    if row is None or row.merged_into_id is not None:
        # the general read raises the NotFound clients expect (for a merged profile, naming the survivor)
        get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
        raise NotFound(f"No customer {customer_id}.", field="customer_id")  # it appeared in between
    tags: list[str] = []
    consents = dict.fromkeys(CONSENT_CHANNELS, False)
    seen_channels: set[str] = set()
    for kind, name, granted in connection.execute(_PARTS, params):
        if kind == "t":
            tags.append(name)
        elif name not in seen_channels:  # the first ledger row of a channel is its latest
            seen_channels.add(name)
            consents[name] = bool(granted)
    if row.erased_at is not None:
        consents = dict.fromkeys(consents, False)
    values = row._asdict()
    del values["merged_into_id"]
    full_name = f"{row.first_name or ''} {row.last_name or ''}".strip()
    values["name"] = full_name or row.email or row.phone or f"Customer {row.id}"
    values["tags"] = tags
    values["consents"] = consents
    return values
