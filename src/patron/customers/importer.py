"""CSV import of customer profiles.

The file is UTF-8 (a byte-order mark is fine), comma-, semicolon- or tab-separated, with a header
row. Columns are mapped to profile fields by name (``E-mail`` -> ``email``, ``Surname`` -> ``last_name``,
see :data:`~patron.customers.csv_rows.ALIASES`), by an explicit mapping ``{"csv header": "field"}``,
``attr.<key>`` for custom attributes and ``identity.<type>`` (or just the type, like ``loyalty_card``)
for identities. A ``birth_date`` column (``Birthday``, ``Date of birth``, ``DOB``) holds ISO dates (YYYY-MM-DD);
the birth year follows from it and a ``birth_year`` in the same row must agree.

Every row is checked on its own: valid rows land, rejected rows are reported with the row number
(the header is row 1), the field and the reason, and are not written. A row matching an existing
customer - by an identity column, the e-mail or the phone - updates it instead of creating a
duplicate, so importing the same file twice changes nothing the second time. Empty cells leave
existing values alone; tags are added to the customer's tags.

Matching is done in batches of lookups, writes are multi-row statements (:mod:`patron.customers.bulk`),
and the import is recorded as one ``customers.import`` audit entry rather than one per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Invalid
from patron.customers.attributes import definitions_by_key
from patron.customers.base import in_org
from patron.customers.bulk import BulkWriter, bulk_write_mode
from patron.customers.csv_rows import (
    ParsedRow,
    RowError,
    RowParser,
    decode_csv,
    read_records,
    resolve_mapping,
)
from patron.customers.models import Customer, CustomerTag, Identity, TimelineEntry

Progress = Callable[[int, int], None]

MAX_REPORTED_REJECTIONS = 1000
WRITE_BATCH = 5000
LOOKUP_CHUNK = 500
ANALYZE_AFTER = 1000  # rows written; then the planner statistics are refreshed
SCALAR_FIELDS = ("first_name", "last_name", "email", "phone", "birth_year", "birth_date", "gender", "education",
                 "occupation", "income_band", "city", "country", "timezone", "owner_id")  # fmt: skip
PROFILE_COLUMNS = (*SCALAR_FIELDS, "lifestyle_tags", "attributes")
NEW_STATE = {
    **dict.fromkeys(SCALAR_FIELDS),
    "first_name": "",
    "last_name": "",
    "lifestyle_tags": [],
    "attributes": {},
}
_scalars = itemgetter(*SCALAR_FIELDS)
_BIRTH_DATE = SCALAR_FIELDS.index("birth_date")
CUSTOMER_COLUMNS = ("org_id", *PROFILE_COLUMNS, "preferences", "created_at", "updated_at")
IDENTITY_COLUMNS = ("org_id", "customer_id", "type", "value", "created_at")
TAG_COLUMNS = ("org_id", "customer_id", "tag")
TIMELINE_COLUMNS = ("org_id", "customer_id", "occurred_at", "kind", "ref_type", "ref_id", "summary", "data",
                    "actor_user_id")  # fmt: skip


@dataclass
class RejectedRow:
    row: int
    field: str | None
    reason: str
    column: str | None = None


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    rejected_count: int = 0
    total: int = 0
    dry_run: bool = False
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    def reject(self, row: int, field_name: str | None, reason: str, column: str | None = None) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED_REJECTIONS:
            self.rejected.append(RejectedRow(row=row, field=field_name, reason=reason, column=column))


@dataclass
class _Plan:
    """What the accepted rows do: new customers to insert, existing ones to change."""

    new_states: list[dict] = field(default_factory=list)
    new_tags: list[set[str]] = field(default_factory=list)
    new_identities: list[list[tuple[str, str]]] = field(default_factory=list)
    states: dict[int, dict] = field(default_factory=dict)
    existing_tags: dict[int, set[str]] = field(default_factory=dict)
    changed_fields: dict[int, set[str]] = field(default_factory=dict)
    tags_added: dict[int, set[str]] = field(default_factory=dict)
    identities_added: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    contact_before: dict[tuple[int, str], str | None] = field(default_factory=dict)


# --- matching rows to customers --------------------------------------------------------------------


def _known_keys(session: Session, org_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Which of ``keys`` already belong to a customer: identities first, then the e-mail/phone columns."""
    reader = BulkWriter(session)
    mark = reader.mark
    by_type: dict[str, list[str]] = {}
    for kind, value in keys:
        by_type.setdefault(kind, []).append(value)
    found: dict[tuple[str, str], int] = {}
    for kind, values in by_type.items():
        rows = reader.select_in(
            f"SELECT value, customer_id FROM identities WHERE org_id = {mark} AND type = {mark} "
            "AND value IN ({})",
            (org_id, kind),
            values,
        )
        found.update(((kind, value), customer_id) for value, customer_id in rows)
        if kind in ("email", "phone"):
            rows = reader.select_in(
                f"SELECT {kind}, id FROM customers WHERE org_id = {mark} AND merged_into_id IS "
                f"NULL AND {kind} IN ({{}})",
                (org_id,),
                values,
            )
            for value, customer_id in sorted(rows, key=lambda row: row[1]):
                found.setdefault((kind, value), customer_id)
    return found


