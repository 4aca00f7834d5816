"""Privacy requests about one customer: export everything held, or erase the personal data.

Erasure keeps the customer row (so deal values, ticket counts and other aggregates stay right) but
makes it anonymous: names become "Erased", contact points and demographics (birth year and date among
them) are cleared, identities, places and tags are deleted, timeline summaries and consent notes are
scrubbed, other domains erase through their ``erase_customer`` hooks, and earlier audit-log entries about
the customer have their personal values replaced by ``[erased]``. Profiles previously merged into the
customer are erased too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, or_, select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.audit import AuditEntry, jsonable
from patron.core.db import utcnow
from patron.core.errors import Conflict
from patron.customers import hooks
from patron.customers.base import get_customer_or_raise, in_org
from patron.customers.consents import current_consents
from patron.customers.models import ConsentRecord, Customer, CustomerTag, Identity, Place, TimelineEntry
from patron.customers.timeline import list_timeline, record_timeline

EXPORT_FORMAT = "patron.privacy-export/1"
ERASED_NAME = "Erased"
ERASED_MARK = "[erased]"
SCRUBBED_SUMMARY = "(erased)"
#: columns holding personal data, per audited table: their values are scrubbed from the audit log on erasure
PERSONAL_COLUMNS = {
    "customers": {
        "first_name",
        "last_name",
        "email",
        "phone",
        "birth_year",
        "birth_date",
        "gender",
        "education",
        "occupation",
        "income_band",
        "lifestyle_tags",
        "preferences",
        "attributes",
        "city",
        "country",
        "timezone",
    },
    "identities": {"value"},
    "places": {"label", "latitude", "longitude", "address"},
    "customer_tags": {"tag"},
    "consent_records": {"note"},
}
ERASED_VALUES: dict[str, Any] = {
    "first_name": ERASED_NAME,
    "last_name": "",
    "email": None,
    "phone": None,
    "birth_year": None,
    "birth_date": None,
    "gender": None,
    "education": None,
    "occupation": None,
    "income_band": None,
    "lifestyle_tags": [],
    "preferences": {},
    "attributes": {},
    "city": None,
    "country": None,
    "timezone": None,
}


def _row(obj: Any) -> dict:
    return {column.key: jsonable(getattr(obj, column.key)) for column in inspect(obj).mapper.column_attrs}


def _rows(session: Session, model: type, *, org_id: int, customer_id: int, order) -> list[dict]:
    query = (
        select(model).where(in_org(model.org_id, org_id), model.customer_id == customer_id).order_by(*order)
    )
    return [_row(obj) for obj in session.scalars(query)]


def build_privacy_export(session: Session, *, org_id: int, customer_id: int) -> dict:
    """Everything held about the customer, as JSON-ready data."""
    customer = get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    merged = list(
        session.scalars(
            select(Customer).where(Customer.org_id == org_id, Customer.merged_into_id == customer_id)
        )
    )
    timeline: list[dict] = []
    unavailable: set[str] = set()
    before = None
    while True:
        page = list_timeline(session, org_id=org_id, customer_id=customer_id, before=before, limit=500)
        timeline.extend(jsonable(item.__dict__) for item in page.items)
        unavailable.update(page.unavailable)
        if page.next_before is None:
            break
        before = page.next_before
    consents = current_consents(session, org_id=org_id, customer_id=customer_id)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": jsonable(utcnow()),
        "customer": _row(customer),
        "tags": sorted(
            session.scalars(
                select(CustomerTag.tag).where(
                    in_org(CustomerTag.org_id, org_id), CustomerTag.customer_id == customer_id
                )
            )
        ),
        "identities": _rows(session, Identity, org_id=org_id, customer_id=customer_id, order=(Identity.id,)),
        "consents": {
            "current": {channel: jsonable(state.__dict__) for channel, state in consents.items()},
            "ledger": _rows(
                session,
                ConsentRecord,
                org_id=org_id,
                customer_id=customer_id,
                order=(ConsentRecord.recorded_at, ConsentRecord.id),
            ),
        },
        "places": _rows(session, Place, org_id=org_id, customer_id=customer_id, order=(Place.id,)),
        "timeline": timeline,
        "merged_profiles": [_row(profile) for profile in merged],
        "related": hooks.export_everywhere(session, org_id=org_id, customer_id=customer_id),
        "unavailable": sorted(unavailable),
    }


def do_privacy_export(session: Session, *, org_id: int, customer_id: int) -> dict:
    """:func:`build_privacy_export`, recorded in the audit log as ``customers.privacy_export``."""
    export = build_privacy_export(session, org_id=org_id, customer_id=customer_id)
    audit.record(
        session,
        action="customers.privacy_export",
        entity="customers",
        entity_id=customer_id,
        org_id=org_id,
        after={
            "sections": sorted(export),
            "timeline_items": len(export["timeline"]),
            "related": sorted(export["related"]),
        },
    )
    return export


def _scrub(values: dict | None, personal: set[str]) -> dict | None:
    if values is None:
        return None
    return {
        key: (ERASED_MARK if key in personal and value not in (None, "", [], {}) else value)
        for key, value in values.items()
    }


def _scrub_audit_log(
    session: Session,
    *,
    org_id: int,
    customer_ids: list[int],
    identity_ids: list[int],
    place_ids: list[int],
    consent_ids: list[int],
) -> int:
    """Replace personal values in earlier audit entries about these rows - and about identities, places and
    consent records the customers had earlier (found by the ``customer_id`` their entries recorded); returns
    how many entries changed."""
    wanted = {
        "customers": {str(i) for i in customer_ids},
        "identities": {str(i) for i in identity_ids},
        "places": {str(i) for i in place_ids},
        "consent_records": {str(i) for i in consent_ids},
    }
    owned_earlier = select(AuditEntry.entity, AuditEntry.entity_id).where(
        AuditEntry.org_id == org_id,
        AuditEntry.entity.in_(("identities", "places", "consent_records")),
        or_(AuditEntry.after["customer_id"].as_integer().in_(customer_ids),
            AuditEntry.before["customer_id"].as_integer().in_(customer_ids)),
    )  # fmt: skip
    for entity, entity_id in session.execute(owned_earlier):
        if entity_id is not None:
            wanted[entity].add(entity_id)
    conditions = [
        (AuditEntry.entity == entity) & AuditEntry.entity_id.in_(sorted(ids))
        for entity, ids in wanted.items()
        if ids
    ]
    conditions += [
        (AuditEntry.entity == "customer_tags") & AuditEntry.entity_id.startswith(f"{cid},")
        for cid in customer_ids
    ]
    changed = 0
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.org_id == org_id, or_(*conditions))):
        personal = PERSONAL_COLUMNS.get(entry.entity, set())
        entry.before, entry.after = _scrub(entry.before, personal), _scrub(entry.after, personal)
        if entry.entity == "customer_tags":
            entry.entity_id = entry.entity_id.split(",", 1)[0] + "," + ERASED_MARK
        changed += 1
    return changed


def do_erase_customer(
    session: Session, *, org_id: int, customer_id: int, actor_user_id: int | None = None
) -> Customer:
    """Erase the customer's personal data (see the module docstring); audited as ``customers.erase``."""
    customer = get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    if customer.erased_at is not None:
        raise Conflict(
            f"Customer {customer_id} was already erased on {customer.erased_at:%Y-%m-%d}.",
            field="customer_id",
            code="customer_erased",
        )
    ids = [
        customer_id,
        *session.scalars(
            select(Customer.id).where(Customer.org_id == org_id, Customer.merged_into_id == customer_id)
        ),
    ]
    session.flush()

    def owned(model: type) -> list[int]:
        return list(
            session.scalars(select(model.id).where(in_org(model.org_id, org_id), model.customer_id.in_(ids)))
        )

    identity_ids, place_ids, consent_ids = owned(Identity), owned(Place), owned(ConsentRecord)
    now = utcnow()
    counts: dict[str, Any] = {"profiles": len(ids), "identities": len(identity_ids), "places": len(place_ids)}
    # Core statements: the automatic audit would otherwise copy the personal data into the log.
    table = Customer.__table__
    session.execute(
        update(table)
        .where(table.c.org_id == org_id, table.c.id.in_(ids))
        .values(**ERASED_VALUES, erased_at=now, updated_at=now)
    )
    for model in (Identity, Place, CustomerTag):
        table = model.__table__
        result = session.execute(
            table.delete().where(in_org(table.c.org_id, org_id), table.c.customer_id.in_(ids))
        )
        counts[model.__tablename__] = result.rowcount or 0
    table = TimelineEntry.__table__
    result = session.execute(
        update(table)
        .where(in_org(table.c.org_id, org_id), table.c.customer_id.in_(ids))
        .values(summary=SCRUBBED_SUMMARY, data={})
    )
    counts["timeline_entries"] = result.rowcount or 0
    table = ConsentRecord.__table__
    session.execute(
        update(table).where(in_org(table.c.org_id, org_id), table.c.customer_id.in_(ids)).values(note="")
    )
    related: dict[str, int] = {}
    for cid in ids:
        for domain, count in hooks.erase_everywhere(session, org_id=org_id, customer_id=cid).items():
            related[domain] = related.get(domain, 0) + count
    counts["related"] = related
    counts["audit_entries_scrubbed"] = _scrub_audit_log(
        session,
        org_id=org_id,
        customer_ids=ids,
        identity_ids=identity_ids,
        place_ids=place_ids,
        consent_ids=consent_ids,
    )
    for cid in ids:
        stale = session.get(Customer, cid)
        if stale is not None:
            session.refresh(stale)
    record_timeline(
        session,
        org_id=org_id,
        customer_id=customer_id,
        kind="customer.erased",
        summary="Personal data erased on request",
        ref_type="customer",
        ref_id=customer_id,
        occurred_at=now,
        actor_user_id=actor_user_id,
    )
    audit.record(
        session,
        action="customers.erase",
        entity="customers",
        entity_id=customer_id,
        org_id=org_id,
        after={"erased_at": now, **counts},
    )
    session.flush()
    return customer