def _day(value: Any) -> date | None:
    """A DATE column read with :meth:`BulkWriter.select_in`: ISO text on SQLite, a date on PostgreSQL."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _scalar_row(writer: BulkWriter, state: dict) -> tuple:
    """The scalar columns of a customer's state as the driver takes them (a date as ISO text on SQLite, the
    storage SQLAlchemy's Date uses there)."""
    values = _scalars(state)
    born = values[_BIRTH_DATE]
    if born is None or writer.dialect != "sqlite":
        return values
    return (*values[:_BIRTH_DATE], born.isoformat(), *values[_BIRTH_DATE + 1 :])


def _load_existing(session: Session, org_id: int, ids: list[int], plan: _Plan) -> None:
    reader = BulkWriter(session)
    mark = reader.mark
    for cid in ids:
        plan.existing_tags[cid] = set()
    rows = reader.select_in(
        f"SELECT id, erased_at, {', '.join(PROFILE_COLUMNS)} FROM customers "
        f"WHERE org_id + 0 = {mark} AND id IN ({{}})",
        (org_id,),
        ids,
    )
    for customer_id, erased_at, *values in rows:
        state = dict(zip(PROFILE_COLUMNS, values, strict=True))
        state["erased"] = erased_at is not None
        state["attributes"] = reader.from_json(state["attributes"]) or {}
        state["lifestyle_tags"] = reader.from_json(state["lifestyle_tags"]) or []
        state["birth_date"] = _day(state["birth_date"])
        plan.states[customer_id] = state
    rows = reader.select_in(
        f"SELECT customer_id, tag FROM customer_tags WHERE org_id + 0 = {mark} AND customer_id IN ({{}})",
        (org_id,),
        ids,
    )
    for customer_id, tag in rows:
        plan.existing_tags[customer_id].add(tag)


def _apply(state: dict, values: dict) -> list[str]:
    """Lay a row's values over a customer's state; returns the fields that changed."""
    changed = []
    for name, value in values.items():
        if name == "attributes":
            merged = {**state["attributes"], **value}
            if merged != state["attributes"]:
                state["attributes"] = merged
                changed.append(name)
        elif state.get(name) != value:
            state[name] = value
            changed.append(name)
    return changed


def _plan(session: Session, org_id: int, parsed: list[ParsedRow], report: ImportReport) -> _Plan:
    """Match every row to an existing customer, a customer created by an earlier row, or a new one."""
    plan = _Plan()
    row_keys = [row.keys() for row in parsed]
    known = _known_keys(session, org_id, {key for keys in row_keys for key in keys})
    _load_existing(session, org_id, sorted(set(known.values())), plan)
    # Each key points at a target: ("id", customer id) or ("new", index into plan.new_states).
    owner_of: dict[tuple[str, str], tuple[str, int]] = {key: ("id", cid) for key, cid in known.items()}
    for row, keys in zip(parsed, row_keys, strict=True):
        target, conflict = None, False
        for key in keys:
            owner = owner_of.get(key)
            if owner is not None:
                conflict = conflict or (target is not None and owner != target)
                target = target or owner
        if conflict:
            described = ", ".join(
                f"{kind} {value} -> "
                + (
                    f"customer {owner_of[(kind, value)][1]}"
                    if owner_of[(kind, value)][0] == "id"
                    else "an earlier row"
                )
                for kind, value in keys
                if (kind, value) in owner_of
            )
            report.reject(row.number, keys[-1][0], f"the row matches more than one customer ({described})")
            continue
        if target is None:
            index = len(plan.new_states)
            plan.new_states.append({**NEW_STATE, "lifestyle_tags": [], "attributes": {}, **row.values})
            plan.new_tags.append(set(row.tags))
            plan.new_identities.append(list(row.identities))
            for key in keys:
                owner_of[key] = ("new", index)
            report.created += 1
            continue
        kind, ref = target
        if kind == "id" and plan.states[ref]["erased"]:
            report.reject(row.number, None, f"the row matches customer {ref}, whose data was erased")
            continue
        state = plan.states[ref] if kind == "id" else plan.new_states[ref]
        stored_birth = state.get("birth_date")
        if (
            stored_birth is not None
            and "birth_date" not in row.values
            and row.values.get("birth_year", stored_birth.year) != stored_birth.year
        ):
            report.reject(row.number, "birth_year", f"the customer's birth date is in {stored_birth.year}; give "
                          "birth_date to change it")  # fmt: skip
            continue
        before = {"email": state.get("email"), "phone": state.get("phone")}
        changed = _apply(state, row.values)
        known_tags = plan.existing_tags[ref] if kind == "id" else plan.new_tags[ref]
        added_tags = set(row.tags) - known_tags
        known_tags |= added_tags
        fresh = [key for key in row.identities if key not in owner_of]
        for key in fresh:
            owner_of[key] = (kind, ref)
        for contact in ("email", "phone"):
            if contact in changed:
                owner_of[(contact, state[contact])] = (kind, ref)
                if kind == "id":
                    plan.contact_before.setdefault((ref, contact), before[contact])
        if not (changed or added_tags or fresh):
            report.unchanged += 1
            continue
        report.updated += 1
        if kind == "new":
            plan.new_identities[ref].extend(fresh)
        else:
            plan.changed_fields.setdefault(ref, set()).update(changed)
            plan.tags_added.setdefault(ref, set()).update(added_tags)
            plan.identities_added.setdefault(ref, []).extend(fresh)
    return plan


# --- the import ------------------------------------------------------------------------------------


def import_customers_csv(
    session: Session,
    *,
    org_id: int,
    stream: BinaryIO | bytes | None = None,
    text: str | None = None,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    actor_user_id: int | None = None,
    source_name: str = "",
) -> ImportReport:
    """Import customers from CSV given as bytes/a binary stream (must be UTF-8) or as ``text``.

    ``progress(done, total)`` is called as the rows are checked and then written (``total`` is twice the
    number of data rows). With ``dry_run`` nothing is written; the report says what would happen.
    """
    with bulk_write_mode(session):
        return _import(
            session,
            org_id=org_id,
            stream=stream,
            text=text,
            mapping=mapping,
            dry_run=dry_run,
            progress=progress,
            actor_user_id=actor_user_id,
            source_name=source_name,
        )


def _import(
    session: Session,
    *,
    org_id: int,
    stream: BinaryIO | bytes | None,
    text: str | None,
    mapping: dict[str, str] | None,
    dry_run: bool,
    progress: Progress | None,
    actor_user_id: int | None,
    source_name: str,
) -> ImportReport:
    if text is None:
        if stream is None:
            raise Invalid("No file was given.", field="file")
        text = decode_csv(stream if isinstance(stream, bytes) else stream.read())
    records = read_records(text)
    headers, rows = records[0], records[1:]
    definitions = definitions_by_key(session, org_id=org_id)
    columns, ignored = resolve_mapping(headers, mapping, definitions)
    report = ImportReport(
        dry_run=dry_run, mapping={headers[i].strip(): t for i, t in columns.items()}, ignored_columns=ignored
    )
    users = {user.email: user.id for user in accounts_service.list_users(session, org_id=org_id)}
    parser = RowParser(headers, columns, definitions, users)
    total_work = max(1, 2 * len(rows))

    parsed: list[ParsedRow] = []
    for offset, record in enumerate(rows):
        if not any(record) or not "".join(record).strip():
            continue
        report.total += 1
        try:
            parsed.append(parser.parse(offset + 2, record))
        except RowError as exc:
            report.reject(offset + 2, exc.field, exc.reason, exc.column)
        if progress and offset % 5000 == 0:
            progress(offset, total_work)
    plan = _plan(session, org_id, parsed, report)
    if progress:
        progress(len(rows), total_work)

    if not dry_run:
        _write(
            session,
            org_id=org_id,
            plan=plan,
            actor_user_id=actor_user_id,
            progress=(lambda done: progress(len(rows) + done, total_work)) if progress else None,
        )
        audit.record(
            session,
            action="customers.import",
            entity="customers",
            org_id=org_id,
            after={
                "file": source_name[:200],
                "total": report.total,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected_count,
            },
        )
    if progress:
        progress(total_work, total_work)
    return report


# --- writing ---------------------------------------------------------------------------------------


def _display(state: dict) -> str:
    return f"{state['first_name']} {state['last_name']}".strip() or state["email"] or state["phone"] or ""


def _write(
    session: Session,
    *,
    org_id: int,
    plan: _Plan,
    actor_user_id: int | None,
    progress: Callable[[int], None] | None,
) -> None:
    writer = BulkWriter(session)
    now = utcnow()
    stamp = writer.stamp(now)
    no_preferences = writer.json({})
    customers, identities = Customer.__table__, Identity.__table__
    tags, timeline = CustomerTag.__table__, TimelineEntry.__table__
    created_data = writer.json({"source": "import"})
    done = 0
    for start in range(0, len(plan.new_states), WRITE_BATCH):
        batch = plan.new_states[start : start + WRITE_BATCH]
        rows = [
            (
                org_id,
                *_scalar_row(writer, state),
                writer.json(state["lifestyle_tags"]),
                writer.json(state["attributes"]),
                no_preferences,
                stamp,
                stamp,
            )
            for state in batch
        ]
        ids = writer.insert_with_new_ids(customers, CUSTOMER_COLUMNS, rows)
        identity_rows, tag_rows, timeline_rows = [], [], []
        for offset, (customer_id, state) in enumerate(zip(ids, batch, strict=True)):
            index = start + offset
            pairs = [(kind, state[kind]) for kind in ("email", "phone") if state[kind]] + plan.new_identities[
                index
            ]
            identity_rows += [
                (org_id, customer_id, kind, value, stamp) for kind, value in dict.fromkeys(pairs)
            ]
            tag_rows += [(org_id, customer_id, tag) for tag in sorted(plan.new_tags[index])]
            timeline_rows.append(
                (
                    org_id,
                    customer_id,
                    stamp,
                    "customer.created",
                    "customer",
                    customer_id,
                    f"Customer created by import: {_display(state)}"[:500],
                    created_data,
                    actor_user_id,
                )
            )
        writer.insert(identities, IDENTITY_COLUMNS, identity_rows)
        writer.insert(tags, TAG_COLUMNS, tag_rows)
        writer.insert(timeline, TIMELINE_COLUMNS, timeline_rows)
        done += len(batch)
        if progress:
            progress(done)

    changed_ids = sorted(set(plan.changed_fields) | set(plan.tags_added) | set(plan.identities_added))
    profile_rows = [
        (
            *_scalar_row(writer, plan.states[cid]),
            writer.json(plan.states[cid]["lifestyle_tags"]),
            writer.json(plan.states[cid]["attributes"]),
            stamp,
            cid,
        )
        for cid in changed_ids
        if plan.changed_fields.get(cid)
    ]
    writer.update_by_id(customers, (*PROFILE_COLUMNS, "updated_at"), profile_rows, org_id=org_id)
    replaced = [(cid, kind, old, plan.states[cid][kind]) for (cid, kind), old in plan.contact_before.items()]
    added = [(cid, kind, value) for cid in changed_ids for kind, value in plan.identities_added.get(cid, [])]
    if replaced or added:
        _update_identities(session, writer, org_id=org_id, replaced=replaced, added=added, stamp=stamp)
    tag_rows, timeline_rows = [], []
    for cid in changed_ids:
        tag_rows += [(org_id, cid, tag) for tag in sorted(plan.tags_added.get(cid, ()))]
        fields = sorted(
            plan.changed_fields.get(cid, set())
            | ({"tags"} if plan.tags_added.get(cid) else set())
            | ({"identities"} if plan.identities_added.get(cid) else set())
        )
        timeline_rows.append(
            (
                org_id,
                cid,
                stamp,
                "profile.updated",
                "customer",
                cid,
                "Profile updated by import: " + ", ".join(fields),
                writer.json({"source": "import", "fields": fields}),
                actor_user_id,
            )
        )
    writer.insert(tags, TAG_COLUMNS, tag_rows)
    writer.insert(timeline, TIMELINE_COLUMNS, timeline_rows)
    if len(plan.new_states) + len(changed_ids) >= ANALYZE_AFTER:
        writer.analyze((customers, identities, tags, timeline))
    if progress:
        progress(done + len(changed_ids))


def _update_identities(
    session: Session,
    writer: BulkWriter,
    *,
    org_id: int,
    replaced: list[tuple[int, str, Any, str]],
    added: list[tuple[int, str, str]],
    stamp,
) -> None:
    """Keep existing customers' ``email``/``phone`` identities in step with changed columns (old value out,
    new value in) and add the identities rows brought."""
    table = Identity.__table__
    customer_ids = sorted({item[0] for item in [*replaced, *added]})
    held: dict[tuple[int, str, str], int] = {}
    for start in range(0, len(customer_ids), LOOKUP_CHUNK):
        rows = session.execute(
            select(table.c.id, table.c.customer_id, table.c.type, table.c.value).where(
                table.c.customer_id.in_(customer_ids[start : start + LOOKUP_CHUNK]),
                in_org(table.c.org_id, org_id),
            )
        )
        held.update(((cid, kind, value), identity_id) for identity_id, cid, kind, value in rows)
    deletes: list[int] = []
    wanted = list(added)
    for cid, kind, old, new in replaced:
        if old and old != new and (cid, kind, old) in held:
            deletes.append(held[(cid, kind, old)])
        if new:
            wanted.append((cid, kind, new))
    inserts = {
        (cid, kind, value): (org_id, cid, kind, value, stamp)
        for cid, kind, value in wanted
        if (cid, kind, value) not in held
    }
    if deletes:
        session.execute(table.delete().where(table.c.org_id == org_id, table.c.id.in_(deletes)))
    writer.insert(table, IDENTITY_COLUMNS, list(inserts.values()))
